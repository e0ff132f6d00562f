//! The command line: subcommands, their flags and arguments.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};
use photo_search_core::catalog::PhotoFilter;
use photo_search_core::library::LIBRARY_ENV;
use photo_search_core::{duplicates, query};

use crate::bench;

#[derive(Parser)]
#[command(name = "photo-search", version, about = "Find photos by meaning, privately, on this computer.")]
pub(crate) struct Cli {
    /// Library folder (catalog, index, models). Default: the platform data directory.
    #[arg(long, global = true, env = LIBRARY_ENV, value_name = "DIR")]
    pub(crate) library: Option<PathBuf>,
    /// Model id, or a local model folder.
    #[arg(long, global = true, env = "PHOTO_SEARCH_MODEL", value_name = "ID_OR_DIR")]
    pub(crate) model: Option<String>,
    /// ONNX Runtime threads per encoder (0: automatic).
    #[arg(long, global = true, default_value_t = 0)]
    pub(crate) threads: usize,
    /// Images per encoder call (default: 8 on CPU, 32 on GPU).
    #[arg(long, global = true)]
    pub(crate) batch_size: Option<usize>,
    /// GPU memory each encoder session may take, in GB (default: half the card's memory).
    #[arg(long, global = true, value_name = "GB")]
    pub(crate) gpu_memory: Option<f64>,
    /// Indexing workers, each decoding and encoding its own batches (default: one per core on CPU).
    #[arg(long, global = true, default_value_t = 0)]
    pub(crate) workers: usize,
    /// Extra threads that only decode while indexing (default: none on CPU, one per core on GPU).
    #[arg(long, global = true)]
    pub(crate) decode_threads: Option<usize>,
    /// Skip files and folders with names matching PATTERN (`*` and `?` wildcards); repeatable.
    /// Hidden names, @eaDir, #recycle, $RECYCLE.BIN and #snapshot are always skipped.
    #[arg(long = "exclude", global = true, value_name = "PATTERN")]
    pub(crate) excludes: Vec<String>,
    /// Model precision to run (default: fp16 on a GPU, int8 on the CPU, as the manifest says).
    #[arg(long, global = true, value_enum)]
    pub(crate) precision: Option<PrecisionArg>,
    /// How vectors are stored in the index.
    #[arg(long, global = true, value_enum, default_value_t = QuantizationArg::F16)]
    pub(crate) quantization: QuantizationArg,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum PrecisionArg {
    Int8,
    Fp16,
    Fp32,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum QuantizationArg {
    F16,
    F32,
    I8,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Remember folders and index new and changed photos (all folders when none is given).
    Index { paths: Vec<PathBuf> },
    /// Index every folder, then keep watching them and index changes until Ctrl-C.
    Watch,
    /// Serve the app to a browser (with a JSON API), indexing and watching in the background,
    /// until Ctrl-C. Loopback only unless --bind names another address, which needs a token.
    Serve {
        /// Address and port to listen on.
        #[arg(long, default_value = "127.0.0.1:8765")]
        bind: std::net::SocketAddr,
        /// Token every API request must carry (Authorization: Bearer, or ?token=). Made up and
        /// printed when binding to a non-loopback address without one.
        #[arg(long, env = "PHOTO_SEARCH_TOKEN")]
        token: Option<String>,
        /// The built UI folder (default: ui/ beside the program, else the repository's ui/dist).
        #[arg(long, value_name = "DIR")]
        ui: Option<PathBuf>,
        /// Do not index or watch in the background (search what is indexed).
        #[arg(long)]
        no_index: bool,
    },
    /// Search photos by text, e.g. `kids on a beach` or `"beach" + "sunset" - "people"`.
    Search {
        #[arg(required = true, num_args = 1..)]
        query: Vec<String>,
        #[command(flatten)]
        output: OutputArgs,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Find photos similar to an image file or an indexed photo's id.
    Similar {
        image_or_id: String,
        /// Also move towards this text (e.g. "at night").
        #[arg(long)]
        text: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Exact duplicates (the same bytes) and, with --similar, groups of similar shots, apart.
    /// Nothing is deleted: the groups are listed for you to act on.
    Duplicates {
        /// Also group similar shots: near-identical (bursts, re-encoded copies), same-scene
        /// (shots moments apart) or related (looser).
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(duplicates::PRESETS.iter().map(|(name, _)| *name)))]
        similar: Option<String>,
        /// Similarity (cosine) every two photos of a similar group reach; overrides the preset.
        #[arg(long, value_name = "COSINE")]
        min_similarity: Option<f32>,
        /// Photos a similar group may hold at most.
        #[arg(long, default_value_t = duplicates::DEFAULT_MAX_GROUP)]
        max_group: usize,
        #[arg(long)]
        json: bool,
    },
    /// Photo counts, model, execution provider, index size.
    Status {
        #[arg(long)]
        json: bool,
        /// List each failed file with its reason.
        #[arg(long)]
        failed: bool,
    },
    /// Manage the photo folders of the library.
    Folders {
        #[command(subcommand)]
        command: FolderCommand,
    },
    /// Exclude patterns saved in the library (names with * and ? wildcards), applied by every
    /// index and watch on top of the defaults and --exclude.
    Excludes {
        #[command(subcommand)]
        command: ExcludeCommand,
    },
    /// List, verify and download models.
    Models {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// The NVIDIA GPU, its driver and what runs the model; install or remove the GPU runtime.
    Gpu {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        command: Option<GpuCommand>,
    },
    /// Measure decode, encoder, indexing and search speed (figures for docs/PERFORMANCE.md).
    Bench {
        #[command(subcommand)]
        bench: bench::Bench,
    },
}

#[derive(Args)]
pub(crate) struct OutputArgs {
    /// Number of results.
    #[arg(short = 'n', long = "limit", default_value_t = 20)]
    pub(crate) limit: usize,
    /// Print a JSON array of {"id", "path", "score"}, best first.
    #[arg(long)]
    pub(crate) json: bool,
    /// Print only the paths, each followed by a NUL byte (for `xargs -0`).
    #[arg(long, conflicts_with = "json")]
    pub(crate) paths0: bool,
    /// Copy the results into this folder (made if missing; no file there is overwritten).
    #[arg(long, value_name = "DIR")]
    pub(crate) export: Option<PathBuf>,
    /// Take the words as they are: no dates are understood in them ("beach 2019" is a
    /// filter on 2019 otherwise).
    #[arg(long)]
    pub(crate) literal: bool,
}

#[derive(Args)]
pub(crate) struct FilterArgs {
    /// Only photos under this folder.
    #[arg(long, value_name = "DIR")]
    pub(crate) folder: Option<PathBuf>,
    /// Taken on or after this day (YYYY-MM-DD; EXIF date, else file time).
    #[arg(long, value_name = "DATE")]
    pub(crate) from: Option<String>,
    /// Taken on or before this day (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub(crate) to: Option<String>,
    /// Only these formats (jpeg, png, gif, webp, tiff, bmp); repeatable.
    #[arg(long = "format", value_name = "FORMAT")]
    pub(crate) formats: Vec<String>,
    /// Only photos taken in this town, region or country (from their GPS position).
    #[arg(long, value_name = "PLACE")]
    pub(crate) place: Option<String>,
}

#[derive(Subcommand)]
pub(crate) enum FolderCommand {
    List,
    Add { path: PathBuf },
    Remove { path: PathBuf },
}

#[derive(Subcommand)]
pub(crate) enum ExcludeCommand {
    /// The saved patterns, then the built-in ones.
    List,
    Add {
        pattern: String,
    },
    Remove {
        pattern: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum ModelCommand {
    /// Known models and whether each is present in the library.
    List,
    /// Check a model's files against their pinned sizes and checksums.
    Verify { id: Option<String> },
    /// Download a model into the library (resumable, checksum-verified).
    Fetch { id: Option<String> },
    /// Make a model (an id or a model folder) the one this library searches with; `index`
    /// then embeds its photos with it. `--model` on any command chooses for that run only.
    Use { model: String },
    /// Free the space of another model's vectors in this library (its photos are kept; that
    /// model would embed them again). Without an id, lists the models that have vectors.
    RemoveVectors { id: Option<String> },
    /// Choose how text queries are embedded for the library's model: `default` (the model's own
    /// text tower) or one of its query encoders (e.g. `multilingual`). No photo is re-encoded.
    /// Without an argument, lists them.
    Queries { encoder: Option<String> },
}

#[derive(Subcommand)]
pub(crate) enum GpuCommand {
    /// Download the pinned GPU runtime (ONNX Runtime's CUDA 13 build, CUDA 13 and cuDNN 9
    /// libraries) into the library, checksum-verified and resumable, and check that it runs.
    Install {
        /// Take the archives from this folder instead of downloading them.
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
    },
    /// Remove the GPU runtime from the library (the model then runs on the CPU).
    Remove,
}

impl FilterArgs {
    pub(crate) fn to_filter(&self) -> Result<PhotoFilter> {
        let folder = self.folder.as_deref().map(|f| f.to_string_lossy().into_owned());
        Ok(query::FilterFields {
            folder: folder.as_deref(),
            from: self.from.as_deref(),
            to: self.to.as_deref(),
            formats: &self.formats,
            place: self.place.as_deref(),
        }
        .build()?)
    }
}
