//! napi-rs's build setup, and the version of openmls this addon links, read from Cargo.lock so
//! that `openmlsVersion()` cannot drift from what is built.

fn main() {
    napi_build::setup();
    let lock = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = std::fs::read_to_string(&lock).expect("Cargo.lock is readable");
    let version = locked_version(&text, "openmls").expect("Cargo.lock lists the openmls package");
    println!("cargo:rustc-env=OPENMLS_VERSION={version}");
}

/// The version of the package called `name` in a Cargo.lock (`[[package]]` tables of
/// `name = "..."` then `version = "..."`).
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let wanted = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == wanted {
            let next = lines.next()?.trim();
            return next.strip_prefix("version = \"")?.strip_suffix('"').map(str::to_string);
        }
    }
    None
}
