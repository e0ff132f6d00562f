//! The image and text encoders: ONNX Runtime sessions over a model's two graphs, with input and
//! output names read from the model, L2-normalized outputs, batches that halve when memory runs
//! out, and optimized graphs cached per model and provider.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ort::ep::ExecutionProviderDispatch;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{TensorElementType, TensorRef, ValueType};

use crate::models::{FileSpec, ModelLocation, Pooling, Precision, TextSpec};
use crate::runtime::{Provider, Runtime};
use crate::text::{ClipTokenizer, TokenizerError, Tokens};

#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    #[error("cannot load the {role} model {path}")]
    Load {
        role: &'static str,
        path: PathBuf,
        #[source]
        source: ort::Error,
    },
    #[error("the {role} model {path} does not look like a CLIP encoder: {problem}")]
    Interface { role: &'static str, path: PathBuf, problem: String },
    #[error("out of memory running a batch of {batch}")]
    OutOfMemory {
        batch: usize,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the {role} encoder failed")]
    Run {
        role: &'static str,
        #[source]
        source: ort::Error,
    },
    #[error("the {role} encoder returned {got} values for {count} inputs of {dims} dimensions")]
    OutputShape { role: &'static str, got: usize, count: usize, dims: usize },
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
}

/// How the encoders run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EncoderOptions {
    /// ONNX Runtime intra-op threads per session; 0 lets ONNX Runtime decide.
    pub threads: usize,
    /// Images per encoder call; `None` picks by provider.
    pub batch_size: Option<usize>,
}

/// Images per call when not configured: measured knee on CPU; GPUs want larger batches.
pub fn default_batch_size(provider: Provider) -> usize {
    if provider.is_gpu() { 32 } else { 8 }
}

pub struct Encoders {
    pub image: ImageEncoder,
    pub text: TextEncoder,
    pub provider: Provider,
    pub precision: Precision,
    pub batch_size: usize,
    runtime: Arc<Runtime>,
    vision_path: PathBuf,
    cache: PathBuf,
    size: u32,
    dims: usize,
}

impl Encoders {
    pub fn load(
        runtime: &Arc<Runtime>,
        model: &ModelLocation,
        precision: Precision,
        cache_dir: &Path,
        options: EncoderOptions,
    ) -> Result<Self, EncoderError> {
        let manifest = &model.manifest;
        let variant_err = |problem: String| EncoderError::Interface { role: "model", path: model.dir.clone(), problem };
        let variant = manifest.variant(precision).map_err(|e| variant_err(e.to_string()))?;
        let (cache, signed_cache) = graph_caches(cache_dir, &manifest.id);
        let vision_path = graph_to_open(model, &variant.files, &variant.vision, &signed_cache);
        let (vision, provider) = open_session(runtime, "vision", &vision_path, &cache, options.threads)?;
        let text = TextEncoder::open(
            runtime,
            model,
            &manifest.text,
            &variant.text,
            &variant.files,
            cache_dir,
            options.threads,
        )?;
        Ok(Encoders {
            image: ImageEncoder::new(vision, &vision_path, manifest.image.size, manifest.dims)?,
            text,
            provider,
            precision,
            batch_size: options.batch_size.unwrap_or_else(|| default_batch_size(provider)).max(1),
            runtime: runtime.clone(),
            vision_path,
            cache,
            size: manifest.image.size,
            dims: manifest.dims,
        })
    }

    /// Another vision session (for a parallel indexing worker) with its own thread count.
    pub fn image_encoder(&self, threads: usize) -> Result<ImageEncoder, EncoderError> {
        self.image_encoder_from(&self.vision_path, threads)
    }

    /// A vision session over another graph file of the same model (benchmarks compare
    /// quantizations this way).
    pub fn image_encoder_from(&self, vision_path: &Path, threads: usize) -> Result<ImageEncoder, EncoderError> {
        let (session, _) = open_session(&self.runtime, "vision", vision_path, &self.cache, threads)?;
        ImageEncoder::new(session, vision_path, self.size, self.dims)
    }
}

/// Where a model's optimized graphs and its signed rewrites are cached in the library.
fn graph_caches(cache_dir: &Path, model_id: &str) -> (PathBuf, PathBuf) {
    (cache_dir.join("ort").join(model_id), cache_dir.join("signed").join(model_id))
}

fn gpu_providers() -> Vec<(Provider, ExecutionProviderDispatch)> {
    #[allow(unused_mut)]
    let mut providers = Vec::new();
    #[cfg(feature = "cuda")]
    providers.push((Provider::Cuda, ort::ep::CUDA::default().build().error_on_failure()));
    #[cfg(feature = "directml")]
    providers.push((Provider::DirectMl, ort::ep::DirectML::default().build().error_on_failure()));
    providers
}

/// Opens a session on the first provider that works, CPU last. The graph ONNX Runtime optimized
/// is cached, keyed by the source file's size and time and the provider, so the next start skips
/// the optimization passes.
fn open_session(
    runtime: &Arc<Runtime>,
    role: &'static str,
    path: &Path,
    cache: &Path,
    threads: usize,
) -> Result<(Session, Provider), EncoderError> {
    let load_err = |source| EncoderError::Load { role, path: path.to_path_buf(), source };
    let mut candidates: Vec<(Provider, Option<ExecutionProviderDispatch>)> =
        gpu_providers().into_iter().map(|(p, ep)| (p, Some(ep))).collect();
    candidates.push((Provider::Cpu, None));
    let mut last_err = None;
    for (provider, ep) in candidates {
        let cached = cached_graph_path(cache, path, provider);
        let attempt = (|| -> Result<Session, ort::Error> {
            if let Some(cached) = cached.as_ref().filter(|c| c.is_file()) {
                let mut builder = session_builder(runtime, threads, ep.clone())?
                    .with_optimization_level(GraphOptimizationLevel::Disable)?;
                match builder.commit_from_file(cached) {
                    Ok(session) => {
                        tracing::info!("{role} model: using the cached optimized graph {}", cached.display());
                        return Ok(session);
                    }
                    Err(err) => tracing::warn!("ignoring the cached graph {}: {err}", cached.display()),
                }
            }
            let mut builder =
                session_builder(runtime, threads, ep.clone())?.with_optimization_level(GraphOptimizationLevel::All)?;
            let tmp =
                cached.as_ref().and_then(|c| fs::create_dir_all(cache).ok().map(|()| crate::fsio::temp_sibling(c)));
            if let Some(tmp) = &tmp {
                builder = builder.with_optimized_model_path(tmp)?;
            }
            let session = builder.commit_from_file(path)?;
            if let (Some(tmp), Some(cached)) = (&tmp, &cached)
                && let Err(err) = fs::rename(tmp, cached)
            {
                tracing::debug!("cannot cache the optimized graph {}: {err}", cached.display());
            }
            Ok(session)
        })();
        match attempt {
            Ok(session) => return Ok((session, provider)),
            Err(err) if provider != Provider::Cpu => {
                tracing::warn!("{} unavailable for the {role} model, trying the next provider: {err}", provider.name());
                last_err = Some(err);
            }
            Err(err) => return Err(load_err(err)),
        }
    }
    Err(load_err(last_err.unwrap_or_else(|| ort::Error::new("no execution provider could load the model"))))
}

/// The graph file to open for the model file `relative`: its exact signed-int8 rewrite when it
/// has uint8 weights (ONNX Runtime's u8 x s8 path is faster), else the file itself. A rewrite
/// that fails leaves the pinned file to run as it is, slower, and says so.
fn graph_to_open(model: &ModelLocation, files: &[FileSpec], relative: &Path, cache: &Path) -> PathBuf {
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

fn session_builder(
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

fn cached_graph_path(cache: &Path, source: &Path, provider: Provider) -> Option<PathBuf> {
    let meta = fs::metadata(source).ok()?;
    let mtime = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
    let stem = source.file_stem()?.to_str()?;
    Some(cache.join(format!("{stem}-{}-{}-{mtime}.ort.onnx", provider.name(), meta.len())))
}

/// The output that carries the embedding: the conventional name if present, else the only
/// rank-2 float output.
fn embedding_output(session: &Session, preferred: &str) -> Option<String> {
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

pub struct ImageEncoder {
    session: Mutex<Session>,
    input: String,
    output: String,
    size: u32,
    dims: usize,
}

impl ImageEncoder {
    fn new(session: Session, path: &Path, size: u32, dims: usize) -> Result<Self, EncoderError> {
        let problem = |p: &str| EncoderError::Interface { role: "vision", path: path.into(), problem: p.into() };
        let input = session
            .inputs()
            .iter()
            .find(|i| matches!(i.dtype(), ValueType::Tensor { ty: TensorElementType::Float32, shape, .. } if shape.len() == 4))
            .map(|i| i.name().to_string())
            .ok_or_else(|| problem("no float input of shape [batch, 3, height, width]"))?;
        if session.inputs().len() != 1 {
            return Err(problem("expected exactly one input"));
        }
        let output = embedding_output(&session, "image_embeds").ok_or_else(|| problem("no embedding output"))?;
        Ok(ImageEncoder { session: Mutex::new(session), input, output, size, dims })
    }

    /// Floats of one preprocessed image.
    pub fn item_len(&self) -> usize {
        3 * self.size as usize * self.size as usize
    }

    pub fn dims(&self) -> usize {
        self.dims
    }
}

/// A vision encoder as the batching logic sees it; tests substitute a fault-injecting one.
pub trait BatchEncoder {
    /// Floats per preprocessed item.
    fn item_len(&self) -> usize;
    /// Embeds `pixels.len() / item_len()` items, L2-normalized.
    fn encode_batch(&self, pixels: &[f32]) -> Result<Vec<Vec<f32>>, EncoderError>;
}

impl BatchEncoder for ImageEncoder {
    fn item_len(&self) -> usize {
        ImageEncoder::item_len(self)
    }

    fn encode_batch(&self, pixels: &[f32]) -> Result<Vec<Vec<f32>>, EncoderError> {
        let count = pixels.len() / self.item_len();
        let s = self.size as usize;
        let run_err = |source| EncoderError::Run { role: "vision", source };
        let tensor = TensorRef::from_array_view(([count, 3, s, s], pixels)).map_err(run_err)?;
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let outputs = session
            .run(ort::inputs![self.input.as_str() => tensor])
            .map_err(|source| classify_run_error(source, "vision", count))?;
        let (_, values) = outputs[self.output.as_str()].try_extract_tensor::<f32>().map_err(run_err)?;
        split_normalized(values, count, self.dims, "vision")
    }
}

fn classify_run_error(source: ort::Error, role: &'static str, batch: usize) -> EncoderError {
    let message = source.to_string().to_ascii_lowercase();
    let oom = ["out of memory", "failed to allocate", "bad_alloc", "bad allocation", "alloc_failed", "outofmemory"];
    if oom.iter().any(|m| message.contains(m)) {
        EncoderError::OutOfMemory { batch, source: Box::new(source) }
    } else {
        EncoderError::Run { role, source }
    }
}

fn split_normalized(
    values: &[f32],
    count: usize,
    dims: usize,
    role: &'static str,
) -> Result<Vec<Vec<f32>>, EncoderError> {
    if values.len() != count * dims {
        return Err(EncoderError::OutputShape { role, got: values.len(), count, dims });
    }
    Ok(values.chunks_exact(dims).map(|v| normalized(v.to_vec())).collect())
}

/// Scales a vector to unit length; a zero vector stays zero (it matches nothing).
pub fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// Images per second of `encoder` on batches of `batch` synthetic items: one warm-up call, then
/// `runs` timed calls.
pub fn measure_rate(encoder: &dyn BatchEncoder, batch: usize, runs: usize) -> Result<f64, EncoderError> {
    let pixels: Vec<f32> = (0..batch * encoder.item_len()).map(|i| ((i * 7919) % 255) as f32 / 128.0 - 1.0).collect();
    encoder.encode_batch(&pixels)?;
    let started = std::time::Instant::now();
    for _ in 0..runs.max(1) {
        encoder.encode_batch(&pixels)?;
    }
    Ok((batch * runs.max(1)) as f64 / started.elapsed().as_secs_f64())
}

/// Encodes `pixels` (whole items) in batches of at most `batch`. A batch that runs out of
/// memory is retried at half the size, down to one item, so no photo is lost. Returns the
/// embeddings in input order and the batch size that worked.
pub fn encode_in_batches(
    encoder: &dyn BatchEncoder,
    pixels: &[f32],
    mut batch: usize,
) -> Result<(Vec<Vec<f32>>, usize), EncoderError> {
    let item = encoder.item_len();
    let count = pixels.len() / item;
    let mut out = Vec::with_capacity(count);
    let mut start = 0;
    while start < count {
        let n = batch.min(count - start);
        match encoder.encode_batch(&pixels[start * item..(start + n) * item]) {
            Ok(vectors) => {
                out.extend(vectors);
                start += n;
            }
            Err(EncoderError::OutOfMemory { batch: failed, source }) if n > 1 => {
                batch = (n / 2).max(1);
                tracing::warn!("out of memory at batch {failed}, retrying at {batch}: {source}");
            }
            Err(err) => return Err(err),
        }
    }
    Ok((out, batch))
}

pub struct TextEncoder {
    session: Mutex<Session>,
    ids_input: String,
    mask_input: Option<String>,
    /// BERT-style graphs also take token types: all zeros for one sentence.
    types_input: Option<String>,
    output: String,
    pooling: Pooling,
    projection: Option<Projection>,
    tokenizer: ClipTokenizer,
    dims: usize,
}

/// A dense layer without bias: `out x in` floats, row after row.
struct Projection {
    weight: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

impl Projection {
    /// The one float matrix of a safetensors file (sentence-transformers' `2_Dense`).
    fn load(path: &Path) -> Result<Self, EncoderError> {
        let problem = |p: String| EncoderError::Interface { role: "text projection", path: path.into(), problem: p };
        let bytes = fs::read(path).map_err(|e| problem(format!("cannot read it: {e}")))?;
        let tensors = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| problem(e.to_string()))?;
        let mut matrices = tensors.tensors().into_iter().filter(|(_, t)| t.shape().len() == 2);
        let (name, tensor) = match (matrices.next(), matrices.next()) {
            (Some(one), None) => one,
            _ => return Err(problem("expected exactly one matrix".into())),
        };
        if tensor.dtype() != safetensors::Dtype::F32 {
            return Err(problem(format!("{name} is {:?}, expected F32", tensor.dtype())));
        }
        let (outputs, inputs) = (tensor.shape()[0], tensor.shape()[1]);
        if outputs == 0 || inputs == 0 {
            return Err(problem(format!("{name} is empty")));
        }
        let weight = tensor.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        Ok(Projection { weight, inputs, outputs })
    }

    fn apply(&self, x: &[f32]) -> Vec<f32> {
        self.weight.chunks_exact(self.inputs).map(|row| row.iter().zip(x).map(|(w, v)| w * v).sum()).collect()
    }
}

impl TextEncoder {
    /// Opens the text graph `graph` of `model` as `spec` describes it (tokenizer, pooling,
    /// projection), producing `dims`-long vectors.
    pub fn open(
        runtime: &Arc<Runtime>,
        model: &ModelLocation,
        spec: &TextSpec,
        graph: &Path,
        files: &[FileSpec],
        cache_dir: &Path,
        threads: usize,
    ) -> Result<Self, EncoderError> {
        let manifest = &model.manifest;
        let (ort_cache, signed_cache) = graph_caches(cache_dir, &manifest.id);
        let path = graph_to_open(model, files, graph, &signed_cache);
        let (session, _) = open_session(runtime, "text", &path, &ort_cache, threads)?;
        let tokenizer = ClipTokenizer::from_file(&model.path_of(&spec.tokenizer), spec.context_length, spec.pad_id)?
            .with_padding(spec.padding);
        let projection = spec.projection.as_ref().map(|p| Projection::load(&model.path_of(p))).transpose()?;
        TextEncoder::new(session, &path, tokenizer, spec.pooling, projection, manifest.dims)
    }

    fn new(
        session: Session,
        path: &Path,
        tokenizer: ClipTokenizer,
        pooling: Pooling,
        projection: Option<Projection>,
        dims: usize,
    ) -> Result<Self, EncoderError> {
        let problem = |p: String| EncoderError::Interface { role: "text", path: path.into(), problem: p };
        let mut ids_input = None;
        let mut mask_input = None;
        let mut types_input = None;
        for input in session.inputs() {
            let name = input.name().to_string();
            if !matches!(input.dtype(), ValueType::Tensor { ty: TensorElementType::Int64, .. }) {
                return Err(problem(format!("input {name} is not int64")));
            }
            let slot = if name.contains("mask") {
                &mut mask_input
            } else if name.contains("type") {
                &mut types_input
            } else {
                &mut ids_input
            };
            if slot.replace(name.clone()).is_some() {
                return Err(problem(format!(
                    "unexpected input {name}: expected input_ids, attention_mask, token_type_ids"
                )));
            }
        }
        let ids_input = ids_input.ok_or_else(|| problem("no input_ids input".into()))?;
        let (output, hidden) = match pooling {
            Pooling::Output => (embedding_output(&session, "text_embeds"), dims),
            Pooling::Mean => {
                let hidden = projection.as_ref().map_or(dims, |p| p.inputs);
                (token_states_output(&session), hidden)
            }
        };
        let output = output.ok_or_else(|| problem("no embedding output".into()))?;
        if pooling == Pooling::Mean && mask_input.is_none() {
            return Err(problem("mean pooling needs an attention_mask input".into()));
        }
        if let Some(p) = &projection
            && (p.outputs != dims || p.inputs != hidden)
        {
            return Err(problem(format!(
                "the projection maps {} to {}, expected {hidden} to {dims}",
                p.inputs, p.outputs
            )));
        }
        Ok(TextEncoder {
            session: Mutex::new(session),
            ids_input,
            mask_input,
            types_input,
            output,
            pooling,
            projection,
            tokenizer,
            dims,
        })
    }

    /// Embeds each text, L2-normalized.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EncoderError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let Tokens { ids, mask, len } = self.tokenizer.encode_batch(texts)?;
        let run_err = |source| EncoderError::Run { role: "text", source };
        let shape = [texts.len(), len];
        let zeros = vec![0i64; ids.len()];
        let mut inputs = vec![(
            self.ids_input.as_str(),
            ort::session::SessionInputValue::from(
                TensorRef::from_array_view((shape, ids.as_slice())).map_err(run_err)?,
            ),
        )];
        if let Some(name) = &self.mask_input {
            inputs.push((name, TensorRef::from_array_view((shape, mask.as_slice())).map_err(run_err)?.into()));
        }
        if let Some(name) = &self.types_input {
            inputs.push((name, TensorRef::from_array_view((shape, zeros.as_slice())).map_err(run_err)?.into()));
        }
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let outputs = session.run(inputs).map_err(|source| classify_run_error(source, "text", texts.len()))?;
        let (_, values) = outputs[self.output.as_str()].try_extract_tensor::<f32>().map_err(run_err)?;
        let pooled = match self.pooling {
            Pooling::Output => values.to_vec(),
            Pooling::Mean => mean_pooled(values, &mask, texts.len(), len)?,
        };
        let projected = match &self.projection {
            Some(p) => pooled.chunks_exact(p.inputs).flat_map(|x| p.apply(x)).collect(),
            None => pooled,
        };
        split_normalized(&projected, texts.len(), self.dims, "text")
    }

    pub fn tokenizer(&self) -> &ClipTokenizer {
        &self.tokenizer
    }
}

/// The output holding one state per token (`[batch, tokens, hidden]`): the conventional names
/// if present, else the only rank-3 float output.
fn token_states_output(session: &Session) -> Option<String> {
    let outputs = session.outputs();
    let rank3 = |o: &&ort::value::Outlet| matches!(o.dtype(), ValueType::Tensor { ty: TensorElementType::Float32, shape, .. } if shape.len() == 3);
    if let Some(o) =
        outputs.iter().filter(rank3).find(|o| ["last_hidden_state", "token_embeddings"].contains(&o.name()))
    {
        return Some(o.name().to_string());
    }
    let mut all = outputs.iter().filter(rank3);
    match (all.next(), all.next()) {
        (Some(o), None) => Some(o.name().to_string()),
        _ => None,
    }
}

/// The mean of each text's token states over its attention mask (padding left out), as
/// sentence-transformers pools.
fn mean_pooled(states: &[f32], mask: &[i64], count: usize, len: usize) -> Result<Vec<f32>, EncoderError> {
    if count == 0 || len == 0 || !states.len().is_multiple_of(count * len) {
        return Err(EncoderError::OutputShape { role: "text", got: states.len(), count, dims: len });
    }
    let hidden = states.len() / (count * len);
    let mut pooled = vec![0.0f32; count * hidden];
    for (text, out) in pooled.chunks_exact_mut(hidden).enumerate() {
        let mut weight = 0.0f32;
        for token in 0..len {
            if mask[text * len + token] == 0 {
                continue;
            }
            weight += 1.0;
            let state = &states[(text * len + token) * hidden..][..hidden];
            out.iter_mut().zip(state).for_each(|(o, s)| *o += s);
        }
        out.iter_mut().for_each(|o| *o /= weight.max(1e-9));
    }
    Ok(pooled)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// Fails any batch larger than `max_ok` as if memory ran out; embeds item i as [i].
    struct FlakyEncoder {
        max_ok: usize,
        calls: RefCell<Vec<usize>>,
    }

    impl BatchEncoder for FlakyEncoder {
        fn item_len(&self) -> usize {
            2
        }

        fn encode_batch(&self, pixels: &[f32]) -> Result<Vec<Vec<f32>>, EncoderError> {
            let n = pixels.len() / 2;
            self.calls.borrow_mut().push(n);
            if n > self.max_ok {
                return Err(EncoderError::OutOfMemory { batch: n, source: "Failed to allocate memory".into() });
            }
            Ok(pixels.chunks(2).map(|c| vec![c[0]]).collect())
        }
    }

    #[test]
    fn out_of_memory_batch_is_retried_at_half_size_losing_nothing() {
        let encoder = FlakyEncoder { max_ok: 2, calls: RefCell::new(Vec::new()) };
        let pixels: Vec<f32> = (0..11).flat_map(|i| [i as f32, 0.0]).collect();
        let (vectors, batch) = encode_in_batches(&encoder, &pixels, 8).unwrap();
        assert_eq!(vectors, (0..11).map(|i| vec![i as f32]).collect::<Vec<_>>());
        assert_eq!(batch, 2);
        assert_eq!(encoder.calls.borrow()[..3], [8, 4, 2]);
    }

    #[test]
    fn other_failures_are_not_retried() {
        struct Broken;
        impl BatchEncoder for Broken {
            fn item_len(&self) -> usize {
                1
            }
            fn encode_batch(&self, _: &[f32]) -> Result<Vec<Vec<f32>>, EncoderError> {
                Err(EncoderError::OutputShape { role: "vision", got: 0, count: 1, dims: 1 })
            }
        }
        assert!(encode_in_batches(&Broken, &[0.0; 4], 4).is_err());
    }

    #[test]
    fn mean_pooling_leaves_padding_out() {
        // Two texts of 3 tokens, hidden 2: the second has one real token and two of padding.
        let states = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 10.0, 20.0, 99.0, 99.0, 99.0, 99.0];
        let mask = [1, 1, 1, 1, 0, 0];
        assert_eq!(mean_pooled(&states, &mask, 2, 3).unwrap(), vec![3.0, 4.0, 10.0, 20.0]);
        assert!(mean_pooled(&states, &mask, 5, 3).is_err(), "a shape that does not divide is refused");
    }

    #[test]
    fn zero_vector_stays_zero_when_normalized() {
        assert_eq!(normalized(vec![0.0, 0.0]), vec![0.0, 0.0]);
        assert_eq!(normalized(vec![3.0, 4.0]), vec![0.6, 0.8]);
    }
}
