//! What the commands print: results, progress bars, summaries and the status.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use photo_search_core::api::{IndexSummary, Progress, Status};
use photo_search_core::catalog::PhotoFilter;
use photo_search_core::query::{SearchQuery, WeightedTerm};
use photo_search_core::{Engine, export, understand};

use crate::args::OutputArgs;

/// The results of `terms` within `filter`, best first, with the dates in their words understood
/// (unless `--literal`); as text, with where the strong matches end.
pub(crate) fn print_hits(
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

/// Shows indexing progress: a bar on a terminal, failures always.
pub(crate) fn progress_printer(bar: &ProgressBar) -> impl FnMut(Progress) + '_ {
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

pub(crate) fn progress_bar() -> ProgressBar {
    let bar = if std::io::stderr().is_terminal() { ProgressBar::new(0) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {per_sec} eta {eta} {wide_msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

pub(crate) fn print_summary(summary: &IndexSummary) {
    println!(
        "indexed {}, moved {}, duplicates {}, unchanged {}, failed {}, removed {}",
        summary.indexed, summary.moved, summary.duplicates, summary.unchanged, summary.failed, summary.removed
    );
}

pub(crate) fn print_status(s: &Status) {
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
        (Some(p), _) => match &s.gpu_problem {
            Some(gpu) => println!("provider  {p} ({gpu})"),
            None => println!("provider  {p}"),
        },
        (None, Some(problem)) => println!("provider  none: {problem}"),
        (None, None) => println!("provider  unknown"),
    }
    println!("index     {} vectors, {} bytes", s.index.vectors, s.index.file_bytes);
}
