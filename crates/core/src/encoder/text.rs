//! The text encoder: tokenizing a query, running the text graph (or a multilingual query
//! encoder with its pooling and projection) and normalizing the embedding.

use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};

use super::{
    EncoderError, EncoderOptions, classify_run_error, embedding_output, graph_caches, graph_to_open, open_session,
    split_normalized,
};
use crate::models::{FileSpec, ModelLocation, Pooling, TextSpec};
use crate::runtime::{Provider, Runtime};
use crate::text::{ClipTokenizer, Tokens};

/// Turns query text into embeddings in the image space.
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
pub(crate) struct Projection {
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
    /// Opens the text graph of `model` (`spec` describes it: tokenizer, pooling, projection;
    /// `graph` is the file, pinned among `files`) on `provider`, producing `dims`-long vectors.
    pub fn open(
        runtime: &Arc<Runtime>,
        model: &ModelLocation,
        (spec, graph, files): (&TextSpec, &Path, &[FileSpec]),
        cache_dir: &Path,
        provider: Provider,
        options: &EncoderOptions,
    ) -> Result<Self, EncoderError> {
        let manifest = &model.manifest;
        let (ort_cache, signed_cache) = graph_caches(cache_dir, &manifest.id);
        let path = graph_to_open(model, files, graph, &signed_cache);
        let session = open_session(runtime, "text", &path, &ort_cache, provider, options)?;
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

    /// The tokenizer it reads text with.
    pub fn tokenizer(&self) -> &ClipTokenizer {
        &self.tokenizer
    }
}

/// The output holding one state per token (`[batch, tokens, hidden]`): the conventional names
/// if present, else the only rank-3 float output.
pub(crate) fn token_states_output(session: &Session) -> Option<String> {
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
pub(crate) fn mean_pooled(states: &[f32], mask: &[i64], count: usize, len: usize) -> Result<Vec<f32>, EncoderError> {
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
