import { assertBytes, call, callAsync, OpenMlsError } from './errors.js'
import { native } from './native.js'
import type { Ciphersuite } from './ciphersuite.js'
import { credentialFromNative, credentialToNative, type Credential } from './credential.js'
import { lifetimeFromNative } from './extensions.js'
import { MlsGroup } from './mls-group.js'
import { optionalInteger, seconds, U32 } from './numbers.js'
import { toHex } from './hex.js'

type NativeProvider = InstanceType<typeof native.Provider>
type NativeGroup = InstanceType<typeof native.MlsGroup>

/** Lets {@link Provider.importSnapshot} hand the constructor a native provider it already made. */
const FROM_NATIVE = Symbol('openmls-node.provider-from-native')
import { SignatureKeyPair } from './signature-key-pair.js'

/** The crypto libraries a {@link Provider} can use. */
export type CryptoProviderName = 'rustcrypto' | 'libcrux'

/**
 * Where a provider keeps its state: an SQLite file ({@link FileStorageOptions}, bundled SQLite),
 * or a PostgreSQL database that several processes share ({@link PostgresStorageOptions}).
 */
export type StorageOptions = FileStorageOptions | PostgresStorageOptions

/** An SQLite file, open in one provider (one process) at a time. */
export interface FileStorageOptions {
  /** The database file; created if missing. */
  path: string
  /**
   * 32 random bytes: everything stored (keys, group state, group ids, the identity) is encrypted
   * with it. Keep it in the OS keychain. A wrong key is `ERR_WRONG_STORAGE_KEY`.
   */
  encryptionKey?: Uint8Array
  /** Open read-only: reading and loading work, every write is `ERR_STORAGE_READONLY`. */
  readOnly?: boolean
  /** Cap the database size in pages. A test hook that simulates a full disk (`ERR_STORAGE_FULL`). */
  maxPageCount?: number
  /**
   * How the file syncs to disk (SQLite's `synchronous`). Either way every operation is atomic, a
   * crash of the process loses nothing that completed, and deleted secrets are checkpointed out
   * of the WAL before the operation returns.
   * - `'full'` (default): a completed operation also survives a power loss or an OS crash.
   * - `'normal'`: one sync fewer per operation; a power loss or OS crash may lose the last
   *   completed operations (never the database's integrity).
   */
  durability?: Durability
}

/** How a file store syncs to disk: see {@link FileStorageOptions.durability}. */
export type Durability = 'full' | 'normal'

/**
 * A PostgreSQL database, shared by any number of providers in any number of processes and hosts.
 * Operations on one group are serialized across all of them (a transaction-scoped advisory lock
 * per group), and a provider whose copy of a group is out of date reloads it before it acts.
 * Different groups proceed in parallel, each operation on a connection of its own.
 */
export interface PostgresStorageOptions {
  postgres: {
    /** A libpq-style connection string: `host=/run/postgresql dbname=mls user=mls` or `postgresql://user@host/db`. */
    connectionString: string
    /** The schema for the tables, created if missing (default `public`): letters, digits and `_`. */
    schema?: string
    /** The most connections this provider opens at once (default 4). */
    maxConnections?: number
    /** How long an operation waits to connect or for a free connection, in ms (default 10000). */
    connectTimeoutMs?: number
    /**
     * TLS, used over TCP when the server offers it (`sslmode=prefer`, the default) or must
     * (`sslmode=require`). The server's certificate and name are always verified, against the
     * Mozilla roots plus `ca`: PEM certificates of a private CA (or a self-signed server).
     * `sslmode=disable` in the connection string turns TLS off. Unix sockets never use it.
     */
    tls?: { ca?: Uint8Array | string }
  }
  /** As for a file: 32 random bytes that encrypt every key and value before it leaves the process. */
  encryptionKey?: Uint8Array
}


/** Options for {@link Provider}. */
export interface ProviderOptions {
  /** The crypto library: `'rustcrypto'` (default, RustCrypto crates) or `'libcrux'` (Cryspen's verified libcrux). */
  crypto?: CryptoProviderName
  /** Persistent storage. Without it, state lives in memory for the life of the provider. */
  storage?: StorageOptions
}

/** A key package the provider holds the private keys of (see {@link Provider.keyPackages}). */
export interface KeyPackageEntry {
  keyPackageRef: Uint8Array
  ciphersuite: Ciphersuite
  lifetime: { notBefore: number; notAfter: number }
  /** Last-resort key packages stay after a Welcome uses them. */
  lastResort: boolean
  /** The key package, as published (`MLSMessage`). */
  keyPackage: Uint8Array
}

/** A client's stored identity (see {@link Provider.setIdentity}). */
export interface StoredIdentity {
  signer: SignatureKeyPair
  credential: Credential
}

/** The native storage options, checked: a file's, PostgreSQL's, or none (in memory). */
function nativeStorage(storage: StorageOptions | undefined) {
  if (!storage) return undefined
  if ('postgres' in storage) return postgresOptions(storage)
  if (typeof storage.path !== 'string' || storage.path.length === 0) {
    throw new OpenMlsError('ERR_INVALID_ARGUMENT', 'storage.path must be a non-empty string')
  }
  if (storage.encryptionKey !== undefined) assertBytes(storage.encryptionKey, 'storage.encryptionKey')
  if (storage.durability !== undefined && storage.durability !== 'full' && storage.durability !== 'normal') {
    throw new OpenMlsError('ERR_INVALID_ARGUMENT', "storage.durability must be 'full' or 'normal'")
  }
  return { ...storage, maxPageCount: optionalInteger(storage.maxPageCount, 'storage.maxPageCount', 1, U32) }
}

function postgresOptions(storage: PostgresStorageOptions) {
  const pg = storage.postgres
  if (typeof pg !== 'object' || pg === null || typeof pg.connectionString !== 'string' || pg.connectionString.length === 0) {
    throw new OpenMlsError('ERR_INVALID_ARGUMENT', 'storage.postgres.connectionString must be a non-empty string')
  }
  if (pg.schema !== undefined && (typeof pg.schema !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(pg.schema))) {
    throw new OpenMlsError('ERR_INVALID_ARGUMENT', 'storage.postgres.schema must be 1 to 63 letters, digits or underscores, not starting with a digit')
  }
  if (storage.encryptionKey !== undefined) assertBytes(storage.encryptionKey, 'storage.encryptionKey')
  const ca = pg.tls?.ca
  if (ca !== undefined && typeof ca !== 'string') assertBytes(ca, 'storage.postgres.tls.ca')
  return {
    encryptionKey: storage.encryptionKey,
    postgres: {
      connectionString: pg.connectionString,
      schema: pg.schema,
      maxConnections: optionalInteger(pg.maxConnections, 'storage.postgres.maxConnections', 1, 1000),
      connectTimeoutMs: optionalInteger(pg.connectTimeoutMs, 'storage.postgres.connectTimeoutMs', 1, U32),
      tlsCa: typeof ca === 'string' ? new TextEncoder().encode(ca) : ca,
    },
  }
}

/**
 * The OpenMLS provider (the book's "Prerequisites"): the crypto backend plus storage for private
 * keys and group state. Key packages, groups and joins made with one provider stay in it: a
 * Welcome can only be joined with the provider that created the key package it is for.
 *
 * Storage is in memory by default, or an SQLite file (`storage: { path }`): every operation on the
 * provider's groups runs in one SQLite transaction, so after a crash the store holds the state
 * of the last completed operation. One provider at a time may open a file (`ERR_STORAGE_LOCKED`).
 * A PostgreSQL database (`storage: { postgres: { connectionString } }`) is shared instead: see
 * {@link PostgresStorageOptions}.
 */
export class Provider {
  /** @internal */
  readonly native: NativeProvider
  /** The live group handles, by hex group id: one handle per group (see {@link Provider.loadGroup}). */
  readonly #groups = new Map<string, WeakRef<MlsGroup>>()

  constructor(options: ProviderOptions = {}, ...internal: [typeof FROM_NATIVE, NativeProvider] | []) {
    if (internal.length === 2 && internal[0] === FROM_NATIVE) {
      this.native = internal[1]
      return
    }
    this.native = call(() => new native.Provider(options.crypto ?? 'rustcrypto', nativeStorage(options.storage)))
  }

  /**
   * The constructor off the event loop: opening (and migrating) a file, or connecting to
   * PostgreSQL and checking its tables, runs on the libuv pool. Prefer it on a server.
   */
  static async open(options: ProviderOptions = {}): Promise<Provider> {
    const storage = nativeStorage(options.storage)
    const handle = await callAsync(() => native.Provider.open(options.crypto ?? 'rustcrypto', storage))
    return new Provider({}, FROM_NATIVE, handle)
  }

  /** Creates an in-memory provider from a snapshot made by {@link Provider.exportSnapshot}. */
  static importSnapshot(snapshot: Uint8Array, options: { crypto?: CryptoProviderName; encryptionKey?: Uint8Array } = {}): Provider {
    assertBytes(snapshot, 'snapshot')
    if (options.encryptionKey !== undefined) assertBytes(options.encryptionKey, 'encryptionKey')
    const handle = call(() => native.Provider.importSnapshot(snapshot, options.crypto ?? 'rustcrypto', options.encryptionKey))
    return new Provider({}, FROM_NATIVE, handle)
  }

  /**
   * The one handle of a native group in this provider: the same `MlsGroup` object comes back
   * for the same live native group, and a replaced one gets a new object.
   * @internal
   */
  adoptGroup(handle: NativeGroup, make: (handle: NativeGroup) => MlsGroup): MlsGroup {
    const key = toHex(handle.groupId)
    const known = this.#groups.get(key)?.deref()
    if (known && known.native.isSameHandle(handle)) return known
    const group = make(handle)
    this.#groups.set(key, new WeakRef(group))
    return group
  }

  /**
   * The whole state as bytes (an SQLite image): for applications that keep their own storage, and
   * for backups. With an encryption key, the values in it stay encrypted.
   */
  exportSnapshot(): Uint8Array {
    return call(() => this.native.exportSnapshot())
  }

  /** The crypto backend in use. */
  get crypto(): CryptoProviderName {
    return this.native.crypto as CryptoProviderName
  }

  /** Whether state is kept in a file. */
  get persistent(): boolean {
    return this.native.persistent
  }

  /**
   * The most operations of this provider that ran at the same moment since it was opened: a
   * diagnostic for servers. Operations on different groups run in parallel on the libuv pool
   * until each needs storage, which they take one at a time; above 1 means they overlapped.
   */
  get peakParallelOperations(): number {
    return this.native.peakParallelOperations
  }

  /** Closes the storage, releasing the file and its lock. Later operations fail with `ERR_STORAGE_CLOSED`. */
  close(): void {
    call(() => this.native.close())
  }

  /** {@link Provider.close}, for `using provider = new Provider(...)`. */
  [Symbol.dispose](): void {
    this.close()
  }

  /** The ids of the groups stored in this provider. */
  listGroups(): Uint8Array[] {
    return call(() => this.native.listGroups())
  }

  /**
   * Loads a stored group (after a restart), off the event loop. `ERR_UNKNOWN_GROUP` if there is
   * none. A group has one live handle per provider: if it is already loaded (or was created or
   * joined here), that same `MlsGroup` is returned, so two parts of an application never hold
   * diverging copies of one group.
   */
  async loadGroup(groupId: Uint8Array): Promise<MlsGroup> {
    assertBytes(groupId, 'groupId')
    return MlsGroup.fromNative(await callAsync(() => this.native.loadGroup(groupId)), this)
  }

  /** {@link Provider.loadGroup} on the calling thread. */
  loadGroupSync(groupId: Uint8Array): MlsGroup {
    assertBytes(groupId, 'groupId')
    return MlsGroup.fromNative(call(() => this.native.loadGroupSync(groupId)), this)
  }

  /** Stores the client's identity, so reopening the same file gives it back. */
  setIdentity(identity: StoredIdentity): void {
    call(() => this.native.setIdentity(identity.signer.native, credentialToNative(identity.credential)))
  }

  /** The stored identity, or `undefined`. */
  identity(): StoredIdentity | undefined {
    const id = call(() => this.native.identity())
    return id ? { signer: SignatureKeyPair.fromNative(id.signer), credential: credentialFromNative(id.credential) } : undefined
  }

  /** The key packages this provider holds: published and not yet consumed (last-resort ones stay). */
  keyPackages(): KeyPackageEntry[] {
    return call(() => this.native.keyPackages()).map((k) => ({ ...k, ciphersuite: k.ciphersuite as Ciphersuite, lifetime: lifetimeFromNative(k.lifetime) }))
  }

  /** Deletes a held key package and its private keys; returns whether it existed. */
  deleteKeyPackage(keyPackageRef: Uint8Array): boolean {
    assertBytes(keyPackageRef, 'keyPackageRef')
    return call(() => this.native.deleteKeyPackage(keyPackageRef))
  }

  /** Deletes the held key packages whose lifetime ended before `now` (Unix seconds, default now); returns how many. */
  deleteExpiredKeyPackages(now?: number): number {
    if (now !== undefined) seconds(now, 'now')
    return call(() => this.native.deleteExpiredKeyPackages(now))
  }

  /**
   * Stores an external PSK (the book's "PSKs"): every member that processes a commit or Welcome
   * injecting this PSK must have stored it.
   */
  storeExternalPsk(pskId: Uint8Array, secret: Uint8Array): void {
    assertBytes(pskId, 'pskId')
    assertBytes(secret, 'secret')
    call(() => this.native.storeExternalPsk(pskId, secret))
  }

  /** Deletes a stored external PSK. */
  deleteExternalPsk(pskId: Uint8Array): void {
    assertBytes(pskId, 'pskId')
    call(() => this.native.deleteExternalPsk(pskId))
  }

  /** The ciphersuites the crypto backend supports. */
  supportedCiphersuites(): Ciphersuite[] {
    return this.native.supportedCiphersuites() as Ciphersuite[]
  }

  /** @internal */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Provider { crypto: '${this.crypto}', persistent: ${this.persistent} }`
  }
}
