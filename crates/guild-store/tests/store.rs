//! Store behaviour: round trips, reopening, corruption and locking.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use guild_core::fixtures::{identity, one_of_each, profile, sign, T0};
use guild_core::{AnyRecord, RecordKind};
use guild_store::{ProfilePut, Store, StoreError};

/// Opens the store's directory with sled itself, as a damaged disk or a crash would leave it.
///
/// A `Store` dropped a moment ago still holds sled's file lock until sled's background threads
/// let go of the closed database (sled signals nothing; `Store::open` waits the same way), so a
/// lock held by this very process is waited for, bounded; any other error fails the test.
fn raw_sled(path: &std::path::Path) -> sled::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match sled::open(path) {
            Ok(db) => return db,
            Err(sled::Error::Io(e))
                if e.to_string().contains("lock") && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => panic!("opening {} with sled: {e}", path.display()),
        }
    }
}

#[test]
fn every_record_kind_round_trips_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let records = one_of_each();
    {
        let store = Store::open(&path).unwrap();
        for r in &records {
            assert!(store.put_record(r).unwrap(), "{:?} is new", r.kind());
            assert!(!store.put_record(r).unwrap(), "{:?} stored once", r.kind());
        }
        store
            .remember_peer(b"peer-1", &["/ip4/127.0.0.1/tcp/4001".into()], T0)
            .unwrap();
        store.put_meta("own_seq", &7u64).unwrap();
        store.flush().unwrap();
    }
    let store = Store::open(&path).unwrap();
    for r in &records {
        match r {
            AnyRecord::Profile(p) => {
                assert_eq!(store.get_profile(&p.signer).unwrap().as_ref(), Some(p))
            }
            other => assert_eq!(store.get_record(&other.id()).unwrap().as_ref(), Some(other)),
        }
    }
    let (peers, bad) = store.known_peers().unwrap();
    assert!(bad.is_empty());
    assert_eq!(
        peers[0].1.addrs,
        vec!["/ip4/127.0.0.1/tcp/4001".to_string()]
    );
    assert_eq!(store.get_meta::<u64>("own_seq").unwrap(), Some(7));

    // Removal drops the record and its index entry.
    let att = records
        .iter()
        .find(|r| r.kind() == RecordKind::Attestation)
        .unwrap();
    let AnyRecord::Attestation(a) = att else {
        unreachable!()
    };
    assert!(store.has_record(&a.id()).unwrap());
    store.remove_record(&a.id()).unwrap();
    assert!(store.get_record(&a.id()).unwrap().is_none());
    assert_eq!(store.records_of_kind(RecordKind::Attestation).count(), 0);

    // Sync index by kind and time.
    let needs = store.index_range(RecordKind::Need, 0, u64::MAX).unwrap();
    assert_eq!(needs.len(), 1);
    assert_eq!(store.records_of_kind(RecordKind::Need).count(), 1);
}

#[test]
fn newer_profile_replaces_older_and_older_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s")).unwrap();
    let a = identity(1);
    let old = sign(profile(&a, "Ada", &["rust"], T0), &a);
    let new = sign(profile(&a, "Ada L.", &["rust", "kicad"], T0 + 10), &a);
    assert_eq!(store.put_profile(&old).unwrap(), ProfilePut::Inserted);
    assert_eq!(store.put_profile(&new).unwrap(), ProfilePut::Replaced);
    assert_eq!(store.put_profile(&old).unwrap(), ProfilePut::Stale);
    assert_eq!(store.get_profile(&a.public()).unwrap().unwrap(), new);
    let idx = store.index_range(RecordKind::Profile, 0, u64::MAX).unwrap();
    assert_eq!(
        idx,
        vec![(T0 + 10, new.id())],
        "index follows the replacement"
    );
    store.remove_profile(&a.public()).unwrap();
    assert!(store
        .index_range(RecordKind::Profile, 0, u64::MAX)
        .unwrap()
        .is_empty());
}

#[test]
fn garbage_value_is_reported_as_corruption_for_that_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let a = identity(1);
    let b = identity(2);
    {
        let store = Store::open(&path).unwrap();
        store
            .put_profile(&sign(profile(&a, "Ada", &["rust"], T0), &a))
            .unwrap();
        store.flush().unwrap();
    }
    {
        // Write garbage straight into the tree with sled, as a damaged disk might.
        let db = raw_sled(&path);
        db.open_tree("profiles")
            .unwrap()
            .insert(b.public().0, &[0xde, 0xad, 0xbe, 0xef][..])
            .unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("own_seq", &[0xff; 3][..])
            .unwrap();
        db.flush().unwrap();
    }
    let store = Store::open(&path).unwrap();
    let err = store.get_profile(&b.public()).unwrap_err();
    match &err {
        StoreError::Corrupt { tree, key, .. } => {
            assert_eq!(*tree, "profiles");
            assert_eq!(key, &hex::encode(b.public().0));
        }
        other => panic!("expected corruption, got {other}"),
    }
    assert!(err.to_string().contains("profiles"));
    // The good profile is still readable, and iteration reports the bad one without stopping.
    assert!(store.get_profile(&a.public()).unwrap().is_some());
    let items: Vec<_> = store.profiles().collect();
    assert_eq!(items.len(), 2);
    assert_eq!(items.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(matches!(
        store.get_meta::<u64>("own_seq"),
        Err(StoreError::Corrupt { tree: "meta", .. })
    ));
}

#[test]
fn second_open_says_a_daemon_may_be_running() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let _first = Store::open(&path).unwrap();
    // sled's lock is per process (flock on the db file); a child process sees it held.
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["--exact", "open_from_child", "--nocapture"])
        .env("GUILD_STORE_CHILD_PATH", &path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("is a guild daemon already running with this home?"),
        "child said: {text}"
    );
    assert!(
        text.contains(&format!("pid {}", std::process::id())),
        "holder named: {text}"
    );
}

#[test]
fn open_from_child() {
    // Helper for the test above; does nothing when run on its own.
    if let Some(path) = std::env::var_os("GUILD_STORE_CHILD_PATH") {
        match Store::open(std::path::Path::new(&path)) {
            Ok(_) => println!("opened"),
            Err(e) => println!("{e}"),
        }
    }
}

#[test]
fn wrong_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    {
        let db = sled::open(&path).unwrap();
        db.insert("schema_version", &99u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    // sled's background threads release the file lock a moment after the drop: a lock held by
    // this very process is waited for (bounded); any other outcome is the answer.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let err = loop {
        match Store::open(&path) {
            Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::yield_now()
            }
            other => break other.unwrap_err(),
        }
    };
    assert!(
        matches!(
            err,
            StoreError::Schema {
                found: Some(99),
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_message_with_the_longest_text_allowed_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let from = identity(1);
    let m = sign(
        guild_core::Message {
            version: guild_core::record::RECORD_VERSION,
            issuer: from.public(),
            to: identity(2).public(),
            issued_at: T0,
            expires_at: T0 + 86_400,
            nonce: 1,
            text: "x".repeat(guild_core::limits::MAX_TEXT_BYTES),
        },
        &from,
    );
    let record = AnyRecord::Message(m);
    record.validate(T0).unwrap();
    assert!(store.put_record(&record).unwrap());
    assert_eq!(
        store.get_record(&record.id()).unwrap(),
        Some(record.clone())
    );
    let listed: Vec<AnyRecord> = store
        .records_of_kind(RecordKind::Message)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(listed, vec![record.clone()]);
    store.remove_record(&record.id()).unwrap();
    assert_eq!(store.record_count(), 0);
    assert!(store.records_of_kind(RecordKind::Message).next().is_none());
}

#[test]
fn an_index_entry_left_without_its_record_by_a_crash_is_skipped_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let records = one_of_each();
    let need = records
        .iter()
        .find(|r| r.kind() == RecordKind::Need)
        .unwrap()
        .clone();
    {
        let store = Store::open(&path).unwrap();
        store.put_record(&need).unwrap();
        store.flush().unwrap();
    }
    {
        // A crash between the two writes of `put_record`: the time index entry is on disk,
        // the record is not.
        let db = raw_sled(&path);
        db.open_tree("records")
            .unwrap()
            .remove(need.id().0)
            .unwrap();
        db.flush().unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert!(store.records_of_kind(RecordKind::Need).next().is_none());
    assert!(store
        .index_range(RecordKind::Need, 0, u64::MAX)
        .unwrap()
        .is_empty());
    // When it arrives again it is stored again.
    assert!(store.put_record(&need).unwrap());
    assert_eq!(store.records_of_kind(RecordKind::Need).count(), 1);
}

/// The load reads each chunk of index keys in id order and gives the records back oldest first:
/// the same records in the same order as the time index, whatever the chunk size, across chunk
/// boundaries, with an index key left by a crash skipped and removed.
#[test]
fn records_read_in_id_order_by_chunks_come_back_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let writer = identity(7);
    let needs: Vec<AnyRecord> = (0..10u64)
        .map(|i| {
            // Times out of id order, two records sharing a time.
            let at = T0 + (i * 7) % 10 / 2;
            AnyRecord::Need(sign(
                guild_core::fixtures::need(&writer, &format!("n{i}"), &["rust"], at),
                &writer,
            ))
        })
        .collect();
    let lost = needs[4].id();
    {
        let store = Store::open(&path).unwrap();
        for r in &needs {
            assert!(store.put_record(r).unwrap());
        }
        store.flush().unwrap();
    }
    {
        let db = raw_sled(&path);
        db.open_tree("records").unwrap().remove(lost.0).unwrap();
        db.flush().unwrap();
    }
    let store = Store::open(&path).unwrap();
    let mut expected: Vec<(u64, guild_core::RecordId)> = needs
        .iter()
        .filter(|r| r.id() != lost)
        .map(|r| (r.issued_at(), r.id()))
        .collect();
    expected.sort();
    for (chunk, readers) in [1, 3, 4, 9, 1 << 15]
        .into_iter()
        .flat_map(|c| [(c, 0), (c, 1), (c, 2), (c, 3)])
    {
        // Readers 0: on the caller's thread; else that many threads taking chunks in turn.
        let loaded: Vec<_> = if readers == 0 {
            store
                .records_of_kind_in_chunks(RecordKind::Need, chunk)
                .map(Result::unwrap)
                .collect()
        } else {
            store
                .records_of_kind_read_ahead(RecordKind::Need, chunk, readers)
                .map(Result::unwrap)
                .collect()
        };
        let got: Vec<_> = loaded
            .iter()
            .map(|s| (s.record.issued_at(), s.id))
            .collect();
        assert_eq!(got, expected, "chunks of {chunk}, {readers} readers");
        for s in &loaded {
            assert_eq!(s.record.id(), s.id);
            assert_eq!(s.size as usize, s.record.encode().unwrap().len());
        }
    }
    assert_eq!(
        store
            .index_range(RecordKind::Need, 0, u64::MAX)
            .unwrap()
            .len(),
        9,
        "the key left without its record is gone"
    );
}

/// sled 0.34's transactions and batches take a process-wide write lock that can deadlock against
/// a concurrent flush: the flush holds the read side while it waits for the log flusher thread,
/// which cannot take its own read behind the waiting writer (seen as a hang of the reputation
/// tests, two daemons per test, four tests at once). The store uses neither; writers and
/// asynchronous flushers on several stores at once finish.
#[test]
fn concurrent_writes_and_flushes_on_several_stores_finish() {
    let dir = tempfile::tempdir().unwrap();
    let stores: Vec<Store> = (0..4)
        .map(|i| Store::open(&dir.path().join(format!("s{i}"))).unwrap())
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    std::thread::scope(|scope| {
        for (i, store) in stores.iter().enumerate() {
            for w in 0..2u8 {
                let writer = identity(10 + 2 * i as u8 + w);
                scope.spawn(move || {
                    for k in 0..200u64 {
                        let p = sign(profile(&writer, "w", &["rust"], T0 + k), &writer);
                        store.put_profile(&p).unwrap();
                        let mut n = guild_core::fixtures::need(&writer, "n", &["rust"], T0);
                        n.nonce = k;
                        store
                            .put_record(&AnyRecord::Need(sign(n, &writer)))
                            .unwrap();
                    }
                });
            }
            let store = store.clone();
            let rt = rt.handle().clone();
            scope.spawn(move || {
                rt.block_on(async move {
                    let flushes = (0..50).map(|_| {
                        let store = store.clone();
                        tokio::spawn(async move { store.flush_async().await.unwrap() })
                    });
                    for f in flushes.collect::<Vec<_>>() {
                        f.await.unwrap();
                    }
                })
            });
        }
    });
    for store in &stores {
        assert_eq!(store.records_of_kind(RecordKind::Need).count(), 400);
    }
}

/// sled releases a closed database's lock a little after its last handle is dropped (its
/// background threads let go later): reopening at once must wait for that, not fail.
#[test]
fn a_store_closed_here_reopens_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    // As the corruption test does: sled straight, then the store.
    let db = sled::open(&path).unwrap();
    db.flush().unwrap();
    drop(db);
    for i in 0..40u64 {
        let store = Store::open(&path).unwrap();
        store.put_meta("n", &i).unwrap();
        store.flush().unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.get_meta::<u64>("n").unwrap(), Some(39));
    // A store still open in this process is a real lock: refused, not waited for.
    let clone = store.clone();
    drop(store);
    assert!(matches!(Store::open(&path), Err(StoreError::Locked { .. })));
    drop(clone);
    Store::open(&path).unwrap();
}

/// The start-up load reads each record's id from its key and its size from the stored value
/// (`records_of_kind_keyed`): both must be what the record itself gives, for every kind, and a
/// record stored with its encoding handed in (`put_record_encoded`) reads back the same as one
/// stored by `put_record`.
#[test]
fn loaded_records_carry_their_own_id_and_encoded_size() {
    use guild_core::storage::Storage;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let records: Vec<AnyRecord> = one_of_each()
        .into_iter()
        .filter(|r| r.kind() != RecordKind::Profile)
        .collect();
    for (i, r) in records.iter().enumerate() {
        let bytes = r.encode().unwrap();
        let stored = if i % 2 == 0 {
            store.put_record(r).unwrap()
        } else {
            store.put_record_encoded(&r.id(), r, &bytes).unwrap()
        };
        assert!(stored, "{:?} is new", r.kind());
        assert!(
            !store.put_record_encoded(&r.id(), r, &bytes).unwrap(),
            "{:?} stored once",
            r.kind()
        );
    }
    for r in &records {
        let loaded: Vec<_> = Storage::records_of_kind_keyed(&store, r.kind())
            .map(Result::unwrap)
            .collect();
        assert_eq!(loaded.len(), 1, "{:?}", r.kind());
        assert_eq!(loaded[0].id, r.id(), "{:?}: the id under its key", r.kind());
        assert_eq!(loaded[0].size as usize, r.encode().unwrap().len());
        assert_eq!(&loaded[0].record, r);
        // The trait's default (which computes both) agrees with the store's own.
        let plain: Vec<_> = Storage::records_of_kind(&store, r.kind())
            .map(Result::unwrap)
            .collect();
        assert_eq!(plain, vec![r.clone()]);
    }
}

/// The load's records are read ahead on a thread of their own, in batches: across many batch
/// boundaries they come back oldest first, each once; a reader stopped early (the iterator
/// dropped while the thread is blocked on a full channel) is waited for, not left running.
#[test]
fn records_read_ahead_come_back_in_order_and_a_dropped_reader_stops() {
    use guild_store::{READ_AHEAD_BATCH, READ_AHEAD_BATCHES};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s")).unwrap();
    let writer = identity(9);
    let n = READ_AHEAD_BATCH * (READ_AHEAD_BATCHES + 3) + 17;
    let mut expected = Vec::with_capacity(n);
    for i in 0..n {
        let at = T0 + (i as u64 * 7919) % 1000;
        let r = AnyRecord::Need(sign(
            guild_core::fixtures::need(&writer, &format!("need {i}"), &["rust"], at),
            &writer,
        ));
        expected.push((r.issued_at(), r.id()));
        assert!(store.put_record(&r).unwrap());
    }
    expected.sort();
    let got: Vec<_> = store
        .records_of_kind_keyed(RecordKind::Need)
        .map(|s| s.map(|s| (s.record.issued_at(), s.id)))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(got, expected);
    assert_eq!(store.records_of_kind_keyed(RecordKind::Offer).count(), 0);
    // Take a few, then drop: the reader is blocked on the full channel and must see the
    // receiver go; the drop waits for it.
    let mut some = store.records_of_kind_keyed(RecordKind::Need);
    assert_eq!(some.next().unwrap().map(|s| s.id).unwrap(), expected[0].1);
    drop(some);
    for readers in 1..=3 {
        let mut some = store.records_of_kind_read_ahead(RecordKind::Need, 7, readers);
        assert_eq!(some.nth(20).unwrap().map(|s| s.id).unwrap(), expected[20].1);
        drop(some);
    }
    // The store is still whole for the next reader.
    assert_eq!(store.records_of_kind_keyed(RecordKind::Need).count(), n);
}

/// The saved state: taken away by whoever opens the store, readable by that opening only, once.
#[test]
fn a_saved_state_is_handed_to_the_first_opening_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let write =
        |bytes: &'static [u8]| move |f: &mut std::fs::File| std::io::Write::write_all(f, bytes);
    let read = |s: &Store| {
        s.take_saved_state().unwrap().map(|mut saved| {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut saved, &mut v).unwrap();
            v
        })
    };
    let files = || {
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "store")
            .collect();
        names.sort();
        names
    };
    {
        let store = Store::open(&path).unwrap();
        assert_eq!(read(&store), None, "nothing saved");
        store.save_state(write(b"first")).unwrap();
        assert_eq!(files(), ["store.state"]);
    }
    {
        let store = Store::open(&path).unwrap();
        assert_eq!(files(), ["store.state.taken"], "taken away at the opening");
        assert_eq!(read(&store).as_deref(), Some(&b"first"[..]));
        assert_eq!(read(&store), None, "once per opening");
        assert!(files().is_empty(), "removed once read");
        store.save_state(write(b"second")).unwrap();
    }
    {
        // An opening that does not read it still takes it away (it may write).
        let _store = Store::open(&path).unwrap();
        assert_eq!(files(), ["store.state.taken"]);
    }
    {
        let store = Store::open(&path).unwrap();
        assert!(files().is_empty(), "what an earlier opening left goes");
        assert_eq!(read(&store), None);
        // A failing writer leaves nothing.
        let failed = store.save_state(|_f: &mut std::fs::File| Err("disk full"));
        assert!(failed.unwrap_err().to_string().contains("disk full"));
        assert!(files().is_empty());
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(read(&store), None);
    assert!(Store::open_temporary()
        .unwrap()
        .saved_state_path()
        .is_none());
}

/// A store of schema 1 (the same trees) opens, keeps its records and is marked 2, which code of
/// schema 1 refuses: it would change the store without taking the saved-state mark away.
#[test]
fn a_schema_1_store_opens_keeps_its_records_and_becomes_schema_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let p = sign(profile(&identity(1), "ada", &["kicad"], T0), &identity(1));
    {
        let store = Store::open(&path).unwrap();
        store.put_profile(&p).unwrap();
        store.flush().unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    {
        let db = raw_sled(&path);
        db.insert("schema_version", &1u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let store = loop {
        match Store::open(&path) {
            Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::yield_now()
            }
            other => break other.unwrap(),
        }
    };
    assert_eq!(store.get_profile(&p.signer).unwrap(), Some(p));
    drop(store);
    let db = raw_sled(&path);
    let v = db.get("schema_version").unwrap().unwrap();
    assert_eq!(v.as_ref(), &guild_store::SCHEMA_VERSION.to_be_bytes());
    assert_eq!(guild_store::SCHEMA_VERSION, 2);
}
