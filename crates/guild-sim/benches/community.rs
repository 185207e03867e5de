//! The 1000-member community: runs [`guild_sim::community`] to convergence and prints virtual
//! convergence time, traffic per member, CPU time per member and peak memory; for projects (needs
//! with 2–5 roles) next to one-role needs: the share staffed, the time from the ask to the last
//! seat filled and the messages each member sent (median, p90, max).
//!
//! ```sh
//! cargo bench -p guild-sim --bench community -- [members] [seed]
//! ```
//!
//! A benchmark, not a test: nothing is asserted about the figures.

use guild_sim::community::{Community, CommunityConfig};
use guild_sim::SimConfig;
use std::time::Instant;

/// User + system CPU time of this process (all threads), seconds, from `/proc/self/stat`.
fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Linux reports clock ticks of USER_HZ, 100 on every common configuration.
    Some((utime + stime) / 100.0)
}

/// A field of `/proc/self/status` in KiB (`VmHWM`, `VmRSS`).
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Median, p90 and max of sorted values (nearest rank), or `-` when empty.
fn summary(v: &[u64]) -> String {
    if v.is_empty() {
        return "-".into();
    }
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    format!("median {}, p90 {}, max {}", at(0.5), at(0.9), at(1.0))
}

/// [`summary`] of sorted milliseconds, in seconds.
fn summary_s(v: &[u64]) -> String {
    if v.is_empty() {
        return "-".into();
    }
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize] as f64 / 1000.0;
    format!(
        "median {:.1} s, p90 {:.1} s, max {:.1} s",
        at(0.5),
        at(0.9),
        at(1.0)
    )
}

/// `part` of `all` in percent.
fn share(part: usize, all: usize) -> f64 {
    if all == 0 {
        f64::NAN
    } else {
        part as f64 * 100.0 / all as f64
    }
}

/// The run and its report in the order they print. Long (a script of phases) on purpose.
fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let members: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let seed: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let cfg = CommunityConfig::new(members, SimConfig::new(seed));
    println!(
        "community: {members} members, seed {seed}, degree {}, links {}–{} ms (+≤{} ms jitter), loss {}, tick {} ms",
        cfg.sim.degree,
        cfg.sim.latency.min_ms,
        cfg.sim.latency.max_ms,
        cfg.sim.latency.jitter_ms,
        cfg.sim.loss,
        cfg.sim.tick_ms
    );
    let cpu0 = cpu_secs().unwrap_or(0.0);
    let wall0 = Instant::now();
    let mut community = Community::new(cfg);
    let setup_wall = wall0.elapsed().as_secs_f64();
    let setup_cpu = cpu_secs().unwrap_or(0.0) - cpu0;
    let rss_after_setup = status_kib("VmRSS:").unwrap_or(0);
    let r = community.run();
    let wall = wall0.elapsed().as_secs_f64();
    // How long gossip alone took to bring each public record to every member.
    let mut spread: Vec<u64> = Vec::new();
    let mut partial = 0;
    for p in community.sim.published() {
        let (count, last) = community.sim.gossip_reach(p.msg);
        if count as usize >= members {
            spread.push(last - p.at);
        } else {
            partial += 1;
        }
    }
    spread.sort_unstable();
    let pct = |q: f64| -> f64 {
        spread
            .get(((spread.len() as f64 - 1.0) * q).round() as usize)
            .map_or(f64::NAN, |v| *v as f64)
    };
    let cpu = cpu_secs().unwrap_or(0.0) - cpu0;
    let hwm = status_kib("VmHWM:").unwrap_or(0);
    let n = members as f64;
    let t = r.traffic;
    println!(
        "activity: {} profiles, {} needs, {} need.matched, {} offers, {} accepted, {} collaborations, {} closed, {} attestations; {} public records published",
        r.profiles, r.needs, r.matched, r.offers, r.accepted, r.collaborations, r.closed, r.attestations, r.published
    );
    println!(
        "converged: {} at {:.1} s virtual (last public record published at {:.1} s; tail {:.1} s)",
        r.converged,
        r.convergence_ms as f64 / 1000.0,
        r.last_publish_ms as f64 / 1000.0,
        (r.convergence_ms.saturating_sub(r.last_publish_ms)) as f64 / 1000.0
    );
    println!(
        "gossip spread of one record to all {members} members: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} records; {} reached some members by sync instead)",
        pct(0.5),
        pct(0.99),
        pct(1.0),
        spread.len(),
        partial
    );
    println!(
        "gossip per member: {:.0} messages, {:.1} KiB sent (accepted {}, duplicates dropped {}, rejected {}, ignored {}, lost {})",
        t.gossip_msgs as f64 / n,
        t.gossip_bytes as f64 / n / 1024.0,
        r.gossip.accepted,
        r.gossip.duplicates,
        r.gossip.rejected,
        r.gossip.ignored,
        r.gossip.lost
    );
    println!(
        "direct per member: {:.0} requests ({:.1} KiB) + {:.0} responses ({:.1} KiB)",
        t.request_msgs as f64 / n,
        t.request_bytes as f64 / n / 1024.0,
        t.response_msgs as f64 / n,
        t.response_bytes as f64 / n / 1024.0
    );
    println!(
        "time: wall {wall:.1} s, CPU {cpu:.1} s (setup: wall {setup_wall:.1} s, CPU {setup_cpu:.1} s); per member: wall {:.1} ms, CPU {:.1} ms",
        wall * 1000.0 / n,
        cpu * 1000.0 / n
    );
    println!(
        "memory: peak RSS (VmHWM) {:.0} MiB ({:.2} MiB per member); RSS after setup {:.0} MiB (stores in memory, counted in RSS)",
        hwm as f64 / 1024.0,
        hwm as f64 / 1024.0 / n,
        rss_after_setup as f64 / 1024.0,
    );
    // Projects next to one-role needs: staffing and messages sent per member.
    let one_role_needs = r.needs - r.team_needs;
    let teams = community.teams();
    let seats: usize = teams.iter().map(|t| t.seats).sum();
    let filled: usize = teams.iter().map(|t| t.members.len()).sum();
    let unstaffed: Vec<String> = teams
        .iter()
        .filter(|t| !t.staffed)
        .map(|t| format!("{}/{}", t.members.len(), t.seats))
        .collect();
    println!(
        "projects: {} of {} needs; {} staffed ({:.0} %); ask to last seat filled: {}",
        r.team_needs,
        r.needs,
        r.teams_staffed,
        share(r.teams_staffed, r.team_needs),
        summary_s(&r.staff_ms)
    );
    println!(
        "project seats: {filled} of {seats} filled; seats filled of the unstaffed projects: {}",
        unstaffed.join(" ")
    );
    println!(
        "one-role needs: {one_role_needs}; {} with an accepted offer ({:.0} %); ask to accept: {}",
        r.one_role_staff_ms.len(),
        share(r.one_role_staff_ms.len(), one_role_needs),
        summary_s(&r.one_role_staff_ms)
    );
    let (team, pair) = community.participants();
    let sent = |nodes: &mut dyn Iterator<Item = usize>, gossip: bool| -> Vec<u64> {
        let mut v: Vec<u64> = nodes
            .map(|i| {
                let t = community.sim.traffic(i);
                t.request_msgs + t.response_msgs + if gossip { t.gossip_msgs } else { 0 }
            })
            .collect();
        v.sort_unstable();
        v
    };
    for (what, gossip) in [
        ("gossip + requests + responses", true),
        ("direct: requests + responses", false),
    ] {
        println!(
            "messages sent per member ({what}): all {} members {}; {} in project teams {}; {} in one-role collaborations {}",
            members,
            summary(&sent(&mut (0..members), gossip)),
            team.len(),
            summary(&sent(&mut team.iter().copied(), gossip)),
            pair.len(),
            summary(&sent(&mut pair.iter().copied(), gossip))
        );
    }
    println!(
        "trace: {} messages, hash {}",
        r.trace_len,
        r.trace_hash
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
}
