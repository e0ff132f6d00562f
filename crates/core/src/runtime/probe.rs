//! Whether a GPU can run ONNX Runtime here: a one-node graph opened and run once on each GPU
//! provider the runtime has, when the runtime loads, and the reason in one sentence when not.

use ort::environment::Environment;
use ort::session::Session;
use ort::value::TensorRef;

use super::{Provider, execution_provider, gpu_providers_built};

/// A graph of one Relu on a float of shape [1] (input `x`, output `y`), made with the `onnx`
/// Python package; opening it on a provider starts the provider (its libraries, the device).
const PROBE_GRAPH: &[u8] = include_bytes!("probe.onnx");

/// Whether the encoders can run on a GPU in this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuState {
    /// A GPU provider opened and ran the probe: the encoders run there.
    Ready(Provider),
    /// The runtime has no GPU provider (ONNX Runtime's CPU build), or this build has none for
    /// this operating system.
    Absent,
    /// The runtime has one, but it cannot run here (or gave up after failing).
    Unavailable {
        /// The provider that failed.
        provider: Provider,
        /// Why, in one sentence with what to do where there is something to do.
        reason: String,
    },
}

impl GpuState {
    /// `CUDA: no CUDA-capable device is detected` when a GPU provider cannot run, else `None`.
    pub fn problem(&self) -> Option<String> {
        match self {
            GpuState::Unavailable { provider, reason } => Some(format!("{}: {reason}", provider.name())),
            _ => None,
        }
    }
}

/// Tries each GPU provider the runtime has, best first.
pub(super) fn probe(env: &Environment) -> GpuState {
    let mut state = GpuState::Absent;
    for &provider in gpu_providers_built() {
        if !in_runtime(provider) {
            tracing::debug!("this ONNX Runtime has no {} provider", provider.name());
            continue;
        }
        match run_probe(env, provider) {
            Ok(()) => {
                tracing::info!("{} is available: the encoders run on the GPU", provider.name());
                return GpuState::Ready(provider);
            }
            Err(err) => {
                let message = chain(&err);
                // Without a driver, what the provider missed first (a CUDA library) is not the
                // point: there is no NVIDIA GPU to run it on.
                let no_driver = provider == Provider::Cuda && crate::gpu::detect().is_empty();
                let reason = if no_driver {
                    "no NVIDIA GPU found (no NVIDIA driver answers)".into()
                } else {
                    short_reason(&message)
                };
                tracing::debug!("{} cannot start: {message}", provider.name());
                tracing::warn!("{} cannot run here ({reason}): encoding on the CPU", provider.name());
                if state == GpuState::Absent {
                    state = GpuState::Unavailable { provider, reason };
                }
            }
        }
    }
    state
}

fn in_runtime(provider: Provider) -> bool {
    use ort::ep::ExecutionProvider;
    let available = match provider {
        Provider::Cpu => Ok(true),
        Provider::Cuda => ort::ep::CUDA::is_available(),
        #[cfg(windows)]
        Provider::DirectMl => ort::ep::DirectML::is_available(),
        #[cfg(not(windows))]
        Provider::DirectMl => Ok(false),
    };
    available.unwrap_or(false)
}

fn run_probe(env: &Environment, provider: Provider) -> Result<(), ort::Error> {
    let mut builder = Session::builder(env)?;
    if let Some(ep) = execution_provider(provider, None) {
        builder = builder.with_execution_providers([ep])?;
    }
    let mut session = builder.commit_from_memory(PROBE_GRAPH)?;
    let input = [1.0f32];
    let tensor = TensorRef::from_array_view(([1usize], &input[..]))?;
    session.run(ort::inputs!["x" => tensor])?;
    Ok(())
}

/// An error with its sources, joined by ": ".
pub(super) fn chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// One sentence out of ONNX Runtime's message about a GPU provider, without its C++ internals
/// (source paths, template signatures, host names), with what to do where there is something.
pub fn short_reason(message: &str) -> String {
    let lower = message.to_ascii_lowercase();
    if lower.contains("driver version is insufficient") {
        return "the NVIDIA driver is too old for CUDA 13: update it to version 580 or newer".into();
    }
    if lower.contains("no cuda-capable device") {
        return "no CUDA-capable device is detected".into();
    }
    if let Some(missing) = missing_library(message) {
        return format!("{missing} is missing: install the GPU runtime (photo-search gpu install)");
    }
    if lower.contains("out of memory") {
        return "the GPU ran out of memory".into();
    }
    // "... CUDA failure 999: unknown error ; GPU=0 ; hostname=... ; file=... ; expr=...;"
    for marker in ["CUDA failure ", "CUDNN failure ", "CUBLAS failure "] {
        if let Some(at) = message.find(marker) {
            let rest = &message[at + marker.len()..];
            let rest = rest.split(" ; ").next().unwrap_or(rest);
            let text = rest.split_once(": ").map_or(rest, |(_, text)| text);
            return tidy(text);
        }
    }
    // A C++ source location and signature come first: "/src/x.cc:129 void f(...) [with ...] text".
    let text = message.rsplit("] ").next().unwrap_or(message);
    let text = text.split(" ; ").next().unwrap_or(text);
    let text = if text.starts_with('/') { text.split_once(' ').map_or(text, |(_, t)| t) } else { text };
    tidy(text)
}

/// The library a provider could not load: "libcublasLt.so.13: cannot open shared object file".
fn missing_library(message: &str) -> Option<String> {
    let at = message.find(": cannot open shared object file").or_else(|| message.find(": The specified module"))?;
    let name = message[..at].rsplit([' ', '\'', '"', '\n']).next()?;
    let name = name.rsplit(['/', '\\']).next()?;
    (!name.is_empty()).then(|| name.to_string())
}

fn tidy(text: &str) -> String {
    let text = text.lines().next().unwrap_or("").trim().trim_end_matches(['.', ';']).trim();
    let mut text: String = text.chars().take(160).collect();
    if text.is_empty() {
        text = "it did not start (the debug log has ONNX Runtime's message)".into();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onnx_runtime_messages_become_one_sentence() {
        let cases = [
            (
                "/onnxruntime_src/onnxruntime/core/providers/cuda/cuda_call.cc:129 std::conditional_t<THRW, void, \
                 common::Status> onnxruntime::CudaCall(ERRTYPE, const char*, const char*, SUCCTYPE, const char*, \
                 const char*, int) [with ERRTYPE = cudaError; bool THRW = true; SUCCTYPE = cudaError; \
                 std::conditional_t<THRW, void, common::Status> = void] CUDA failure 100: no CUDA-capable device \
                 is detected ; GPU=32764 ; hostname=box ; file=/onnxruntime_src/onnxruntime/core/providers/cuda/\
                 cuda_execution_provider.cc ; line=282 ; expr=cudaSetDevice(info_.device_id);",
                "no CUDA-capable device is detected",
            ),
            (
                "Failed to load library libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot \
                 open shared object file: No such file or directory",
                "libcublasLt.so.13 is missing: install the GPU runtime (photo-search gpu install)",
            ),
            (
                "/onnxruntime_src/x/cuda_call.cc:129 void f() [with T = int] CUDA failure 35: CUDA driver version \
                 is insufficient for CUDA runtime version ; GPU=0 ; hostname=box",
                "the NVIDIA driver is too old for CUDA 13: update it to version 580 or newer",
            ),
            (
                "/onnxruntime_src/x/cuda_call.cc:129 void f() [with T = int] CUDA failure 999: unknown error ; GPU=0",
                "unknown error",
            ),
            ("/src/core/session/x.cc:42 void g() [with A = B] Something else went wrong.", "Something else went wrong"),
            ("plain message", "plain message"),
            ("", "it did not start (the debug log has ONNX Runtime's message)"),
        ];
        for (message, expected) in cases {
            assert_eq!(short_reason(message), expected, "{message}");
            assert!(!short_reason(message).contains("onnxruntime_src"));
        }
    }

    #[test]
    fn a_gpu_problem_names_the_provider() {
        let state =
            GpuState::Unavailable { provider: Provider::Cuda, reason: "no CUDA-capable device is detected".into() };
        assert_eq!(state.problem().as_deref(), Some("CUDA: no CUDA-capable device is detected"));
        assert_eq!(GpuState::Absent.problem(), None);
    }

    #[test]
    fn this_build_carries_the_gpu_providers_of_its_platform() {
        if cfg!(target_os = "linux") {
            assert_eq!(gpu_providers_built(), [Provider::Cuda]);
        }
        if cfg!(windows) {
            assert_eq!(gpu_providers_built(), [Provider::Cuda, Provider::DirectMl]);
        }
    }
}
