//! The thin N-API binding of openmls-node. It converts values and errors; the work is in
//! `crates/core`. One file per exported class.

mod config_types;
mod error;
mod key_package;
mod mls_group;
mod mls_message;
mod processed_welcome;
mod proposal_types;
mod provider;
mod queued_proposal;
mod signature_key_pair;
mod staged_commit;
mod staged_welcome;
mod task;
mod types;

use napi_derive::napi;

/// The version of the openmls crate this addon is built with.
#[napi]
pub fn openmls_version() -> String {
    "0.9.2".to_string()
}

/// Every stable error code the addon can throw.
#[napi]
pub fn error_codes() -> Vec<String> {
    openmls_node_core::ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_string())
        .collect()
}
