//! `photo-search`: index photo folders and search them by text or by image, from a terminal.

mod bench;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Arc;

use photo_search_core::api::{IndexSummary, Progress, Status};
use photo_search_core::catalog::PhotoFilter;
use photo_search_core::index::Quantization;
use photo_search_core::indexer::JobControl;
use photo_search_core::library::{Access, LIBRARY_ENV, Library};
use photo_search_core::models::{self, ModelChoice, Precision};
use photo_search_core::query::{self, SearchQuery, Term, WeightedTerm};
use photo_search_core::scan::Excludes;
use photo_search_core::understand;
use photo_search_core::{Engine, EngineOptions, ModelSwitch};
use photo_search_core::{duplicates, export};

#[derive(Parser)]
#[command(name = "photo-search", version, about = "Find photos by meaning, privately, on this computer.")]
struct Cli {
    /// Library folder (catalog, index, models). Default: the platform data directory.
    #[arg(long, global = true, env = LIBRARY_ENV, value_name = "DIR")]
    library: Option<PathBuf>,
    /// Model id, or a local model folder.
    #[arg(long, global = true, env = "PHOTO_SEARCH_MODEL", value_name = "ID_OR_DIR")]
    model: Option<String>,
    /// ONNX Runtime threads per encoder (0: automatic).
    #[arg(long, global = true, default_value_t = 0)]
    threads: usize,
    /// Images per encoder call (default: 8 on CPU, 32 on GPU).
    #[arg(long, global = true)]
    batch_size: Option<usize>,
    /// Indexing workers, each decoding and encoding its own batches (default: one per core on CPU).
    #[arg(long, global = true, default_value_t = 0)]
    workers: usize,
    /// Extra threads that only decode while indexing (default: none on CPU, one per core on GPU).
    #[arg(long, global = true)]
    decode_threads: Option<usize>,
    /// Skip files and folders with names matching PATTERN (`*` and `?` wildcards); repeatable.
    /// Hidden names, @eaDir, #recycle, $RECYCLE.BIN and #snapshot are always skipped.
    #[arg(long = "exclude", global = true, value_name = "PATTERN")]
    excludes: Vec<String>,
    /// Model precision to run (default: fp16 on a GPU, int8 on the CPU, as the manifest says).
    #[arg(long, global = true, value_enum)]
    precision: Option<PrecisionArg>,
    /// How vectors are stored in the index.
    #[arg(long, global = true, value_enum, default_value_t = QuantizationArg::F16)]
    quantization: QuantizationArg,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum PrecisionArg {
    Int8,
    Fp16,
    Fp32,
}

#[derive(Clone, Copy, ValueEnum)]
enum QuantizationArg {
    F16,
    F32,
    I8,
}

#[derive(Subcommand)]
enum Command {
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
    /// Measure decode, encoder, indexing and search speed (figures for docs/PERFORMANCE.md).
    Bench {
        #[command(subcommand)]
        bench: bench::Bench,
    },
}

#[derive(Args)]
struct OutputArgs {
    /// Number of results.
    #[arg(short = 'n', long = "limit", default_value_t = 20)]
    limit: usize,
    /// Print a JSON array of {"id", "path", "score"}, best first.
    #[arg(long)]
    json: bool,
    /// Print only the paths, each followed by a NUL byte (for `xargs -0`).
    #[arg(long, conflicts_with = "json")]
    paths0: bool,
    /// Copy the results into this folder (made if missing; no file there is overwritten).
    #[arg(long, value_name = "DIR")]
    export: Option<PathBuf>,
    /// Take the words as they are: no dates are understood in them ("beach 2019" is a
    /// filter on 2019 otherwise).
    #[arg(long)]
    literal: bool,
}

#[derive(Args)]
struct FilterArgs {
    /// Only photos under this folder.
    #[arg(long, value_name = "DIR")]
    folder: Option<PathBuf>,
    /// Taken on or after this day (YYYY-MM-DD; EXIF date, else file time).
    #[arg(long, value_name = "DATE")]
    from: Option<String>,
    /// Taken on or before this day (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    to: Option<String>,
    /// Only these formats (jpeg, png, gif, webp, tiff, bmp); repeatable.
    #[arg(long = "format", value_name = "FORMAT")]
    formats: Vec<String>,
    /// Only photos taken in this town, region or country (from their GPS position).
    #[arg(long, value_name = "PLACE")]
    place: Option<String>,
}

#[derive(Subcommand)]
enum FolderCommand {
    List,
    Add { path: PathBuf },
    Remove { path: PathBuf },
}

#[derive(Subcommand)]
enum ExcludeCommand {
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
enum ModelCommand {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PHOTO_SEARCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}

fn open(cli: &Cli, access: Access, model: Option<&str>) -> Result<Engine> {
    Ok(Engine::open(open_options(cli, access, model)?)?)
}

fn open_options(cli: &Cli, access: Access, model: Option<&str>) -> Result<EngineOptions> {
    let library = match &cli.library {
        Some(dir) => dir.clone(),
        None => Library::default_root()?,
    };
    let model = model.or(cli.model.as_deref()).map(ModelChoice::parse).unwrap_or_default();
    let mut options = EngineOptions::new(library, model, access);
    options.encoder.threads = cli.threads;
    options.encoder.batch_size = cli.batch_size;
    options.workers = cli.workers;
    options.excludes = Excludes::with(&cli.excludes);
    options.decode_threads = cli.decode_threads;
    options.precision = cli.precision.map(|p| match p {
        PrecisionArg::Int8 => Precision::Int8,
        PrecisionArg::Fp16 => Precision::Fp16,
        PrecisionArg::Fp32 => Precision::Fp32,
    });
    options.quantization = match cli.quantization {
        QuantizationArg::F16 => Quantization::F16,
        QuantizationArg::F32 => Quantization::F32,
        QuantizationArg::I8 => Quantization::I8,
    };
    Ok(options)
}

fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Index { paths } => index(&open(&cli, Access::Write, None)?, paths),
        Command::Watch => watch(&open(&cli, Access::Write, None)?),
        Command::Serve { bind, token, ui, no_index } => serve(&cli, *bind, token.clone(), ui.clone(), !*no_index),
        Command::Search { query, output, filter } => {
            let engine = open(&cli, Access::Read, None)?;
            let terms = query::parse_terms(&query.join(" "))?;
            print_hits(&engine, terms, filter.to_filter()?, output)
        }
        Command::Similar { image_or_id, text, output, filter } => {
            let engine = open(&cli, Access::Read, None)?;
            let mut terms = vec![WeightedTerm { term: image_term(&engine, image_or_id)?, weight: 1.0 }];
            if let Some(text) = text {
                terms.extend(query::parse_terms(text)?);
            }
            print_hits(&engine, terms, filter.to_filter()?, output)
        }
        Command::Status { json, failed } => status(&open(&cli, Access::Read, None)?, *json, *failed),
        Command::Duplicates { similar, min_similarity, max_group, json } => {
            let threshold = min_similarity.or(similar.as_deref().and_then(duplicates::preset));
            duplicates(&open(&cli, Access::Read, None)?, threshold, *max_group, *json)
        }
        Command::Folders { command } => folders(&cli, command),
        Command::Excludes { command } => excludes(&cli, command),
        Command::Models { command } => models_command(&cli, command),
        Command::Bench { bench } => {
            let options = open_options(&cli, Access::Read, None)?;
            bench::run(bench, options).map(|()| ExitCode::SUCCESS)
        }
    }
}

/// An indexed file searches by its stored vector; any other path is decoded and encoded; a
/// number that is not a file is a photo id.
fn image_term(engine: &Engine, value: &str) -> Result<Term> {
    let path = Path::new(value);
    if path.is_file() {
        return Ok(match engine.photo_id(path)? {
            Some(id) => Term::Photo(id),
            None => Term::ImageFile(path.to_path_buf()),
        });
    }
    match value.parse::<i64>() {
        Ok(id) => Ok(Term::Photo(id)),
        Err(_) => anyhow::bail!("{value} is neither an image file nor a photo id"),
    }
}

impl FilterArgs {
    fn to_filter(&self) -> Result<PhotoFilter> {
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

/// The results of `terms` within `filter`, best first, with the dates in their words understood
/// (unless `--literal`); as text, with where the strong matches end.
fn print_hits(
    engine: &Engine,
    mut terms: Vec<WeightedTerm>,
    mut filter: PhotoFilter,
    output: &OutputArgs,
) -> Result<ExitCode> {
    if !output.literal {
        let places = engine.place_names()?;
        for label in understand::understand_terms(&mut terms, &mut filter, understand::today(), &places) {
            eprintln!("understood: {label} (--literal takes the words as they are)");
        }
    }
    let query = SearchQuery::new(terms, filter, output.limit)?;
    let (ranked, relevance) = engine.search_judged(&query)?;
    let hits = engine.hits(&ranked)?;
    if let Some(folder) = &output.export {
        let files: Vec<PathBuf> = hits.iter().map(|h| h.path.clone()).collect();
        let bar = progress_bar();
        bar.set_length(files.len() as u64);
        let summary = export::export(&files, folder, &mut |done, _, _| bar.set_position(done as u64))?;
        bar.finish_and_clear();
        eprintln!(
            "exported {} photos to {} ({} already there)",
            summary.copied.len(),
            folder.display(),
            summary.already_there
        );
        for (file, reason) in &summary.failed {
            eprintln!("could not copy {}: {reason}", file.display());
        }
        if !summary.failed.is_empty() {
            return Ok(ExitCode::FAILURE);
        }
    }
    if output.paths0 {
        let mut out = std::io::stdout().lock();
        for hit in &hits {
            out.write_all(hit.path.as_os_str().as_encoded_bytes())?;
            out.write_all(b"\0")?;
        }
        out.flush()?;
    } else if output.json {
        println!("{}", serde_json::to_string_pretty(&hits)?);
    } else if hits.is_empty() {
        println!("No matching photos. Index some folders first: photo-search index DIR");
    } else {
        if relevance.weak {
            println!("no close matches; the closest results:");
        }
        for (i, hit) in hits.iter().enumerate() {
            if i == relevance.strong && i > 0 && !relevance.weak {
                println!("-- weaker matches --");
            }
            println!("{:.3}  {}", hit.score, hit.path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C stops the job cleanly: the batch being written is finished and the index saved.
fn cancel_on_ctrl_c() -> Result<Arc<JobControl>> {
    let control = Arc::new(JobControl::default());
    let handler = control.clone();
    ctrlc::set_handler(move || {
        eprintln!("stopping after the current batch...");
        handler.cancel();
    })?;
    Ok(control)
}

/// Shows indexing progress: a bar on a terminal, failures always.
fn progress_printer(bar: &ProgressBar) -> impl FnMut(Progress) + '_ {
    move |event| match event {
        Progress::Scanning { folder } => bar.set_message(format!("scanning {}", folder.display())),
        Progress::FolderUnavailable { folder, reason } => {
            bar.suspend(|| eprintln!("warning: {} is unavailable ({reason}); its photos are kept", folder.display()))
        }
        Progress::Polling { folder, reason } => {
            bar.suspend(|| eprintln!("warning: cannot watch {} ({reason}); polling it instead", folder.display()))
        }
        Progress::Planned { queued, .. } => {
            bar.reset();
            bar.set_length(queued);
        }
        Progress::File { done, path, failed, .. } => {
            bar.set_position(done);
            if let Some(reason) = failed {
                bar.suspend(|| eprintln!("failed: {}: {reason}", path.display()));
            }
            bar.set_message(path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        }
        Progress::Paused { paused } => bar.set_message(if paused { "paused" } else { "resumed" }),
        Progress::Finished { .. } | Progress::Cancelled { .. } => bar.finish_and_clear(),
    }
}

fn progress_bar() -> ProgressBar {
    let bar = if std::io::stderr().is_terminal() { ProgressBar::new(0) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {per_sec} eta {eta} {wide_msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn print_summary(summary: &IndexSummary) {
    println!(
        "indexed {}, moved {}, duplicates {}, unchanged {}, failed {}, removed {}",
        summary.indexed, summary.moved, summary.duplicates, summary.unchanged, summary.failed, summary.removed
    );
}

fn index(engine: &Engine, paths: &[PathBuf]) -> Result<ExitCode> {
    let control = cancel_on_ctrl_c()?;
    let bar = progress_bar();
    let summary = engine.index_with(paths, &control, &mut progress_printer(&bar))?;
    print_summary(&summary);
    if !control.is_cancelled() && engine.finish_switch()? {
        println!("this library now searches with {}", engine.model().manifest.id);
    }
    Ok(if control.is_cancelled() { ExitCode::from(130) } else { ExitCode::SUCCESS })
}

fn watch(engine: &Engine) -> Result<ExitCode> {
    let control = cancel_on_ctrl_c()?;
    let bar = progress_bar();
    let mut show = progress_printer(&bar);
    println!("watching {} folder(s); Ctrl-C to stop", engine.folders()?.len());
    engine.watch(&control, &mut |event| {
        if let Progress::Finished { summary } = &event {
            if summary.indexed + summary.moved + summary.duplicates + summary.failed + summary.removed > 0 {
                print_summary(summary);
            }
            match engine.finish_switch() {
                Ok(true) => println!("this library now searches with {}", engine.model().manifest.id),
                Ok(false) => {}
                Err(err) => eprintln!("warning: cannot finish the switch of models: {err}"),
            }
        }
        show(event);
    })?;
    println!("stopped; the index is saved");
    Ok(ExitCode::SUCCESS)
}

/// Lists exact duplicates and, with a threshold, similar shots.
fn duplicates(engine: &Engine, similar: Option<f32>, max_group: usize, json: bool) -> Result<ExitCode> {
    let exact = engine.exact_duplicates()?;
    let bar = progress_bar();
    let similar_groups = match similar {
        Some(threshold) => Some(engine.similar_groups(threshold, max_group.max(2), &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })?),
        None => None,
    };
    bar.finish_and_clear();
    if json {
        let paths = |groups: &[Vec<(i64, PathBuf)>]| -> Vec<Vec<String>> {
            groups.iter().map(|g| g.iter().map(|(_, p)| p.display().to_string()).collect()).collect()
        };
        let value = serde_json::json!({
            "exact": paths(&exact),
            "similar": similar_groups.as_deref().map(paths),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    let print = |title: String, groups: &[Vec<(i64, PathBuf)>]| {
        println!("{title}: {} group{}", groups.len(), if groups.len() == 1 { "" } else { "s" });
        for group in groups {
            println!();
            for (_, path) in group {
                println!("  {}", path.display());
            }
        }
    };
    print("exact duplicates (the same bytes)".into(), &exact);
    if let (Some(groups), Some(threshold)) = (&similar_groups, similar) {
        println!();
        print(format!("similar shots (every two at least {threshold:.2} similar)"), groups);
    }
    Ok(ExitCode::SUCCESS)
}

fn status(engine: &Engine, json: bool, failed: bool) -> Result<ExitCode> {
    let status = engine.status()?;
    let failures = if failed { engine.failures()? } else { Vec::new() };
    if json {
        let mut value = serde_json::to_value(&status)?;
        if failed {
            value["failures"] = serde_json::to_value(&failures)?;
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    print_status(&status);
    for f in &failures {
        println!("failed  {}: {}", f.path.display(), f.reason);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_status(s: &Status) {
    println!("library   {}", s.library.display());
    println!(
        "photos    {} total, {} indexed, {} failed, {} offline",
        s.photos.total, s.photos.indexed, s.photos.failed, s.photos.offline
    );
    println!("folders   {}", s.folders.len());
    for f in &s.folders {
        println!("          {}", f.display());
    }
    println!("model     {} ({}, {})", s.model.id, s.model.name, s.model.precision);
    if let Some(problem) = &s.model.problem {
        println!("          problem: {problem}");
    }
    match (&s.provider, &s.runtime_problem) {
        (Some(p), _) => println!("provider  {p}"),
        (None, Some(problem)) => println!("provider  none: {problem}"),
        (None, None) => println!("provider  unknown"),
    }
    println!("index     {} vectors, {} bytes", s.index.vectors, s.index.file_bytes);
}

fn folders(cli: &Cli, command: &FolderCommand) -> Result<ExitCode> {
    match command {
        FolderCommand::List => {
            for folder in open(cli, Access::Read, None)?.folders()? {
                println!("{}", folder.path.display());
            }
        }
        FolderCommand::Add { path } => {
            let folder = open(cli, Access::Write, None)?.add_folder(path)?;
            println!("added {} (run `photo-search index` to index it)", folder.path.display());
        }
        FolderCommand::Remove { path } => {
            let removed = open(cli, Access::Write, None)?.remove_folder(path)?;
            println!("removed {} and its {removed} photos from the library (files untouched)", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn serve(
    cli: &Cli,
    bind: std::net::SocketAddr,
    token: Option<String>,
    ui: Option<PathBuf>,
    background: bool,
) -> Result<ExitCode> {
    let ui_dir = match ui {
        Some(dir) => dir,
        None => find_ui_dir()
            .context("the UI is not built: run `npm ci && npm run build` (scripts/setup.sh does), or pass --ui DIR")?,
    };
    anyhow::ensure!(
        ui_dir.join("index.html").is_file(),
        "{} has no index.html (pass the built UI folder)",
        ui_dir.display()
    );
    let options = photo_search_server::ServeOptions::new(bind, token, ui_dir)?;
    let service = photo_search_service::Service::open(photo_search_service::ServiceOptions {
        engine: open_options(cli, Access::Write, None)?,
        background,
    })
    .map_err(|e| anyhow::anyhow!(e.message))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let result = runtime.block_on(async {
        let listener =
            tokio::net::TcpListener::bind(options.bind).await.with_context(|| format!("cannot listen on {bind}"))?;
        let bound = listener.local_addr()?;
        println!("Photo Search is at {}", options.url(bound));
        if options.token.is_some() && !bind.ip().is_loopback() {
            println!("Anyone who can reach this address needs that token; keep it private.");
        }
        println!("Press Ctrl-C to stop.");
        let shutdown = async {
            if let Err(err) = tokio::signal::ctrl_c().await {
                // Without a Ctrl-C handler the server runs until it is killed.
                tracing::warn!("cannot listen for Ctrl-C: {err}");
                std::future::pending::<()>().await;
            }
        };
        photo_search_server::serve(service.clone(), listener, options, shutdown).await?;
        anyhow::Ok(())
    });
    eprintln!("stopping: saving the index");
    service.close();
    result.map(|()| ExitCode::SUCCESS)
}

/// The built UI: `ui/` beside the program (an installed layout), else the repository's `ui/dist`
/// (the program in target/<profile>/).
fn find_ui_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PHOTO_SEARCH_UI") {
        return Some(PathBuf::from(dir));
    }
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    [dir.join("ui"), dir.join("../../ui/dist")].into_iter().find(|d| d.join("index.html").is_file())
}

fn excludes(cli: &Cli, command: &ExcludeCommand) -> Result<ExitCode> {
    let engine = open(cli, if matches!(command, ExcludeCommand::List) { Access::Read } else { Access::Write }, None)?;
    let mut saved = engine.saved_excludes()?;
    match command {
        ExcludeCommand::List => {
            for pattern in &saved {
                println!("{pattern}");
            }
            println!("built in: hidden names (a leading dot), {}", Excludes::default().patterns().join(", "));
            return Ok(ExitCode::SUCCESS);
        }
        ExcludeCommand::Add { pattern } => saved.push(pattern.clone()),
        ExcludeCommand::Remove { pattern } => {
            let before = saved.len();
            saved.retain(|p| !p.eq_ignore_ascii_case(pattern.trim()));
            if saved.len() == before {
                eprintln!("error: no saved exclude pattern {pattern:?} (see `photo-search excludes list`)");
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    let saved = engine.set_excludes(&saved)?;
    println!("saved exclude patterns: {}", if saved.is_empty() { "none".to_string() } else { saved.join(", ") });
    println!("(the next `photo-search index` applies them)");
    Ok(ExitCode::SUCCESS)
}

fn models_command(cli: &Cli, command: &ModelCommand) -> Result<ExitCode> {
    match command {
        ModelCommand::List => {
            let engine = open(cli, Access::Read, None)?;
            let models_dir = engine.library().models_dir();
            for (id, _) in models::BUILTIN {
                let engine = open(cli, Access::Read, Some(id))?;
                let state = match engine.verify_model() {
                    Ok(_) => "ready".to_string(),
                    Err(err) => format!("not ready: {err}"),
                };
                let m = &engine.model().manifest;
                let license = m.license.as_deref().unwrap_or("licence not stated");
                println!("{id}  {}  {} dims  {license}  {state}\n    {}", m.name, m.dims, m.description);
                for (qid, q) in &m.query_encoders {
                    let license = q.license.as_deref().unwrap_or("licence not stated");
                    println!("    queries: {qid}  {}  {license}\n        {}", q.name, q.description);
                }
            }
            if let Some(model) = &cli.model {
                let m = &engine.model().manifest;
                println!(
                    "{model} (selected)  {}  {} dims{}",
                    m.name,
                    m.dims,
                    if m.test_only { "  [test model]" } else { "" }
                );
            }
            println!("models folder: {}", models_dir.display());
        }
        ModelCommand::Use { model } => {
            let engine = open(cli, Access::Read, Some(model))?;
            let m = &engine.model().manifest;
            match engine.choose_model(&ModelChoice::parse(model))? {
                ModelSwitch::Now => println!("this library now searches with {} ({})", m.id, m.name),
                ModelSwitch::Background { missing } => println!(
                    "switching to {} ({}): `photo-search index` (or the app, or `serve`) embeds {missing} photos \
                     with it; searches use the current model until then",
                    m.id, m.name
                ),
            }
        }
        ModelCommand::RemoveVectors { id: None } => {
            for (id, count) in open(cli, Access::Read, None)?.vector_models()? {
                println!("{id}  {count} vectors");
            }
        }
        ModelCommand::RemoveVectors { id: Some(id) } => {
            let removed = open(cli, Access::Write, None)?.remove_model_vectors(id)?;
            println!("removed {removed} vectors of {id}");
        }
        ModelCommand::Queries { encoder: None } => {
            let engine = open(cli, Access::Read, None)?;
            let m = &engine.model().manifest;
            let chosen = engine.query_encoder();
            let mark = |on: bool| if on { "*" } else { " " };
            println!("{} default  the model's own text tower", mark(chosen.is_none()));
            for (id, q) in &m.query_encoders {
                println!("{} {id}  {}", mark(chosen.as_deref() == Some(id)), q.name);
            }
        }
        ModelCommand::Queries { encoder: Some(encoder) } => {
            let engine = open(cli, Access::Write, None)?;
            let chosen = Some(encoder.as_str()).filter(|e| *e != "default");
            engine.set_query_encoder(chosen)?;
            let m = &engine.model().manifest;
            match chosen {
                None => println!("queries of {} go through its own text tower", m.id),
                Some(id) => {
                    println!(
                        "queries of {} go through {} ({id}); no photo is re-encoded",
                        m.id,
                        m.query_encoder(id)?.name
                    );
                    if let Err(err) = engine.verify_query_encoder() {
                        println!("its files are not ready ({err}): run `photo-search models fetch`");
                    }
                }
            }
        }
        ModelCommand::Verify { id } => {
            let engine = open(cli, Access::Read, id.as_deref())?;
            let precision = engine.verify_model()?;
            let m = &engine.model().manifest;
            println!("{} ({precision}) verified: every file matches its pinned size and sha256", m.id);
        }
        ModelCommand::Fetch { id } => {
            let engine = open(cli, Access::Write, id.as_deref())?;
            let interactive = std::io::stderr().is_terminal();
            let bar = if interactive { ProgressBar::new(0) } else { ProgressBar::hidden() };
            bar.set_style(
                ProgressStyle::with_template("{msg} {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            engine.fetch_model(&mut |i, count, path, p| {
                bar.set_message(format!("[{}/{count}] {}", i + 1, path.display()));
                if let Some(total) = p.total {
                    bar.set_length(total);
                }
                bar.set_position(p.done);
                true
            })?;
            bar.finish_and_clear();
            println!("{} is ready in {}", engine.model().manifest.id, engine.model().dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
