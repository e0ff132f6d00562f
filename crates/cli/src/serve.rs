//! `photo-search serve`: the app in a browser, from this machine or the local network.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use photo_search_core::library::Access;

use crate::args::Cli;
use crate::open_options;

pub(crate) fn serve(
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
pub(crate) fn find_ui_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PHOTO_SEARCH_UI") {
        return Some(PathBuf::from(dir));
    }
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    [dir.join("ui"), dir.join("../../ui/dist")].into_iter().find(|d| d.join("index.html").is_file())
}
