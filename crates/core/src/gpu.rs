//! The machine's NVIDIA GPUs as their driver reports them (through `nvidia-smi`, no GPU runtime
//! needed), and whether the pinned GPU runtime (CUDA 13) can run on them.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::runtime::{self, Provider};

pub mod install;

/// What was found and what runs: `photo-search gpu`, the app's settings and its GPU notice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuReport {
    /// The NVIDIA GPUs the driver reports.
    pub gpus: Vec<NvidiaGpu>,
    /// Why the pinned GPU runtime cannot run on the first of them (an old driver or card).
    pub problem: Option<String>,
    /// The GPU providers this program carries (`CUDA`; `DirectML` on Windows).
    pub providers_built: Vec<String>,
    /// The ONNX Runtime library loaded.
    pub runtime: Option<PathBuf>,
    /// Why no ONNX Runtime could be loaded.
    pub runtime_problem: Option<String>,
    /// Where the encoders run (`CUDA`, `CPU`), once ONNX Runtime is loaded.
    pub provider: Option<String>,
    /// Why a GPU provider the runtime has cannot run here.
    pub gpu_problem: Option<String>,
    /// The GPU runtime installed in the library, if any.
    pub installed: Option<install::Installed>,
    /// Where it is (or would be) installed.
    pub install_dir: PathBuf,
    /// Bytes `photo-search gpu install` would download (the system's own CUDA and cuDNN
    /// counted as present); `None` where no GPU runtime is pinned for this platform.
    pub download_bytes: Option<u64>,
    /// The GPU memory the encoders may take by default (half the card's).
    pub memory_limit: Option<u64>,
}

impl GpuReport {
    /// Whether offering the GPU runtime makes sense: an NVIDIA card that can run it, and no
    /// GPU runtime running yet.
    pub fn should_offer_install(&self) -> bool {
        !self.gpus.is_empty()
            && self.problem.is_none()
            && self.installed.is_none()
            && self.download_bytes.is_some()
            && self.provider.as_deref() != Some(Provider::Cuda.name())
    }
}

/// Looks at the GPUs, the runtime (loading it, which probes the GPU) and the GPU runtime
/// installed under `runtime_dir`.
pub fn report(runtime_dir: &Path) -> GpuReport {
    let gpus = detect();
    let loaded = runtime::load(runtime_dir);
    let system = install::system_libraries();
    GpuReport {
        problem: gpus.first().and_then(NvidiaGpu::problem),
        providers_built: runtime::gpu_providers_built().iter().map(|p| p.name().to_string()).collect(),
        provider: loaded.as_ref().ok().map(|r| r.gpu_provider().unwrap_or(Provider::Cpu).name().to_string()),
        gpu_problem: loaded.as_ref().ok().and_then(|r| r.gpu().problem()),
        runtime: loaded.as_ref().ok().map(|r| r.dylib.clone()),
        runtime_problem: loaded.as_ref().err().map(ToString::to_string),
        installed: install::installed(runtime_dir),
        install_dir: install::install_dir(runtime_dir),
        download_bytes: install::RuntimeManifest::for_this_platform().ok().map(|m| m.download_bytes(&system)),
        memory_limit: gpus.first().map(default_memory_limit),
        gpus,
    }
}

/// The oldest driver CUDA 13 runs on: 580.65.06 on Linux, 580.88 on Windows.
const MIN_DRIVER: (u32, u32) = if cfg!(windows) { (580, 88) } else { (580, 65) };

/// The oldest architecture CUDA 13 (and the ONNX Runtime build for it) has kernels for: Turing.
const MIN_COMPUTE_CAPABILITY: (u32, u32) = (7, 5);

/// One NVIDIA GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NvidiaGpu {
    /// The card's name (`NVIDIA GeForce RTX 4070`).
    pub name: String,
    /// Its memory in bytes.
    pub memory_bytes: u64,
    /// The driver's version (`580.95.05`).
    pub driver: String,
    /// Its compute capability (`8.9`), when the driver is recent enough to say.
    pub compute_capability: Option<String>,
}

impl NvidiaGpu {
    /// Why the pinned GPU runtime cannot run on this card, in one sentence with what to do;
    /// `None` when it can.
    pub fn problem(&self) -> Option<String> {
        match version_pair(&self.driver) {
            Some(driver) if driver >= MIN_DRIVER => {}
            _ => {
                return Some(format!(
                    "the NVIDIA driver {} is too old for CUDA 13: update it to {}.{} or newer",
                    self.driver, MIN_DRIVER.0, MIN_DRIVER.1
                ));
            }
        }
        match self.compute_capability.as_deref().and_then(version_pair) {
            Some(cc) if cc < MIN_COMPUTE_CAPABILITY => Some(format!(
                "the {} (compute capability {}.{}) is older than CUDA 13 supports ({}.{} and newer): \
                 photos are indexed on the CPU",
                self.name, cc.0, cc.1, MIN_COMPUTE_CAPABILITY.0, MIN_COMPUTE_CAPABILITY.1
            )),
            _ => None,
        }
    }
}

/// The NVIDIA GPUs the driver reports; none where there is no NVIDIA driver.
pub fn detect() -> Vec<NvidiaGpu> {
    let fields = "name,memory.total,driver_version";
    // Drivers before 510 do not know the compute_cap field: ask again without it.
    for query in [format!("{fields},compute_cap"), fields.to_string()] {
        let output = Command::new("nvidia-smi")
            .arg(format!("--query-gpu={query}"))
            .arg("--format=csv,noheader,nounits")
            .output();
        match output {
            Ok(out) if out.status.success() => return parse_query(&String::from_utf8_lossy(&out.stdout)),
            Ok(out) => tracing::debug!(
                "nvidia-smi --query-gpu={query}: {} {}",
                out.status,
                String::from_utf8_lossy(&out.stdout).trim()
            ),
            Err(err) => {
                tracing::debug!("no nvidia-smi: {err}");
                return Vec::new();
            }
        }
    }
    Vec::new()
}

/// The GPUs in `nvidia-smi --query-gpu=name,memory.total,driver_version[,compute_cap]
/// --format=csv,noheader,nounits` (memory in MiB); lines it cannot read are left out.
pub fn parse_query(stdout: &str) -> Vec<NvidiaGpu> {
    stdout
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let (name, memory, driver) = match fields.as_slice() {
                [name, memory, driver] | [name, memory, driver, _] => (*name, *memory, *driver),
                _ => return None,
            };
            let memory_mib: u64 = memory.parse().ok()?;
            let compute_capability = fields.get(3).filter(|cc| version_pair(cc).is_some()).map(|cc| (*cc).to_string());
            (!name.is_empty() && version_pair(driver).is_some()).then(|| NvidiaGpu {
                name: name.to_string(),
                memory_bytes: memory_mib << 20,
                driver: driver.to_string(),
                compute_capability,
            })
        })
        .collect()
}

/// The GPU memory process `pid` holds, as the driver reports it; `None` when it holds none or
/// no driver answers.
pub fn memory_used_by(pid: u32) -> Option<u64> {
    let out = Command::new("nvidia-smi")
        .args(["--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    parse_memory_used(&String::from_utf8_lossy(&out.stdout), pid)
}

/// Bytes held by `pid` in `nvidia-smi --query-compute-apps=pid,used_memory
/// --format=csv,noheader,nounits` (MiB per line, summed over its GPUs).
pub fn parse_memory_used(stdout: &str, pid: u32) -> Option<u64> {
    let mib: u64 = stdout
        .lines()
        .filter_map(|line| line.split_once(','))
        .filter(|(p, _)| p.trim().parse() == Ok(pid))
        .filter_map(|(_, used)| used.trim().parse::<u64>().ok())
        .sum();
    (mib > 0).then_some(mib << 20)
}

/// `580.95.05` -> (580, 95); `8.9` -> (8, 9).
fn version_pair(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The GPU memory the encoders may take by default: half of the card's, leaving the rest to
/// the desktop and other programs.
pub fn default_memory_limit(gpu: &NvidiaGpu) -> u64 {
    gpu.memory_bytes / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drivers_answer_is_read() {
        let gpus = parse_query("NVIDIA H200, 143771, 580.95.05, 9.0\nNVIDIA GeForce RTX 4070, 12282, 581.57, 8.9\n");
        assert_eq!(gpus.len(), 2);
        assert_eq!(gpus[0].name, "NVIDIA H200");
        assert_eq!(gpus[0].memory_bytes, 143771 << 20);
        assert_eq!(gpus[0].driver, "580.95.05");
        assert_eq!(gpus[0].compute_capability.as_deref(), Some("9.0"));
        assert_eq!(gpus[0].problem(), None);
        assert_eq!(gpus[1].problem(), None);
        assert_eq!(default_memory_limit(&gpus[1]), 6141 << 20);
    }

    #[test]
    fn an_old_driver_is_named_with_what_to_do() {
        // A 470 driver does not know compute_cap: the second query leaves it out.
        let gpus = parse_query("NVIDIA GeForce GTX 1080, 8192, 470.82.01\n");
        assert_eq!(gpus[0].compute_capability, None);
        let problem = gpus[0].problem().unwrap();
        assert!(problem.contains("470.82.01 is too old for CUDA 13: update it to 580"), "{problem}");
    }

    #[test]
    fn a_card_older_than_cuda_13_supports_is_named() {
        let gpus = parse_query("Tesla P100-PCIE-16GB, 16384, 580.95.05, 6.0\n");
        let problem = gpus[0].problem().unwrap();
        assert!(problem.contains("compute capability 6.0") && problem.contains("7.5 and newer"), "{problem}");
    }

    #[test]
    fn the_memory_a_process_holds_is_read_from_the_driver() {
        let apps = "4242, 1536\n999, 20000\n4242, 512\n";
        assert_eq!(parse_memory_used(apps, 4242), Some(2048 << 20));
        assert_eq!(parse_memory_used(apps, 7), None);
        assert_eq!(parse_memory_used("No running processes found\n", 4242), None);
    }

    #[test]
    fn no_gpu_and_driver_errors_find_nothing() {
        assert!(parse_query("").is_empty());
        assert!(
            parse_query(
                "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the \
                 latest NVIDIA driver is installed and running.\n"
            )
            .is_empty()
        );
        assert!(parse_query("Field \"compute_cap\" is not a valid field to query.\n").is_empty());
        assert!(parse_query("NVIDIA H200, [N/A], 580.95.05, 9.0\n").is_empty());
    }
}
