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
