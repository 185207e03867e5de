//! `Store::open_temporary`: private, independent stores without a flusher thread each. In its own
//! test binary so no other test's stores start threads while the threads are counted.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use guild_core::fixtures::one_of_each;
use guild_store::Store;

/// Threads of this process named like sled's per-database flusher.
fn flusher_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(|t| t.ok())
                .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                .filter(|name| name.trim() == "log flusher")
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn temporary_stores_are_independent_and_start_no_flusher_thread() {
    let before = flusher_threads();
    let stores: Vec<Store> = (0..50).map(|_| Store::open_temporary().unwrap()).collect();
    let records = one_of_each();
    for r in &records {
        assert!(stores[0].put_record(r).unwrap());
    }
    stores[0].flush().unwrap();
    for s in &stores[1..] {
        assert_eq!(s.record_count(), 0, "each temporary store is its own");
    }
    assert_eq!(
        stores[0].record_count(),
        records
            .iter()
            .filter(|r| r.kind() != guild_core::RecordKind::Profile)
            .count()
    );
    if cfg!(target_os = "linux") {
        assert_eq!(flusher_threads(), before, "no flusher thread per store");
        // The count does see the thread a durable store starts (so the check above means
        // something).
        let dir = tempfile::tempdir().unwrap();
        let durable = Store::open(&dir.path().join("store")).unwrap();
        // sled spawns its flusher from `open`, but the thread names itself once it runs: on a
        // loaded machine it may not have yet. Wait for the name (bounded), not for a time.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while flusher_threads() < before + 1 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(flusher_threads(), before + 1);
        drop(durable);
    }
}
