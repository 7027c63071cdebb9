//! The thin N-API binding of openmls-node. It converts values and errors; the work is in
//! `crates/core`. One file per exported class.

mod allocator;
mod bytes;
mod config_types;
mod error;
mod key_package;
mod mls_group;
mod mls_message;
mod processed_welcome;
mod proposal_types;
mod provider;
mod public_group;
mod queued_proposal;
mod signature_key_pair;
mod staged_commit;
mod staged_welcome;
mod task;
#[cfg(feature = "test-vectors")]
mod testing;
mod types;

use crate::error::Result;
use napi_derive::napi;

/// The version of the openmls crate this addon is built with (from Cargo.lock, at build time).
#[napi]
pub fn openmls_version() -> String {
    env!("OPENMLS_VERSION").to_string()
}

/// The signature scheme a ciphersuite signs with (from openmls), or an error for an unknown suite.
#[napi]
pub fn signature_scheme_for(ciphersuite: u32) -> Result<u32> {
    error::run(|| {
        let code = config_types::u16_of(ciphersuite, "ciphersuite")?;
        let suite = openmls_node_core::openmls::prelude::Ciphersuite::try_from(code).map_err(|_| {
            openmls_node_core::Error::new(openmls_node_core::ErrorCode::UnsupportedCiphersuite, format!("unknown ciphersuite 0x{code:04x}"))
        })?;
        Ok(suite.signature_algorithm() as u32)
    })
}
