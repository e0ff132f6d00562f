//! The GPU runtime in the library's `runtime/cuda/`: the pinned archives (ONNX Runtime's CUDA
//! build, the CUDA and cuDNN libraries) downloaded resumably with progress, or taken from a
//! folder, each checked against its pin; only the libraries unpacked, and moved into place whole,
//! so nothing is ever half-installed; removed on request.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::download::{self, DownloadError, DownloadProgress};
use crate::models::FileSpec;

/// The pinned GPU runtime for this platform, if there is one.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
const MANIFEST: Option<&str> = Some(include_str!("cuda-13-linux-x86_64.toml"));
#[cfg(all(windows, target_arch = "x86_64"))]
const MANIFEST: Option<&str> = Some(include_str!("cuda-13-windows-x86_64.toml"));
#[cfg(not(any(all(target_os = "linux", target_arch = "x86_64"), all(windows, target_arch = "x86_64"))))]
const MANIFEST: Option<&str> = None;

/// The file in `runtime/cuda/` that says what was installed there; written last.
const STAMP: &str = "installed.json";

/// Why the GPU runtime could not be installed or removed.
#[allow(missing_docs)] // Each variant is documented by its #[error] message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    #[error("no GPU runtime is pinned for this platform yet: photos are indexed on the CPU")]
    NoRuntimeForPlatform,
    #[error("the GPU runtime's manifest is invalid")]
    Manifest(#[source] toml::de::Error),
    #[error("cannot download {name}")]
    Download {
        name: String,
        #[source]
        source: DownloadError,
    },
    #[error("{path} is missing: put the GPU runtime's archives (as the manifest names them) in that folder")]
    MissingArchive { path: PathBuf },
    #[error("{path} is not the pinned archive ({problem}): it was left as it is, and nothing was installed")]
    WrongArchive { path: PathBuf, problem: String },
    #[error("cannot read the archive {path}")]
    Archive {
        path: PathBuf,
        #[source]
        source: zip::result::ZipError,
    },
    #[error("the archive {path} has no {library}")]
    MissingLibrary { path: PathBuf, library: String },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the GPU runtime's download was cancelled (what was received is kept and resumed next time)")]
    Cancelled,
}

/// What the GPU runtime is made of.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RuntimeManifest {
    /// The ONNX Runtime version of its build.
    pub onnxruntime: String,
    /// The CUDA major version it is built for.
    pub cuda: String,
    /// Its archives, in the order their libraries load.
    pub archives: Vec<Archive>,
}

/// One pinned archive (a zip file) and the libraries taken from it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Archive {
    /// What it is, as people read it.
    pub name: String,
    /// What it provides: the system's own CUDA or cuDNN can stand in for it.
    pub kind: ArchiveKind,
    /// Where its publisher serves it.
    pub url: String,
    /// Its pinned size.
    pub bytes: u64,
    /// Its pinned sha256 (hex).
    pub sha256: String,
    /// The libraries unpacked from it (paths inside the archive), in the order they load.
    pub libraries: Vec<String>,
}

/// What an archive provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ArchiveKind {
    /// ONNX Runtime's GPU build.
    Onnxruntime,
    /// CUDA's libraries.
    Cuda,
    /// cuDNN's libraries.
    Cudnn,
}

impl Archive {
    /// Its file name (the URL's last part).
    pub fn file_name(&self) -> &str {
        self.url.rsplit('/').next().unwrap_or(&self.url)
    }

    fn library_names(&self) -> impl Iterator<Item = &str> {
        self.libraries.iter().map(|l| l.rsplit('/').next().unwrap_or(l))
    }
}

impl RuntimeManifest {
    /// The pinned GPU runtime of this platform.
    pub fn for_this_platform() -> Result<Self, InstallError> {
        Self::parse(MANIFEST.ok_or(InstallError::NoRuntimeForPlatform)?)
    }

    /// A manifest from its TOML text.
    pub fn parse(text: &str) -> Result<Self, InstallError> {
        toml::from_str(text).map_err(InstallError::Manifest)
    }

    /// The archives to fetch: all but those whose libraries the system already has (its own
    /// CUDA or cuDNN, on the library path).
    pub fn needed(&self, system: &[String]) -> Vec<&Archive> {
        self.archives
            .iter()
            .filter(|a| a.kind == ArchiveKind::Onnxruntime || !a.library_names().all(|n| system.iter().any(|s| s == n)))
            .collect()
    }

    /// Bytes to download for the archives `needed` returns.
    pub fn download_bytes(&self, system: &[String]) -> u64 {
        self.needed(system).iter().map(|a| a.bytes).sum()
    }
}

/// Where the GPU runtime is installed in a library's `runtime/` folder.
pub fn install_dir(runtime_dir: &Path) -> PathBuf {
    runtime_dir.join("cuda")
}

/// What `runtime/cuda/installed.json` records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    /// The ONNX Runtime version installed.
    pub onnxruntime: String,
    /// The libraries there, in the order they load (file names).
    pub libraries: Vec<String>,
    /// Libraries the system provides instead (its own CUDA or cuDNN).
    pub from_system: Vec<String>,
}

/// The GPU runtime installed in `runtime_dir`, if a whole one is there.
pub fn installed(runtime_dir: &Path) -> Option<Installed> {
    let bytes = fs::read(install_dir(runtime_dir).join(STAMP)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Progress of an install: bytes of every archive to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallProgress {
    /// The archive being fetched or unpacked.
    pub name: String,
    /// Bytes done, of all archives.
    pub done: u64,
    /// Bytes in all.
    pub total: u64,
}

/// Where the archives come from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// Their publishers' URLs, as pinned.
    Publishers,
    /// A folder holding them under their file names (an offline machine).
    Folder(&'a Path),
}

/// Installs the GPU runtime into `runtime_dir/cuda`: fetches the archives the system does not
/// provide (`system`: library file names on its library path), checks each against its pin,
/// unpacks only the libraries, and moves the whole into place; an earlier install is replaced
/// only once the new one is complete. Downloads resume; `progress` returns `false` to cancel.
pub fn install(
    manifest: &RuntimeManifest,
    runtime_dir: &Path,
    system: &[String],
    source: Source<'_>,
    progress: &mut dyn FnMut(&InstallProgress) -> bool,
) -> Result<Installed, InstallError> {
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| InstallError::Write { path, source }
    };
    let needed = manifest.needed(system);
    let total: u64 = needed.iter().map(|a| a.bytes).sum();
    let downloads = runtime_dir.join("downloads");
    let staging = runtime_dir.join("cuda.partial");
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(write_err(&staging))?;
    }
    fs::create_dir_all(&staging).map_err(write_err(&staging))?;
    let mut done = 0;
    let mut libraries = Vec::new();
    for archive in &needed {
        let path = match source {
            Source::Publishers => {
                let dest = downloads.join(archive.file_name());
                let spec = FileSpec {
                    path: PathBuf::from(archive.file_name()),
                    url: Some(archive.url.clone()),
                    bytes: Some(archive.bytes),
                    sha256: Some(archive.sha256.clone()),
                };
                let mut report = |p: DownloadProgress| {
                    progress(&InstallProgress { name: archive.name.clone(), done: done + p.done, total })
                };
                if !is_pinned_file(&dest, archive) {
                    download::fetch_file(&spec, &dest, &mut report).map_err(|source| match source {
                        DownloadError::Cancelled => InstallError::Cancelled,
                        source => InstallError::Download { name: archive.name.clone(), source },
                    })?;
                }
                dest
            }
            Source::Folder(dir) => {
                let path = dir.join(archive.file_name());
                check_pinned(&path, archive)?;
                path
            }
        };
        done += archive.bytes;
        if !progress(&InstallProgress { name: archive.name.clone(), done, total }) {
            return Err(InstallError::Cancelled);
        }
        unpack(&path, archive, &staging)?;
        libraries.extend(archive.library_names().map(str::to_string));
    }
    let from_system = manifest
        .archives
        .iter()
        .filter(|a| !needed.iter().any(|n| n.url == a.url))
        .flat_map(|a| a.library_names().map(str::to_string))
        .collect();
    let installed = Installed { onnxruntime: manifest.onnxruntime.clone(), libraries, from_system };
    let stamp = serde_json::to_vec_pretty(&installed)
        .map_err(|e| InstallError::Write { path: staging.join(STAMP), source: io::Error::other(e) })?;
    crate::fsio::write_atomic(&staging.join(STAMP), &stamp).map_err(write_err(&staging.join(STAMP)))?;
    let dest = install_dir(runtime_dir);
    let old = runtime_dir.join("cuda.old");
    if dest.exists() {
        if old.exists() {
            fs::remove_dir_all(&old).map_err(write_err(&old))?;
        }
        fs::rename(&dest, &old).map_err(write_err(&dest))?;
    }
    fs::rename(&staging, &dest).map_err(write_err(&dest))?;
    crate::fsio::sync_parent(&dest).map_err(write_err(&dest))?;
    for leftover in [old.as_path(), downloads.as_path()] {
        if leftover.exists()
            && let Err(err) = fs::remove_dir_all(leftover)
        {
            tracing::warn!("cannot remove {}: {err}", leftover.display());
        }
    }
    Ok(installed)
}

/// Removes the GPU runtime (installed, half-installed and downloaded files) from `runtime_dir`.
/// Returns whether there was anything to remove.
pub fn remove(runtime_dir: &Path) -> Result<bool, InstallError> {
    let mut removed = false;
    for name in ["cuda", "cuda.partial", "cuda.old", "downloads"] {
        let path = runtime_dir.join(name);
        if path.exists() {
            fs::remove_dir_all(&path).map_err(|source| InstallError::Write { path: path.clone(), source })?;
            removed = true;
        }
    }
    Ok(removed)
}

fn is_pinned_file(path: &Path, archive: &Archive) -> bool {
    check_pinned(path, archive).is_ok()
}

fn check_pinned(path: &Path, archive: &Archive) -> Result<(), InstallError> {
    let wrong = |problem: String| InstallError::WrongArchive { path: path.to_path_buf(), problem };
    let len = match fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(InstallError::MissingArchive { path: path.to_path_buf() });
        }
        Err(err) => return Err(InstallError::Write { path: path.to_path_buf(), source: err }),
    };
    if len != archive.bytes {
        return Err(wrong(format!("{len} bytes, expected {}", archive.bytes)));
    }
    let actual = crate::models::sha256_file(path).map_err(|e| wrong(e.to_string()))?;
    if !actual.eq_ignore_ascii_case(&archive.sha256) {
        return Err(wrong(format!("sha256 {actual}, expected {}", archive.sha256)));
    }
    Ok(())
}

fn unpack(path: &Path, archive: &Archive, staging: &Path) -> Result<(), InstallError> {
    let zip_err = |source| InstallError::Archive { path: path.to_path_buf(), source };
    let file = File::open(path).map_err(|source| InstallError::Write { path: path.to_path_buf(), source })?;
    let mut zip = zip::ZipArchive::new(io::BufReader::new(file)).map_err(zip_err)?;
    for (library, name) in archive.libraries.iter().zip(archive.library_names()) {
        let mut entry = match zip.by_name(library) {
            Ok(entry) => entry,
            Err(zip::result::ZipError::FileNotFound) => {
                return Err(InstallError::MissingLibrary { path: path.to_path_buf(), library: library.clone() });
            }
            Err(err) => return Err(zip_err(err)),
        };
        let dest = staging.join(name);
        let write_err = |source| InstallError::Write { path: dest.clone(), source };
        let mut out = File::create(&dest).map_err(write_err)?;
        io::copy(&mut entry, &mut out).map_err(write_err)?;
        out.sync_all().map_err(write_err)?;
    }
    Ok(())
}

/// The library file names on the system's library path (`ldconfig -p`), where the system's own
/// CUDA or cuDNN may be.
pub fn system_libraries() -> Vec<String> {
    if !cfg!(target_os = "linux") {
        return Vec::new();
    }
    match std::process::Command::new("ldconfig").arg("-p").output() {
        Ok(out) if out.status.success() => parse_ldconfig(&String::from_utf8_lossy(&out.stdout)),
        _ => Vec::new(),
    }
}

/// The names in `ldconfig -p` output: "\tlibcudart.so.13 (libc6,x86-64) => /usr/lib/...".
pub fn parse_ldconfig(text: &str) -> Vec<String> {
    text.lines().filter(|l| l.contains("=>")).filter_map(|l| l.split_whitespace().next().map(str::to_string)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platform_manifest_pins_every_archive() {
        let Ok(manifest) = RuntimeManifest::for_this_platform() else { return };
        assert_eq!(manifest.onnxruntime, "1.31.1");
        for archive in &manifest.archives {
            assert_eq!(archive.sha256.len(), 64, "{}", archive.name);
            assert!(archive.bytes > 0 && archive.url.starts_with("https://"), "{}", archive.name);
            assert!(!archive.libraries.is_empty());
        }
        let kinds: Vec<ArchiveKind> = manifest.archives.iter().map(|a| a.kind).collect();
        assert!(kinds.contains(&ArchiveKind::Onnxruntime) && kinds.contains(&ArchiveKind::Cudnn));
    }

    #[test]
    fn every_pinned_manifest_parses_and_pins_each_archive() {
        for text in [include_str!("cuda-13-linux-x86_64.toml"), include_str!("cuda-13-windows-x86_64.toml")] {
            let manifest = RuntimeManifest::parse(text).unwrap();
            assert_eq!(manifest.onnxruntime, "1.31.1");
            assert!(manifest.archives.iter().all(|a| a.sha256.len() == 64 && a.bytes > 0));
            // The URL's file name is the archive's name on disk (and in a --from folder).
            assert!(manifest.archives.iter().all(|a| a.file_name().ends_with(".whl")));
        }
    }

    #[test]
    fn the_systems_own_cuda_stands_in_for_its_archives() {
        let Ok(manifest) = RuntimeManifest::for_this_platform() else { return };
        let all = manifest.download_bytes(&[]);
        let system = parse_ldconfig(
            "1234 libs found in cache `/etc/ld.so.cache'\n\
             \tlibcudnn.so.9 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcudnn.so.9\n\
             \tlibcudart.so.13 (libc6,x86-64) => /usr/local/cuda/lib64/libcudart.so.13\n",
        );
        assert_eq!(system, ["libcudnn.so.9", "libcudart.so.13"]);
        // Part of cuDNN is not enough: its archive is still needed; CUDA's runtime is not.
        let needed: Vec<&str> = manifest.needed(&system).iter().map(|a| a.name.as_str()).collect();
        assert!(!needed.contains(&"CUDA 13 runtime") && needed.contains(&"cuDNN 9"), "{needed:?}");
        assert!(manifest.download_bytes(&system) < all);
    }
}
