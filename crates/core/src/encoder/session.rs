//! ONNX Runtime sessions for the encoders: a session on the provider chosen, graphs optimized
//! once and cached per provider, and which output holds the embedding.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ort::ep::ExecutionProviderDispatch;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{TensorElementType, ValueType};

use super::{EncoderError, EncoderOptions};
use crate::models::{FileSpec, ModelLocation};
use crate::runtime::{Provider, Runtime};

/// Where a model's optimized graphs and its signed rewrites are cached in the library.
pub(crate) fn graph_caches(cache_dir: &Path, model_id: &str) -> (PathBuf, PathBuf) {
    (cache_dir.join("ort").join(model_id), cache_dir.join("signed").join(model_id))
}

/// Opens a session on `provider` (no other: falling back is the caller's choice, since it
/// changes the precision too). The graph ONNX Runtime optimized is cached, keyed by the source
/// file's size and time and the provider, so the next start skips the optimization passes.
pub(crate) fn open_session(
    runtime: &Arc<Runtime>,
    role: &'static str,
    path: &Path,
    cache: &Path,
    provider: Provider,
    options: &EncoderOptions,
) -> Result<Session, EncoderError> {
    let load_err = |source| EncoderError::Load { role, provider, path: path.to_path_buf(), source };
    let ep = crate::runtime::execution_provider(provider, options.gpu_memory_limit);
    let cached = cached_graph_path(cache, path, provider);
    if let Some(cached) = cached.as_ref().filter(|c| c.is_file()) {
        let mut builder = session_builder(runtime, options.threads, ep.clone())
            .and_then(|b| b.with_optimization_level(GraphOptimizationLevel::Disable).map_err(ort::Error::from))
            .map_err(load_err)?;
        match builder.commit_from_file(cached) {
            Ok(session) => {
                tracing::info!("{role} model: using the cached optimized graph {}", cached.display());
                return Ok(session);
            }
            Err(err) => tracing::warn!("ignoring the cached graph {}: {err}", cached.display()),
        }
    }
    let mut builder = session_builder(runtime, options.threads, ep)
        .and_then(|b| b.with_optimization_level(GraphOptimizationLevel::All).map_err(ort::Error::from))
        .map_err(load_err)?;
    let tmp = cached.as_ref().and_then(|c| fs::create_dir_all(cache).ok().map(|()| crate::fsio::temp_sibling(c)));
    if let Some(tmp) = &tmp {
        builder = builder.with_optimized_model_path(tmp).map_err(|e| load_err(e.into()))?;
    }
    let session = builder.commit_from_file(path).map_err(load_err)?;
    if let (Some(tmp), Some(cached)) = (&tmp, &cached)
        && let Err(err) = fs::rename(tmp, cached)
    {
        tracing::debug!("cannot cache the optimized graph {}: {err}", cached.display());
    }
    Ok(session)
}

/// The graph file to open for the model file `relative`: its exact signed-int8 rewrite when it
/// has uint8 weights (ONNX Runtime's u8 x s8 path is faster), else the file itself. A rewrite
/// that fails leaves the pinned file to run as it is, slower, and says so.
pub(crate) fn graph_to_open(model: &ModelLocation, files: &[FileSpec], relative: &Path, cache: &Path) -> PathBuf {
    let source = model.path_of(relative);
    let Some(sha256) = files.iter().find(|f| f.path == relative).and_then(|f| f.sha256.as_deref()) else {
        return source;
    };
    match crate::signed::signed_graph(&source, sha256, cache) {
        Ok(path) => path,
        Err(err) => {
            tracing::warn!("{}: running its uint8 weights as they are: {err}", source.display());
            source
        }
    }
}

pub(crate) fn session_builder(
    runtime: &Runtime,
    threads: usize,
    ep: Option<ExecutionProviderDispatch>,
) -> Result<ort::session::builder::SessionBuilder, ort::Error> {
    let mut builder = Session::builder(&runtime.env)?;
    if threads > 0 {
        builder = builder.with_intra_threads(threads)?;
    }
    if let Some(ep) = ep {
        builder = builder.with_execution_providers([ep])?;
    }
    Ok(builder)
}

pub(crate) fn cached_graph_path(cache: &Path, source: &Path, provider: Provider) -> Option<PathBuf> {
    let meta = fs::metadata(source).ok()?;
    let mtime = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
    let stem = source.file_stem()?.to_str()?;
    Some(cache.join(format!("{stem}-{}-{}-{mtime}.ort.onnx", provider.name(), meta.len())))
}

/// The output that carries the embedding: the conventional name if present, else the only
/// rank-2 float output.
pub(crate) fn embedding_output(session: &Session, preferred: &str) -> Option<String> {
    let outputs = session.outputs();
    if let Some(o) = outputs.iter().find(|o| o.name() == preferred) {
        return Some(o.name().to_string());
    }
    let mut rank2 = outputs.iter().filter(
        |o| matches!(o.dtype(), ValueType::Tensor { ty: TensorElementType::Float32, shape, .. } if shape.len() == 2),
    );
    match (rank2.next(), rank2.next()) {
        (Some(o), None) => Some(o.name().to_string()),
        _ => None,
    }
}
