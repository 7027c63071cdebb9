//! openmls's group data (tree, context, message secrets, ...), read and written with cached
//! statements, on either backend ([`Db`]).
//!
//! `openmls_sqlite_storage` prepares its SQL anew on every call; for the message secrets, written
//! once per application message sent or received, parsing the statement cost about as much as
//! running it. These functions use the same table, rows, values and codec as
//! `openmls_sqlite_storage`'s group data, so on SQLite either can read what the other wrote
//! (tested below).

use openmls_traits::storage::CURRENT_VERSION;
use serde::{de::DeserializeOwned, Serialize};

use super::db::{Arg, Db, DbError};
use super::NodeCodec;
use openmls_sqlite_storage::Codec as _;

/// The storage provider version `openmls_sqlite_storage` writes into each row.
pub(super) const PROVIDER_VERSION: u16 = CURRENT_VERSION;

/// A key or value through the codec of the running transaction.
pub(super) fn encode(value: &impl Serialize) -> Result<Vec<u8>, DbError> {
    encode_sized(value, 0)
}

/// [`encode`] into a buffer with room for `capacity` bytes to start with.
pub(super) fn encode_sized(value: &impl Serialize, capacity: usize) -> Result<Vec<u8>, DbError> {
    NodeCodec::to_vec_sized(value, capacity).map_err(|e| DbError::Encode(e.to_string()))
}

/// A stored key or value back.
pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DbError> {
    Ok(NodeCodec::from_slice(bytes)?)
}

const V: Arg<'static> = Arg::Int(PROVIDER_VERSION as i64);

/// Every kind of group data openmls stores (the `data_type` column).
pub(super) const KINDS: [&str; 10] = [
    "join_group_config",
    "tree",
    "interim_transcript_hash",
    "context",
    "confirmation_tag",
    "group_state",
    "message_secrets",
    "resumption_psk_store",
    "own_leaf_index",
    "group_epoch_secrets",
];

/// Writes (or replaces) one kind of a group's data.
///
/// The row ends as `openmls_sqlite_storage`'s `INSERT OR REPLACE` leaves it, but an existing row
/// is updated where it is: a replace deletes the row and its primary-key entry and inserts both
/// again, and any insert evaluates the table's `CHECK (data_type IN (...))`, which builds a
/// temporary table each time in SQLite. An update of the value alone does neither.
pub(super) fn write(db: Db<'_>, group_id: &impl Serialize, kind: &str, value: &impl Serialize) -> Result<(), DbError> {
    let (group_id, value) = (encode(group_id)?, encode(value)?);
    let args = [Arg::Bytes(&value), V, Arg::Bytes(&group_id), Arg::Text(kind)];
    let updated =
        db.run("UPDATE openmls_group_data SET group_data = $1, provider_version = $2 WHERE group_id = $3 AND data_type = $4", &args)?;
    if updated == 0 {
        db.run(
            "INSERT INTO openmls_group_data (group_id, data_type, group_data, provider_version) VALUES ($1, $2, $3, $4)",
            &[Arg::Bytes(&group_id), Arg::Text(kind), Arg::Bytes(&value), V],
        )?;
    }
    Ok(())
}

/// Reads one kind of a group's data, if stored.
pub(super) fn read<T: DeserializeOwned>(db: Db<'_>, group_id: &impl Serialize, kind: &str) -> Result<Option<T>, DbError> {
    let group_id = encode(group_id)?;
    db.blob(
        "SELECT group_data FROM openmls_group_data WHERE group_id = $1 AND data_type = $2 AND provider_version = $3",
        &[Arg::Bytes(&group_id), Arg::Text(kind), V],
    )?
    .map(|b| decode(&b))
    .transpose()
}

/// Deletes one kind of a group's data.
pub(super) fn delete(db: Db<'_>, group_id: &impl Serialize, kind: &str) -> Result<(), DbError> {
    let group_id = encode(group_id)?;
    db.run(
        "DELETE FROM openmls_group_data WHERE group_id = $1 AND data_type = $2 AND provider_version = $3",
        &[Arg::Bytes(&group_id), Arg::Text(kind), V],
    )
    .map(drop)
}

#[cfg(test)]
mod tests {
    /// [`KINDS`] is every kind the store's group-data methods name (storage.rs), no more: an
    /// in-memory store's snapshot import moves exactly these rows into its map.
    #[test]
    fn kinds_are_the_kinds_the_store_implements() {
        let mut named: Vec<&str> = include_str!("../storage.rs")
            .lines()
            .filter_map(|line| {
                let line = line.trim_start();
                let rest = ["write \"", "read \"", "delete \""].iter().find_map(|p| line.strip_prefix(p))?;
                rest.split('"').next()
            })
            .collect();
        named.sort_unstable();
        named.dedup();
        let mut kinds = super::KINDS.to_vec();
        kinds.sort_unstable();
        assert_eq!(named, kinds);
    }

    use openmls::prelude::GroupId;
    use openmls_sqlite_storage::SqliteStorageProvider;
    use openmls_traits::storage::StorageProvider as _;

    use rusqlite::Connection;

    use super::*;

    /// A group's data written by openmls_sqlite_storage reads back here, and the other way round;
    /// a delete here is a delete there.
    #[test]
    fn same_rows_as_openmls_sqlite_storage() {
        let mut conn = Connection::open_in_memory().unwrap();
        SqliteStorageProvider::<NodeCodec, &mut Connection>::new(&mut conn).run_migrations().unwrap();
        let theirs = SqliteStorageProvider::<NodeCodec, &Connection>::new(&conn);
        let group = GroupId::from_slice(b"group");
        let tag = openmls::prelude::LeafNodeIndex::new(7);

        theirs.write_own_leaf_index(&group, &tag).unwrap();
        assert_eq!(read::<openmls::prelude::LeafNodeIndex>(Db::Sqlite(&conn), &group, "own_leaf_index").unwrap(), Some(tag));

        write(Db::Sqlite(&conn), &group, "own_leaf_index", &openmls::prelude::LeafNodeIndex::new(9)).unwrap();
        let back: Option<openmls::prelude::LeafNodeIndex> = theirs.own_leaf_index(&group).unwrap();
        assert_eq!(back, Some(openmls::prelude::LeafNodeIndex::new(9)));
        let rows: i64 = conn.query_row("SELECT count(*) FROM openmls_group_data", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 1, "a write here replaces the row openmls_sqlite_storage wrote");

        delete(Db::Sqlite(&conn), &group, "own_leaf_index").unwrap();
        let gone: Option<openmls::prelude::LeafNodeIndex> = theirs.own_leaf_index(&group).unwrap();
        assert_eq!(gone, None);
        assert_eq!(read::<openmls::prelude::LeafNodeIndex>(Db::Sqlite(&conn), &group, "own_leaf_index").unwrap(), None);
    }
}
