//! How much of a simulated member's memory is its sled store: opens `n` temporary stores and
//! puts the same `records` signed profiles into each, then prints RSS and the size of the sled
//! files in /dev/shm.
//!
//! ```sh
//! cargo run --release -p guild-sim --example store_memory -- 1000 1300
//! ```

use guild_core::{Identity, Level, Profile, Signed, Skill, SkillTag};
use guild_store::Store;

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(1000);
    let records = args.get(1).copied().unwrap_or(1300);
    let t0 = 1_767_225_600;
    let profiles: Vec<Signed<Profile>> = (0..records)
        .filter_map(|i| {
            let mut secret = [0u8; 32];
            secret[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            let id = Identity::from_secret(secret);
            let body = Profile {
                version: guild_core::record::RECORD_VERSION,
                issuer: id.public(),
                issued_at: t0,
                expires_at: t0 + 7 * 86_400,
                name: format!("member {i}"),
                bio: format!("Member {i} of the simulated community."),
                skills: ["rust", "kicad", "welding"]
                    .iter()
                    .filter_map(|s| SkillTag::parse(s).ok())
                    .map(|tag| Skill {
                        tag,
                        level: Level::Advanced,
                    })
                    .collect(),
                resources: vec![],
                links: vec![],
            };
            Signed::sign(body, &id).ok()
        })
        .collect();
    let before = status_kib("VmRSS:");
    let mut stores = Vec::with_capacity(n);
    for _ in 0..n {
        match Store::open_temporary() {
            Ok(s) => stores.push(s),
            Err(e) => {
                eprintln!("cannot open a store: {e}");
                return;
            }
        }
    }
    let opened = status_kib("VmRSS:");
    for s in &stores {
        for p in &profiles {
            if let Err(e) = s.put_profile(p) {
                eprintln!("put: {e}");
                return;
            }
        }
    }
    let filled = status_kib("VmRSS:");
    println!(
        "{n} stores: RSS {:.0} MiB empty (+{:.2} MiB each), {:.0} MiB with {records} profiles each (+{:.2} MiB each); peak {:.0} MiB",
        opened as f64 / 1024.0,
        (opened - before) as f64 / 1024.0 / n as f64,
        filled as f64 / 1024.0,
        (filled - before) as f64 / 1024.0 / n as f64,
        status_kib("VmHWM:") as f64 / 1024.0
    );
}
