//! PostgreSQL storage: the same tables, rows and codec as the SQLite store, in a schema of a
//! PostgreSQL database that several processes (on several hosts) share.
//!
//! - **A pool per provider.** A transaction takes a connection for its whole length (`BEGIN` …
//!   `COMMIT`), so operations on different groups run in parallel, each on its own connection.
//! - **One writer per group.** Every operation on a group first takes a transaction-scoped
//!   advisory lock on it (`pg_advisory_xact_lock`), held until its commit or rollback, so two
//!   processes never act on one group at once ([`claim_group`]).
//! - **Stale copies reload.** Each committed operation on a group stores a fresh random token; a
//!   handle whose last token differs from the stored one reloads the group before it acts.
//! - **TLS** where the server offers or requires it, with rustls: the server's certificate is
//!   verified (Mozilla roots, plus the application's CA).
//! - **Connection loss.** A connection that breaks rolls its transaction back on the server; the
//!   call fails with `ERR_STORAGE_UNAVAILABLE`, the broken connection is dropped, and the next
//!   call connects again.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use postgres::Client;
use sha2::{Digest, Sha256};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::db::{Arg, Db, DbError, PgSession};
use super::{check_key, newer_format, seal, CodecKey, FORMAT_NAME, FORMAT_VERSION, KEY_CHECK};
use crate::error::{Error, ErrorCode, Result};

/// Where a PostgreSQL store lives.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// A libpq-style connection string (`host=/tmp port=5432 dbname=mls` or `postgresql://…`).
    pub connection_string: String,
    /// The schema that holds the tables; created if missing. `public` when absent.
    pub schema: Option<String>,
    /// The most connections this provider opens at once (default 4).
    pub max_connections: u32,
    /// How long an operation waits for a connection, or to connect (default 10 s).
    pub connect_timeout: Duration,
    /// Certificates (PEM) to trust for the server's TLS certificate, besides the Mozilla roots:
    /// a private CA, or the server's own self-signed certificate.
    pub tls_ca: Option<Vec<u8>>,
}

impl PostgresOptions {
    /// Options with the defaults.
    pub fn new(connection_string: impl Into<String>) -> Self {
        PostgresOptions {
            connection_string: connection_string.into(),
            schema: None,
            max_connections: 4,
            connect_timeout: Duration::from_secs(10),
            tls_ca: None,
        }
    }
}

/// A provider's connections to one PostgreSQL database.
pub(crate) struct PgPool {
    config: postgres::Config,
    tls: MakeRustlsConnect,
    schema: String,
    max: u32,
    wait: Duration,
    /// Idle connections, each with the statements it has prepared (kept across transactions).
    idle: Mutex<Vec<PgSession>>,
    open: AtomicU32,
    freed: Condvar,
    closed: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for PgPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection string may hold a password: only the schema is shown.
        f.debug_struct("PgPool").field("schema", &self.schema).finish()
    }
}

/// The error code and whether it is a fault, for an error of the PostgreSQL client.
pub(super) fn classify(err: &postgres::Error) -> (Error, bool) {
    use postgres::error::SqlState;
    if lost_connection(err) {
        return (
            Error::new(ErrorCode::StorageUnavailable, "storage: the connection to PostgreSQL was lost; nothing of the operation was saved"),
            true,
        );
    }
    let code = err.code();
    let mapped = match code {
        Some(c) if *c == SqlState::DISK_FULL || *c == SqlState::OUT_OF_MEMORY => ErrorCode::StorageFull,
        Some(c) if *c == SqlState::READ_ONLY_SQL_TRANSACTION => ErrorCode::StorageReadOnly,
        Some(c)
            if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::LOCK_NOT_AVAILABLE =>
        {
            ErrorCode::StorageLocked
        }
        Some(c) if *c == SqlState::ADMIN_SHUTDOWN || *c == SqlState::CRASH_SHUTDOWN || *c == SqlState::CANNOT_CONNECT_NOW => {
            ErrorCode::StorageUnavailable
        }
        _ => ErrorCode::Storage,
    };
    // The server's message names the statement's problem, never a value.
    let message = err.as_db_error().map_or_else(|| err.to_string(), |db| db.message().to_string());
    (Error::new(mapped, format!("storage: {message}")), mapped != ErrorCode::Storage)
}

/// Whether the error is the connection's (closed, or an I/O failure) rather than a statement's.
fn lost_connection(err: &postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        if inner.is::<std::io::Error>() {
            return true;
        }
        source = inner.source();
    }
    false
}

const TLS_HINT: &str = "give the server's CA in tls.ca, or sslmode=disable on a trusted network";

/// Why a connection could not be made, without the connection string (it may hold a password).
fn connect_failure(err: &postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        return format!("storage: PostgreSQL refused the connection ({})", db.message());
    }
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        let tls = inner
            .downcast_ref::<rustls::Error>()
            .or_else(|| inner.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).and_then(|e| e.downcast_ref::<rustls::Error>()));
        if let Some(tls) = tls {
            return format!("storage: the TLS handshake with PostgreSQL failed ({tls}); {TLS_HINT}");
        }
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            return format!("storage: cannot connect to PostgreSQL ({io})");
        }
        source = inner.source();
    }
    "storage: cannot connect to PostgreSQL".into()
}

/// TLS for connections whose server offers it (`sslmode=prefer`, the default) or must
/// (`sslmode=require`): rustls, verifying the server's certificate and name against the Mozilla
/// roots and `ca`. A Unix-socket connection does not use TLS.
fn tls_connector(ca: Option<&[u8]>) -> Result<MakeRustlsConnect> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(pem) = ca {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|_| Error::invalid_argument("tls.ca must be PEM certificates"))?;
            roots.add(cert).map_err(|e| Error::invalid_argument(format!("tls.ca holds a certificate rustls cannot use ({e})")))?;
            added += 1;
        }
        if added == 0 {
            return Err(Error::invalid_argument("tls.ca holds no PEM certificate"));
        }
    }
    // ring rather than aws-lc-rs: it cross-builds for every target of the matrix without cmake.
    #[allow(deprecated)]
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS configuration: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

fn pg_error(err: postgres::Error) -> Error {
    classify(&err).0
}

/// A schema name this crate can put into SQL unquoted: letters, digits and `_`, not starting
/// with a digit.
fn check_schema(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_argument("the PostgreSQL schema must be 1 to 63 letters, digits or underscores, not starting with a digit"))
    }
}

/// The tables: those of `openmls_sqlite_storage` (BYTEA for BLOB, BIGINT for INTEGER) and this
/// crate's own. `{s}` is the schema.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS openmls_node_meta (name TEXT PRIMARY KEY, value BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS openmls_encryption_keys (provider_version BIGINT NOT NULL, public_key BYTEA PRIMARY KEY, key_pair BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS openmls_epoch_keys_pairs (provider_version BIGINT NOT NULL, group_id BYTEA NOT NULL, epoch_id BYTEA NOT NULL,
    leaf_index BIGINT NOT NULL, key_pairs BYTEA NOT NULL, PRIMARY KEY (group_id, epoch_id, leaf_index));
CREATE TABLE IF NOT EXISTS openmls_group_data (provider_version BIGINT NOT NULL, group_id BYTEA NOT NULL, data_type TEXT NOT NULL,
    group_data BYTEA NOT NULL, PRIMARY KEY (group_id, data_type));
CREATE TABLE IF NOT EXISTS openmls_key_packages (provider_version BIGINT NOT NULL, key_package_ref BYTEA PRIMARY KEY, key_package BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS openmls_own_leaf_nodes (provider_version BIGINT NOT NULL, id BIGSERIAL PRIMARY KEY, group_id BYTEA NOT NULL, leaf_node BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS openmls_proposals (provider_version BIGINT NOT NULL, group_id BYTEA NOT NULL, proposal_ref BYTEA NOT NULL,
    proposal BYTEA NOT NULL, PRIMARY KEY (group_id, proposal_ref));
CREATE TABLE IF NOT EXISTS openmls_psks (provider_version BIGINT NOT NULL, psk_id BYTEA PRIMARY KEY, psk_bundle BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS openmls_signature_keys (provider_version BIGINT NOT NULL, public_key BYTEA PRIMARY KEY, signature_key BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS openmls_node_groups (group_id BYTEA PRIMARY KEY);
CREATE TABLE IF NOT EXISTS openmls_node_identity (id BIGINT PRIMARY KEY CHECK (id = 1), identity BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS openmls_node_public_groups (group_id BYTEA PRIMARY KEY, group_info BYTEA);
CREATE TABLE IF NOT EXISTS openmls_node_group_settings (group_id BYTEA PRIMARY KEY, settings BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS openmls_node_future_messages (id BIGSERIAL PRIMARY KEY, group_id BYTEA NOT NULL, message BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS openmls_node_group_tokens (group_id BYTEA PRIMARY KEY, token BIGINT NOT NULL);
";

impl PgPool {
    /// Connects, creates the schema and tables if missing (under a lock, so processes that open
    /// a fresh database at once do not race), and checks the format and the key.
    pub(super) fn open(options: &PostgresOptions, key: Option<&CodecKey>) -> Result<Self> {
        let schema = options.schema.clone().unwrap_or_else(|| "public".into());
        check_schema(&schema)?;
        if options.max_connections == 0 {
            return Err(Error::invalid_argument("maxConnections must be at least 1"));
        }
        let mut config: postgres::Config = options
            .connection_string
            .parse()
            // The parser's message may quote the string, password included.
            .map_err(|_| Error::invalid_argument("the PostgreSQL connection string does not parse"))?;
        config.connect_timeout(options.connect_timeout);
        config.application_name("openmls-node");
        let tls = tls_connector(options.tls_ca.as_deref())?;
        let pool = PgPool {
            config,
            tls,
            schema,
            max: options.max_connections,
            wait: options.connect_timeout,
            idle: Mutex::new(Vec::new()),
            open: AtomicU32::new(0),
            freed: Condvar::new(),
            closed: std::sync::atomic::AtomicBool::new(false),
        };
        let mut session = pool.take()?;
        let set_up = pool.set_up(session.client.get_mut(), key);
        pool.give_back(session);
        set_up?;
        Ok(pool)
    }

    fn connect(&self) -> Result<Client> {
        let mut client =
            self.config.connect(self.tls.clone()).map_err(|e| Error::new(ErrorCode::StorageUnavailable, connect_failure(&e)))?;
        client.batch_execute(&format!("SET search_path TO {}", self.schema)).map_err(pg_error)?;
        Ok(client)
    }

    /// A connection: an idle one, a new one while fewer than the maximum are open, or the next
    /// one given back.
    pub(crate) fn take(&self) -> Result<PgSession> {
        let deadline = std::time::Instant::now() + self.wait;
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            while let Some(session) = idle.pop() {
                if !session.client.borrow().is_closed() {
                    return Ok(session);
                }
                self.open.fetch_sub(1, Ordering::SeqCst);
            }
            if self.open.load(Ordering::SeqCst) < self.max {
                self.open.fetch_add(1, Ordering::SeqCst);
                drop(idle);
                return self.connect().map(PgSession::new).inspect_err(|_| {
                    self.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return Err(Error::new(ErrorCode::StorageUnavailable, "storage: every PostgreSQL connection of this provider stayed busy"));
            }
            idle = self.freed.wait_timeout(idle, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Gives a connection back; a broken one is dropped, and the next take connects anew.
    pub(crate) fn give_back(&self, session: PgSession) {
        if session.client.borrow().is_closed() || self.closed.load(Ordering::SeqCst) {
            self.open.fetch_sub(1, Ordering::SeqCst);
        } else {
            self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(session);
        }
        self.freed.notify_one();
    }

    /// Closes the idle connections; those in use close when given back.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|e| e.into_inner()));
        self.open.fetch_sub(idle.len() as u32, Ordering::SeqCst);
        drop(idle);
    }

    fn set_up(&self, client: &mut Client, key: Option<&CodecKey>) -> Result<()> {
        let mut tx = client.transaction().map_err(pg_error)?;
        // One opener at a time sets up a database: a fixed advisory lock for the set-up.
        tx.batch_execute(&format!(
            "SELECT pg_advisory_xact_lock(7450102001); CREATE SCHEMA IF NOT EXISTS {s}; SET LOCAL search_path TO {s};",
            s = self.schema
        ))
        .map_err(pg_error)?;
        tx.batch_execute(SCHEMA).map_err(pg_error)?;
        let get = |tx: &mut postgres::Transaction<'_>, name: &str| -> Result<Option<Vec<u8>>> {
            Ok(tx.query_opt("SELECT value FROM openmls_node_meta WHERE name = $1", &[&name]).map_err(pg_error)?.map(|r| r.get(0)))
        };
        match get(&mut tx, "format")? {
            None => {
                let key_check = key.map(|k| seal(k, KEY_CHECK)).unwrap_or_default();
                let version = FORMAT_VERSION.to_be_bytes().to_vec();
                for (name, value) in [("format", FORMAT_NAME.to_vec()), ("format_version", version), ("key_check", key_check)] {
                    tx.execute("INSERT INTO openmls_node_meta (name, value) VALUES ($1, $2)", &[&name, &value]).map_err(pg_error)?;
                }
            }
            Some(f) if f == FORMAT_NAME => {
                let version = get(&mut tx, "format_version")?
                    .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
                    .map(i64::from_be_bytes)
                    .ok_or_else(|| Error::new(ErrorCode::StorageCorrupt, "the database's format version is unreadable"))?;
                if version > FORMAT_VERSION {
                    return Err(newer_format(version));
                }
                let check = get(&mut tx, "key_check")?
                    .ok_or_else(|| Error::new(ErrorCode::StorageCorrupt, "the database's key check is missing"))?;
                check_key(key, &check)?;
            }
            Some(_) => {
                return Err(Error::new(ErrorCode::StorageCorrupt, "this schema belongs to another application (no openmls-node metadata)"))
            }
        }
        tx.commit().map_err(pg_error)
    }
}

/// What [`claim_group`] found: the token the group's last committed operation stored (0 if none),
/// and the one this transaction stores in its place.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Claim {
    pub(crate) seen: i64,
    pub(crate) next: i64,
}

/// The token the group's last committed operation stored (0 if none), without taking its lock:
/// for an operation that only reads, to bring a stale copy up to date first.
pub(crate) fn stored_token(db: Db<'_>, group_key: &[u8]) -> std::result::Result<i64, DbError> {
    let rows = db.rows("SELECT token FROM openmls_node_group_tokens WHERE group_id = $1", &[Arg::Bytes(group_key)])?;
    Ok(match rows.into_iter().next().and_then(|r| r.into_iter().next()) {
        Some(super::db::Cell::Int(t)) => t,
        _ => 0,
    })
}

/// Takes the group's lock for the rest of the transaction and swaps its token (callers go through
/// `Tx::claim_group`, which does nothing on SQLite).
pub(crate) fn claim_group(db: Db<'_>, group_key: &[u8]) -> std::result::Result<Claim, DbError> {
    let digest = Sha256::digest(group_key);
    let lock = i64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 digest has 8 bytes"));
    db.run("SELECT pg_advisory_xact_lock($1)", &[Arg::Int(lock)])?;
    let seen = stored_token(db, group_key)?;
    let next = loop {
        let mut b = [0u8; 8];
        getrandom_bytes(&mut b);
        let t = i64::from_be_bytes(b);
        if t != 0 && t != seen {
            break t;
        }
    };
    db.run(
        "INSERT INTO openmls_node_group_tokens (group_id, token) VALUES ($1, $2) ON CONFLICT (group_id) DO UPDATE SET token = excluded.token",
        &[Arg::Bytes(group_key), Arg::Int(next)],
    )?;
    Ok(Claim { seen, next })
}

fn getrandom_bytes(out: &mut [u8]) {
    use openmls_traits::random::OpenMlsRand as _;
    let rng = openmls_rust_crypto::RustCrypto::default();
    let bytes: [u8; 8] = rng.random_array().expect("the system RNG works");
    out.copy_from_slice(&bytes[..out.len()]);
}

/// Starts a transaction on a connection taken from the pool.
pub(crate) fn begin(pool: &PgPool) -> Result<PgSession> {
    let session = pool.take()?;
    let begun = session.client.borrow_mut().batch_execute("BEGIN");
    if let Err(e) = begun {
        pool.give_back(session);
        return Err(pg_error(e));
    }
    Ok(session)
}

/// Ends a transaction: commits it (`commit`) or rolls it back, and gives the connection back.
pub(crate) fn end(pool: &PgPool, session: PgSession, commit: bool) -> Result<()> {
    let result = {
        let mut client = session.client.borrow_mut();
        end_on(&mut client, commit)
    };
    pool.give_back(session);
    result
}

fn end_on(client: &mut Client, commit: bool) -> Result<()> {
    if commit {
        client.batch_execute("COMMIT").map_err(|e| {
            let mut error = pg_error(e);
            if error.code == ErrorCode::StorageUnavailable {
                error.message = "storage: the connection to PostgreSQL was lost while committing; whether the operation was saved is unknown, and the group reloads before its next operation".into();
            }
            error
        })
    } else {
        // Fails harmlessly on a broken connection: the server rolled back already.
        let _ = client.batch_execute("ROLLBACK");
        Ok(())
    }
}

/// The savepoint statements of a batch item, on either backend.
pub(crate) fn savepoint(db: Db<'_>, sql: &str) -> std::result::Result<(), DbError> {
    match db {
        Db::Sqlite(conn) => conn.execute_batch(sql).map_err(DbError::from),
        Db::Postgres(pg) => pg.client.borrow_mut().batch_execute(sql).map_err(DbError::from),
    }
}
