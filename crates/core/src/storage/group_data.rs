//! openmls's group data (tree, context, message secrets, ...), read and written with cached
//! statements.
//!
//! `openmls_sqlite_storage` prepares its SQL anew on every call; for the message secrets, written
//! once per application message sent or received, parsing the statement cost about as much as
//! running it. These functions use the same table, rows, values and codec as
//! `openmls_sqlite_storage`'s group data, through rusqlite's statement cache, so either can read
//! what the other wrote (tested below).

use openmls_traits::storage::CURRENT_VERSION;
use rusqlite::types::Type;
use rusqlite::{params, Connection, OptionalExtension as _};
use serde::{de::DeserializeOwned, Serialize};

use super::NodeCodec;
use openmls_sqlite_storage::Codec as _;

/// The storage provider version `openmls_sqlite_storage` writes into each row.
pub(super) const PROVIDER_VERSION: u16 = CURRENT_VERSION;

pub(super) fn encode(value: &impl Serialize) -> rusqlite::Result<Vec<u8>> {
    NodeCodec::to_vec(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

/// Writes (or replaces) one kind of a group's data.
///
/// The row ends as `openmls_sqlite_storage`'s `INSERT OR REPLACE` leaves it, but an existing row
/// is updated where it is: a replace deletes the row and its primary-key entry and inserts both
/// again, and any insert evaluates the table's `CHECK (data_type IN (...))`, which builds a
/// temporary table each time. An update of the value alone does neither.
pub(super) fn write(conn: &Connection, group_id: &impl Serialize, kind: &str, value: &impl Serialize) -> rusqlite::Result<()> {
    let (group_id, value) = (encode(group_id)?, encode(value)?);
    let updated = conn
        .prepare_cached("UPDATE openmls_group_data SET group_data = ?, provider_version = ? WHERE group_id = ? AND data_type = ?")?
        .execute(params![value, PROVIDER_VERSION, group_id, kind])?;
    if updated == 0 {
        conn.prepare_cached("INSERT INTO openmls_group_data (group_id, data_type, group_data, provider_version) VALUES (?, ?, ?, ?)")?
            .execute(params![group_id, kind, value, PROVIDER_VERSION])?;
    }
    Ok(())
}

/// Reads one kind of a group's data, if stored.
pub(super) fn read<T: DeserializeOwned>(conn: &Connection, group_id: &impl Serialize, kind: &str) -> rusqlite::Result<Option<T>> {
    let group_id = encode(group_id)?;
    let mut stmt =
        conn.prepare_cached("SELECT group_data FROM openmls_group_data WHERE group_id = ? AND data_type = ? AND provider_version = ?")?;
    stmt.query_row(params![group_id, kind, PROVIDER_VERSION], |row| {
        let blob = row.get_ref(0)?.as_blob()?;
        NodeCodec::from_slice(blob).map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, Type::Blob, Box::new(e)))
    })
    .optional()
}

/// Deletes one kind of a group's data.
pub(super) fn delete(conn: &Connection, group_id: &impl Serialize, kind: &str) -> rusqlite::Result<()> {
    let group_id = encode(group_id)?;
    conn.prepare_cached("DELETE FROM openmls_group_data WHERE group_id = ? AND data_type = ? AND provider_version = ?")?
        .execute(params![group_id, kind, PROVIDER_VERSION])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use openmls::prelude::GroupId;
    use openmls_sqlite_storage::SqliteStorageProvider;
    use openmls_traits::storage::StorageProvider as _;

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
        assert_eq!(read::<openmls::prelude::LeafNodeIndex>(&conn, &group, "own_leaf_index").unwrap(), Some(tag));

        write(&conn, &group, "own_leaf_index", &openmls::prelude::LeafNodeIndex::new(9)).unwrap();
        let back: Option<openmls::prelude::LeafNodeIndex> = theirs.own_leaf_index(&group).unwrap();
        assert_eq!(back, Some(openmls::prelude::LeafNodeIndex::new(9)));
        let rows: i64 = conn.query_row("SELECT count(*) FROM openmls_group_data", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 1, "a write here replaces the row openmls_sqlite_storage wrote");

        delete(&conn, &group, "own_leaf_index").unwrap();
        let gone: Option<openmls::prelude::LeafNodeIndex> = theirs.own_leaf_index(&group).unwrap();
        assert_eq!(gone, None);
        assert_eq!(read::<openmls::prelude::LeafNodeIndex>(&conn, &group, "own_leaf_index").unwrap(), None);
    }
}
