//! The state saved at a clean stop and read back at the next start (`guild_store::SavedState`,
//! `guild_service::Service::restore`): used only while the store is as it was saved, and a
//! start that cannot use it loads the store and answers the same.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{options, TestNode};
use guild_core::fixtures::{sign, tag};
use guild_core::{Identity, PublicKey};
use guild_service::index::Query;
use guild_store::Store;
use std::path::Path;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Stores the profiles of `n` members (seeds from `first`), as a node that heard them would.
fn store_profiles(path: &Path, first: u32, n: u32) {
    let store = Store::open(path).unwrap();
    for i in first..first + n {
        let mut secret = [0x5au8; 32];
        secret[..4].copy_from_slice(&i.to_le_bytes());
        let who = Identity::from_secret(secret);
        let skills: &[&str] = if i % 2 == 0 { &["kicad"] } else { &["rust"] };
        let p = guild_core::fixtures::profile(&who, &format!("member {i}"), skills, now());
        store.put_profile(&sign(p, &who)).unwrap();
    }
    store.flush().unwrap();
}

async fn kicad(n: &TestNode) -> Vec<PublicKey> {
    let q = Query {
        skills: vec![tag("kicad")],
        limit: 100,
        ..Default::default()
    };
    let mut found: Vec<PublicKey> = n
        .node
        .find(q, true)
        .await
        .matches
        .into_iter()
        .map(|m| m.peer)
        .collect();
    found.sort();
    found
}

fn saved_file(path: &Path) -> std::path::PathBuf {
    path.with_file_name("store.state")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_saves_the_state_and_the_next_start_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    store_profiles(&path, 0, 40);
    let first = TestNode::start_at(1, &path, options("main", &[])).await;
    assert!(
        !first.node.restored(),
        "nothing saved yet: the store is loaded"
    );
    let found = kicad(&first).await;
    assert_eq!(found.len(), 20);
    let counts = first.node.watch_snapshot().borrow().profiles;
    first.stop().await;
    assert!(saved_file(&path).exists(), "saved at the clean stop");

    let second = TestNode::start_at(1, &path, options("main", &[])).await;
    assert!(second.node.restored(), "read back");
    assert!(
        !saved_file(&path).exists(),
        "taken: it matches the store no longer"
    );
    assert_eq!(second.node.watch_snapshot().borrow().profiles, counts);
    assert_eq!(kicad(&second).await, found);
    second.stop().await;

    // And again: each clean stop saves what the node holds then.
    let third = TestNode::start_at(1, &path, options("main", &[])).await;
    assert!(third.node.restored());
    assert_eq!(kicad(&third).await, found);
    third.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_written_since_the_stop_is_loaded_and_its_new_records_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    store_profiles(&path, 0, 10);
    let first = TestNode::start_at(2, &path, options("main", &[])).await;
    assert_eq!(kicad(&first).await.len(), 5);
    first.stop().await;
    assert!(saved_file(&path).exists());
    // Another program opens the store and writes to it: the saved state no longer matches.
    store_profiles(&path, 100, 10);
    let second = TestNode::start_at(2, &path, options("main", &[])).await;
    assert!(!second.node.restored(), "the store changed: loaded");
    assert_eq!(
        kicad(&second).await.len(),
        10,
        "with what was written since"
    );
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_saved_state_is_refused_and_the_store_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    store_profiles(&path, 0, 10);
    let first = TestNode::start_at(3, &path, options("main", &[])).await;
    let found = kicad(&first).await;
    first.stop().await;
    let file = saved_file(&path);
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&file, &bytes).unwrap();
    let second = TestNode::start_at(3, &path, options("main", &[])).await;
    assert!(!second.node.restored(), "damaged: refused");
    assert_eq!(kicad(&second).await, found, "the store loaded instead");
    second.stop().await;
    // Torn (cut short): refused the same way.
    let third_file = saved_file(&path);
    let bytes = std::fs::read(&third_file).unwrap();
    std::fs::write(&third_file, &bytes[..bytes.len() - 100]).unwrap();
    let third = TestNode::start_at(3, &path, options("main", &[])).await;
    assert!(!third.node.restored(), "torn: refused");
    assert_eq!(kicad(&third).await, found);
    third.stop().await;
}
