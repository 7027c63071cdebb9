//! The N-API-free core of openmls-node.
//!
//! Everything the JavaScript binding does is implemented here against plain Rust types, so it can
//! be tested with `cargo test` and benchmarked natively. The binding crate only converts values and
//! errors at the N-API boundary.

pub mod codec;
pub mod config;
mod ed25519;
pub mod error;
pub mod extensions;
pub mod external;
pub mod group;
pub mod guard;
pub mod identity;
pub mod key_package;
pub mod leaf;
pub mod message;
pub mod processed;
pub mod proposal;
pub mod provider;
pub mod psk;
pub mod public_group;
pub mod registry;
pub mod sender;
pub mod signer;
pub mod storage;
pub mod welcome;

#[cfg(feature = "test-vectors")]
pub mod vectors;

pub use error::{Error, ErrorCode, Result};
pub use openmls;
pub use provider::{CryptoProviderKind, Provider};
pub use signer::SignatureKeyPair;
