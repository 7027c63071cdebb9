//! openmls's rows outside the group data (epoch key pairs, own leaf nodes, queued proposals, and
//! the tables of one value per key: encryption keys, signature keys, key packages, PSKs), on
//! either backend ([`Db`]), with cached statements.
//!
//! Every commit processed or merged reads, writes and deletes some of these; `openmls_sqlite_storage`
//! parses its SQL anew on each call, which cost about a tenth of a merge in a group of 100. The
//! statements here touch the same tables, rows, values and codec as it does, so on SQLite either
//! side reads what the other wrote (tested below).

use serde::{de::DeserializeOwned, Serialize};

use super::db::{bytes, Arg, Db, DbError};
use super::group_data::{decode, encode, PROVIDER_VERSION};

const V: Arg<'static> = Arg::Int(PROVIDER_VERSION as i64);

/// The HPKE key pairs of one epoch and leaf (`encryption_epoch_key_pairs`); empty if none.
pub(super) fn epoch_key_pairs<T: DeserializeOwned>(
    db: Db<'_>,
    group_id: &impl Serialize,
    epoch: &impl Serialize,
    leaf: u32,
) -> Result<Vec<T>, DbError> {
    let (g, e) = (encode(group_id)?, encode(epoch)?);
    let row = db.blob(
        "SELECT key_pairs FROM openmls_epoch_keys_pairs WHERE group_id = $1 AND epoch_id = $2 AND leaf_index = $3 AND provider_version = $4",
        &[Arg::Bytes(&g), Arg::Bytes(&e), Arg::Int(leaf.into()), V],
    )?;
    row.map_or(Ok(Vec::new()), |b| decode(&b))
}

pub(super) fn write_epoch_key_pairs(
    db: Db<'_>,
    group_id: &impl Serialize,
    epoch: &impl Serialize,
    leaf: u32,
    key_pairs: &[impl Serialize],
) -> Result<(), DbError> {
    let (g, e, k) = (encode(group_id)?, encode(epoch)?, encode(&key_pairs)?);
    db.run(
        "INSERT INTO openmls_epoch_keys_pairs (group_id, epoch_id, leaf_index, key_pairs, provider_version) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (group_id, epoch_id, leaf_index) DO UPDATE SET key_pairs = excluded.key_pairs, provider_version = excluded.provider_version",
        &[Arg::Bytes(&g), Arg::Bytes(&e), Arg::Int(leaf.into()), Arg::Bytes(&k), V],
    )
    .map(drop)
}

pub(super) fn delete_epoch_key_pairs(db: Db<'_>, group_id: &impl Serialize, epoch: &impl Serialize, leaf: u32) -> Result<(), DbError> {
    let (g, e) = (encode(group_id)?, encode(epoch)?);
    db.run(
        "DELETE FROM openmls_epoch_keys_pairs WHERE group_id = $1 AND epoch_id = $2 AND leaf_index = $3 AND provider_version = $4",
        &[Arg::Bytes(&g), Arg::Bytes(&e), Arg::Int(leaf.into()), V],
    )
    .map(drop)
}

/// This member's leaf nodes waiting for a commit (`own_leaf_nodes`), in the order appended.
pub(super) fn own_leaf_nodes<T: DeserializeOwned>(db: Db<'_>, group_id: &impl Serialize) -> Result<Vec<T>, DbError> {
    let g = encode(group_id)?;
    let rows = db.blobs(
        "SELECT leaf_node FROM openmls_own_leaf_nodes WHERE group_id = $1 AND provider_version = $2 ORDER BY id",
        &[Arg::Bytes(&g), V],
    )?;
    rows.iter().map(|b| decode(b)).collect()
}

pub(super) fn append_own_leaf_node(db: Db<'_>, group_id: &impl Serialize, leaf_node: &impl Serialize) -> Result<(), DbError> {
    let (g, l) = (encode(group_id)?, encode(leaf_node)?);
    db.run(
        "INSERT INTO openmls_own_leaf_nodes (group_id, leaf_node, provider_version) VALUES ($1, $2, $3)",
        &[Arg::Bytes(&g), Arg::Bytes(&l), V],
    )
    .map(drop)
}

pub(super) fn delete_own_leaf_nodes(db: Db<'_>, group_id: &impl Serialize) -> Result<(), DbError> {
    let g = encode(group_id)?;
    db.run("DELETE FROM openmls_own_leaf_nodes WHERE group_id = $1 AND provider_version = $2", &[Arg::Bytes(&g), V]).map(drop)
}

/// The proposal queue, as references and proposals (`queued_proposals`).
pub(super) fn queued_proposals<R: DeserializeOwned, P: DeserializeOwned>(
    db: Db<'_>,
    group_id: &impl Serialize,
) -> Result<Vec<(R, P)>, DbError> {
    let g = encode(group_id)?;
    let rows = db
        .rows("SELECT proposal_ref, proposal FROM openmls_proposals WHERE group_id = $1 AND provider_version = $2", &[Arg::Bytes(&g), V])?;
    rows.into_iter()
        .map(|mut row| {
            let proposal = bytes(row.pop().ok_or(DbError::WrongType)?)?;
            let reference = bytes(row.pop().ok_or(DbError::WrongType)?)?;
            Ok((decode(&reference)?, decode(&proposal)?))
        })
        .collect()
}

pub(super) fn queued_proposal_refs<R: DeserializeOwned>(db: Db<'_>, group_id: &impl Serialize) -> Result<Vec<R>, DbError> {
    let g = encode(group_id)?;
    let rows =
        db.blobs("SELECT proposal_ref FROM openmls_proposals WHERE group_id = $1 AND provider_version = $2", &[Arg::Bytes(&g), V])?;
    rows.iter().map(|b| decode(b)).collect()
}

pub(super) fn queue_proposal(
    db: Db<'_>,
    group_id: &impl Serialize,
    proposal_ref: &impl Serialize,
    proposal: &impl Serialize,
) -> Result<(), DbError> {
    let (g, r, p) = (encode(group_id)?, encode(proposal_ref)?, encode(proposal)?);
    // As openmls_sqlite_storage: the same reference means the same proposal.
    db.run(
        "INSERT INTO openmls_proposals (group_id, proposal_ref, proposal, provider_version) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        &[Arg::Bytes(&g), Arg::Bytes(&r), Arg::Bytes(&p), V],
    )
    .map(drop)
}

pub(super) fn remove_proposal(db: Db<'_>, group_id: &impl Serialize, proposal_ref: &impl Serialize) -> Result<(), DbError> {
    let (g, r) = (encode(group_id)?, encode(proposal_ref)?);
    db.run(
        "DELETE FROM openmls_proposals WHERE group_id = $1 AND proposal_ref = $2 AND provider_version = $3",
        &[Arg::Bytes(&g), Arg::Bytes(&r), V],
    )
    .map(drop)
}

pub(super) fn clear_proposal_queue(db: Db<'_>, group_id: &impl Serialize) -> Result<(), DbError> {
    let g = encode(group_id)?;
    db.run("DELETE FROM openmls_proposals WHERE group_id = $1 AND provider_version = $2", &[Arg::Bytes(&g), V]).map(drop)
}

/// A table of one value per key (`openmls_encryption_keys`, `openmls_signature_keys`,
/// `openmls_key_packages`, `openmls_psks`): its three statements.
pub(super) struct KeyedTable {
    select: &'static str,
    upsert: &'static str,
    delete: &'static str,
}

macro_rules! keyed_table {
    ($name:ident, $table:literal, $key:literal, $value:literal) => {
        pub(super) const $name: KeyedTable = KeyedTable {
            select: concat!("SELECT ", $value, " FROM ", $table, " WHERE ", $key, " = $1 AND provider_version = $2"),
            upsert: concat!(
                "INSERT INTO ",
                $table,
                " (",
                $key,
                ", ",
                $value,
                ", provider_version) VALUES ($1, $2, $3) ON CONFLICT (",
                $key,
                ") DO UPDATE SET ",
                $value,
                " = excluded.",
                $value,
                ", provider_version = excluded.provider_version"
            ),
            delete: concat!("DELETE FROM ", $table, " WHERE ", $key, " = $1 AND provider_version = $2"),
        };
    };
}

keyed_table!(ENCRYPTION_KEYS, "openmls_encryption_keys", "public_key", "key_pair");
keyed_table!(SIGNATURE_KEYS, "openmls_signature_keys", "public_key", "signature_key");
keyed_table!(KEY_PACKAGES, "openmls_key_packages", "key_package_ref", "key_package");
keyed_table!(PSKS, "openmls_psks", "psk_id", "psk_bundle");

impl KeyedTable {
    pub(super) fn read<T: DeserializeOwned>(&self, db: Db<'_>, key: &impl Serialize) -> Result<Option<T>, DbError> {
        let k = encode(key)?;
        db.blob(self.select, &[Arg::Bytes(&k), V])?.map(|b| decode(&b)).transpose()
    }

    pub(super) fn write(&self, db: Db<'_>, key: &impl Serialize, value: &impl Serialize) -> Result<(), DbError> {
        let (k, v) = (encode(key)?, encode(value)?);
        db.run(self.upsert, &[Arg::Bytes(&k), Arg::Bytes(&v), V]).map(drop)
    }

    pub(super) fn delete(&self, db: Db<'_>, key: &impl Serialize) -> Result<(), DbError> {
        let k = encode(key)?;
        db.run(self.delete, &[Arg::Bytes(&k), V]).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use openmls::prelude::GroupId;
    use openmls_sqlite_storage::SqliteStorageProvider;
    use openmls_traits::storage::{traits, Entity, Key, StorageProvider as _, CURRENT_VERSION};
    use serde::Deserialize;

    use rusqlite::Connection;

    use super::super::NodeCodec;
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
    impl traits::SignaturePublicKey<CURRENT_VERSION> for V {}
    impl traits::SignatureKeyPair<CURRENT_VERSION> for V {}
    impl traits::HashReference<CURRENT_VERSION> for V {}
    impl traits::KeyPackage<CURRENT_VERSION> for V {}
    impl traits::PskId<CURRENT_VERSION> for V {}
    impl traits::PskBundle<CURRENT_VERSION> for V {}

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
        assert_eq!(epoch_key_pairs::<V>(Db::Sqlite(&conn), &group, &epoch, 5).unwrap(), pairs);
        assert!(epoch_key_pairs::<V>(Db::Sqlite(&conn), &group, &epoch, 6).unwrap().is_empty());

        write_epoch_key_pairs(Db::Sqlite(&conn), &group, &epoch, 5, &[V(9)]).unwrap();
        let back: Vec<V> = theirs.encryption_epoch_key_pairs(&group, &epoch, 5).unwrap();
        assert_eq!(back, vec![V(9)]);
        assert_eq!(count(&conn, "openmls_epoch_keys_pairs"), 1, "a write replaces the row");

        delete_epoch_key_pairs(Db::Sqlite(&conn), &group, &epoch, 5).unwrap();
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
        append_own_leaf_node(Db::Sqlite(&conn), &group, &V(2)).unwrap();
        let ours: Vec<V> = own_leaf_nodes(Db::Sqlite(&conn), &group).unwrap();
        let their_list: Vec<V> = theirs.own_leaf_nodes(&group).unwrap();
        assert_eq!(ours, vec![V(1), V(2)]);
        assert_eq!(their_list, ours);

        delete_own_leaf_nodes(Db::Sqlite(&conn), &group).unwrap();
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
        queue_proposal(Db::Sqlite(&conn), &group, &r2, &V(20)).unwrap();
        queue_proposal(Db::Sqlite(&conn), &group, &r2, &V(99)).unwrap();
        let listed: Vec<(V, V)> = queued_proposals(Db::Sqlite(&conn), &group).unwrap();
        assert_eq!(listed, vec![(r1, V(10)), (r2, V(20))], "the same reference is kept once");
        let their_list: Vec<(V, V)> = theirs.queued_proposals(&group).unwrap();
        assert_eq!(their_list, listed);
        let refs: Vec<V> = queued_proposal_refs(Db::Sqlite(&conn), &group).unwrap();
        assert_eq!(refs, vec![r1, r2]);

        remove_proposal(Db::Sqlite(&conn), &group, &r1).unwrap();
        let their_refs: Vec<V> = theirs.queued_proposal_refs(&group).unwrap();
        assert_eq!(their_refs, vec![r2]);
        theirs.queue_proposal(&group, &r3, &V(30)).unwrap();
        clear_proposal_queue(Db::Sqlite(&conn), &group).unwrap();
        assert_eq!(count(&conn, "openmls_proposals"), 0);
    }

    /// Encryption key pairs by public key.
    #[test]
    fn encryption_key_pairs_match_openmls_sqlite_storage() {
        let conn = tables();
        let theirs = SqliteStorageProvider::<NodeCodec, &Connection>::new(&conn);
        let key = V(4);

        theirs.write_encryption_key_pair(&key, &V(40)).unwrap();
        assert_eq!(ENCRYPTION_KEYS.read::<V>(Db::Sqlite(&conn), &key).unwrap(), Some(V(40)));
        ENCRYPTION_KEYS.write(Db::Sqlite(&conn), &key, &V(41)).unwrap();
        let back: Option<V> = theirs.encryption_key_pair(&key).unwrap();
        assert_eq!(back, Some(V(41)));
        assert_eq!(count(&conn, "openmls_encryption_keys"), 1, "a write replaces the row");
        ENCRYPTION_KEYS.delete(Db::Sqlite(&conn), &key).unwrap();
        assert_eq!(ENCRYPTION_KEYS.read::<V>(Db::Sqlite(&conn), &key).unwrap(), None);
    }

    /// Signature keys, key packages and PSKs: the same statements on their own tables.
    #[test]
    fn other_keyed_tables_match_openmls_sqlite_storage() {
        let conn = tables();
        let theirs = SqliteStorageProvider::<NodeCodec, &Connection>::new(&conn);
        let key = V(6);
        theirs.write_signature_key_pair(&key, &V(60)).unwrap();
        assert_eq!(SIGNATURE_KEYS.read::<V>(Db::Sqlite(&conn), &key).unwrap(), Some(V(60)));
        KEY_PACKAGES.write(Db::Sqlite(&conn), &key, &V(61)).unwrap();
        let kp: Option<V> = theirs.key_package(&key).unwrap();
        assert_eq!(kp, Some(V(61)));
        PSKS.write(Db::Sqlite(&conn), &key, &V(62)).unwrap();
        let psk: Option<V> = theirs.psk(&key).unwrap();
        assert_eq!(psk, Some(V(62)));
        for table in [SIGNATURE_KEYS, KEY_PACKAGES, PSKS] {
            table.delete(Db::Sqlite(&conn), &key).unwrap();
            assert_eq!(table.read::<V>(Db::Sqlite(&conn), &key).unwrap(), None);
        }
    }
}
