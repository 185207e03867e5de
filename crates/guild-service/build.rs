//! Fingerprints the code that encodes a node's saved state (`src/saved.rs`): a hash of every
//! source file of this crate, `guild-trust` and `guild-core`. A state saved by a build with any
//! other sources is refused and the store loaded instead, so a changed layout never decodes
//! into a wrong state.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn main() {
    let here = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let mut files = Vec::new();
    for dir in [
        here.join("src"),
        here.join("../guild-trust/src"),
        here.join("../guild-core/src"),
    ] {
        println!("cargo:rerun-if-changed={}", dir.display());
        sources(&dir, &mut files);
    }
    let root = here.join("..");
    files.sort();
    // SipHash with fixed keys: the same sources give the same fingerprint on every build.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in &files {
        f.strip_prefix(&root).unwrap_or(f).hash(&mut h);
        std::fs::read(f).unwrap_or_default().hash(&mut h);
    }
    println!("cargo:rustc-env=GUILD_STATE_FINGERPRINT={}", h.finish());
}
