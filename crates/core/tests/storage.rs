//! Opening storage: the files a provider must refuse, and what it must keep.

use openmls_node_core::storage::StorageOptions;
use openmls_node_core::{CryptoProviderKind, ErrorCode, Provider};

fn open(path: &std::path::Path, key: Option<[u8; 32]>) -> openmls_node_core::Result<Provider> {
    Provider::open(
        CryptoProviderKind::RustCrypto,
        &StorageOptions { path: Some(path.to_path_buf()), key: key.map(|k| k.to_vec()), ..Default::default() },
    )
}

fn code(r: openmls_node_core::Result<Provider>) -> ErrorCode {
    r.map(|_| ()).unwrap_err().code
}

#[test]
fn garbage_truncated_foreign_and_future_files_are_refused_with_typed_errors() {
    let dir = tempfile::tempdir().unwrap();

    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x5a; 8192]).unwrap();
    assert_eq!(code(open(&garbage, None)), ErrorCode::StorageCorrupt);

    let foreign = dir.path().join("foreign.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices VALUES (1, 9.5);")
        .unwrap();
    assert_eq!(code(open(&foreign, None)), ErrorCode::StorageCorrupt);

    let real = dir.path().join("real.db");
    open(&real, None).unwrap().close().unwrap();
    let bytes = std::fs::read(&real).unwrap();
    let truncated = dir.path().join("truncated.db");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    assert_eq!(code(open(&truncated, None)), ErrorCode::StorageCorrupt);

    let future = dir.path().join("future.db");
    std::fs::write(&future, &bytes).unwrap();
    rusqlite::Connection::open(&future)
        .unwrap()
        .execute("UPDATE openmls_node_meta SET value = 99 WHERE name = 'format_version'", [])
        .unwrap();
    assert_eq!(code(open(&future, None)), ErrorCode::StorageVersion);
}

#[test]
fn keys_must_match_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("enc.db");
    open(&path, Some([7; 32])).unwrap().close().unwrap();
    assert_eq!(code(open(&path, Some([8; 32]))), ErrorCode::WrongStorageKey);
    assert_eq!(code(open(&path, None)), ErrorCode::WrongStorageKey);
    open(&path, Some([7; 32])).unwrap().close().unwrap();
    let plain = dir.path().join("plain.db");
    open(&plain, None).unwrap().close().unwrap();
    assert_eq!(code(open(&plain, Some([7; 32]))), ErrorCode::WrongStorageKey);
}

#[test]
fn one_provider_at_a_time_per_file_and_a_closed_provider_refuses_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.db");
    let first = open(&path, None).unwrap();
    assert_eq!(code(open(&path, None)), ErrorCode::StorageLocked);
    first.close().unwrap();
    let again = open(&path, None).unwrap();
    again.close().unwrap();
    let err = openmls_node_core::psk::store_external_psk(&again, b"id", b"secret").unwrap_err();
    assert_eq!(err.code, ErrorCode::StorageClosed);
}

// ----------------------------------------------------------------------------------------------
// Faults (issue #9): every one is a typed error, and no failed open keeps the file.

use std::sync::Arc;

use openmls_node_core::config::CreateConfigSpec;
use openmls_node_core::group::{CreateOptions, Group};
use openmls_node_core::identity::{basic_credential_with_key, generate_signer};
use openmls_node_core::registry;

/// Opens with panics caught, as at the N-API boundary (which reports them as `ERR_INTERNAL`).
/// Not with `guard::guarded`: its quiet panic hook would hide the assertion messages of every test.
fn open_guarded(path: &std::path::Path, key: Option<[u8; 32]>) -> openmls_node_core::Result<Provider> {
    std::panic::catch_unwind(|| open(path, key)).unwrap_or_else(|_| Err(openmls_node_core::Error::internal("panic while opening")))
}

fn sql(path: &std::path::Path, statement: &str) {
    rusqlite::Connection::open(path).unwrap().execute_batch(statement).unwrap();
}

/// A provider with one group, closed; returns the group id.
fn file_with_group(path: &std::path::Path, key: Option<[u8; 32]>) -> Vec<u8> {
    let provider = Arc::new(open(path, key).unwrap());
    let scheme = provider.ciphersuite(1).unwrap().signature_algorithm();
    let signer = Arc::new(generate_signer(scheme).unwrap());
    let credential = basic_credential_with_key(b"alice", &signer);
    let group = Group::create(
        provider.clone(),
        signer.clone(),
        credential.clone(),
        CreateOptions { group_id: Some(b"group-1".to_vec()), config: CreateConfigSpec { ciphersuite: 1, ..Default::default() } },
    )
    .unwrap();
    let info = openmls_node_core::identity::CredentialInfo::from(&credential.credential);
    registry::set_identity(&provider, &signer, &info).unwrap();
    let id = group.group_id().unwrap();
    provider.close().unwrap();
    id
}

#[test]
fn a_damaged_migration_history_is_corrupt_without_a_panic_and_the_file_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.db");
    open(&good, None).unwrap().close().unwrap();
    let pristine = std::fs::read(&good).unwrap();
    let damage = [
        "UPDATE openmls_sqlite_storage_migrations SET applied_on = 'yesterday' WHERE version = 1",
        "UPDATE openmls_sqlite_storage_migrations SET applied_on = '2025-02-30T10:00:00Z' WHERE version = 2",
        "UPDATE openmls_sqlite_storage_migrations SET applied_on = NULL WHERE version = 2",
        "UPDATE openmls_sqlite_storage_migrations SET checksum = 'not a number' WHERE version = 1",
        "UPDATE openmls_sqlite_storage_migrations SET checksum = '-1' WHERE version = 3",
        "UPDATE openmls_sqlite_storage_migrations SET checksum = '12345' WHERE version = 3",
        "UPDATE openmls_sqlite_storage_migrations SET checksum = 12345 WHERE version = 3",
        "UPDATE openmls_sqlite_storage_migrations SET version = 'one' WHERE version = 1",
        "UPDATE openmls_sqlite_storage_migrations SET version = 99999999999 WHERE version = 1",
        "UPDATE openmls_sqlite_storage_migrations SET name = NULL WHERE version = 1",
        "UPDATE openmls_sqlite_storage_migrations SET name = 'renamed' WHERE version = 1",
        "ALTER TABLE openmls_sqlite_storage_migrations DROP COLUMN checksum",
    ];
    for (i, statement) in damage.iter().enumerate() {
        let path = dir.path().join(format!("damaged-{i}.db"));
        std::fs::write(&path, &pristine).unwrap();
        sql(&path, statement);
        assert_eq!(code(open_guarded(&path, None)), ErrorCode::StorageCorrupt, "{statement}");
        // The failed open released the file: the same process gets the same answer, not ERR_STORAGE_LOCKED.
        assert_eq!(code(open_guarded(&path, None)), ErrorCode::StorageCorrupt, "{statement}, again");
        std::fs::write(&path, &pristine).unwrap();
        open_guarded(&path, None).unwrap().close().unwrap();
    }
}

#[test]
fn files_that_are_not_databases_are_refused_whatever_their_size_and_an_empty_file_is_a_new_database() {
    let dir = tempfile::tempdir().unwrap();
    for size in [1usize, 2, 100, 511, 512, 4096] {
        let path = dir.path().join(format!("garbage-{size}.db"));
        let garbage: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
        std::fs::write(&path, &garbage).unwrap();
        assert_eq!(code(open_guarded(&path, None)), ErrorCode::StorageCorrupt, "{size} bytes");
        assert_eq!(std::fs::read(&path).unwrap(), garbage, "a {size}-byte file was overwritten");
        // Refused again, not locked: the failed open released the path.
        assert_eq!(code(open_guarded(&path, None)), ErrorCode::StorageCorrupt, "{size} bytes, again");
    }
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let id = file_with_group(&empty, Some([3; 32]));
    let provider = Arc::new(open(&empty, Some([3; 32])).unwrap());
    assert_eq!(registry::list_groups(&provider).unwrap(), vec![id]);
    provider.close().unwrap();
}

/// SQL for `column` with its byte at (1-based) position `at` changed: set to 0, or to 1 where it
/// was 0 already (sealed values are random bytes, so a fixed replacement would sometimes change
/// nothing).
fn changed_byte(column: &str, at: u32) -> String {
    format!(
        "CAST(substr({column}, 1, {before}) || CASE WHEN substr({column}, {at}, 1) = x'00' THEN x'01' ELSE x'00' END || substr({column}, {after}) AS BLOB)",
        before = at - 1,
        after = at + 1
    )
}

#[test]
fn a_stored_value_that_does_not_open_with_the_right_key_is_corruption_not_a_wrong_key() {
    let dir = tempfile::tempdir().unwrap();
    for key in [Some([5u8; 32]), None] {
        let path = dir.path().join(format!("tampered-{}.db", key.is_some()));
        let id = file_with_group(&path, key);
        // Change one byte in the middle of the stored tree and identity (the values stay blobs).
        sql(
            &path,
            &format!(
                "UPDATE openmls_group_data SET group_data = {} WHERE data_type = 'tree'; UPDATE openmls_node_identity SET identity = {};",
                changed_byte("group_data", 41),
                changed_byte("identity", 41)
            ),
        );
        let provider = Arc::new(open(&path, key).unwrap());
        let err = openmls_node_core::group::Group::load(provider.clone(), &id).unwrap_err();
        assert_eq!(err.code, ErrorCode::StorageCorrupt, "{key:?}: {err}");
        assert_eq!(registry::identity(&provider).unwrap_err().code, ErrorCode::StorageCorrupt);
        provider.close().unwrap();
        sql(&path, &format!("UPDATE openmls_node_groups SET group_id = {}", changed_byte("group_id", 11)));
        let provider = Arc::new(open(&path, key).unwrap());
        assert_eq!(registry::list_groups(&provider).unwrap_err().code, ErrorCode::StorageCorrupt);
        provider.close().unwrap();
        if key.is_some() {
            // Only a wrong key is a wrong key.
            assert_eq!(code(open(&path, Some([6; 32]))), ErrorCode::WrongStorageKey);
        }
    }
}

#[test]
fn snapshots_of_file_backed_providers_import_with_their_key() {
    let dir = tempfile::tempdir().unwrap();
    for key in [None, Some([9u8; 32])] {
        let path = dir.path().join(format!("snap-{}.db", key.is_some()));
        let id = file_with_group(&path, key);
        let provider = open(&path, key).unwrap();
        let snapshot = provider.export_snapshot().unwrap();
        provider.close().unwrap();
        assert_eq!(&snapshot[18..20], &[1, 1], "exported as a rollback-journal image");
        let restored = Arc::new(Provider::import_snapshot(CryptoProviderKind::RustCrypto, &snapshot, key.map(|k| k.to_vec())).unwrap());
        assert_eq!(registry::list_groups(&restored).unwrap(), vec![id.clone()]);
        let group = openmls_node_core::group::Group::load(restored.clone(), &id).unwrap();
        assert_eq!(group.epoch().unwrap(), 0);
        group.create_message(b"from the snapshot", None).unwrap();
        // An imported snapshot exports and imports again.
        let again = restored.export_snapshot().unwrap();
        let twice = Arc::new(Provider::import_snapshot(CryptoProviderKind::RustCrypto, &again, key.map(|k| k.to_vec())).unwrap());
        assert_eq!(registry::list_groups(&twice).unwrap(), vec![id.clone()]);
        // A snapshot as earlier versions exported it, still marked as a WAL database, imports too.
        let mut wal_marked = snapshot.clone();
        wal_marked[18..20].copy_from_slice(&[2, 2]);
        let old = Arc::new(Provider::import_snapshot(CryptoProviderKind::RustCrypto, &wal_marked, key.map(|k| k.to_vec())).unwrap());
        assert_eq!(registry::list_groups(&old).unwrap(), vec![id.clone()]);
        if key.is_some() {
            for wrong in [None, Some(vec![10u8; 32])] {
                let err = Provider::import_snapshot(CryptoProviderKind::RustCrypto, &snapshot, wrong).unwrap_err();
                assert_eq!(err.code, ErrorCode::WrongStorageKey);
            }
        }
    }
    for bad in [&b""[..], b"SQLite format 3\0", &[0u8; 4096][..]] {
        let err = Provider::import_snapshot(CryptoProviderKind::RustCrypto, bad, None).unwrap_err();
        assert_eq!(err.code, ErrorCode::StorageCorrupt);
    }
}
