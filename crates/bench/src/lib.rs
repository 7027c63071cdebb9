//! The benchmark's operations on openmls directly, with `openmls_rust_crypto` and openmls's own
//! in-memory storage (`openmls_memory_storage`): the library openmls-node wraps, without any of its
//! layers. Two floors use them: the native binary (`src/main.rs`, openmls in a Rust process) and
//! the in-Node floor (`crates/bench-addon`, openmls called through N-API with nothing else between).

use std::collections::VecDeque;
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use tls_codec::{DeserializeBytes, Serialize as _};

/// Suite 1, as every scenario of the benchmark uses.
pub const SUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

/// A provider whose storage is openmls's in-memory store, named to make the floor explicit.
pub type Provider = OpenMlsRustCrypto;
const _: fn(&Provider) -> &openmls_memory_storage::MemoryStorage = |p| p.storage();

/// Where each openmls call of a scenario runs.
///
/// `Inline`: on the calling thread, as openmls-node's `*Sync` methods run. `Pool`: handed to one of
/// [`POOL_THREADS`] worker threads that take jobs from one queue under a mutex and a condition
/// variable, while the caller blocks until the result comes back: what libuv's thread pool does
/// for a Promise call (its default size is 4), and what a Rust server does when it keeps its own
/// thread free (tokio's `spawn_blocking`). The hand-off and the worker's colder caches are the
/// cost of asynchrony itself, native or not: the Promise rows' floor.
pub enum Exec {
    Inline,
    Pool(Arc<Queue>),
}

/// libuv's default pool size.
pub const POOL_THREADS: usize = 4;

type Job = Box<dyn FnOnce() + Send>;

/// The pool's one queue of jobs.
#[derive(Default)]
pub struct Queue {
    jobs: Mutex<VecDeque<Job>>,
    ready: Condvar,
}

impl Exec {
    pub fn pool() -> Self {
        let queue = Arc::new(Queue::default());
        for _ in 0..POOL_THREADS {
            let queue = queue.clone();
            std::thread::spawn(move || loop {
                let mut jobs = queue.jobs.lock().expect("queue");
                let job = loop {
                    match jobs.pop_front() {
                        Some(job) => break job,
                        None => jobs = queue.ready.wait(jobs).expect("queue"),
                    }
                };
                drop(jobs);
                job();
            });
        }
        Exec::Pool(queue)
    }

    /// Runs `f` and returns its result; on the pool, waits for a worker to run it.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        match self {
            Exec::Inline => f(),
            Exec::Pool(queue) => {
                let (tx, rx) = mpsc::sync_channel(1);
                queue.jobs.lock().expect("queue").push_back(Box::new(move || tx.send(f()).expect("caller waits")));
                queue.ready.notify_one();
                rx.recv().expect("worker answers")
            }
        }
    }
}

/// A group that a pool thread can run a call on.
pub type Shared = Arc<Mutex<MlsGroup>>;

pub fn lock(group: &Shared) -> MutexGuard<'_, MlsGroup> {
    group.lock().expect("group")
}

/// One client: a provider (crypto plus in-memory storage), a signer and a basic credential.
pub struct Client {
    pub provider: Provider,
    pub signer: SignatureKeyPair,
    pub credential: CredentialWithKey,
}

impl Client {
    pub fn new(name: &str) -> Self {
        let signer = SignatureKeyPair::new(SUITE.signature_algorithm()).expect("signer");
        let credential = CredentialWithKey {
            credential: BasicCredential::new(name.as_bytes().to_vec()).into(),
            signature_key: signer.to_public_vec().into(),
        };
        Client { provider: Provider::default(), signer, credential }
    }

    /// A fresh key package, as the bytes another client downloads (an `MLSMessage`).
    pub fn key_package_bytes(&self) -> Vec<u8> {
        let bundle = KeyPackage::builder().build(SUITE, &self.provider, &self.signer, self.credential.clone()).expect("key package");
        MlsMessageOut::from(bundle.key_package().clone()).tls_serialize_detached().expect("encode")
    }

    pub fn create_group(&self) -> Shared {
        let config = MlsGroupCreateConfig::builder()
            .ciphersuite(SUITE)
            .use_ratchet_tree_extension(false)
            .wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
            .build();
        Arc::new(Mutex::new(MlsGroup::new(&self.provider, &self.signer, &config, self.credential.clone()).expect("group")))
    }

    /// Joins from Welcome and ratchet tree bytes: bytes to new state, in one call.
    pub fn join(self: &Arc<Self>, exec: &Exec, welcome: &[u8], tree: &[u8]) -> Shared {
        let (me, welcome, tree) = (self.clone(), welcome.to_vec(), tree.to_vec());
        Arc::new(Mutex::new(exec.run(move || me.join_here(&welcome, &tree))))
    }

    pub fn join_here(&self, welcome: &[u8], tree: &[u8]) -> MlsGroup {
        let welcome = match MlsMessageIn::tls_deserialize_exact_bytes(welcome).expect("decode").extract() {
            MlsMessageBodyIn::Welcome(w) => w,
            _ => panic!("not a Welcome"),
        };
        let tree = RatchetTreeIn::tls_deserialize_exact_bytes(tree).expect("decode tree");
        let config = MlsGroupJoinConfig::builder().wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY).build();
        StagedWelcome::new_from_welcome(&self.provider, &config, welcome, Some(tree))
            .expect("stage welcome")
            .into_group(&self.provider)
            .expect("join")
    }
}

/// Parses and validates received key package bytes, as a committer does with what it downloads.
pub fn parse_key_package(provider: &Provider, bytes: &[u8]) -> KeyPackage {
    match MlsMessageIn::tls_deserialize_exact_bytes(bytes).expect("decode").extract() {
        MlsMessageBodyIn::KeyPackage(kp) => kp.validate(provider.crypto(), ProtocolVersion::Mls10).expect("valid key package"),
        _ => panic!("not a key package"),
    }
}

pub fn encode(message: &MlsMessageOut) -> Vec<u8> {
    message.tls_serialize_detached().expect("encode")
}

/// What an add puts on the wire: the commit for the group, the Welcome and the ratchet tree for
/// the joiners.
pub struct Added {
    pub commit: Vec<u8>,
    pub welcome: Vec<u8>,
    pub tree: Vec<u8>,
}

/// Adds key packages (from bytes) as one commit, merges it, and exports the new ratchet tree.
/// Returns the milliseconds spent parsing and validating the key packages, too. As openmls-node's
/// calls are split: parsing and the tree export on the calling thread, the add and the merge each
/// one call.
pub fn add(exec: &Exec, committer: &Arc<Client>, group: &Shared, key_packages: &[Vec<u8>]) -> (Added, f64) {
    let t = Instant::now();
    let parsed: Vec<KeyPackage> = key_packages.iter().map(|b| parse_key_package(&committer.provider, b)).collect();
    let parse = ms(t);
    let (c, g) = (committer.clone(), group.clone());
    let (commit, welcome) = exec.run(move || {
        let (commit, welcome, group_info) = lock(&g).add_members(&c.provider, &c.signer, &parsed).expect("add");
        assert!(group_info.is_none(), "no GroupInfo without the ratchet tree extension");
        (encode(&commit), encode(&welcome))
    });
    merge_pending(exec, committer, group);
    let tree = lock(group).export_ratchet_tree().tls_serialize_detached().expect("encode tree");
    (Added { commit, welcome, tree }, parse)
}

/// Merges the group's own pending commit, in one call.
pub fn merge_pending(exec: &Exec, client: &Arc<Client>, group: &Shared) {
    let (c, g) = (client.clone(), group.clone());
    exec.run(move || lock(&g).merge_pending_commit(&c.provider).expect("merge"));
}

/// Processes a commit from bytes and merges it: bytes to new state, in two calls (process, merge).
pub fn apply_commit(exec: &Exec, client: &Arc<Client>, group: &Shared, bytes: &[u8]) {
    let (c, g, bytes) = (client.clone(), group.clone(), bytes.to_vec());
    let staged = exec.run(move || process_commit(&c, &g, &bytes));
    let (c, g) = (client.clone(), group.clone());
    exec.run(move || merge_staged(&c, &g, *staged));
}

/// Processes a commit from bytes: the staged commit, to merge.
pub fn process_commit(client: &Client, group: &Shared, bytes: &[u8]) -> Box<StagedCommit> {
    let message = MlsMessageIn::tls_deserialize_exact_bytes(bytes).expect("decode").try_into_protocol_message().expect("protocol message");
    match lock(group).process_message(&client.provider, message).expect("process").into_content() {
        ProcessedMessageContent::StagedCommitMessage(staged) => staged,
        _ => panic!("expected a commit"),
    }
}

/// Merges a staged commit.
pub fn merge_staged(client: &Client, group: &Shared, staged: StagedCommit) {
    lock(group).merge_staged_commit(&client.provider, staged).expect("merge");
}

/// Decrypts an application message from bytes.
pub fn decrypt(client: &Client, group: &mut MlsGroup, bytes: &[u8]) -> Vec<u8> {
    let message = MlsMessageIn::tls_deserialize_exact_bytes(bytes).expect("decode").try_into_protocol_message().expect("protocol message");
    match group.process_message(&client.provider, message).expect("process").into_content() {
        ProcessedMessageContent::ApplicationMessage(m) => m.into_bytes(),
        _ => panic!("expected an application message"),
    }
}

/// Key packages that are only ever added, never joined, each with its own signature key (a group
/// refuses duplicates); their private keys stay in one pool provider.
pub fn pool_key_packages(n: usize) -> Vec<Vec<u8>> {
    let mut pool = Client::new("member 0");
    (0..n)
        .map(|i| {
            let member = Client::new(&format!("member {i}"));
            pool.signer = member.signer;
            pool.credential = member.credential;
            pool.key_package_bytes()
        })
        .collect()
}

/// A group of `size` members in which `a` (leaf 0) and `b` (leaf 1) hold real state.
pub fn group_of(size: usize, pool: &[Vec<u8>]) -> (Arc<Client>, Shared, Arc<Client>, Shared) {
    let a = Arc::new(Client::new("alice"));
    let b = Arc::new(Client::new("bob"));
    let ga = a.create_group();
    let mut adds = vec![b.key_package_bytes()];
    adds.extend_from_slice(&pool[..size - 2]);
    let (added, _) = add(&Exec::Inline, &a, &ga, &adds);
    let gb = b.join(&Exec::Inline, &added.welcome, &added.tree);
    (a, ga, b, gb)
}

/// Two members with real state in a group: `a` (leaf 0) sends or commits, `b` (leaf 1) receives.
pub struct Pair {
    pub a: Arc<Client>,
    pub ga: Shared,
    pub b: Arc<Client>,
    pub gb: Shared,
}

impl Pair {
    /// A group of `size` members (see [`group_of`]).
    pub fn new(size: usize, pool: &[Vec<u8>]) -> Self {
        let (a, ga, b, gb) = group_of(size, pool);
        Pair { a, ga, b, gb }
    }
}

/// A self-update of `client` in `group`: the commit's bytes. The commit stays pending: merge it.
pub fn self_update(client: &Client, group: &Shared) -> Vec<u8> {
    let bundle = lock(group).self_update(&client.provider, &client.signer, LeafNodeParameters::default()).expect("self-update");
    let (commit, _, group_info) = bundle.into_messages();
    assert!(group_info.is_none(), "no GroupInfo without the ratchet tree extension");
    encode(&commit)
}

/// Encrypts an application message: its bytes on the wire.
pub fn encrypt(client: &Client, group: &mut MlsGroup, plaintext: &[u8]) -> Vec<u8> {
    encode(&group.create_message(&client.provider, &client.signer, plaintext).expect("encrypt"))
}

/// Milliseconds since `start`.
pub fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}
