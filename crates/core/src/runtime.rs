//! ONNX Runtime: finding the shared library (loaded at run time), creating the environment, and
//! whether a GPU can run it here (probed once per process, given up on once it fails).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ort::environment::Environment;
use ort::ep::ExecutionProviderDispatch;

mod probe;

pub use probe::{GpuState, short_reason};

/// Overrides where the ONNX Runtime library is taken from.
pub const DYLIB_ENV: &str = "ORT_DYLIB_PATH";

/// Where the project's setup script unpacks the onnxruntime wheel's library.
const SETUP_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.cache/onnxruntime/lib");

/// Why ONNX Runtime cannot be used.
#[allow(missing_docs)] // Each variant is documented by its #[error] message.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "ONNX Runtime not found (looked in: {}). Install it with the project's setup (scripts/setup.sh), \
         or put libonnxruntime (1.31 or newer) next to the program or in {}, or set {DYLIB_ENV}",
        searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
        library_dir.display()
    )]
    NotFound { searched: Vec<PathBuf>, library_dir: PathBuf },
    #[error("cannot load ONNX Runtime from {path}")]
    Load {
        path: PathBuf,
        #[source]
        source: ort::LoadDynamicError,
    },
    #[error("cannot start ONNX Runtime")]
    Environment(#[source] ort::Error),
}

/// Where inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// The CPU.
    Cpu,
    /// An NVIDIA GPU through CUDA.
    Cuda,
    /// A GPU through DirectML (Windows).
    DirectMl,
}

impl Provider {
    /// The provider's name as ONNX Runtime and people know it (`CPU`, `CUDA`, `DirectML`).
    pub fn name(self) -> &'static str {
        match self {
            Provider::Cpu => "CPU",
            Provider::Cuda => "CUDA",
            Provider::DirectMl => "DirectML",
        }
    }

    /// Whether it runs on a GPU.
    pub fn is_gpu(self) -> bool {
        self != Provider::Cpu
    }
}

/// The loaded library and its environment; one per process.
pub struct Runtime {
    /// The shared library that was loaded.
    pub dylib: PathBuf,
    /// The ONNX Runtime environment every session is made in.
    pub env: Environment,
    gpu: Mutex<GpuState>,
}

impl Runtime {
    /// Whether a GPU runs the encoders here, and if not, why.
    pub fn gpu(&self) -> GpuState {
        self.gpu.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The GPU provider that works here, if any.
    pub fn gpu_provider(&self) -> Option<Provider> {
        match self.gpu() {
            GpuState::Ready(provider) => Some(provider),
            _ => None,
        }
    }

    /// Gives the GPU up for the rest of the process after it failed to open a session or to run
    /// a batch: encoders reopen on the CPU. Says so once, in one line; ONNX Runtime's own
    /// message goes to the debug log.
    pub fn give_up_gpu(&self, provider: Provider, err: &dyn std::error::Error) {
        let reason = short_reason(&probe::chain(err));
        let mut gpu = self.gpu.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(*gpu, GpuState::Unavailable { .. }) {
            return;
        }
        tracing::debug!("{} failed: {}", provider.name(), probe::chain(err));
        tracing::warn!("{} cannot run the model ({reason}): encoding on the CPU", provider.name());
        *gpu = GpuState::Unavailable { provider, reason };
    }
}

/// The execution provider to register for `provider` (`None` for the CPU, which is always
/// there), with the GPU memory the encoders may take.
pub(crate) fn execution_provider(provider: Provider, memory_limit: Option<u64>) -> Option<ExecutionProviderDispatch> {
    match provider {
        Provider::Cpu => None,
        Provider::Cuda => {
            let mut cuda = ort::ep::CUDA::default();
            if let Some(limit) = memory_limit {
                cuda = cuda
                    .with_memory_limit(usize::try_from(limit).unwrap_or(usize::MAX))
                    .with_arena_extend_strategy(ort::ep::ArenaExtendStrategy::SameAsRequested);
            }
            Some(cuda.build().error_on_failure())
        }
        Provider::DirectMl => {
            #[cfg(windows)]
            {
                Some(ort::ep::DirectML::default().build().error_on_failure())
            }
            #[cfg(not(windows))]
            {
                None
            }
        }
    }
}

/// The GPU providers this build can use on this operating system, best first.
pub fn gpu_providers_built() -> &'static [Provider] {
    if cfg!(windows) {
        &[Provider::Cuda, Provider::DirectMl]
    } else if cfg!(target_os = "linux") {
        &[Provider::Cuda]
    } else {
        &[]
    }
}

static LOADED: Mutex<Option<Arc<Runtime>>> = Mutex::new(None);

/// Loads ONNX Runtime once per process. `library_runtime_dir` is the library folder's `runtime/`.
pub fn load(library_runtime_dir: &Path) -> Result<Arc<Runtime>, RuntimeError> {
    let mut loaded = LOADED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(runtime) = loaded.as_ref() {
        return Ok(runtime.clone());
    }
    let dylib = find(library_runtime_dir)?;
    preload_gpu_libraries(&dylib);
    let env = ort::init_from(&dylib)
        .map_err(|source| RuntimeError::Load { path: dylib.clone(), source })?
        .with_name("photo-search")
        .with_telemetry(false)
        .build()
        .map_err(RuntimeError::Environment)?;
    tracing::info!("ONNX Runtime loaded from {}", dylib.display());
    let gpu = probe::probe(&env);
    let runtime = Arc::new(Runtime { dylib, env, gpu: Mutex::new(gpu) });
    *loaded = Some(runtime.clone());
    Ok(runtime)
}

/// ONNX Runtime, if it has been loaded in this process.
pub fn loaded() -> Option<Arc<Runtime>> {
    LOADED.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
}

/// The CUDA and cuDNN libraries of the GPU runtime installed beside `dylib`, loaded before ONNX
/// Runtime's CUDA provider asks for them by name (it then finds these, whatever the system's
/// library path says).
fn preload_gpu_libraries(dylib: &Path) {
    let Some(dir) = dylib.parent() else { return };
    let Some(installed) = crate::gpu::install::installed(dir.parent().unwrap_or(dir)).filter(|_| dir.ends_with("cuda"))
    else {
        return;
    };
    // ONNX Runtime's own libraries load themselves; the CUDA and cuDNN ones are preloaded.
    for name in installed.libraries.iter().filter(|n| !n.contains("onnxruntime")) {
        if let Err(err) = ort::util::preload_dylib(dir.join(name)) {
            tracing::debug!("cannot preload {name}: {err}");
        }
    }
}

/// The search order: `ORT_DYLIB_PATH`, the GPU runtime installed in the library's runtime
/// folder, next to the executable, the library's runtime folder, the project's setup location.
pub fn find(library_runtime_dir: &Path) -> Result<PathBuf, RuntimeError> {
    let mut searched = Vec::new();
    if let Some(path) = std::env::var_os(DYLIB_ENV).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        searched.push(path);
    }
    if crate::gpu::install::installed(library_runtime_dir).is_some()
        && let Some(found) = library_in(&crate::gpu::install::install_dir(library_runtime_dir))
    {
        return Ok(found);
    }
    let mut dirs = Vec::new();
    if let Some(exe_dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        dirs.push(exe_dir);
    }
    dirs.push(library_runtime_dir.to_path_buf());
    dirs.push(PathBuf::from(SETUP_DIR));
    for dir in dirs {
        if let Some(found) = library_in(&dir) {
            return Ok(found);
        }
        searched.push(dir);
    }
    Err(RuntimeError::NotFound { searched, library_dir: library_runtime_dir.to_path_buf() })
}

fn library_in(dir: &Path) -> Option<PathBuf> {
    let exact = ["libonnxruntime.so", "libonnxruntime.dylib", "onnxruntime.dll"];
    if let Some(path) = exact.iter().map(|n| dir.join(n)).find(|p| p.is_file()) {
        return Some(path);
    }
    // Versioned names as the wheel ships them: libonnxruntime.so.1.31.1, libonnxruntime.1.31.1.dylib.
    let mut versioned: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.starts_with("libonnxruntime.so.") || (n.starts_with("libonnxruntime.") && n.ends_with(".dylib"))
                })
        })
        .collect();
    versioned.sort();
    versioned.pop()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_wheel_library_is_found_in_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(library_in(dir.path()), None);
        std::fs::write(dir.path().join("libonnxruntime.so.1.31.1"), b"").unwrap();
        assert_eq!(library_in(dir.path()), Some(dir.path().join("libonnxruntime.so.1.31.1")));
    }
}
