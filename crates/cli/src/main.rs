//! `photo-search`: index photo folders and search them by text or by image, from a terminal.

mod args;
mod bench;
mod gpu;
mod manage;
mod output;
mod serve;

use args::{Cli, Command, PrecisionArg, QuantizationArg};
use manage::{excludes, folders, models_command};
use output::{print_hits, print_status, print_summary, progress_bar, progress_printer};
use serve::serve;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use std::sync::Arc;

use photo_search_core::api::Progress;
use photo_search_core::duplicates;
use photo_search_core::index::Quantization;
use photo_search_core::indexer::JobControl;
use photo_search_core::library::{Access, Library};
use photo_search_core::models::{ModelChoice, Precision};
use photo_search_core::query::{self, Term, WeightedTerm};
use photo_search_core::scan::Excludes;
use photo_search_core::{Engine, EngineOptions};

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

fn library_root(cli: &Cli) -> Result<PathBuf> {
    Ok(match &cli.library {
        Some(dir) => dir.clone(),
        None => Library::default_root()?,
    })
}

fn open_options(cli: &Cli, access: Access, model: Option<&str>) -> Result<EngineOptions> {
    let library = library_root(cli)?;
    let model = model.or(cli.model.as_deref()).map(ModelChoice::parse).unwrap_or_default();
    let mut options = EngineOptions::new(library, model, access);
    options.encoder.threads = cli.threads;
    options.encoder.batch_size = cli.batch_size;
    options.encoder.gpu_memory_limit = cli.gpu_memory.map(|gb| (gb.max(0.0) * 1e9) as u64);
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
        Command::Gpu { json, command } => gpu::run(&library_root(&cli)?, *json, command.as_ref()),
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
