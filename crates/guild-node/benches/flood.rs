//! Floods from strangers (issue 10): what each inbound path lets a stranger make one node
//! accept, store and compute, and what a refused request costs the victim.
//!
//! The victim's service is driven directly (no sockets), as the daemon loop drives it, over a
//! sled store in a temp dir. Every record and request is signed and encoded before any clock
//! starts (signing is the attacker's work). CPU time is the process's user + system time
//! (`getrusage(RUSAGE_SELF)`), measured over a batch of requests sent after the budget was spent
//! (the row says how many of that batch were refused; CPU is divided by those).
//!
//! `cargo bench -p guild-node --bench flood` (`GUILD_BENCH_QUICK=1` shrinks the sizes).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use guild_core::control::pull::AskParams;
use guild_core::control::{ProfileDraft, ServiceCall};
use guild_core::fixtures::{self, identity, sign, tag, T0};
use guild_core::wire::{DirectRequest, DirectResponse, Fingerprint, SyncKey};
use guild_core::{codec, AnyRecord, Identity, Message, Need, PublicKey, RecordId, RecordKind};
use guild_core::{Revocation, Signed};
use guild_service::admission::MESSAGE_QUOTA;
use guild_service::{sync, CallId, Io, Millis, Service, ServiceConfig, Topic, Via};
use guild_store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const MS: Millis = T0 * 1000;

/// The `i`-th fresh identity (a new key costs the attacker nothing).
fn fresh(i: u32) -> Identity {
    let mut secret = [0x5Au8; 32];
    secret[..4].copy_from_slice(&i.to_le_bytes());
    Identity::from_secret(secret)
}

/// Process CPU time (user + system), microseconds.
fn cpu_us() -> f64 {
    use nix::sys::resource::{getrusage, UsageWho};
    let ru = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage");
    let tv = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 * 1e6 + t.tv_usec() as f64;
    tv(ru.user_time()) + tv(ru.system_time())
}

/// Bytes of every file under `dir` (like `du -b`).
fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        total += if m.is_dir() {
            dir_bytes(&e.path())
        } else {
            m.len()
        };
    }
    total
}

/// Encoded bytes of every record and profile the store holds.
fn stored_bytes(store: &Store) -> u64 {
    let kinds = [
        RecordKind::Need,
        RecordKind::Offer,
        RecordKind::Attestation,
        RecordKind::Revocation,
        RecordKind::Collaboration,
        RecordKind::CollabEntry,
        RecordKind::Message,
    ];
    let records: u64 = kinds
        .iter()
        .flat_map(|k| store.records_of_kind(*k))
        .map(|r| r.unwrap().encode().unwrap().len() as u64)
        .sum();
    let profiles: u64 = store
        .profiles()
        .map(|p| AnyRecord::Profile(p.unwrap()).encode().unwrap().len() as u64)
        .sum();
    records + profiles
}

/// The node under attack.
struct Victim {
    svc: Service<Store>,
    me: Identity,
    dir: tempfile::TempDir,
    before: (u64, u64),
    calls: u64,
}

impl Victim {
    fn new() -> Victim {
        Victim::over(|_| {})
    }

    /// A victim whose store was filled by `fill` before the service opened it.
    fn over(fill: impl FnOnce(&Store)) -> Victim {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        {
            let store = Store::open(&path).unwrap();
            fill(&store);
            store.flush().unwrap();
        }
        let store = reopen(&path);
        let me = identity(1);
        let mut svc = Service::new(
            Identity::from_secret(me.secret_bytes()),
            store,
            ServiceConfig::default(),
            1,
            MS,
        )
        .unwrap();
        // Our profile, with the skill the floods aim at.
        let p = fixtures::profile(&me, "victim", &["kicad"], T0);
        svc.set_profile(CallId(0), ProfileDraft::from_profile(&p), MS);
        let _ = svc.take_outbox();
        svc.store().flush().unwrap();
        let before = (dir_bytes(&path), stored_bytes(svc.store()));
        Victim {
            svc,
            me,
            dir,
            before,
            calls: 0,
        }
    }

    /// How much the store grew since the flood began: (sled directory, encoded records).
    fn grew(&self) -> (i64, i64) {
        self.svc.store().flush().unwrap();
        let dir = dir_bytes(&self.dir.path().join("store"));
        let records = stored_bytes(self.svc.store());
        (
            dir as i64 - self.before.0 as i64,
            records as i64 - self.before.1 as i64,
        )
    }

    /// Posts a need of ours and returns it.
    fn ask(&mut self) -> Signed<Need> {
        self.calls += 1;
        let call = ServiceCall::Ask(AskParams {
            text: "review my layout".into(),
            skills: vec![tag("kicad")],
            resources: vec![],
            expires_secs: None,
            ..Default::default()
        });
        self.svc.call(CallId(self.calls), call, MS);
        let need = self
            .svc
            .take_outbox()
            .into_iter()
            .find_map(|io| match io {
                Io::Publish {
                    topic: Topic::Needs,
                    data,
                    ..
                } => match AnyRecord::decode(&data).unwrap() {
                    AnyRecord::Need(n) => Some(n),
                    _ => None,
                },
                _ => None,
            })
            .expect("our need was published");
        let _ = self.svc.take_outbox();
        need
    }
}

/// sled releases its file lock a moment after the store is dropped (bounded wait).
fn reopen(path: &Path) -> Store {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match Store::open(path) {
            Ok(s) => return s,
            Err(guild_store::StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::yield_now()
            }
            Err(e) => panic!("cannot reopen the store: {e}"),
        }
    }
}

/// An outcome's label: "ok", or the refusal reason with, for rate limits, what ran out.
fn label(reason: &str, detail: &str) -> String {
    if reason != "rate_limited" {
        return reason.into();
    }
    let what = if detail.contains("quota") {
        "quota"
    } else if detail.contains("fetch budget") {
        "ids"
    } else if detail.contains("work budget") {
        "keys"
    } else if detail.contains("peer's budget") {
        "peer"
    } else if detail.contains("pending") || detail.contains("waiting") {
        "pending"
    } else if detail.contains("offers per") {
        "per-need"
    } else {
        "rate"
    };
    format!("{reason}/{what}")
}

fn response_label(r: &DirectResponse) -> String {
    match r {
        DirectResponse::Error { reason, message } => label(reason.label(), message),
        _ => "ok".into(),
    }
}

/// One table row.
#[derive(Default)]
struct Row {
    path: String,
    sent: usize,
    outcomes: BTreeMap<String, usize>,
    grew: (i64, i64),
    per_signer: String,
    /// CPU over the timed batch, and how many of it were refused.
    cpu: Option<(f64, usize)>,
    note: String,
}

impl Row {
    fn new(path: &str) -> Row {
        Row {
            path: path.into(),
            ..Row::default()
        }
    }

    fn count(&mut self, outcome: String) {
        self.sent += 1;
        *self.outcomes.entry(outcome).or_default() += 1;
    }

    /// Runs `batch` (known to be refused) under the CPU clock.
    fn timed(&mut self, batch: impl FnOnce(&mut Row)) {
        let refused_before = self.refused();
        let t = cpu_us();
        batch(self);
        let spent = cpu_us() - t;
        self.cpu = Some((spent, self.refused() - refused_before));
    }

    fn accepted(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|(k, _)| k.starts_with("ok"))
            .map(|(_, n)| *n)
            .sum()
    }

    fn refused(&self) -> usize {
        self.sent - self.accepted()
    }

    fn print(&self) {
        let refused: Vec<String> = self
            .outcomes
            .iter()
            .filter(|(k, _)| !k.starts_with("ok"))
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let cpu = match self.cpu {
            Some((us, n)) if n > 0 => format!("{:.1} (n={n})", us / n as f64),
            _ => "-".into(),
        };
        println!(
            "{:<40} {:>6} {:>6} {:<44} {:>9} {:>9} {:>8} {:>14}",
            self.path,
            self.sent,
            self.accepted(),
            if refused.is_empty() {
                "-".into()
            } else {
                refused.join(", ")
            },
            self.grew.0,
            self.grew.1,
            self.per_signer,
            cpu
        );
        if !self.note.is_empty() {
            println!("{:<40}   {}", "", self.note);
        }
    }
}

fn deliver_bytes(record: AnyRecord) -> Vec<u8> {
    codec::encode(&DirectRequest::Deliver(Box::new(record))).unwrap()
}

/// (a) One stranger delivering many 3 KB direct messages.
fn messages(n: usize) -> Row {
    let mut v = Victim::new();
    let s = fresh(1);
    let to = v.me.public();
    let reqs: Vec<Vec<u8>> = (0..n as u64)
        .map(|i| {
            deliver_bytes(AnyRecord::Message(sign(
                Message {
                    version: guild_core::record::RECORD_VERSION,
                    issuer: s.public(),
                    to,
                    issued_at: T0,
                    expires_at: T0 + 86_400,
                    nonce: i,
                    text: "x".repeat(3_000),
                },
                &s,
            )))
        })
        .collect();
    let mut row = Row::new(&format!("a. messages 1 stranger x{n} (3 KB)"));
    // 100 ms apart: the hourly budget refills as it would.
    let at = |i: usize| MS + i as u64 * 100;
    let warm = 100.min(n);
    for (i, r) in reqs[..warm].iter().enumerate() {
        let resp = v.svc.received_request(s.public(), r, at(i));
        row.count(response_label(&resp));
    }
    row.timed(|row| {
        for (i, r) in reqs.iter().enumerate().skip(warm) {
            let resp = v.svc.received_request(s.public(), r, at(i));
            row.count(response_label(&resp));
        }
    });
    let _ = v.svc.take_outbox();
    row.grew = v.grew();
    let u = v.svc.usage_of(&s.public(), RecordKind::Message);
    row.per_signer = u.bytes.to_string();
    row.note = format!(
        "stored {} messages, {} B (quota {} records / {} B); before issue 10 all were: {} MB encoded",
        u.count,
        u.bytes,
        MESSAGE_QUOTA.stranger.count,
        MESSAGE_QUOTA.stranger.bytes,
        n * reqs[0].len() / 1_000_000
    );
    row
}

/// (b) Fresh keys each relaying needs on gossip through one peer.
fn needs(keys: u32, per_key: u64) -> Row {
    let mut v = Victim::new();
    let relay = fresh(999_999).public();
    let signed: Vec<Vec<AnyRecord>> = (0..keys)
        .map(|k| {
            let s = fresh(10_000 + k);
            (0..per_key)
                .map(|i| {
                    AnyRecord::Need(sign(
                        Need {
                            nonce: i,
                            project: None,
                            ..fixtures::need(&s, "spam", &["kicad"], T0 - 3_600 + u64::from(k))
                        },
                        &s,
                    ))
                })
                .collect()
        })
        .collect();
    let mut row = Row::new(&format!("b. needs {keys} keys x{per_key} (gossip)"));
    let mut clock = MS;
    let mut matched = 0;
    let mut send = |v: &mut Victim, row: &mut Row, r: &AnyRecord| {
        clock += 100; // one relay at 10 records a second: within its per-peer budget
        let out = v
            .svc
            .received_record(Some(relay), r.clone(), Via::Gossip, clock);
        matched += v
            .svc
            .take_outbox()
            .iter()
            .filter(|io| matches!(io, Io::Emit(guild_core::control::Event::NeedMatched { .. })))
            .count();
        row.count(match out {
            Ok(_) => "ok".into(),
            Err(e) => label(e.reason.label(), &e.detail),
        });
    };
    // Each key's first few (within its daily budget), then the rest, timed.
    let first = guild_service::admission::NEEDS_PER_DAY.stranger as usize;
    for per in &signed {
        for r in per.iter().take(first) {
            send(&mut v, &mut row, r);
        }
    }
    row.timed(|row| {
        for per in &signed {
            for r in per.iter().skip(first) {
                send(&mut v, row, r);
            }
        }
    });
    row.grew = v.grew();
    let max = (0..keys)
        .map(|k| {
            v.svc
                .usage_of(&fresh(10_000 + k).public(), RecordKind::Need)
                .bytes
        })
        .max()
        .unwrap_or(0);
    row.per_signer = max.to_string();
    let pool = v.svc.stranger_usage(RecordKind::Need);
    row.note = format!(
        "strangers' need pool {} records / {} B (cap {:?}); need.matched raised {matched}",
        pool.count,
        pool.bytes,
        guild_service::admission::stranger_pool(RecordKind::Need).unwrap()
    );
    row
}

/// (c) Fresh-key profiles, each key then re-publishing new versions.
fn profiles(keys: u32, versions: u64) -> Row {
    let mut v = Victim::new();
    let relay = fresh(999_998).public();
    let signed: Vec<Vec<AnyRecord>> = (0..keys)
        .map(|k| {
            let s = fresh(20_000 + k);
            (0..versions)
                .map(|i| {
                    AnyRecord::Profile(sign(
                        fixtures::profile(&s, "fake", &["kicad"], T0 - 3_600 + i),
                        &s,
                    ))
                })
                .collect()
        })
        .collect();
    let mut row = Row::new(&format!("c. profiles {keys} keys x{versions} versions"));
    let mut clock = MS;
    let mut send = |v: &mut Victim, row: &mut Row, r: &AnyRecord| {
        clock += 100;
        let out = v
            .svc
            .received_record(Some(relay), r.clone(), Via::Gossip, clock);
        row.count(match out {
            Ok(_) => "ok".into(),
            Err(e) => label(e.reason.label(), &e.detail),
        });
    };
    let first = guild_service::admission::PROFILES_PER_HOUR.stranger as usize;
    for per in &signed {
        for r in per.iter().take(first) {
            send(&mut v, &mut row, r);
        }
    }
    row.timed(|row| {
        for per in &signed {
            for r in per.iter().skip(first) {
                send(&mut v, row, r);
            }
        }
    });
    let _ = v.svc.take_outbox();
    row.grew = v.grew();
    let max = (0..keys)
        .filter_map(|k| {
            v.svc
                .store()
                .get_profile(&fresh(20_000 + k).public())
                .unwrap()
        })
        .map(|p| AnyRecord::Profile(p).encode().unwrap().len())
        .max()
        .unwrap_or(0);
    row.per_signer = max.to_string();
    row.note = format!(
        "profiles indexed {} (one per signer; ours kept: {})",
        v.svc.counts().profiles,
        v.svc.knows(&v.me.public())
    );
    row
}

fn revocation(by: &Identity, target: RecordId) -> AnyRecord {
    AnyRecord::Revocation(sign(
        Revocation {
            version: guild_core::record::RECORD_VERSION,
            issuer: by.public(),
            issued_at: T0,
            expires_at: T0 + 30 * 86_400,
            target,
            target_kind: RecordKind::Need,
            reason: String::new(),
        },
        by,
    ))
}

/// (d) Revocations of records not held: one signer, or one each from many.
fn revocations(n: u32, many: bool) -> Row {
    let mut v = Victim::new();
    let relay = fresh(999_997).public();
    let signers: Vec<Identity> = if many {
        (0..n).map(|i| fresh(30_000 + i)).collect()
    } else {
        vec![fresh(30_000)]
    };
    let reqs: Vec<AnyRecord> = (0..n)
        .map(|i| {
            let mut target = [0x77u8; 32];
            target[..4].copy_from_slice(&i.to_le_bytes());
            revocation(&signers[i as usize % signers.len()], RecordId(target))
        })
        .collect();
    let who = if many {
        format!("{n} keys")
    } else {
        "1 key".into()
    };
    let mut row = Row::new(&format!("d. revocations x{n} unheld, {who}"));
    let send = |v: &mut Victim, row: &mut Row, i: usize, r: &AnyRecord| {
        let out = v
            .svc
            .received_record(Some(relay), r.clone(), Via::Gossip, MS + i as u64 * 100);
        row.count(match out {
            Ok(i) => format!("ok/{i:?}").to_lowercase(),
            Err(e) => label(e.reason.label(), &e.detail),
        });
    };
    let warm = if many {
        reqs.len()
    } else {
        guild_service::MAX_PENDING_PER_SIGNER
    };
    for (i, r) in reqs.iter().enumerate().take(warm) {
        send(&mut v, &mut row, i, r);
    }
    row.timed(|row| {
        for (i, r) in reqs.iter().enumerate().skip(warm) {
            send(&mut v, row, i, r);
        }
    });
    row.grew = v.grew();
    row.per_signer = "0".into();
    row.note = format!(
        "held pending until their targets arrive (at most {} per signer, {} in all)",
        guild_service::MAX_PENDING_PER_SIGNER,
        guild_service::MAX_PENDING_TOTAL
    );
    row
}

/// (e) One stranger making many offers on one need of ours.
fn offers(n: u64) -> Row {
    let mut v = Victim::new();
    let need = v.ask();
    v.before = (
        dir_bytes(&v.dir.path().join("store")),
        stored_bytes(v.svc.store()),
    );
    let s = fresh(40_000);
    let reqs: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let mut body = fixtures::offer(&s, &need, T0);
            body.text = format!("offer {i}");
            deliver_bytes(AnyRecord::Offer(sign(body, &s)))
        })
        .collect();
    let mut row = Row::new(&format!("e. offers 1 stranger x{n}, one need"));
    let warm = guild_service::admission::OFFERS_PER_NEED.stranger;
    for r in &reqs[..warm] {
        let resp = v.svc.received_request(s.public(), r, MS);
        row.count(response_label(&resp));
    }
    row.timed(|row| {
        for r in &reqs[warm..] {
            let resp = v.svc.received_request(s.public(), r, MS);
            row.count(response_label(&resp));
        }
    });
    let _ = v.svc.take_outbox();
    row.grew = v.grew();
    row.per_signer = v
        .svc
        .usage_of(&s.public(), RecordKind::Offer)
        .bytes
        .to_string();
    row
}

/// A victim holding `n` needs (sync keys), written to its store before it opened.
fn victim_with_needs(n: u32) -> Victim {
    let signers: Vec<Identity> = (0..100).map(|i| fresh(50_000 + i)).collect();
    let records: Vec<AnyRecord> = (0..n)
        .map(|i| {
            let s = &signers[i as usize % signers.len()];
            AnyRecord::Need(sign(
                Need {
                    nonce: u64::from(i),
                    project: None,
                    ..fixtures::need(s, "held", &["rust"], T0 - 86_400 + u64::from(i))
                },
                s,
            ))
        })
        .collect();
    Victim::over(|store| {
        for r in &records {
            store.put_record(r).unwrap();
        }
    })
}

fn whole(count: u32) -> Fingerprint {
    Fingerprint {
        lo: SyncKey::MIN,
        hi: SyncKey::MAX,
        count,
        xor: [0; 32],
    }
}

fn sync_bytes(ranges: Vec<Fingerprint>) -> Vec<u8> {
    codec::encode(&DirectRequest::Sync {
        kind: RecordKind::Need,
        ranges,
    })
    .unwrap()
}

/// (f) Sync: 256 identical whole ranges (from one peer, and from many), and one differing whole
/// range over a victim holding `held` keys.
fn sync_floods(v: &mut Victim, held: u32, n: usize) -> Vec<Row> {
    let mut rows = vec![];
    let dup = sync_bytes(vec![whole(1); 256]);
    for many in [false, true] {
        let who = if many {
            format!("{n} peers")
        } else {
            "1 peer".into()
        };
        let mut row = Row::new(&format!("f. sync 256 same ranges x{n}, {who}"));
        let peers: Vec<PublicKey> = (0..n as u32)
            .map(|i| fresh(if many { 70_000 + i } else { 60_000 }).public())
            .collect();
        row.timed(|row| {
            for p in &peers {
                let resp = v.svc.received_request(*p, &dup, MS);
                row.count(response_label(&resp));
            }
        });
        let disconnects = v
            .svc
            .take_outbox()
            .iter()
            .filter(|io| matches!(io, Io::Disconnect { .. }))
            .count();
        row.grew = v.grew();
        row.per_signer = "0".into();
        row.note = format!(
            "{} bytes a request; disconnects asked: {disconnects}",
            dup.len()
        );
        rows.push(row);
    }
    // One differing whole range, again and again.
    let items: BTreeSet<SyncKey> = v
        .svc
        .store()
        .index_range(RecordKind::Need, 0, u64::MAX)
        .unwrap()
        .into_iter()
        .map(|(time, id)| SyncKey { time, id })
        .collect();
    let (_, per_walk) = sync::reply_counted(&items, &whole(1));
    let diff = sync_bytes(vec![whole(1)]);
    let peer = fresh(61_000).public();
    let mut row = Row::new(&format!("f. sync 1 differing range x{n}"));
    let mut i = 0;
    while i < n {
        let resp = v.svc.received_request(peer, &diff, MS);
        i += 1;
        let refused = matches!(resp, DirectResponse::Error { .. });
        row.count(response_label(&resp));
        if refused {
            break;
        }
    }
    row.timed(|row| {
        for _ in i..n {
            let resp = v.svc.received_request(peer, &diff, MS);
            row.count(response_label(&resp));
        }
    });
    row.grew = v.grew();
    row.per_signer = "0".into();
    row.note = format!(
        "victim holds {} sync keys ({held} needs); {per_walk} keys walked per answer, {} in all \
         (budget {} a minute for a stranger)",
        items.len(),
        per_walk * row.accepted(),
        guild_service::admission::SYNC_KEYS_PER_MINUTE.stranger
    );
    rows.push(row);
    rows
}

/// (g) Fetch: 256 copies of one id, again and again.
fn fetches(v: &mut Victim, n: usize) -> Row {
    let id = v
        .svc
        .store()
        .index_range(RecordKind::Need, 0, u64::MAX)
        .unwrap()[0]
        .1;
    let req = codec::encode(&DirectRequest::Fetch { ids: vec![id; 256] }).unwrap();
    let peer = fresh(62_000).public();
    let mut row = Row::new(&format!("g. fetch 256 copies of 1 id x{n}"));
    let mut returned = 0;
    let mut i = 0;
    while i < n {
        let resp = v.svc.received_request(peer, &req, MS);
        i += 1;
        if let DirectResponse::Records(r) = &resp {
            returned += r.len();
        }
        row.count(response_label(&resp));
        if matches!(resp, DirectResponse::Error { .. }) {
            break;
        }
    }
    row.timed(|row| {
        for _ in i..n {
            let resp = v.svc.received_request(peer, &req, MS);
            if let DirectResponse::Records(r) = &resp {
                returned += r.len();
            }
            row.count(response_label(&resp));
        }
    });
    row.grew = v.grew();
    row.per_signer = "0".into();
    row.note = format!(
        "records returned {returned} (each id once per request; budget {} ids a minute)",
        guild_service::admission::FETCH_IDS_PER_MINUTE.stranger
    );
    row
}

/// (h) Junk bytes from one peer.
fn junk(n: usize) -> Row {
    let mut v = Victim::new();
    let peer = fresh(63_000).public();
    v.svc
        .connected(peer, None, guild_service::Link::default(), MS);
    let _ = v.svc.take_outbox();
    let reqs: Vec<Vec<u8>> = (0..n as u32)
        .map(|i| {
            let mut b = vec![0xffu8; 64];
            b[..4].copy_from_slice(&i.to_le_bytes());
            b
        })
        .collect();
    let mut row = Row::new(&format!("h. junk bytes x{n}, 1 peer"));
    let strikes = guild_service::admission::MAX_STRIKES as usize;
    for r in &reqs[..strikes] {
        let resp = v.svc.received_request(peer, r, MS);
        row.count(response_label(&resp));
    }
    row.timed(|row| {
        for r in &reqs[strikes..] {
            let resp = v.svc.received_request(peer, r, MS);
            row.count(response_label(&resp));
        }
    });
    let disconnects = v
        .svc
        .take_outbox()
        .iter()
        .filter(|io| matches!(io, Io::Disconnect { .. }))
        .count();
    row.grew = v.grew();
    row.per_signer = "0".into();
    row.note = format!(
        "penalised: {}; disconnects asked: {disconnects} (one per request after the last strike)",
        v.svc.is_penalised(&peer, MS)
    );
    row
}

fn main() {
    let quick = std::env::var("GUILD_BENCH_QUICK").is_ok_and(|v| v != "0" && !v.is_empty());
    let (messages_n, keys, held, requests) = if quick {
        (2_000, 60, 1_000u32, 200)
    } else {
        (20_000, 300, 10_000u32, 1_000)
    };
    println!(
        "Floods from strangers (issue 10){}",
        if quick { " — quick sizes" } else { "" }
    );
    println!();
    println!("path           what the strangers send (a fresh victim per row; f and g share one)");
    println!("sent           requests or records sent");
    println!("ok             accepted (answered, stored, or held pending)");
    println!("refused        by reason; rate_limited/what ran out: /rate a rate budget, /quota a");
    println!("               storage quota, /keys the sync work budget, /ids the fetch budget,");
    println!("               /pending the pending-revocation cap, /per-need offers per need");
    println!("dir B          bytes the victim's sled directory grew (files, after flush; sled");
    println!("               grows its files by whole segments, so small floods show 0)");
    println!("rec B          encoded bytes of the records and profiles the store holds, growth");
    println!("B/signer       most bytes stored for one stranger signer (Service::usage_of;");
    println!("               profiles: the stored profile's size)");
    println!(
        "CPU µs/refused process CPU (getrusage) over a batch sent after the budget was spent,"
    );
    println!("               divided by the refused requests of that batch (n)");
    println!();
    println!(
        "{:<40} {:>6} {:>6} {:<44} {:>9} {:>9} {:>8} {:>14}",
        "path", "sent", "ok", "refused", "dir B", "rec B", "B/signer", "CPU µs/refused"
    );
    let started = std::time::Instant::now();
    messages(messages_n).print();
    needs(keys, 10).print();
    profiles(keys, 10).print();
    revocations(keys, false).print();
    revocations(keys, true).print();
    offers(50).print();
    let mut v = victim_with_needs(held);
    for row in sync_floods(&mut v, held, requests) {
        row.print();
    }
    fetches(&mut v, 5_000).print();
    junk(requests).print();
    println!();
    println!("wall time {:.1} s", started.elapsed().as_secs_f64());
}
