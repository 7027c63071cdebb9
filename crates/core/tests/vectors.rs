//! The passive-client test vectors of the MLS working group, through the core API
//! (`cargo test --features test-vectors`). The ava suite runs them through the JavaScript API.
#![cfg(feature = "test-vectors")]

use std::sync::Arc;

use openmls_node_core::config::{JoinConfigSpec, PastEpochs};
use openmls_node_core::group::{Group, JoinOptions};
use openmls_node_core::processed::ProcessedContent;
use openmls_node_core::{CryptoProviderKind, Provider};
use serde_json::Value;

fn dir() -> std::path::PathBuf {
    std::env::var_os("OPENMLS_NODE_TEST_VECTORS")
        .map(Into::into)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/test-vectors"))
}

fn hex(v: &Value) -> Vec<u8> {
    let s = v.as_str().unwrap();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn run_case(kind: CryptoProviderKind, case: &Value, skip_lifetime: bool) -> Result<(), String> {
    let provider = Arc::new(Provider::new(kind).unwrap());
    let suite = case["cipher_suite"].as_u64().unwrap() as u16;
    if provider.ciphersuite(suite).is_err() {
        return Err("unsupported".into());
    }
    let signer = openmls_node_core::vectors::import_key_package(
        &provider,
        &hex(&case["key_package"]),
        &hex(&case["init_priv"]),
        &hex(&case["encryption_priv"]),
        &hex(&case["signature_priv"]),
    )
    .map_err(|e| e.to_string())?;
    for psk in case["external_psks"].as_array().unwrap() {
        openmls_node_core::psk::store_external_psk(&provider, &hex(&psk["psk_id"]), &hex(&psk["psk"])).map_err(|e| e.to_string())?;
    }
    let options = JoinOptions {
        ratchet_tree: case["ratchet_tree"].as_str().map(|_| hex(&case["ratchet_tree"])),
        config: JoinConfigSpec {
            wire_format_policy: Some("mixedCiphertext".into()),
            number_of_resumption_psks: Some(32),
            past_epochs: Some(PastEpochs::Max(0)),
            ..Default::default()
        },
        skip_lifetime_validation: skip_lifetime,
        replace_old_group: false,
    };
    let group = Group::join(provider, Arc::new(signer), &hex(&case["welcome"]), options).map_err(|e| e.to_string())?;
    if group.epoch_authenticator().unwrap() != hex(&case["initial_epoch_authenticator"]) {
        return Err("initial epoch authenticator differs".into());
    }
    for (n, epoch) in case["epochs"].as_array().unwrap().iter().enumerate() {
        for proposal in epoch["proposals"].as_array().unwrap() {
            let p = group.process_message(&hex(proposal)).map_err(|e| format!("epoch {n} proposal: {e}"))?;
            match p.content {
                ProcessedContent::Proposal(q) | ProcessedContent::ExternalJoinProposal(q) => {
                    group.store_pending_proposal(&q).map_err(|e| e.to_string())?
                }
                _ => return Err(format!("epoch {n}: expected a proposal")),
            }
        }
        let c = group.process_message(&hex(&epoch["commit"])).map_err(|e| format!("epoch {n} commit: {e}"))?;
        match c.content {
            ProcessedContent::Commit(staged) => group.merge_staged_commit(&staged).map_err(|e| e.to_string())?,
            _ => return Err(format!("epoch {n}: expected a commit")),
        }
        if group.epoch_authenticator().unwrap() != hex(&epoch["epoch_authenticator"]) {
            return Err(format!("epoch {n}: epoch authenticator differs"));
        }
    }
    Ok(())
}

fn run_file(name: &str, skip_lifetime: bool) {
    let cases: Value = serde_json::from_slice(&std::fs::read(dir().join(name)).unwrap()).unwrap();
    for kind in [CryptoProviderKind::RustCrypto, CryptoProviderKind::Libcrux] {
        let (mut passed, mut skipped, mut failed) = (0, 0, Vec::new());
        for (i, case) in cases.as_array().unwrap().iter().enumerate() {
            // Lifetime checks are skipped only where the vector's lifetimes have really expired.
            let result = match run_case(kind, case, skip_lifetime) {
                Err(e) if !skip_lifetime && e.contains("Lifetime is in the past") => run_case(kind, case, true),
                other => other,
            };
            match result {
                Ok(()) => passed += 1,
                Err(e) if e == "unsupported" => skipped += 1,
                Err(e) => failed.push(format!("case {i} (suite {}): {e}", case["cipher_suite"])),
            }
        }
        eprintln!("{name} {kind:?}: {passed} passed, {skipped} skipped, {} failed", failed.len());
        assert!(failed.is_empty(), "{name} {kind:?}:\n{}", failed.join("\n"));
        assert!(passed > 0);
    }
}

#[test]
fn passive_client_welcome() {
    run_file("passive-client-welcome.json", true);
}

#[test]
fn passive_client_handling_commit() {
    run_file("passive-client-handling-commit.json", false);
}

#[test]
fn passive_client_random() {
    run_file("passive-client-random.json", false);
}
