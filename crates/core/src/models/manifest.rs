//! A model folder's manifest: its files and pins, how images are prepared, how text is
//! tokenized and pooled, and the query encoders it can use.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{BUILTIN, ModelError, Result};

/// The numeric precision of a model's weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 8-bit integer weights (quantized): smallest and fastest on a CPU.
    Int8,
    /// Half-precision floats: for a GPU.
    Fp16,
    /// Single-precision floats: the reference.
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
    /// The side of the square input, in pixels.
    pub size: u32,
    /// How the image is brought to that size.
    pub resize: Resize,
    /// The resampling filter.
    pub resample: Resample,
    /// How the square is cut.
    pub crop: Crop,
    /// The per-channel mean subtracted.
    pub mean: [f32; 3],
    /// The per-channel deviation divided by.
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

/// How an image is brought to the model's input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resize {
    /// The shortest side to `size`, keeping the aspect ratio (then a crop): CLIP.
    ShortestEdge,
    /// Both sides to `size`, whatever the aspect ratio (no crop): SigLIP.
    Squash,
}

/// The resampling filter of the resize.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resample {
    /// Bicubic, as the models' own preprocessing does.
    Bicubic,
}

/// How the resized image is cut to a square.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Crop {
    /// The square at the centre.
    Center,
    /// No crop: only with `resize = "squash"`, which makes the input square already.
    None,
}

/// How a model reads text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextSpec {
    /// Its `tokenizer.json`, relative to the model folder.
    pub tokenizer: PathBuf,
    /// Tokens per text at most.
    pub context_length: usize,
    /// The padding token's id.
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
    /// Its name as people read it.
    pub name: String,
    /// One line a person chooses by.
    #[serde(default)]
    pub description: String,
    /// Its licence.
    #[serde(default)]
    pub license: Option<String>,
    /// The text graph (one precision: queries are short and few).
    pub graph: PathBuf,
    /// How it reads text.
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
    /// Where the file goes, relative to the model folder.
    pub path: PathBuf,
    /// Where it is downloaded from.
    pub url: Option<String>,
    /// Its pinned size.
    pub bytes: Option<u64>,
    /// Its pinned sha256 (hex).
    pub sha256: Option<String>,
}

/// The files of one precision of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// The vision graph.
    pub vision: PathBuf,
    /// The text graph.
    pub text: PathBuf,
    /// Every file it needs, with its pin.
    #[serde(default)]
    pub files: Vec<FileSpec>,
}

/// A validated manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The model's id.
    pub id: String,
    /// Its name as people read it.
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
    /// Dimensions of its embeddings.
    pub dims: usize,
    /// The precision run on a CPU unless chosen.
    pub default_cpu: Precision,
    /// The precision run on a GPU unless chosen.
    pub default_gpu: Precision,
    /// How images are prepared for it.
    pub image: ImageSpec,
    /// How it reads text.
    pub text: TextSpec,
    /// Files every variant needs (tokenizer, configs).
    #[serde(default)]
    pub files: Vec<FileSpec>,
    /// Its files, by precision.
    pub variants: BTreeMap<Precision, Variant>,
    /// Other text encoders into this model's image space, by id.
    #[serde(default)]
    pub query_encoders: BTreeMap<String, QueryEncoder>,
}

impl Manifest {
    /// Parses and checks a manifest; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|source| ModelError::ParseManifest { origin: origin.into(), source })?;
        manifest.validate().map_err(|problem| ModelError::InvalidManifest { origin: origin.into(), problem })?;
        Ok(manifest)
    }

    /// The manifest of a built-in model.
    pub fn builtin(id: &str) -> Result<Self> {
        let (_, text) = BUILTIN.iter().find(|(i, _)| *i == id).ok_or_else(|| ModelError::Unknown(id.into()))?;
        Self::parse(text, &format!("built-in {id}"))
    }

    /// Reads and checks a manifest file.
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

    /// The files of one precision, if the model has it.
    pub fn variant(&self, precision: Precision) -> Result<&Variant> {
        self.variants.get(&precision).ok_or(ModelError::NoVariant { model: self.id.clone(), precision })
    }

    /// The files the given precision needs, common files first.
    pub fn files_for(&self, precision: Precision) -> Result<Vec<&FileSpec>> {
        let variant = self.variant(precision)?;
        Ok(self.files.iter().chain(variant.files.iter()).collect())
    }
}

pub(crate) fn is_plain_relative(path: &Path) -> bool {
    !path.as_os_str().is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)))
}
