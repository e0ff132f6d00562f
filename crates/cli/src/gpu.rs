//! `photo-search gpu`: what GPU the driver reports, what runs the model, and installing or
//! removing the GPU runtime.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use photo_search_core::gpu::{self, GpuReport, install};
use photo_search_core::library::{Access, Library};

use crate::args::GpuCommand;

pub(crate) fn run(root: &Path, json: bool, command: Option<&GpuCommand>) -> Result<ExitCode> {
    let library = Library::open(root, Access::Read)?;
    let runtime_dir = library.runtime_dir();
    match command {
        None => {
            let report = gpu::report(&runtime_dir);
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_report(&report);
            }
        }
        Some(GpuCommand::Install { from }) => return install_runtime(&runtime_dir, from.as_deref()),
        Some(GpuCommand::Remove) => {
            if install::remove(&runtime_dir)? {
                println!("removed the GPU runtime from {}: the model runs on the CPU", runtime_dir.display());
            } else {
                println!("no GPU runtime is installed in {}", runtime_dir.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(r: &GpuReport) {
    if r.gpus.is_empty() {
        println!("GPU       no NVIDIA GPU found (no NVIDIA driver answers)");
    }
    for g in &r.gpus {
        let cc = g.compute_capability.as_deref().map(|c| format!(", compute capability {c}")).unwrap_or_default();
        println!("GPU       {} ({}, driver {}{cc})", g.name, gib(g.memory_bytes), g.driver);
    }
    if let Some(problem) = &r.problem {
        println!("          {problem}");
    }
    println!("built     CPU{}", r.providers_built.iter().map(|p| format!(", {p}")).collect::<String>());
    match (&r.runtime, &r.runtime_problem) {
        (Some(path), _) => println!("runtime   {}", path.display()),
        (None, Some(problem)) => println!("runtime   none: {problem}"),
        (None, None) => println!("runtime   none"),
    }
    match (&r.provider, &r.gpu_problem) {
        (Some(p), Some(gpu)) => println!("runs on   {p} ({gpu})"),
        (Some(p), None) => println!("runs on   {p}"),
        (None, _) => {}
    }
    match &r.installed {
        Some(i) => println!("GPU runtime installed in {} (ONNX Runtime {})", r.install_dir.display(), i.onnxruntime),
        None => match r.download_bytes {
            Some(bytes) if r.should_offer_install() => {
                println!("GPU runtime not installed: `photo-search gpu install` downloads {}", gib(bytes));
            }
            Some(_) => println!("GPU runtime not installed"),
            None => println!("GPU runtime: none is pinned for this platform yet"),
        },
    }
    if let Some(limit) = r.memory_limit {
        println!("memory    the encoders may take {} of GPU memory", gib(limit));
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

fn install_runtime(runtime_dir: &Path, from: Option<&Path>) -> Result<ExitCode> {
    let manifest = install::RuntimeManifest::for_this_platform()?;
    let system = install::system_libraries();
    let bar = if std::io::stderr().is_terminal() { ProgressBar::new(0) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut last_name = String::new();
    let source = match from {
        Some(dir) => install::Source::Folder(dir),
        None => install::Source::Publishers,
    };
    let installed = install::install(&manifest, runtime_dir, &system, source, &mut |p| {
        if p.name != last_name {
            last_name.clone_from(&p.name);
            if bar.is_hidden() {
                eprintln!("{} ({}/{} bytes)", p.name, p.done, p.total);
            }
        }
        bar.set_message(p.name.clone());
        bar.set_length(p.total);
        bar.set_position(p.done);
        true
    })?;
    bar.finish_and_clear();
    println!(
        "installed the GPU runtime (ONNX Runtime {}, {} libraries{}) in {}",
        installed.onnxruntime,
        installed.libraries.len(),
        if installed.from_system.is_empty() { String::new() } else { ", the system's own CUDA/cuDNN".into() },
        install::install_dir(runtime_dir).display()
    );
    // Checked in a fresh process: this one may have loaded another ONNX Runtime already.
    let exe = std::env::current_exe().context("cannot find this program to check the GPU runtime")?;
    let library = runtime_dir.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let output = std::process::Command::new(exe)
        .args(["gpu", "--json", "--library"])
        .arg(&library)
        .env_remove(photo_search_core::runtime::DYLIB_ENV)
        .output()
        .context("cannot run the GPU check")?;
    let report: GpuReport = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("the GPU check failed: {}", String::from_utf8_lossy(&output.stderr).trim()))?;
    match (report.provider.as_deref(), &report.gpu_problem) {
        (Some("CUDA"), _) => {
            println!("checked: a CUDA session opens and runs; photos are encoded on the GPU");
            Ok(ExitCode::SUCCESS)
        }
        (_, Some(problem)) => {
            println!("installed, but the GPU cannot run it here ({problem}): photos are encoded on the CPU");
            Ok(ExitCode::from(2))
        }
        _ => {
            println!("installed, but no CUDA session could be checked: photos are encoded on the CPU");
            Ok(ExitCode::from(2))
        }
    }
}
