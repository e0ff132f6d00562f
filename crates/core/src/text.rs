//! The CLIP tokenizer: the real `tokenizer.json` through Hugging Face `tokenizers`, truncated to
//! the context length with EOS kept last, then padded.

use std::path::{Path, PathBuf};

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("cannot load tokenizer {path}: {message}")]
    Load { path: PathBuf, message: String },
    #[error("cannot tokenize {text:?}: {message}")]
    Encode { text: String, message: String },
}

/// Token ids and attention mask for one text, `context_length` long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    pub ids: Vec<i64>,
    pub mask: Vec<i64>,
}

pub struct ClipTokenizer {
    inner: Tokenizer,
    context_length: usize,
    pad_id: u32,
}

impl ClipTokenizer {
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
        Ok(ClipTokenizer { inner, context_length, pad_id })
    }

    /// Ids with BOS and EOS, at most `context_length` long, EOS last; no padding.
    pub fn ids(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let encoding = self
            .inner
            .encode(text, true)
            .map_err(|e| TokenizerError::Encode { text: text.into(), message: e.to_string() })?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Ids padded to `context_length`, with the attention mask.
    pub fn encode(&self, text: &str) -> Result<Tokens, TokenizerError> {
        let ids = self.ids(text)?;
        let mut tokens =
            Tokens { ids: Vec::with_capacity(self.context_length), mask: Vec::with_capacity(self.context_length) };
        for i in 0..self.context_length {
            let id = ids.get(i).copied();
            tokens.ids.push(i64::from(id.unwrap_or(self.pad_id)));
            tokens.mask.push(i64::from(id.is_some()));
        }
        Ok(tokens)
    }

    pub fn context_length(&self) -> usize {
        self.context_length
    }
}
