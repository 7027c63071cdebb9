//! openmls's group data of an in-memory provider, and the HPKE key pairs of its epochs, in a map
//! instead of SQLite pages.
//!
//! openmls rewrites a group's data on every operation: the message secrets after each message,
//! the whole ratchet tree (about 100 KB in a group of 100) after each commit. Written into the
//! in-memory SQLite database, the tree alone cost about 65 µs per commit (a hundred 1 KiB overflow
//! pages to allocate, journal and zero), a tenth of processing a self-update, against an insert
//! into a map for openmls's own in-memory storage. An in-memory provider has no file to be
//! consistent with, so its group data lives here, under the same rules as the rest of its state:
//!
//! - **Atomic.** A transaction's changes are logged ([`Undo`]) and undone unless SQLite commits
//!   the transaction ([`Undo::commit`]); a savepoint undoes back to its mark. The map is only
//!   reached by a transaction that holds the provider's connection, so one transaction at a time.
//! - **The same bytes.** Keys and values are the codec's output, exactly what the SQLite row would
//!   hold (sealed when the provider has a key), so a snapshot puts them back into
//!   `openmls_group_data` ([`GroupDataMap::export_image`]) and an import takes them out again
//!   ([`GroupDataMap::import_rows`]): snapshots keep their format.
//! - **Forward secrecy in memory.** A value that may hold a secret is zeroed when it is replaced
//!   or deleted, as `secure_delete` zeroes freed pages. The public kinds ([`PUBLIC_KINDS`]: the
//!   ratchet tree, the group context, ...) are not: zeroing the 100 KB tree byte by byte after
//!   every commit cost about 20 µs and protected nothing a member does not publish.
//!
//! The epoch key pairs (`openmls_epoch_keys_pairs` in a file) are read, written and deleted on
//! every commit, sent or received: in SQLite, three or four statements, about 20 µs of processing
//! a self-update in a group of 100. They sit here under the kind [`EPOCH_KEY_PAIRS`], keyed by
//! [`epoch_key`], secret like every kind not public, and go back to their own table in a snapshot.

use std::cell::RefCell;
use std::collections::HashMap;

use rusqlite::Connection;
use zeroize::Zeroize;

use super::db::DbError;
use super::group_data::PROVIDER_VERSION;

/// A row's key: the encoded group id and the kind of data (`"tree"`, `"message_secrets"`, …).
type Key = (Vec<u8>, &'static str);
/// The kinds of group data that hold nothing secret: every member of the group knows them (the
/// tree holds public keys, credentials and signatures; the private keys are stored elsewhere).
/// Every other kind (the message and epoch secrets, the resumption PSKs, the group state with a
/// pending commit's secrets, and any kind this version does not know) is zeroed when dropped.
pub(crate) const PUBLIC_KINDS: [&str; 6] =
    ["tree", "context", "interim_transcript_hash", "confirmation_tag", "own_leaf_index", "join_group_config"];

/// The kind under which an epoch's HPKE key pairs are kept; their key is [`epoch_key`].
pub(crate) const EPOCH_KEY_PAIRS: &str = "epoch_key_pairs";

/// The map key of one epoch's key pairs of one leaf: the encoded group id and epoch, each after
/// its length (u32, little-endian), then the leaf index.
pub(crate) fn epoch_key(group_id: &[u8], epoch: &[u8], leaf: u32) -> Vec<u8> {
    let mut key = Vec::with_capacity(group_id.len() + epoch.len() + 12);
    for part in [group_id, epoch] {
        key.extend_from_slice(&(part.len() as u32).to_le_bytes());
        key.extend_from_slice(part);
    }
    key.extend_from_slice(&leaf.to_le_bytes());
    key
}

/// The encoded group id, epoch and leaf index of an [`epoch_key`].
fn split_epoch_key(key: &[u8]) -> Option<(&[u8], &[u8], u32)> {
    let part = |rest: &[u8]| -> Option<(usize, usize)> {
        let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        (rest.len() >= 4 + len).then_some((4, 4 + len))
    };
    let (gs, ge) = part(key)?;
    let rest = &key[ge..];
    let (es, ee) = part(rest)?;
    let leaf = u32::from_le_bytes(rest.get(ee..)?.try_into().ok()?);
    Some((&key[gs..ge], &rest[es..ee], leaf))
}

/// A stored value (the codec's output), zeroed when dropped unless its kind is public.
struct Value {
    bytes: Vec<u8>,
    secret: bool,
}

impl Value {
    fn new(kind: &str, bytes: Vec<u8>) -> Self {
        Self { bytes, secret: !PUBLIC_KINDS.contains(&kind) }
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        if self.secret {
            self.bytes.zeroize();
        }
    }
}

/// The group data of one in-memory provider.
#[derive(Default)]
pub(crate) struct GroupDataMap {
    rows: parking_lot::Mutex<HashMap<Key, Value>>,
}

/// What a transaction changed in the map, to undo: each key with the value it had before.
#[derive(Default)]
pub(crate) struct Undo {
    log: RefCell<Vec<(Key, Option<Value>)>>,
}

impl Undo {
    /// Where a savepoint starts.
    pub(crate) fn mark(&self) -> usize {
        self.log.borrow().len()
    }

    /// Keeps every change (the transaction committed): the old values are dropped (and zeroed).
    pub(crate) fn commit(&self) {
        self.log.borrow_mut().clear();
    }

    /// Undoes the changes made since `mark`, newest first.
    pub(crate) fn rollback_to(&self, map: &GroupDataMap, mark: usize) {
        let mut log = self.log.borrow_mut();
        if log.len() <= mark {
            return;
        }
        let mut rows = map.rows.lock();
        for (key, old) in log.drain(mark..).rev() {
            match old {
                Some(value) => rows.insert(key, value),
                None => rows.remove(&key),
            };
        }
    }
}

impl GroupDataMap {
    /// Writes (or replaces) one kind of a group's data.
    pub(crate) fn write(&self, undo: &Undo, group_id: Vec<u8>, kind: &'static str, mut value: Vec<u8>) {
        // The codec's buffer may have room to spare (it grew by doubling, or was sized for the
        // value this one replaces); what is kept should take what it holds (a shrink is in place).
        value.shrink_to_fit();
        let key = (group_id, kind);
        let old = self.rows.lock().insert(key.clone(), Value::new(kind, value));
        undo.log.borrow_mut().push((key, old));
    }

    /// How many bytes one kind of a group's data takes, if stored.
    pub(crate) fn stored_len(&self, group_id: &[u8], kind: &'static str) -> Option<usize> {
        self.rows.lock().get(&(group_id.to_vec(), kind)).map(|v| v.bytes.len())
    }

    /// One kind of a group's data, as stored, given to `f` (no copy: a tree is large).
    pub(crate) fn read<T>(&self, group_id: Vec<u8>, kind: &'static str, f: impl FnOnce(&[u8]) -> T) -> Option<T> {
        self.rows.lock().get(&(group_id, kind)).map(|v| f(&v.bytes))
    }

    /// Deletes one kind of a group's data.
    pub(crate) fn delete(&self, undo: &Undo, group_id: Vec<u8>, kind: &'static str) {
        let key = (group_id, kind);
        if let Some(old) = self.rows.lock().remove(&key) {
            undo.log.borrow_mut().push((key, Some(old)));
        }
    }

    /// Forgets everything (the provider was closed); the values are zeroed.
    pub(crate) fn clear(&self) {
        self.rows.lock().clear();
    }

    /// Moves the group data and epoch key pair rows of a database that was just imported into
    /// this map, and deletes them from the database (`secure_delete` zeroes their pages).
    pub(crate) fn import_rows(&self, conn: &Connection) -> Result<(), DbError> {
        let mut rows = self.rows.lock();
        {
            let mut stmt = conn.prepare("SELECT group_id, data_type, group_data FROM openmls_group_data WHERE provider_version = ?1")?;
            let mut found = stmt.query([PROVIDER_VERSION])?;
            while let Some(row) = found.next()? {
                let kind: String = row.get(1)?;
                let Some(kind) = super::group_data::KINDS.iter().find(|k| **k == kind) else { continue };
                rows.insert((row.get(0)?, kind), Value::new(kind, row.get(2)?));
            }
        }
        // Only what moved: a kind this version does not know (a snapshot of a later one) stays a row.
        let mut delete = conn.prepare("DELETE FROM openmls_group_data WHERE provider_version = ?1 AND data_type = ?2")?;
        for kind in super::group_data::KINDS {
            delete.execute(rusqlite::params![PROVIDER_VERSION, kind])?;
        }
        {
            let mut stmt =
                conn.prepare("SELECT group_id, epoch_id, leaf_index, key_pairs FROM openmls_epoch_keys_pairs WHERE provider_version = ?1")?;
            let mut found = stmt.query([PROVIDER_VERSION])?;
            while let Some(row) = found.next()? {
                let (group_id, epoch, leaf): (Vec<u8>, Vec<u8>, u32) = (row.get(0)?, row.get(1)?, row.get(2)?);
                rows.insert((epoch_key(&group_id, &epoch, leaf), EPOCH_KEY_PAIRS), Value::new(EPOCH_KEY_PAIRS, row.get(3)?));
            }
        }
        conn.execute("DELETE FROM openmls_epoch_keys_pairs WHERE provider_version = ?1", [PROVIDER_VERSION])?;
        Ok(())
    }

    /// The image of `conn` (an SQLite database serialized) with this map's rows put back into
    /// `openmls_group_data` and `openmls_epoch_keys_pairs`, where `openmls_sqlite_storage` keeps
    /// them: a snapshot in the format of a file. `conn` itself is not changed.
    pub(crate) fn export_image(&self, conn: &Connection) -> Result<Vec<u8>, DbError> {
        let image = conn.serialize(rusqlite::MAIN_DB)?;
        let rows = self.rows.lock();
        if rows.is_empty() {
            return Ok(image.to_vec());
        }
        let mut copy = Connection::open_in_memory()?;
        copy.deserialize_read_exact(rusqlite::MAIN_DB, &image[..], image.len(), false)?;
        {
            let tx = copy.transaction()?;
            {
                let mut insert = tx.prepare(
                    "INSERT INTO openmls_group_data (group_id, data_type, group_data, provider_version) VALUES (?1, ?2, ?3, ?4)",
                )?;
                let mut insert_pairs = tx.prepare(
                    "INSERT INTO openmls_epoch_keys_pairs (group_id, epoch_id, leaf_index, key_pairs, provider_version) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for ((key, kind), value) in rows.iter() {
                    if *kind == EPOCH_KEY_PAIRS {
                        let (group_id, epoch, leaf) = split_epoch_key(key).ok_or(DbError::WrongType)?;
                        insert_pairs.execute(rusqlite::params![group_id, epoch, leaf, &value.bytes[..], PROVIDER_VERSION])?;
                    } else {
                        insert.execute(rusqlite::params![key, kind, &value.bytes[..], PROVIDER_VERSION])?;
                    }
                }
            }
            tx.commit()?;
        }
        let out = copy.serialize(rusqlite::MAIN_DB)?.to_vec();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{store_error, Storage, StorageOptions};
    use super::*;
    use crate::error::{Error, Result};

    fn rows_in_sqlite(image: &[u8]) -> i64 {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.deserialize_read_exact(rusqlite::MAIN_DB, image, image.len(), false).unwrap();
        conn.query_row("SELECT count(*) FROM openmls_group_data", [], |r| r.get(0)).unwrap()
    }

    /// Through the store, as openmls reaches it: a failed transaction and a failed batch item leave
    /// the map as it was, and a snapshot carries the map's rows in `openmls_group_data`, from
    /// which an import takes them back.
    #[test]
    fn an_in_memory_store_keeps_group_data_transactional_and_in_its_snapshots() {
        let storage = Storage::open(&StorageOptions::default()).unwrap();
        let group = b"group".to_vec();
        let tree = |s: &Storage| -> Option<Vec<u8>> {
            s.atomically(|st| st.read_group_data(&group, "tree").map_err(|e| store_error(&e))).unwrap()
        };
        storage.atomically(|st| st.write_group_data(&group, "tree", &vec![1u8, 2, 3]).map_err(|e| store_error(&e))).unwrap();

        let failed: Result<()> = storage.atomically(|st| {
            st.write_group_data(&group, "tree", &vec![9u8]).map_err(|e| store_error(&e))?;
            st.write_group_data(&group, "context", &vec![9u8]).map_err(|e| store_error(&e))?;
            Err(Error::internal("the operation fails after its writes"))
        });
        assert!(failed.is_err());
        assert_eq!(tree(&storage), Some(vec![1, 2, 3]), "a failed transaction changed nothing");

        storage
            .atomically(|st| {
                let item = st.savepoint(|| {
                    st.delete_group_data(&group, "tree").map_err(|e| store_error(&e))?;
                    Err::<(), _>(Error::internal("this item fails"))
                })?;
                assert!(item.is_err());
                st.write_group_data(&group, "context", &vec![5u8]).map_err(|e| store_error(&e))
            })
            .unwrap();
        assert_eq!(tree(&storage), Some(vec![1, 2, 3]), "a failed item changed nothing");

        let image = storage.export().unwrap();
        assert_eq!(rows_in_sqlite(&image), 2, "the snapshot holds the group data as rows");
        let back = Storage::import(&StorageOptions::default(), &image).unwrap();
        assert_eq!(tree(&back), Some(vec![1, 2, 3]));
        let context: Option<Vec<u8>> = back.atomically(|st| st.read_group_data(&group, "context").map_err(|e| store_error(&e))).unwrap();
        assert_eq!(context, Some(vec![5]));
        assert_eq!(rows_in_sqlite(&back.export().unwrap()), 2, "and gives them back in its own snapshot");
        let left: i64 = back
            .atomically(|st| {
                st.sql().query_row("SELECT count(*) FROM openmls_group_data", [], |r| r.get(0)).map_err(|e| Error::internal(e.to_string()))
            })
            .unwrap();
        assert_eq!(left, 0, "an imported store keeps its group data in the map only");
    }

    /// A stand-in for openmls's epochs and key pairs: any serde value goes through the same codec.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    struct V(u32);
    impl openmls_traits::storage::Key<1> for V {}
    impl openmls_traits::storage::Entity<1> for V {}
    impl openmls_traits::storage::traits::EpochKey<1> for V {}
    impl openmls_traits::storage::traits::HpkeKeyPair<1> for V {}

    /// Epoch key pairs in memory: transactional, zeroed as secrets, and in a snapshot's
    /// `openmls_epoch_keys_pairs` table as a file would hold them, from which an import takes them
    /// back into the map.
    #[test]
    fn an_in_memory_store_keeps_epoch_key_pairs_in_the_map_and_in_its_snapshots() {
        use openmls::prelude::GroupId;
        use openmls_traits::storage::StorageProvider as _;

        let storage = Storage::open(&StorageOptions::default()).unwrap();
        let group = GroupId::from_slice(b"group");
        let pairs = |s: &Storage, epoch: u32, leaf: u32| -> Vec<V> {
            s.atomically(|st| st.encryption_epoch_key_pairs(&group, &V(epoch), leaf).map_err(|e| store_error(&e))).unwrap()
        };
        storage
            .atomically(|st| {
                st.write_encryption_epoch_key_pairs(&group, &V(1), 0, &[V(10), V(11)]).map_err(|e| store_error(&e))?;
                st.write_encryption_epoch_key_pairs(&group, &V(2), 0, &[V(20)]).map_err(|e| store_error(&e))
            })
            .unwrap();
        assert_eq!(pairs(&storage, 1, 0), vec![V(10), V(11)]);
        assert!(pairs(&storage, 1, 1).is_empty(), "another leaf has none");
        let in_sql = |s: &Storage| -> i64 {
            s.atomically(|st| {
                st.sql()
                    .query_row("SELECT count(*) FROM openmls_epoch_keys_pairs", [], |r| r.get(0))
                    .map_err(|e| Error::internal(e.to_string()))
            })
            .unwrap()
        };
        assert_eq!(in_sql(&storage), 0, "no SQL row in memory");

        let failed: Result<()> = storage.atomically(|st| {
            st.delete_encryption_epoch_key_pairs(&group, &V(1), 0).map_err(|e| store_error(&e))?;
            Err(Error::internal("the operation fails after its delete"))
        });
        assert!(failed.is_err());
        assert_eq!(pairs(&storage, 1, 0), vec![V(10), V(11)], "a failed transaction deleted nothing");
        storage.atomically(|st| st.delete_encryption_epoch_key_pairs(&group, &V(1), 0).map_err(|e| store_error(&e))).unwrap();
        assert!(pairs(&storage, 1, 0).is_empty());

        let image = storage.export().unwrap();
        let mut conn = Connection::open_in_memory().unwrap();
        conn.deserialize_read_exact(rusqlite::MAIN_DB, &image[..], image.len(), false).unwrap();
        let rows: Vec<(Vec<u8>, Vec<u8>, u32)> = conn
            .prepare("SELECT group_id, epoch_id, leaf_index FROM openmls_epoch_keys_pairs")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        let (g, e) = (super::super::group_data::encode(&group).unwrap(), super::super::group_data::encode(&V(2)).unwrap());
        assert_eq!(rows, vec![(g, e, 0)], "the snapshot holds the row a file would");

        let back = Storage::import(&StorageOptions::default(), &image).unwrap();
        assert_eq!(pairs(&back, 2, 0), vec![V(20)]);
        assert_eq!(in_sql(&back), 0, "an imported store keeps its epoch key pairs in the map only");
        assert!(Value::new(EPOCH_KEY_PAIRS, vec![]).secret, "key pairs are zeroed when dropped");
    }

    /// A transaction that only touches the map (an application message) begins no SQL
    /// transaction, yet commits, fails and is discarded as one; one that also runs SQL begins it
    /// then, and both commit together.
    #[test]
    fn a_transaction_of_the_map_alone_runs_no_sql_and_is_still_atomic() {
        let storage = Storage::open(&StorageOptions::default()).unwrap();
        let group = b"group".to_vec();
        let secrets = |s: &Storage| -> Option<Vec<u8>> {
            s.atomically(|st| st.read_group_data(&group, "message_secrets").map_err(|e| store_error(&e))).unwrap()
        };
        storage
            .atomically(|st| {
                st.write_group_data(&group, "message_secrets", &vec![1u8]).map_err(|e| store_error(&e))?;
                assert!(matches!(st.slot.taken(), Some((_, false))), "the map alone begins no SQL transaction");
                Ok(())
            })
            .unwrap();
        assert_eq!(secrets(&storage), Some(vec![1]), "committed");

        let failed: Result<()> = storage.atomically(|st| {
            st.write_group_data(&group, "message_secrets", &vec![2u8]).map_err(|e| store_error(&e))?;
            Err(Error::internal("the operation fails after its write"))
        });
        assert!(failed.is_err());
        let discarded = storage.transaction(|st| {
            st.write_group_data(&group, "message_secrets", &vec![3u8]).map_err(|e| store_error(&e))?;
            Ok(((), false))
        });
        assert!(discarded.is_ok());
        assert_eq!(secrets(&storage), Some(vec![1]), "a failed or discarded transaction changed nothing");

        storage
            .atomically(|st| {
                st.write_group_data(&group, "message_secrets", &vec![4u8]).map_err(|e| store_error(&e))?;
                st.sql().execute_batch("CREATE TABLE t (x)").map_err(|e| Error::internal(e.to_string()))?;
                assert!(matches!(st.slot.taken(), Some((_, true))), "SQL begins the transaction");
                Ok(())
            })
            .unwrap();
        assert_eq!(secrets(&storage), Some(vec![4]));
        let failed: Result<()> = storage.atomically(|st| {
            st.write_group_data(&group, "message_secrets", &vec![5u8]).map_err(|e| store_error(&e))?;
            st.sql().execute_batch("INSERT INTO t VALUES (1)").map_err(|e| Error::internal(e.to_string()))?;
            Err(Error::internal("the operation fails after both writes"))
        });
        assert!(failed.is_err());
        assert_eq!(secrets(&storage), Some(vec![4]), "the map rolled back with SQLite");
        let rows: i64 = storage
            .atomically(|st| st.sql().query_row("SELECT count(*) FROM t", [], |r| r.get(0)).map_err(|e| Error::internal(e.to_string())))
            .unwrap();
        assert_eq!(rows, 0, "and SQLite with the map");
    }

    #[test]
    fn an_epoch_key_splits_into_its_parts() {
        let key = epoch_key(b"group id", b"", 7);
        assert_eq!(split_epoch_key(&key), Some((&b"group id"[..], &b""[..], 7)));
        assert_eq!(split_epoch_key(&key[..key.len() - 1]), None);
    }

    /// The public kinds are kinds openmls stores, and what holds secrets is zeroed.
    #[test]
    fn only_the_public_kinds_skip_zeroing() {
        for kind in PUBLIC_KINDS {
            assert!(super::super::group_data::KINDS.contains(&kind), "{kind} is not a kind of group data");
        }
        for kind in ["message_secrets", "group_epoch_secrets", "resumption_psk_store", "group_state", "a later kind"] {
            assert!(Value::new(kind, vec![]).secret, "{kind} must be zeroed");
        }
        assert!(!Value::new("tree", vec![]).secret);
    }

    fn value(map: &GroupDataMap, kind: &'static str) -> Option<Vec<u8>> {
        map.read(b"g".to_vec(), kind, <[u8]>::to_vec)
    }

    #[test]
    fn a_rollback_restores_what_the_transaction_changed_and_a_commit_keeps_it() {
        let map = GroupDataMap::default();
        let undo = Undo::default();
        map.write(&undo, b"g".to_vec(), "tree", vec![1]);
        undo.commit();

        map.write(&undo, b"g".to_vec(), "tree", vec![2]);
        map.write(&undo, b"g".to_vec(), "context", vec![3]);
        let mark = undo.mark();
        map.delete(&undo, b"g".to_vec(), "tree");
        map.write(&undo, b"g".to_vec(), "context", vec![4]);
        assert_eq!(value(&map, "tree"), None);
        undo.rollback_to(&map, mark);
        assert_eq!(value(&map, "tree"), Some(vec![2]), "back to the savepoint");
        assert_eq!(value(&map, "context"), Some(vec![3]));
        undo.rollback_to(&map, 0);
        assert_eq!(value(&map, "tree"), Some(vec![1]), "back to the start of the transaction");
        assert_eq!(value(&map, "context"), None);

        map.write(&undo, b"g".to_vec(), "tree", vec![5]);
        undo.commit();
        undo.rollback_to(&map, 0);
        assert_eq!(value(&map, "tree"), Some(vec![5]), "a committed change stays");
    }
}
