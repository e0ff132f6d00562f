//! Model manifests (`models/*.toml`): what a CLIP-style model is, how to preprocess for it,
//! which files each precision needs and their pinned sizes and checksums; and finding a
//! model's folder and verifying its files before ONNX Runtime ever sees them.

use std::io::{self};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod manifest;
mod verify;

pub use manifest::{
    Crop, FileSpec, ImageSpec, Manifest, Padding, Pooling, Precision, QueryEncoder, Resample, Resize, TextSpec, Variant,
};
pub use verify::{VerifiedStamps, hex, sha256_file, verify, verify_file, verify_query_encoder};

/// The manifests built into the program, by id.
pub const BUILTIN: &[(&str, &str)] = &[
    ("clip-vit-base-patch32", include_str!("../../../models/clip-vit-base-patch32.toml")),
    ("siglip-base-patch16-224", include_str!("../../../models/siglip-base-patch16-224.toml")),
];

/// The model used when none is chosen.
pub const DEFAULT_MODEL: &str = "clip-vit-base-patch32";

/// Files shipped inside the program (no download needed), by manifest id and relative path.
pub const BUNDLED: &[(&str, &str, &[u8])] = &[(
    "clip-vit-base-patch32",
    "tokenizer.json",
    include_bytes!("../../../models/clip-vit-base-patch32/tokenizer.json"),
)];

/// Name of the manifest inside a local model folder.
pub const MANIFEST_FILE: &str = "manifest.toml";

/// Why a model cannot be used: its manifest, its folder or its files.
#[allow(missing_docs)] // Each variant is documented by its #[error] message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    #[error("cannot read the model manifest {path}")]
    ReadManifest {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid model manifest {origin}: {source}")]
    ParseManifest {
        origin: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("invalid model manifest {origin}: {problem}")]
    InvalidManifest { origin: String, problem: String },
    #[error("unknown model '{0}': use `photo-search models list`, or --model DIR with a model folder")]
    Unknown(String),
    #[error("model {model} has no query encoder '{id}' (it has: {known})")]
    UnknownQueryEncoder { model: String, id: String, known: String },
    #[error("model {model} has no {precision} variant")]
    NoVariant { model: String, precision: Precision },
    #[error(
        "model {model} is not downloaded ({missing} missing); run `photo-search models fetch {model}` or use --model DIR"
    )]
    Missing { model: String, missing: PathBuf },
    #[error("model file {0} is missing")]
    FileMissing(PathBuf),
    #[error("model file {path} is {actual} bytes, the manifest pins {expected}: not using this model")]
    SizeMismatch { path: PathBuf, expected: u64, actual: u64 },
    #[error("model file {path} has sha256 {actual}, the manifest pins {expected}: not using this model")]
    ChecksumMismatch { path: PathBuf, expected: String, actual: String },
    #[error("model file {path} is not pinned (no sha256 in the manifest): refusing unverified weights")]
    Unpinned { path: PathBuf },
    #[error("cannot read model file {path}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

pub(crate) type Result<T, E = ModelError> = std::result::Result<T, E>;

/// Where a model comes from, as the user chose it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelChoice {
    /// A known model id, stored under the library's models folder.
    Id(String),
    /// A local model folder with its own `manifest.toml` (or a `<folder>.toml` beside it).
    Dir(PathBuf),
    /// The model the library uses (`crate::library::active_model`); the default model for a
    /// library that records none.
    #[default]
    Library,
}

impl ModelChoice {
    /// `--model` takes an id or a folder: anything that exists on disk is a folder.
    pub fn parse(value: &str) -> Self {
        let path = Path::new(value);
        if path.is_dir() { ModelChoice::Dir(path.to_path_buf()) } else { ModelChoice::Id(value.to_string()) }
    }
}

/// A manifest together with the folder its files are (or will be) in.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelLocation {
    /// The model's manifest.
    pub manifest: Manifest,
    /// The folder its files are in.
    pub dir: PathBuf,
}

impl ModelLocation {
    /// Finds the folder of the model `choice` names (under `models_dir` for a built-in one) and reads its manifest.
    pub fn find(choice: &ModelChoice, models_dir: &Path) -> Result<Self> {
        match choice {
            ModelChoice::Dir(dir) => {
                let inside = dir.join(MANIFEST_FILE);
                let beside = dir.with_extension("toml");
                let path = if inside.is_file() || !beside.is_file() { inside } else { beside };
                Ok(ModelLocation { manifest: Manifest::from_file(&path)?, dir: dir.clone() })
            }
            ModelChoice::Library => Self::find(&ModelChoice::Id(DEFAULT_MODEL.into()), models_dir),
            ModelChoice::Id(id) => {
                let dir = models_dir.join(id);
                let manifest = match Manifest::builtin(id) {
                    Ok(m) => m,
                    Err(ModelError::Unknown(_)) if dir.join(MANIFEST_FILE).is_file() => {
                        Manifest::from_file(&dir.join(MANIFEST_FILE))?
                    }
                    Err(err) => return Err(err),
                };
                Ok(ModelLocation { manifest, dir })
            }
        }
    }

    /// A file of the model, by its path relative to the model folder.
    pub fn path_of(&self, relative: &Path) -> PathBuf {
        self.dir.join(relative)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn builtin_default_manifest_is_valid_and_every_precision_is_pinned() {
        let m = Manifest::builtin(DEFAULT_MODEL).unwrap();
        assert_eq!(m.dims, 512);
        assert_eq!(m.default_cpu, Precision::Int8);
        assert_eq!(m.default_gpu, Precision::Fp16);
        for precision in [Precision::Int8, Precision::Fp16, Precision::Fp32] {
            for file in m.files_for(precision).unwrap() {
                assert!(file.sha256.is_some() && file.bytes.is_some(), "{} is not pinned", file.path.display());
            }
        }
    }

    #[test]
    fn every_downloadable_file_of_every_builtin_model_is_pinned() {
        for (id, _) in BUILTIN {
            let m = Manifest::builtin(id).unwrap();
            assert_eq!(&m.id, id);
            assert!(!m.test_only && !m.description.is_empty() && m.license.is_some(), "{id}");
            for precision in m.variants.keys() {
                for file in m.files_for(*precision).unwrap() {
                    assert!(
                        file.sha256.is_some() && file.bytes.is_some(),
                        "{id}: {} is not pinned",
                        file.path.display()
                    );
                }
            }
            assert!(m.variant(m.default_cpu).is_ok() && m.variant(m.default_gpu).is_ok(), "{id}");
            for (qid, q) in &m.query_encoders {
                assert!(!q.description.is_empty() && q.license.is_some(), "{id}/{qid}");
                let needed = [&q.graph, &q.text.tokenizer].into_iter().chain(q.text.projection.iter());
                for path in needed {
                    let file = q.files.iter().find(|f| &f.path == path);
                    assert!(
                        file.is_some_and(|f| f.sha256.is_some() && f.bytes.is_some() && f.url.is_some()),
                        "{id}/{qid}: {} is not pinned",
                        path.display()
                    );
                }
            }
        }
        let clip = Manifest::builtin(DEFAULT_MODEL).unwrap();
        assert_eq!(clip.query_encoder("multilingual").unwrap().text.pooling, Pooling::Mean);
    }

    #[test]
    fn manifest_paths_must_stay_inside_the_model_folder() {
        let text = Manifest::builtin(DEFAULT_MODEL).unwrap();
        let mut bad = text.clone();
        bad.text.tokenizer = "../../etc/passwd".into();
        let err = Manifest::parse(&toml::to_string(&bad).unwrap(), "test").unwrap_err();
        assert!(err.to_string().contains("must be relative"), "{err}");
    }

    #[test]
    fn checksum_mismatch_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.onnx");
        fs::write(&path, b"weights").unwrap();
        let spec = FileSpec { path: "f.onnx".into(), url: None, bytes: Some(7), sha256: Some("0".repeat(64)) };
        let err = verify_file(&path, &spec, &mut VerifiedStamps::default()).unwrap_err();
        assert!(matches!(err, ModelError::ChecksumMismatch { .. }), "{err}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone.onnx");
        let spec = FileSpec { path: "gone.onnx".into(), url: None, bytes: None, sha256: None };
        let err = verify_file(&path, &spec, &mut VerifiedStamps::default()).unwrap_err();
        assert_eq!(err.to_string(), format!("model file {} is missing", path.display()));
    }
}
