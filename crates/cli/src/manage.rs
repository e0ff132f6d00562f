//! Managing the library from the command line: folders, exclude patterns and models.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use photo_search_core::ModelSwitch;
use photo_search_core::library::Access;
use photo_search_core::models::{self, ModelChoice};
use photo_search_core::scan::Excludes;

use crate::args::{Cli, ExcludeCommand, FolderCommand, ModelCommand};
use crate::open;

pub(crate) fn folders(cli: &Cli, command: &FolderCommand) -> Result<ExitCode> {
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

pub(crate) fn excludes(cli: &Cli, command: &ExcludeCommand) -> Result<ExitCode> {
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

pub(crate) fn models_command(cli: &Cli, command: &ModelCommand) -> Result<ExitCode> {
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
