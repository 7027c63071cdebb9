//! openmls's per-commit rows outside the group data (epoch key pairs, own leaf nodes, queued
//! proposals, encryption key pairs), read and written with cached statements.
//!
//! Every commit processed or merged reads, writes and deletes these; `openmls_sqlite_storage`
//! parses its SQL anew on each call, which cost about a tenth of a merge in a group of 100. The
//! statements here are the ones it runs (same tables, rows, values and codec), through rusqlite's
//! statement cache, so either side reads what the other wrote (tested below).

use rusqlite::types::Type;
use rusqlite::{params, Connection, OptionalExtension as _, Params, Row};
use serde::{de::DeserializeOwned, Serialize};

use super::group_data::{encode, PROVIDER_VERSION};
use super::NodeCodec;
use openmls_sqlite_storage::Codec as _;

fn decode<T: DeserializeOwned>(row: &Row<'_>, column: usize) -> rusqlite::Result<T> {
    let blob = row.get_ref(column)?.as_blob()?;
    NodeCodec::from_slice(blob).map_err(|e| rusqlite::Error::FromSqlConversionFailure(column, Type::Blob, Box::new(e)))
}

fn run(conn: &Connection, sql: &str, params: impl Params) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute(params).map(drop)
}

fn rows<T>(conn: &Connection, sql: &str, params: impl Params, each: impl Fn(&Row<'_>) -> rusqlite::Result<T>) -> rusqlite::Result<Vec<T>> {
    conn.prepare_cached(sql)?.query_map(params, each)?.collect()
}

/// The HPKE key pairs of one epoch and leaf (`encryption_epoch_key_pairs`); empty if none.
pub(super) fn epoch_key_pairs<T: DeserializeOwned>(
    conn: &Connection,
    group_id: &impl Serialize,
    epoch: &impl Serialize,
    leaf: u32,
) -> rusqlite::Result<Vec<T>> {
    conn.prepare_cached(
        "SELECT key_pairs FROM openmls_epoch_keys_pairs WHERE group_id = ?1 AND epoch_id = ?2 AND leaf_index = ?3 AND provider_version = ?4",
    )?
    .query_row(params![encode(group_id)?, encode(epoch)?, leaf, PROVIDER_VERSION], |row| decode(row, 0))
    .optional()
    .map(Option::unwrap_or_default)
}

pub(super) fn write_epoch_key_pairs(
    conn: &Connection,
    group_id: &impl Serialize,
    epoch: &impl Serialize,
    leaf: u32,
    key_pairs: &impl Serialize,
) -> rusqlite::Result<()> {
    run(
        conn,
        "INSERT OR REPLACE INTO openmls_epoch_keys_pairs (group_id, epoch_id, leaf_index, key_pairs, provider_version) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![encode(group_id)?, encode(epoch)?, leaf, encode(key_pairs)?, PROVIDER_VERSION],
    )
}

pub(super) fn delete_epoch_key_pairs(
    conn: &Connection,
    group_id: &impl Serialize,
    epoch: &impl Serialize,
    leaf: u32,
) -> rusqlite::Result<()> {
    run(
        conn,
        "DELETE FROM openmls_epoch_keys_pairs WHERE group_id = ?1 AND epoch_id = ?2 AND leaf_index = ?3 AND provider_version = ?4",
        params![encode(group_id)?, encode(epoch)?, leaf, PROVIDER_VERSION],
    )
}

/// This member's leaf nodes waiting for a commit (`own_leaf_nodes`).
pub(super) fn own_leaf_nodes<T: DeserializeOwned>(conn: &Connection, group_id: &impl Serialize) -> rusqlite::Result<Vec<T>> {
    rows(
        conn,
        "SELECT leaf_node FROM openmls_own_leaf_nodes WHERE group_id = ? AND provider_version = ?",
        params![encode(group_id)?, PROVIDER_VERSION],
        |row| decode(row, 0),
    )
}

pub(super) fn append_own_leaf_node(conn: &Connection, group_id: &impl Serialize, leaf_node: &impl Serialize) -> rusqlite::Result<()> {
    run(
        conn,
        "INSERT OR REPLACE INTO openmls_own_leaf_nodes (group_id, leaf_node, provider_version) VALUES (?1, ?2, ?3)",
        params![encode(group_id)?, encode(leaf_node)?, PROVIDER_VERSION],
    )
}

pub(super) fn delete_own_leaf_nodes(conn: &Connection, group_id: &impl Serialize) -> rusqlite::Result<()> {
    run(
        conn,
        "DELETE FROM openmls_own_leaf_nodes WHERE group_id = ? AND provider_version = ?",
        params![encode(group_id)?, PROVIDER_VERSION],
    )
}

/// The proposal queue, as references and proposals (`queued_proposals`).
pub(super) fn queued_proposals<R: DeserializeOwned, P: DeserializeOwned>(
    conn: &Connection,
    group_id: &impl Serialize,
) -> rusqlite::Result<Vec<(R, P)>> {
    rows(
        conn,
        "SELECT proposal_ref, proposal FROM openmls_proposals WHERE group_id = ?1 AND provider_version = ?2",
        params![encode(group_id)?, PROVIDER_VERSION],
        |row| Ok((decode(row, 0)?, decode(row, 1)?)),
    )
}

pub(super) fn queued_proposal_refs<R: DeserializeOwned>(conn: &Connection, group_id: &impl Serialize) -> rusqlite::Result<Vec<R>> {
    rows(
        conn,
        "SELECT proposal_ref FROM openmls_proposals WHERE group_id = ?1 AND provider_version = ?2",
        params![encode(group_id)?, PROVIDER_VERSION],
        |row| decode(row, 0),
    )
}

pub(super) fn queue_proposal(
    conn: &Connection,
    group_id: &impl Serialize,
    proposal_ref: &impl Serialize,
    proposal: &impl Serialize,
) -> rusqlite::Result<()> {
    // As openmls_sqlite_storage: the same reference means the same proposal.
    run(
        conn,
        "INSERT OR IGNORE INTO openmls_proposals (group_id, proposal_ref, proposal, provider_version) VALUES (?1, ?2, ?3, ?4)",
        params![encode(group_id)?, encode(proposal_ref)?, encode(proposal)?, PROVIDER_VERSION],
    )
}

pub(super) fn remove_proposal(conn: &Connection, group_id: &impl Serialize, proposal_ref: &impl Serialize) -> rusqlite::Result<()> {
    run(
        conn,
        "DELETE FROM openmls_proposals WHERE group_id = ?1 AND proposal_ref = ?2 AND provider_version = ?3",
        params![encode(group_id)?, encode(proposal_ref)?, PROVIDER_VERSION],
    )
}

pub(super) fn clear_proposal_queue(conn: &Connection, group_id: &impl Serialize) -> rusqlite::Result<()> {
    run(conn, "DELETE FROM openmls_proposals WHERE group_id = ?1 AND provider_version = ?2", params![encode(group_id)?, PROVIDER_VERSION])
}

/// A leaf's HPKE key pair by its public key (`encryption_key_pair`).
pub(super) fn encryption_key_pair<T: DeserializeOwned>(conn: &Connection, public_key: &impl Serialize) -> rusqlite::Result<Option<T>> {
    conn.prepare_cached("SELECT key_pair FROM openmls_encryption_keys WHERE public_key = ?1 AND provider_version = ?2")?
        .query_row(params![encode(public_key)?, PROVIDER_VERSION], |row| decode(row, 0))
        .optional()
}

pub(super) fn write_encryption_key_pair(conn: &Connection, public_key: &impl Serialize, key_pair: &impl Serialize) -> rusqlite::Result<()> {
    run(
        conn,
        "INSERT OR REPLACE INTO openmls_encryption_keys (public_key, key_pair, provider_version) VALUES (?1, ?2, ?3)",
        params![encode(public_key)?, encode(key_pair)?, PROVIDER_VERSION],
    )
}

pub(super) fn delete_encryption_key_pair(conn: &Connection, public_key: &impl Serialize) -> rusqlite::Result<()> {
    run(
        conn,
        "DELETE FROM openmls_encryption_keys WHERE public_key = ?1 AND provider_version = ?2",
        params![encode(public_key)?, PROVIDER_VERSION],
    )
}

#[cfg(test)]
mod tests {
    use openmls::prelude::GroupId;
    use openmls_sqlite_storage::SqliteStorageProvider;
    use openmls_traits::storage::{traits, Entity, Key, StorageProvider as _, CURRENT_VERSION};
    use serde::Deserialize;

    use super::*;

    /// A stand-in for openmls's stored types: any serde value goes through the same codec.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    struct V(u32);
    impl Key<CURRENT_VERSION> for V {}
    impl Entity<CURRENT_VERSION> for V {}
    impl traits::EpochKey<CURRENT_VERSION> for V {}
    impl traits::HpkeKeyPair<CURRENT_VERSION> for V {}
    impl traits::LeafNode<CURRENT_VERSION> for V {}
    impl traits::ProposalRef<CURRENT_VERSION> for V {}
    impl traits::QueuedProposal<CURRENT_VERSION> for V {}
    impl traits::EncryptionKey<CURRENT_VERSION> for V {}

    fn tables() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        SqliteStorageProvider::<NodeCodec, &mut Connection>::new(&mut conn).run_migrations().unwrap();
        conn
    }

    fn count(conn: &Connection, table: &str) -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).unwrap()
    }

    /// Epoch key pairs: written on one side, read, replaced and deleted on the other.
    #[test]
    fn epoch_key_pairs_match_openmls_sqlite_storage() {
        let conn = tables();
        let theirs = SqliteStorageProvider::<NodeCodec, &Connection>::new(&conn);
        let (group, epoch) = (GroupId::from_slice(b"group"), V(3));
        let pairs = vec![V(1), V(2)];

        theirs.write_encryption_epoch_key_pairs(&group, &epoch, 5, &pairs).unwrap();
        assert_eq!(epoch_key_pairs::<V>(&conn, &group, &epoch, 5).unwrap(), pairs);
        assert!(epoch_key_pairs::<V>(&conn, &group, &epoch, 6).unwrap().is_empty());

        write_epoch_key_pairs(&conn, &group, &epoch, 5, &[V(9)]).unwrap();
        let back: Vec<V> = theirs.encryption_epoch_key_pairs(&group, &epoch, 5).unwrap();
        assert_eq!(back, vec![V(9)]);
        assert_eq!(count(&conn, "openmls_epoch_keys_pairs"), 1, "a write replaces the row");

        delete_epoch_key_pairs(&conn, &group, &epoch, 5).unwrap();
        let gone: Vec<V> = theirs.encryption_epoch_key_pairs(&group, &epoch, 5).unwrap();
        assert!(gone.is_empty());
    }

    /// Own leaf nodes: appended on either side, listed on both, deleted together.
    #[test]
    fn own_leaf_nodes_match_openmls_sqlite_storage() {
        let conn = tables();
        let theirs = SqliteStorageProvider::<NodeCodec, &Connection>::new(&conn);
        let group = GroupId::from_slice(b"group");

        theirs.append_own_leaf_node(&group, &V(1)).unwrap();
        append_own_leaf_node(&conn, &group, &V(2)).unwrap();
        let ours: Vec<V> = own_leaf_nodes(&conn, &group).unwrap();
        let their_list: Vec<V> = theirs.own_leaf_nodes(&group).unwrap();
        assert_eq!(ours, vec![V(1), V(2)]);
        assert_eq!(their_list, ours);

        delete_own_leaf_nodes(&conn, &group).unwrap();
        let gone: Vec<V> = theirs.own_leaf_nodes(&group).unwrap();
        assert!(gone.is_empty());
    }

    /// The proposal queue: queued on either side, listed, removed one by one and cleared.
    #[test]
    fn proposals_match_openmls_sqlite_storage() {
        let conn = tables();
        let theirs = SqliteStorageProvider::<NodeCodec, &Connection>::new(&conn);
        let group = GroupId::from_slice(b"group");
        let (r1, r2, r3) = (V(1), V(2), V(3));

        theirs.queue_proposal(&group, &r1, &V(10)).unwrap();
        queue_proposal(&conn, &group, &r2, &V(20)).unwrap();
        queue_proposal(&conn, &group, &r2, &V(99)).unwrap();
        let listed: Vec<(V, V)> = queued_proposals(&conn, &group).unwrap();
        assert_eq!(listed, vec![(r1, V(10)), (r2, V(20))], "the same reference is kept once");
        let their_list: Vec<(V, V)> = theirs.queued_proposals(&group).unwrap();
        assert_eq!(their_list, listed);
        let refs: Vec<V> = queued_proposal_refs(&conn, &group).unwrap();
        assert_eq!(refs, vec![r1, r2]);

        remove_proposal(&conn, &group, &r1).unwrap();
        let their_refs: Vec<V> = theirs.queued_proposal_refs(&group).unwrap();
        assert_eq!(their_refs, vec![r2]);
        theirs.queue_proposal(&group, &r3, &V(30)).unwrap();
        clear_proposal_queue(&conn, &group).unwrap();
        assert_eq!(count(&conn, "openmls_proposals"), 0);
    }

    /// Encryption key pairs by public key.
    #[test]
    fn encryption_key_pairs_match_openmls_sqlite_storage() {
        let conn = tables();
        let theirs = SqliteStorageProvider::<NodeCodec, &Connection>::new(&conn);
        let key = V(4);

        theirs.write_encryption_key_pair(&key, &V(40)).unwrap();
        assert_eq!(encryption_key_pair::<V>(&conn, &key).unwrap(), Some(V(40)));
        write_encryption_key_pair(&conn, &key, &V(41)).unwrap();
        let back: Option<V> = theirs.encryption_key_pair(&key).unwrap();
        assert_eq!(back, Some(V(41)));
        assert_eq!(count(&conn, "openmls_encryption_keys"), 1, "a write replaces the row");
        delete_encryption_key_pair(&conn, &key).unwrap();
        assert_eq!(encryption_key_pair::<V>(&conn, &key).unwrap(), None);
    }
}
