//! The addon's Rust allocations go to mimalloc, not to the C library's `malloc`.
//!
//! Inside a Node process, glibc's `malloc` shares its main arena with V8 and libuv, and openmls's
//! many short-lived allocations (a commit in a group of 100 makes thousands, and the 100 KB tree
//! it serializes grows by doubling) met a fragmented heap: `malloc_consolidate` and chunk
//! unlinking were 12% of processing a self-update in a group of 100 in a profile, against a
//! fresh heap for native openmls. With mimalloc, that operation went from 1.11–1.16× native to
//! 1.03–1.05× (paired runs), and the add-1000 peak RSS stayed under 100 MB.
//!
//! `local_dynamic_tls`: the addon is loaded with `dlopen`, where the initial-exec TLS model can
//! run out of static TLS space. `no_thp`: transparent huge pages raised the add-1000 peak RSS
//! from 94 to 126 MB. Memory the addon hands to JavaScript is copied into V8's own buffers (see
//! `bytes.rs`), so no other allocator ever frees what this one allocated.
//!
//! Built for every shipped target: cross-built here for i686 and arm64 glibc, x86-64 musl, both
//! macOS and Windows (the suite passed on the Linux ones). Two exceptions keep their platform's
//! allocator:
//! - aarch64 musl: swc, the largest napi-rs project on mimalloc, leaves it out there, and the
//!   gain was measured on x86-64 glibc.
//! - Windows with the GNU toolchain (the stand-in this machine builds for the shipped MSVC
//!   binaries): mimalloc hooks its process and thread start-up with MSVC pragmas that gcc
//!   ignores, so it never initialized there (no `MIMALLOC_VERBOSE` output under wine).

#[cfg(not(any(all(target_os = "linux", target_env = "musl", target_arch = "aarch64"), all(windows, target_env = "gnu"))))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
