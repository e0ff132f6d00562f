//! Photo Search core: finds photos by meaning. A catalog (SQLite) of the user's photo folders,
//! CLIP-style encoders run by ONNX Runtime, a usearch vector index, and search over them.
//! No UI and no HTTP here: the CLI, the desktop app and the server are thin shells over
//! [`engine::Engine`].

// Every public item of the core says what it is (CI turns this warning into an error).
#![warn(missing_docs)]

pub mod api;
pub mod catalog;
pub mod decode;
pub mod download;
pub mod duplicates;
pub mod encoder;
pub mod engine;
pub mod export;
pub mod fsio;
pub mod gpu;
#[cfg(libheif)]
mod heif;
pub mod index;
pub mod indexer;
pub mod library;
pub mod metadata;
pub mod models;
pub mod places;
pub mod prepare;
pub mod query;
pub mod raw;
pub mod relevance;
pub mod runtime;
pub mod scan;
pub mod signed;
pub mod text;
pub mod understand;
pub mod watch;

pub use engine::{Engine, EngineOptions, Error, ErrorKind, ModelSwitch};
