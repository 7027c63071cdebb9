//! What a provider remembers beyond openmls's own tables: which groups it holds, its identity, and
//! its key package inventory. All of it goes through the storage codec, so it is encrypted with
//! the rest when the provider has a key.

use crate::signer::SignatureKeyPair;
use openmls::prelude::*;
use openmls_traits::storage::StorageProvider as _;

use crate::error::{Error, Result};
use crate::identity::{self, CredentialInfo};
use crate::provider::{Provider, Tx};
use crate::storage::{decode_value, encode_value, store_error, Arg, DbError};

fn sql_err(e: DbError) -> Error {
    store_error(&e)
}

/// How a group id is kept in this package's own tables: through the storage codec, like every
/// value (sealed, and still found by equality, with a storage key).
pub(crate) fn group_key(group_id: &GroupId) -> Result<Vec<u8>> {
    encode_value(&group_id.as_slice().to_vec())
}

/// Records a group and stores the signer it uses, so the group can be loaded after a restart.
pub(crate) fn register_group(tx: &Tx<'_>, group_id: &GroupId, signer: &SignatureKeyPair) -> Result<()> {
    signer.store(tx.storage()).map_err(|e| store_error(&e))?;
    let k = group_key(group_id)?;
    tx.db().run("INSERT INTO openmls_node_groups (group_id) VALUES ($1) ON CONFLICT DO NOTHING", &[Arg::Bytes(&k)]).map_err(sql_err)?;
    Ok(())
}

/// Whether this provider holds `group_id` as a member.
pub(crate) fn is_group_registered(tx: &Tx<'_>, group_id: &GroupId) -> Result<bool> {
    let k = group_key(group_id)?;
    let n = tx.db().int("SELECT count(*) FROM openmls_node_groups WHERE group_id = $1", &[Arg::Bytes(&k)]).map_err(sql_err)?;
    Ok(n == 1)
}

/// Forgets a group.
pub(crate) fn unregister_group(tx: &Tx<'_>, group_id: &GroupId) -> Result<()> {
    let k = group_key(group_id)?;
    tx.db().run("DELETE FROM openmls_node_groups WHERE group_id = $1", &[Arg::Bytes(&k)]).map_err(sql_err)?;
    Ok(())
}

/// The ids of the groups this provider holds.
pub fn list_groups(provider: &Provider) -> Result<Vec<Vec<u8>>> {
    provider.atomically(|tx| {
        let rows = tx.db().blobs("SELECT group_id FROM openmls_node_groups", &[]).map_err(sql_err)?;
        let mut ids = rows.iter().map(|row| decode_value::<Vec<u8>>(row)).collect::<Result<Vec<_>>>()?;
        ids.sort();
        Ok(ids)
    })
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredIdentity {
    signer: Vec<u8>,
    credential_type: u16,
    credential: Vec<u8>,
}

/// Stores the client's identity: its signer and credential.
pub fn set_identity(provider: &Provider, signer: &SignatureKeyPair, credential: &CredentialInfo) -> Result<()> {
    let stored = StoredIdentity {
        signer: identity::signer_to_bytes(signer)?,
        credential_type: credential.credential_type,
        credential: credential.serialized_content.clone(),
    };
    provider.atomically(|tx| {
        let value = encode_value(&stored)?;
        tx.db()
            .run(
                "INSERT INTO openmls_node_identity (id, identity) VALUES (1, $1)
                 ON CONFLICT (id) DO UPDATE SET identity = excluded.identity",
                &[Arg::Bytes(&value)],
            )
            .map_err(sql_err)?;
        Ok(())
    })
}

/// The stored identity, if any.
pub fn identity(provider: &Provider) -> Result<Option<(SignatureKeyPair, CredentialInfo)>> {
    provider.atomically(identity_of)
}

pub(crate) fn identity_of(tx: &Tx<'_>) -> Result<Option<(SignatureKeyPair, CredentialInfo)>> {
    let row = tx.db().blob("SELECT identity FROM openmls_node_identity WHERE id = 1", &[]).map_err(sql_err)?;
    let Some(row) = row else { return Ok(None) };
    let stored: StoredIdentity = decode_value(&row)?;
    let signer = identity::signer_from_bytes(tx.crypto(), &stored.signer)?;
    Ok(Some((signer, CredentialInfo { credential_type: stored.credential_type, serialized_content: stored.credential })))
}

/// A key package this provider published and still holds the private keys of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPackageEntry {
    /// Its hash reference.
    pub key_package_ref: Vec<u8>,
    /// The ciphersuite.
    pub ciphersuite: u16,
    /// (not before, not after), Unix seconds.
    pub lifetime: (u64, u64),
    /// Whether it is a last-resort key package (kept after use).
    pub last_resort: bool,
    /// The key package, encoded as an `MLSMessage`.
    pub key_package: Vec<u8>,
}

/// The key packages this provider holds: published and not yet consumed by a Welcome (last-resort
/// ones stay until deleted).
pub fn key_packages(provider: &Provider) -> Result<Vec<KeyPackageEntry>> {
    provider.atomically(|tx| {
        let mut out = key_packages_in_tx(tx)?
            .into_iter()
            .map(|(hash_ref, bundle)| {
                let kp = bundle.key_package();
                Ok(KeyPackageEntry {
                    key_package_ref: hash_ref.as_slice().to_vec(),
                    ciphersuite: u16::from(kp.ciphersuite()),
                    lifetime: crate::config::lifetime_bounds(kp.life_time()),
                    last_resort: kp.last_resort(),
                    key_package: crate::key_package::key_package_to_bytes(kp)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        out.sort_by(|a, b| a.lifetime.1.cmp(&b.lifetime.1).then(a.key_package_ref.cmp(&b.key_package_ref)));
        Ok(out)
    })
}

/// Deletes one held key package (and its private keys), by reference.
pub fn delete_key_package(provider: &Provider, key_package_ref: &[u8]) -> Result<bool> {
    provider.atomically(|tx| delete_key_package_in(tx, key_package_ref))
}

fn delete_key_package_in(tx: &Tx<'_>, key_package_ref: &[u8]) -> Result<bool> {
    let found = key_packages_in_tx(tx)?.into_iter().find(|(r, _)| r.as_slice() == key_package_ref);
    let Some((hash_ref, bundle)) = found else { return Ok(false) };
    tx.storage().delete_key_package(&hash_ref).map_err(|e| store_error(&e))?;
    let encryption_key = bundle.key_package().leaf_node().encryption_key().clone();
    tx.storage().delete_encryption_key_pair(&encryption_key).map_err(|e| store_error(&e))?;
    Ok(true)
}

/// Deletes the held key packages whose lifetime ended before `now` (Unix seconds). Returns how many.
pub fn delete_expired_key_packages(provider: &Provider, now: u64) -> Result<usize> {
    let expired: Vec<Vec<u8>> = key_packages(provider)?.into_iter().filter(|k| k.lifetime.1 < now).map(|k| k.key_package_ref).collect();
    provider.atomically(|tx| {
        for r in &expired {
            delete_key_package_in(tx, r)?;
        }
        Ok(expired.len())
    })
}

/// Every held key package bundle with its reference. Inside a transaction.
fn key_packages_in_tx(tx: &Tx<'_>) -> Result<Vec<(KeyPackageRef, KeyPackageBundle)>> {
    let rows = tx.db().blobs("SELECT key_package FROM openmls_key_packages", &[]).map_err(sql_err)?;
    let mut out = Vec::new();
    for row in rows {
        let bundle: KeyPackageBundle = decode_value(&row)?;
        out.push((bundle.key_package().hash_ref(tx.crypto())?, bundle));
    }
    Ok(out)
}
