//! Model manifests (`models/*.toml`): what a CLIP-style model is, how to preprocess for it,
//! which files each precision needs and their pinned sizes and checksums; and finding a
//! model's folder and verifying its files before ONNX Runtime ever sees them.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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

type Result<T, E = ModelError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    Int8,
    Fp16,
    Fp32,
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::Int8 => "int8",
            Precision::Fp16 => "fp16",
            Precision::Fp32 => "fp32",
        })
    }
}

/// How images are turned into the vision encoder's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    pub size: u32,
    pub resize: Resize,
    pub resample: Resample,
    pub crop: Crop,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl ImageSpec {
    /// OpenAI CLIP's preprocessing at the given input size.
    pub fn clip(size: u32) -> Self {
        ImageSpec {
            size,
            resize: Resize::ShortestEdge,
            resample: Resample::Bicubic,
            crop: Crop::Center,
            mean: [0.481_454_66, 0.457_827_5, 0.408_210_73],
            std: [0.268_629_54, 0.261_302_6, 0.275_777_1],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resize {
    /// The shortest side to `size`, keeping the aspect ratio (then a crop): CLIP.
    ShortestEdge,
    /// Both sides to `size`, whatever the aspect ratio (no crop): SigLIP.
    Squash,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resample {
    Bicubic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Crop {
    Center,
    /// No crop: only with `resize = "squash"`, which makes the input square already.
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextSpec {
    pub tokenizer: PathBuf,
    pub context_length: usize,
    pub pad_id: u32,
    /// How far texts are padded; fixed-length unless the manifest says otherwise.
    #[serde(default)]
    pub padding: Padding,
    /// How the graph's output becomes one vector per text.
    #[serde(default)]
    pub pooling: Pooling,
    /// A dense layer (safetensors, one `[out, in]` float matrix, no bias) applied after pooling:
    /// sentence-transformers' `2_Dense`.
    #[serde(default)]
    pub projection: Option<PathBuf>,
}

/// How a text graph's output becomes one vector per text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pooling {
    /// The graph pools: its rank-2 output (`text_embeds`, `pooler_output`) is the vector.
    #[default]
    Output,
    /// The graph gives token states (`[batch, tokens, hidden]`): their mean over the attention
    /// mask is the vector (sentence-transformers' mean pooling).
    Mean,
}

/// Another text encoder that embeds queries into a model's image space (queries in other
/// languages, say). Turning it on re-encodes no photo: the image vectors stay the model's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryEncoder {
    pub name: String,
    /// One line a person chooses by.
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub license: Option<String>,
    /// The text graph (one precision: queries are short and few).
    pub graph: PathBuf,
    pub text: TextSpec,
    /// Every file it needs (tokenizer, graph, projection), pinned.
    #[serde(default)]
    pub files: Vec<FileSpec>,
}

/// How far the texts of one encoder call are padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Padding {
    /// To the context length, always: for encoders that were trained on fixed-length input
    /// (SigLIP pools over every position).
    #[default]
    MaxLength,
    /// Only to the call's longest text: for causal encoders pooled at the first EOS (CLIP),
    /// where nothing after EOS reaches the embedding. A short query then costs a short run
    /// (4 ms instead of 15 for ViT-B/32's text tower here) and embeds the same.
    Longest,
}

/// One file of a model, pinned by size and sha256. No URL means it ships with the program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    pub path: PathBuf,
    pub url: Option<String>,
    pub bytes: Option<u64>,
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub vision: PathBuf,
    pub text: PathBuf,
    #[serde(default)]
    pub files: Vec<FileSpec>,
}

/// A validated manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub id: String,
    pub name: String,
    /// One line a person chooses by: what the model is good at and what it costs.
    #[serde(default)]
    pub description: String,
    /// The weights' licence (SPDX), shown beside the model.
    #[serde(default)]
    pub license: Option<String>,
    /// True for models made for tests: they must never pass for a real model.
    #[serde(default)]
    pub test_only: bool,
    pub dims: usize,
    pub default_cpu: Precision,
    pub default_gpu: Precision,
    pub image: ImageSpec,
    pub text: TextSpec,
    /// Files every variant needs (tokenizer, configs).
    #[serde(default)]
    pub files: Vec<FileSpec>,
    pub variants: BTreeMap<Precision, Variant>,
    /// Other text encoders into this model's image space, by id.
    #[serde(default)]
    pub query_encoders: BTreeMap<String, QueryEncoder>,
}

impl Manifest {
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|source| ModelError::ParseManifest { origin: origin.into(), source })?;
        manifest.validate().map_err(|problem| ModelError::InvalidManifest { origin: origin.into(), problem })?;
        Ok(manifest)
    }

    pub fn builtin(id: &str) -> Result<Self> {
        let (_, text) = BUILTIN.iter().find(|(i, _)| *i == id).ok_or_else(|| ModelError::Unknown(id.into()))?;
        Self::parse(text, &format!("built-in {id}"))
    }

    pub fn from_file(path: &Path) -> Result<Self> {
        let text = fs::read_to_string(path).map_err(|source| ModelError::ReadManifest { path: path.into(), source })?;
        Self::parse(&text, &path.display().to_string())
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if self.image.resize == Resize::ShortestEdge && self.image.crop == Crop::None {
            return Err("resize = \"shortest-edge\" needs crop = \"center\" to make a square input".into());
        }
        if self.id.is_empty()
            || !self.id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            || self.id.starts_with('.')
        {
            return Err(format!("id '{}' must be letters, digits, '-', '_' or '.'", self.id));
        }
        if self.dims == 0 || self.image.size == 0 || self.text.context_length < 2 {
            return Err("dims, image.size and text.context_length must be positive".into());
        }
        if self.image.std.iter().any(|s| *s <= 0.0) {
            return Err("image.std must be positive".into());
        }
        for precision in [self.default_cpu, self.default_gpu] {
            if !self.variants.contains_key(&precision) {
                return Err(format!("default precision {precision} has no variant"));
            }
        }
        let mut paths = vec![&self.text.tokenizer];
        for v in self.variants.values() {
            paths.extend([&v.vision, &v.text]);
            paths.extend(v.files.iter().map(|f| &f.path));
        }
        paths.extend(self.files.iter().map(|f| &f.path));
        paths.extend(self.text.projection.iter());
        for (id, q) in &self.query_encoders {
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)) {
                return Err(format!("query encoder id '{id}' must be letters, digits, '-' or '_'"));
            }
            if q.text.context_length < 2 {
                return Err(format!("query encoder {id}: text.context_length must be at least 2"));
            }
            paths.extend([&q.graph, &q.text.tokenizer]);
            paths.extend(q.text.projection.iter());
            paths.extend(q.files.iter().map(|f| &f.path));
        }
        for path in paths {
            if !is_plain_relative(path) {
                return Err(format!("file path {} must be relative and stay inside the model folder", path.display()));
            }
        }
        for file in self.all_files() {
            if let Some(sha) = &file.sha256
                && (sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()))
            {
                return Err(format!("sha256 of {} is not 64 hex digits", file.path.display()));
            }
        }
        Ok(())
    }

    fn all_files(&self) -> impl Iterator<Item = &FileSpec> {
        self.files
            .iter()
            .chain(self.variants.values().flat_map(|v| v.files.iter()))
            .chain(self.query_encoders.values().flat_map(|q| q.files.iter()))
    }

    /// The query encoder `id`, or what went wrong naming it.
    pub fn query_encoder(&self, id: &str) -> Result<&QueryEncoder> {
        self.query_encoders.get(id).ok_or_else(|| ModelError::UnknownQueryEncoder {
            model: self.id.clone(),
            id: id.into(),
            known: self.query_encoders.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }

    pub fn variant(&self, precision: Precision) -> Result<&Variant> {
        self.variants.get(&precision).ok_or(ModelError::NoVariant { model: self.id.clone(), precision })
    }

    /// The files the given precision needs, common files first.
    pub fn files_for(&self, precision: Precision) -> Result<Vec<&FileSpec>> {
        let variant = self.variant(precision)?;
        Ok(self.files.iter().chain(variant.files.iter()).collect())
    }
}

fn is_plain_relative(path: &Path) -> bool {
    !path.as_os_str().is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)))
}

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
    pub manifest: Manifest,
    pub dir: PathBuf,
}

impl ModelLocation {
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

    pub fn path_of(&self, relative: &Path) -> PathBuf {
        self.dir.join(relative)
    }
}

/// Checks every file of a precision against its pins. `stamps` remembers files already hashed
/// (by size and modification time) so that a start does not re-hash hundreds of megabytes.
pub fn verify(location: &ModelLocation, precision: Precision, stamps: &mut VerifiedStamps) -> Result<()> {
    let manifest = &location.manifest;
    let variant = manifest.variant(precision)?;
    for needed in [&manifest.text.tokenizer, &variant.vision, &variant.text] {
        let path = location.path_of(needed);
        if !path.is_file() {
            return Err(ModelError::Missing { model: manifest.id.clone(), missing: path });
        }
    }
    for spec in manifest.files_for(precision)? {
        verify_file(&location.path_of(&spec.path), spec, stamps)?;
    }
    Ok(())
}

/// Checks every file of a model's query encoder against its pins.
pub fn verify_query_encoder(location: &ModelLocation, id: &str, stamps: &mut VerifiedStamps) -> Result<()> {
    let manifest = &location.manifest;
    let encoder = manifest.query_encoder(id)?;
    for needed in [&encoder.text.tokenizer, &encoder.graph].into_iter().chain(encoder.text.projection.iter()) {
        let path = location.path_of(needed);
        if !path.is_file() {
            return Err(ModelError::Missing { model: manifest.id.clone(), missing: path });
        }
    }
    for spec in &encoder.files {
        verify_file(&location.path_of(&spec.path), spec, stamps)?;
    }
    Ok(())
}

pub fn verify_file(path: &Path, spec: &FileSpec, stamps: &mut VerifiedStamps) -> Result<()> {
    let meta = fs::metadata(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => ModelError::FileMissing(path.into()),
        _ => ModelError::ReadFile { path: path.into(), source },
    })?;
    if let Some(expected) = spec.bytes
        && meta.len() != expected
    {
        return Err(ModelError::SizeMismatch { path: path.into(), expected, actual: meta.len() });
    }
    let Some(expected) = &spec.sha256 else { return Err(ModelError::Unpinned { path: path.into() }) };
    let expected = expected.to_ascii_lowercase();
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_nanos());
    let stamp = Stamp { bytes: meta.len(), mtime_ns: mtime.unwrap_or(0), sha256: expected.clone() };
    if mtime.is_some() && stamps.entries.get(path).is_some_and(|s| *s == stamp) {
        return Ok(());
    }
    let actual = sha256_file(path)?;
    if actual != expected {
        return Err(ModelError::ChecksumMismatch { path: path.into(), expected, actual });
    }
    stamps.entries.insert(path.to_path_buf(), stamp);
    stamps.changed = true;
    Ok(())
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let read_err = |source| ModelError::ReadFile { path: path.into(), source };
    let mut file = fs::File::open(path).map_err(read_err)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(read_err)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    bytes: u64,
    mtime_ns: u128,
    sha256: String,
}

/// Files whose checksum was verified, kept in the library cache.
#[derive(Debug, Default)]
pub struct VerifiedStamps {
    entries: BTreeMap<PathBuf, Stamp>,
    changed: bool,
}

impl VerifiedStamps {
    pub fn load(path: &Path) -> Self {
        let entries = fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        VerifiedStamps { entries, changed: false }
    }

    /// Saves when something was verified; a failure only costs a re-hash next time.
    pub fn save(&self, path: &Path) {
        if !self.changed {
            return;
        }
        let result = serde_json::to_vec(&self.entries)
            .map_err(io::Error::other)
            .and_then(|bytes| crate::fsio::write_atomic(path, &bytes));
        if let Err(err) = result {
            tracing::warn!("cannot save checksum stamps {}: {err}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
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
