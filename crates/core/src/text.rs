//! The CLIP tokenizer: the real `tokenizer.json` through Hugging Face `tokenizers`, truncated to
//! the context length with EOS kept last, then padded as the model's manifest says.

use std::path::{Path, PathBuf};

use crate::models::Padding;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

/// Why text could not be tokenized.
#[allow(missing_docs)] // Each variant is documented by its #[error] message.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("cannot load tokenizer {path}: {message}")]
    Load { path: PathBuf, message: String },
    #[error("cannot tokenize {text:?}: {message}")]
    Encode { text: String, message: String },
}

/// Token ids and attention masks of one or more texts, each `len` long, row after row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    /// Token ids, padded.
    pub ids: Vec<i64>,
    /// 1 for a real token, 0 for padding.
    pub mask: Vec<i64>,
    /// The length every row is padded to.
    pub len: usize,
}

/// The CLIP tokenizer (Hugging Face `tokenizers` over the model's `tokenizer.json`).
pub struct ClipTokenizer {
    inner: Tokenizer,
    context_length: usize,
    pad_id: u32,
    padding: Padding,
}

impl ClipTokenizer {
    /// Loads `tokenizer.json`; texts are cut to `context_length` tokens and padded with `pad_id`.
    pub fn from_file(path: &Path, context_length: usize, pad_id: u32) -> Result<Self, TokenizerError> {
        // tokenizers' errors are boxed `dyn Error + Send + Sync` without a stable type; their text is kept.
        let load_err = |e: tokenizers::Error| TokenizerError::Load { path: path.into(), message: e.to_string() };
        let mut inner = Tokenizer::from_file(path).map_err(load_err)?;
        inner
            .with_truncation(Some(TruncationParams {
                max_length: context_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(load_err)?;
        inner.with_padding(None);
        Ok(ClipTokenizer { inner, context_length, pad_id, padding: Padding::MaxLength })
    }

    /// The same tokenizer padding as `padding` says.
    pub fn with_padding(self, padding: Padding) -> Self {
        ClipTokenizer { padding, ..self }
    }

    /// Ids with BOS and EOS, at most `context_length` long, EOS last; no padding.
    pub fn ids(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let encoding = self
            .inner
            .encode(text, true)
            .map_err(|e| TokenizerError::Encode { text: text.into(), message: e.to_string() })?;
        Ok(encoding.get_ids().to_vec())
    }

    /// One text's ids, padded, with the attention mask.
    pub fn encode(&self, text: &str) -> Result<Tokens, TokenizerError> {
        self.encode_batch(&[text])
    }

    /// The texts' ids padded to one length (the context length, or the longest text's), with
    /// their attention masks.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<Tokens, TokenizerError> {
        let each = texts.iter().map(|t| self.ids(t)).collect::<Result<Vec<_>, _>>()?;
        let len = match self.padding {
            Padding::MaxLength => self.context_length,
            Padding::Longest => each.iter().map(Vec::len).max().unwrap_or(0),
        };
        let mut tokens =
            Tokens { ids: Vec::with_capacity(len * texts.len()), mask: Vec::with_capacity(len * texts.len()), len };
        for ids in &each {
            for i in 0..len {
                let id = ids.get(i).copied();
                tokens.ids.push(i64::from(id.unwrap_or(self.pad_id)));
                tokens.mask.push(i64::from(id.is_some()));
            }
        }
        Ok(tokens)
    }
}
