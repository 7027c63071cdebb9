//! The native floor of `npm run bench`: the benchmark's operations (this crate's library, which the
//! in-Node floor in `crates/bench-addon` calls too) on openmls directly, with `openmls_rust_crypto`
//! and openmls's own in-memory storage (`openmls_memory_storage`), in a Rust process: the library
//! openmls-node wraps without any of its layers (N-API, the SQLite store, the TS wrapper) or Node.
//!
//! The Node runner (`bench/native.mts`) builds this binary, passes the sizes it uses itself, and
//! reads one JSON object from stdout: the median of each measurement, in milliseconds per
//! operation (per key package, commit, join or message). Timed regions follow the benchmark's
//! convention: from state plus input bytes to bytes on the wire (sender), and from bytes to new
//! state (receiver). Groups do not use the ratchet tree extension: an add's committer exports the
//! tree for the joiner, so no commit carries a GroupInfo (ts-mls's commits do not either).
//!
//! Usage: `openmls-node-bench [--add N] [--group N] [--small B] [--large B] [--kp-batch N]
//! [--messages N] [--commit-reps N] [--update-reps N] [--message-reps N] [--warmup N] [--rss] [--serve]`.
//! With `--rss` it runs only the add-1000 case once and prints its peak RSS (Linux: `VmHWM`).
//! With `--serve` it answers requests for single repetitions on stdin (see [`serve`]): the Node
//! runner alternates them with its own, so that each pair of repetitions runs under the same load.
//! Requests ending in `-pool` run each openmls call on a pool of worker threads and wait for it
//! (see [`Exec`]), as openmls-node's Promise API does: the floor its Promise rows compare with.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use openmls_node_bench::{
    add, apply_commit, decrypt, encrypt, group_of, lock, merge_pending, ms, pool_key_packages, self_update, Client, Exec, Pair,
};

/// The sizes, as the Node runner passes them (defaults: the full benchmark).
struct Sizes {
    add: usize,
    group: usize,
    small: usize,
    large: usize,
    kp_batch: usize,
    messages: usize,
    commit_reps: usize,
    update_reps: usize,
    message_reps: usize,
    warmup: usize,
    rss: bool,
    serve: bool,
}

impl Sizes {
    fn from_args() -> Self {
        let mut s = Sizes {
            add: 1000,
            group: 100,
            small: 100,
            large: 10 * 1024,
            kp_batch: 500,
            messages: 2000,
            commit_reps: 5,
            update_reps: 20,
            message_reps: 7,
            warmup: 1,
            rss: false,
            serve: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            if flag == "--rss" {
                s.rss = true;
                continue;
            }
            if flag == "--serve" {
                s.serve = true;
                continue;
            }
            let value: usize = args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| die(&format!("{flag} needs a number")));
            match flag.as_str() {
                "--add" => s.add = value,
                "--group" => s.group = value,
                "--small" => s.small = value,
                "--large" => s.large = value,
                "--kp-batch" => s.kp_batch = value,
                "--messages" => s.messages = value,
                "--commit-reps" => s.commit_reps = value,
                "--update-reps" => s.update_reps = value,
                "--message-reps" => s.message_reps = value,
                "--warmup" => s.warmup = value,
                other => die(&format!("unknown option {other}")),
            }
        }
        if s.add < 1 || s.group < 2 {
            die("--add must be at least 1 and --group at least 2");
        }
        s
    }
}

fn die(message: &str) -> ! {
    eprintln!("openmls-node-bench: {message}");
    std::process::exit(2)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// Runs `rep` `warmup + reps` times and keeps the median of each named measurement after the warm-up.
fn repeat(warmup: usize, reps: usize, mut rep: impl FnMut() -> Vec<(&'static str, f64)>, out: &mut BTreeMap<String, f64>) {
    let mut samples: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    for i in 0..warmup + reps.max(1) {
        let result = rep();
        if i >= warmup {
            for (k, v) in result {
                samples.entry(k).or_default().push(v);
            }
        }
    }
    for (k, v) in samples {
        out.insert(k.to_string(), median(v));
    }
}

/// One add of `n` members: a fresh group with one existing member, a fresh joiner.
fn add_case(exec: &Exec, n: usize, pool: &[Vec<u8>]) -> Vec<(&'static str, f64)> {
    let (a, ga, b, gb) = group_of(2, pool);
    let joiner = Arc::new(Client::new("joiner"));
    let mut adds = vec![joiner.key_package_bytes()];
    adds.extend_from_slice(&pool[..n - 1]);
    let t = Instant::now();
    let (added, parse) = add(exec, &a, &ga, &adds);
    let create = ms(t);
    let t = Instant::now();
    apply_commit(exec, &b, &gb, &added.commit);
    let process = ms(t);
    let t = Instant::now();
    let gj = joiner.join(exec, &added.welcome, &added.tree);
    let join = ms(t);
    assert_eq!(lock(&gj).epoch(), lock(&gb).epoch());
    vec![("add.parse", parse), ("add.create", create), ("add.process", process), ("add.join", join)]
}

/// The metric ids of a messages scenario: encrypt and decrypt, by group size and payload.
fn message_ids(size: usize, payload: usize, s: &Sizes) -> (&'static str, &'static str) {
    match (size == 2, payload == s.small) {
        (true, true) => ("msg.2.small.enc", "msg.2.small.dec"),
        (true, false) => ("msg.2.large.enc", "msg.2.large.dec"),
        (false, true) => ("msg.group.small.enc", "msg.group.small.dec"),
        (false, false) => ("msg.group.large.enc", "msg.group.large.dec"),
    }
}

/// One round of `count` messages from `a` to `b`: milliseconds per message, each way.
fn messages(pair: &Pair, plaintext: &[u8], count: usize) -> (f64, f64) {
    let (mut ga, mut gb) = (lock(&pair.ga), lock(&pair.gb));
    let t = Instant::now();
    let wire: Vec<Vec<u8>> = (0..count).map(|_| encrypt(&pair.a, &mut ga, plaintext)).collect();
    let e = ms(t) / count as f64;
    let t = Instant::now();
    for bytes in &wire {
        assert_eq!(decrypt(&pair.b, &mut gb, bytes).len(), plaintext.len());
    }
    (e, ms(t) / count as f64)
}

/// One self-update of `a`, processed by `b`: milliseconds to create (and merge) and to process
/// (and merge), each side in two calls.
fn update(pair: &Pair, exec: &Exec) -> Vec<(&'static str, f64)> {
    let t = Instant::now();
    let (a, ga) = (pair.a.clone(), pair.ga.clone());
    let commit = exec.run(move || self_update(&a, &ga));
    merge_pending(exec, &pair.a, &pair.ga);
    let create = ms(t);
    let t = Instant::now();
    apply_commit(exec, &pair.b, &pair.gb, &commit);
    vec![("update.create", create), ("update.process", ms(t))]
}

/// One batch of `n` key packages: milliseconds per key package.
fn key_packages(kp: &Client, n: usize) -> Vec<(&'static str, f64)> {
    let t = Instant::now();
    for _ in 0..n {
        kp.key_package_bytes();
    }
    vec![("kp", ms(t) / n as f64)]
}

fn messages_case(size: usize, payload: usize, s: &Sizes, pool: &[Vec<u8>], out: &mut BTreeMap<String, f64>) {
    let pair = Pair::new(size, pool);
    let plaintext = vec![0x5a; payload];
    let (enc, dec) = message_ids(size, payload, s);
    repeat(
        s.warmup,
        s.message_reps,
        || {
            let (e, d) = messages(&pair, &plaintext, s.messages);
            vec![(enc, e), (dec, d)]
        },
        out,
    );
}

/// One JSON object of measurements on one line.
fn json(fields: &[(&'static str, f64)]) -> String {
    let fields: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v:.6}")).collect();
    format!("{{{}}}", fields.join(","))
}

/// `--serve`: one repetition per request, so that the Node runner can alternate its own
/// repetitions with these and compare the two under the same load. Reads one request per line on
/// stdin and answers each with one JSON line of measurements:
///
/// - `kp N`: a batch of N key packages;
/// - `add`: one add of `--add` members (fresh groups each time);
/// - `update N`: N self-updates in a row in the group of `--group` (the same group every time: each
///   one a new epoch), answered with their medians;
/// - `msg SIZE PAYLOAD COUNT`: COUNT messages of PAYLOAD bytes in a group of SIZE (one group per
///   SIZE and PAYLOAD, kept between requests, as the Node side keeps its own);
/// - `add-pool` and `update-pool N`: `add` and `update N` with every openmls call on the worker
///   pool ([`Exec::Pool`]), with their own group, answered under the same ids.
fn serve(s: &Sizes, pool: &[Vec<u8>]) {
    use std::io::{BufRead as _, Write as _};
    let kp = Client::new("kp");
    let inline = Exec::Inline;
    let mut pool_exec: Option<Exec> = None;
    let mut updates: BTreeMap<bool, Pair> = BTreeMap::new();
    let mut talks: BTreeMap<(usize, usize), Pair> = BTreeMap::new();
    let number = |w: Option<&str>| -> usize { w.and_then(|v| v.parse().ok()).unwrap_or_else(|| die("a request needs numbers")) };
    let stdout = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap_or_else(|e| die(&format!("stdin: {e}")));
        let mut words = line.split_whitespace();
        let answer = match words.next() {
            Some("kp") => key_packages(&kp, number(words.next())),
            Some(request @ ("add" | "add-pool" | "update" | "update-pool")) => {
                let pooled = request.ends_with("-pool");
                let exec = if pooled { &*pool_exec.get_or_insert_with(Exec::pool) } else { &inline };
                if request.starts_with("add") {
                    add_case(exec, s.add, pool)
                } else {
                    let pair = updates.entry(pooled).or_insert_with(|| Pair::new(s.group, pool));
                    let block: Vec<Vec<(&'static str, f64)>> = (0..number(words.next()).max(1)).map(|_| update(pair, exec)).collect();
                    let of = |i: usize| median(block.iter().map(|r| r[i].1).collect());
                    vec![("update.create", of(0)), ("update.process", of(1))]
                }
            }
            Some("msg") => {
                let (size, payload, count) = (number(words.next()), number(words.next()), number(words.next()));
                let pair = talks.entry((size, payload)).or_insert_with(|| Pair::new(size, pool));
                let (enc, dec) = message_ids(size, payload, s);
                let (e, d) = messages(pair, &vec![0x5a; payload], count);
                vec![(enc, e), (dec, d)]
            }
            Some("quit") | None => break,
            Some(other) => die(&format!("unknown request {other}")),
        };
        let mut out = stdout.lock();
        writeln!(out, "{}", json(&answer)).and_then(|()| out.flush()).unwrap_or_else(|e| die(&format!("stdout: {e}")));
    }
}

/// The peak resident set size of this process, in MB (Linux; `None` elsewhere).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0 / 1e6)
}

fn main() {
    let s = Sizes::from_args();
    let pool = pool_key_packages(s.add.max(s.group));
    let mut out = BTreeMap::new();

    if s.rss {
        let before = peak_rss_mb();
        add_case(&Exec::Inline, s.add, &pool);
        let rss = |v: Option<f64>| v.map_or("null".to_string(), |v| format!("{v:.3}"));
        println!("{{\"rss.setup\":{},\"rss.peak\":{}}}", rss(before), rss(peak_rss_mb()));
        return;
    }

    if s.serve {
        serve(&s, &pool);
        return;
    }

    let kp = Client::new("kp");
    repeat(s.warmup, s.message_reps, || key_packages(&kp, s.kp_batch), &mut out);

    repeat(s.warmup, s.commit_reps, || add_case(&Exec::Inline, s.add, &pool), &mut out);

    let pair = Pair::new(s.group, &pool);
    repeat(s.warmup, s.update_reps, || update(&pair, &Exec::Inline), &mut out);

    for size in [2, s.group] {
        for payload in [s.small, s.large] {
            messages_case(size, payload, &s, &pool, &mut out);
        }
    }

    let fields: Vec<String> = out.iter().map(|(k, v)| format!("\"{k}\":{v:.6}")).collect();
    println!("{{{}}}", fields.join(","));
}
