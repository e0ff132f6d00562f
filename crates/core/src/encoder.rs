//! The image and text encoders: ONNX Runtime sessions over a model's two graphs, with input and
//! output names read from the model, L2-normalized outputs, batches that halve when memory runs
//! out, and optimized graphs cached per model and provider.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};

use crate::models::{ModelLocation, Precision};
use crate::runtime::{Provider, Runtime};
use crate::text::TokenizerError;

mod session;
mod text;

use session::{embedding_output, graph_caches, graph_to_open, open_session};
pub use text::TextEncoder;

/// Every way an encoder can fail.
#[allow(missing_docs)] // Each variant is documented by its #[error] message.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    #[error("cannot load the {role} model {path} on the {}", provider.name())]
    Load {
        role: &'static str,
        provider: Provider,
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
    /// Bytes of GPU memory the encoders' sessions may take each (the CUDA provider's arena);
    /// `None`: no cap.
    pub gpu_memory_limit: Option<u64>,
}

/// Images per call when not configured: measured knee on CPU; GPUs want larger batches.
pub fn default_batch_size(provider: Provider) -> usize {
    if provider.is_gpu() { 32 } else { 8 }
}

/// The batch sizes indexing measures on `provider` to pick the fastest (within a memory cap).
pub fn batch_candidates(provider: Provider) -> &'static [usize] {
    if provider.is_gpu() { &[8, 16, 32, 64, 128, 256] } else { &[4, 8, 16] }
}

/// A model's image and text encoders, loaded together.
pub struct Encoders {
    /// The image encoder.
    pub image: ImageEncoder,
    /// The text encoder.
    pub text: TextEncoder,
    /// Where they run.
    pub provider: Provider,
    /// The precision they run at.
    pub precision: Precision,
    /// Images per batch.
    pub batch_size: usize,
    runtime: Arc<Runtime>,
    options: EncoderOptions,
    vision_path: PathBuf,
    cache: PathBuf,
    size: u32,
    dims: usize,
}

impl Encoders {
    /// Loads both encoders of `model` at `precision` on `provider`.
    pub fn load(
        runtime: &Arc<Runtime>,
        model: &ModelLocation,
        precision: Precision,
        provider: Provider,
        cache_dir: &Path,
        options: EncoderOptions,
    ) -> Result<Self, EncoderError> {
        let manifest = &model.manifest;
        let variant_err = |problem: String| EncoderError::Interface { role: "model", path: model.dir.clone(), problem };
        let variant = manifest.variant(precision).map_err(|e| variant_err(e.to_string()))?;
        let (cache, signed_cache) = graph_caches(cache_dir, &manifest.id);
        let vision_path = graph_to_open(model, &variant.files, &variant.vision, &signed_cache);
        let vision = open_session(runtime, "vision", &vision_path, &cache, provider, &options)?;
        let text = TextEncoder::open(
            runtime,
            model,
            (&manifest.text, &variant.text, &variant.files),
            cache_dir,
            provider,
            &options,
        )?;
        Ok(Encoders {
            image: ImageEncoder::new(vision, &vision_path, manifest.image.size, manifest.dims)?,
            text,
            provider,
            precision,
            batch_size: options.batch_size.unwrap_or_else(|| default_batch_size(provider)).max(1),
            runtime: runtime.clone(),
            options,
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
        let options = EncoderOptions { threads, ..self.options };
        let session = open_session(&self.runtime, "vision", vision_path, &self.cache, self.provider, &options)?;
        ImageEncoder::new(session, vision_path, self.size, self.dims)
    }
}

/// Turns preprocessed images into embeddings.
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

    /// Dimensions of its embeddings.
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

pub(crate) fn classify_run_error(source: ort::Error, role: &'static str, batch: usize) -> EncoderError {
    let message = source.to_string().to_ascii_lowercase();
    let oom = ["out of memory", "failed to allocate", "bad_alloc", "bad allocation", "alloc_failed", "outofmemory"];
    if oom.iter().any(|m| message.contains(m)) {
        EncoderError::OutOfMemory { batch, source: Box::new(source) }
    } else {
        EncoderError::Run { role, source }
    }
}

pub(crate) fn split_normalized(
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

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::text::mean_pooled;
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
