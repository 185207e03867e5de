#!/usr/bin/env python3
"""Run many real Guild daemons on this machine and report how the mesh holds up.

Starts N release daemons (mDNS off, web dashboard off, TCP on loopback), each in its own temporary
Guild home, bootstrapped from a few early members; gives each a profile; then reports:

- peers per daemon (min / p50 / p90 / max) against the watermarks, and how many have none;
- profile coverage: how many daemons hold every member's profile, and when they got there;
- the propagation of a need to every member whose skills match it (p50 / p99 / max, from the
  `ask` call to each member's `need.matched` event);
- memory (RSS) and CPU per daemon;
- the time to converge again after 10 % of the daemons restart.

Layouts: `spread` gives each daemon its own loopback address (127.0.x.y), so per-address limits
act as between separate hosts; `shared` puts every daemon on 127.0.0.1.

Usage (from the repository root, after `cargo build --release -p guild`):

    python3 scripts/mesh_run.py --n 100 --layout spread
    python3 scripts/mesh_run.py --n 100 --layout shared --json report.json

Exits 1 if a daemon is left with no peer, a profile or a need does not reach every daemon it
should, or a daemon stays above its high watermark. Never sends traffic off this machine.
Standard library only.
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

VOCAB = [
    "kicad", "pcb-design", "rust", "embedded", "3d-printing", "cad", "firmware", "python",
    "welding", "sewing", "video-editing", "sound-design", "photography", "ux-design", "react",
    "woodworking", "laser-cutting", "cnc", "electronics", "soldering", "translation", "writing",
    "illustration", "animation", "devops", "databases", "machine-learning", "bookkeeping",
    "legal", "marketing",
]
CLK_TCK = os.sysconf("SC_CLK_TCK")
LOG_LEVEL = "info"
# After convergence, how long to let the connection managers settle before counting peers: the
# grace period of new connections (20 s) and a round (5 s), with room.
SETTLE_EXTRA_SECS = 30
# Extra `[network]` settings for every daemon (`--network key=value`), e.g. to compare limits.
EXTRA_NETWORK = []


class Control:
    """A newline-delimited JSON client of one daemon's control socket."""

    def __init__(self, path, timeout=30.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.file = self.sock.makefile("rb")
        self.next_id = 0

    def call(self, method, params=None):
        self.next_id += 1
        req = {"id": self.next_id, "method": method}
        if params is not None:
            req["params"] = params
        self.sock.sendall((json.dumps(req) + "\n").encode())
        line = self.file.readline()
        if not line:
            raise ConnectionError(f"{method}: the daemon closed the connection")
        resp = json.loads(line)
        if "error" in resp:
            raise RuntimeError(f"{method}: {resp['error']}")
        return resp.get("result")

    def events(self):
        while True:
            line = self.file.readline()
            if not line:
                return
            yield time.monotonic(), json.loads(line)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Daemon:
    def __init__(self, i, root, guild, ip):
        self.i = i
        self.home = os.path.join(root, f"node-{i:04d}")
        self.guild = guild
        self.ip = ip
        self.proc = None
        self.addr = None  # full multiaddr with /p2p/
        self.peer_id = None
        self.skills = []
        self.cpu_at_start = 0.0

    @property
    def socket_path(self):
        return os.path.join(self.home, "guild.sock")

    def init(self, bootstrap, low, high):
        subprocess.run([self.guild, "--home", self.home, "init"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.write_config(bootstrap, low, high)

    def write_config(self, bootstrap, low, high):
        boot = ", ".join(json.dumps(b) for b in bootstrap)
        with open(os.path.join(self.home, "config.toml"), "w") as f:
            f.write(
                "[network]\n"
                f'listen = ["/ip4/{self.ip}/tcp/0"]\n'
                f"bootstrap = [{boot}]\n"
                "mdns = false\n"
                "autonat = false\n"
                "dcutr = false\n"
                f"low_water = {low}\n"
                f"high_water = {high}\n"
                + "".join(f"{line}\n" for line in EXTRA_NETWORK)
                + "[web]\nenabled = false\n"
                f"[log]\nlevel = \"{LOG_LEVEL}\"\n"
            )

    def start(self):
        log = open(os.path.join(self.home, "daemon.log"), "ab")
        self.proc = subprocess.Popen(
            [self.guild, "--home", self.home, "daemon", "--no-mdns"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon {self.i} exited ({self.proc.returncode}); see {self.home}/daemon.log")
            if os.path.exists(self.socket_path):
                try:
                    st = self.call("status")
                    if st["listen_addrs"]:
                        self.peer_id = st["peer_id"]
                        self.addr = st["listen_addrs"][0] + "/p2p/" + st["peer_id"]
                        self.cpu_at_start = self.cpu()
                        return
                except (OSError, ConnectionError, RuntimeError):
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"daemon {self.i} did not answer within 60 s")

    def call(self, method, params=None):
        c = Control(self.socket_path)
        try:
            return c.call(method, params)
        finally:
            c.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                self.call("shutdown")
            except (OSError, ConnectionError, RuntimeError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def rss_mib(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return float("nan")

    def cpu(self):
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLK_TCK
        except OSError:
            return float("nan")


def pct(values, q):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round((len(s) - 1) * q)))]


def summary(values, unit=""):
    if not values:
        return "n/a"
    return (f"min {min(values):.4g}{unit}, p50 {pct(values, 0.5):.4g}{unit}, "
            f"p90 {pct(values, 0.9):.4g}{unit}, p99 {pct(values, 0.99):.4g}{unit}, max {max(values):.4g}{unit}")


def ip_of(i, layout):
    if layout == "shared":
        return "127.0.0.1"
    n = i + 2
    return f"127.0.{n // 250}.{n % 250 + 1}"


def settled(st):
    """Connections past their grace period: what the high watermark bounds."""
    mesh = st.get("mesh") or {}
    return st.get("connected_peers", 0) - mesh.get("settling", 0)


def snapshot(daemons):
    out = []
    for d in daemons:
        try:
            st = d.call("status")
            out.append((d, st))
        except (OSError, ConnectionError, RuntimeError) as e:
            out.append((d, {"error": str(e)}))
    return out


def converge(daemons, n, limit, label):
    """Waits until every daemon has a peer and holds all `n` profiles; returns seconds or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        snap = snapshot(daemons)
        alone = sum(1 for _, st in snap if st.get("connected_peers", 0) == 0)
        full = sum(1 for _, st in snap if st.get("index", {}).get("profiles", 0) >= n)
        elapsed = time.monotonic() - t0
        short = [(d.i, st.get("index", {}).get("profiles", 0)) for d, st in snap
                 if st.get("index", {}).get("profiles", 0) < n]
        # Name the daemons still short once most are full: a stall then says whose logs to read.
        named = ""
        if short and len(short) <= 10:
            named = " (short: " + ", ".join(f"#{i} has {p}" for i, p in short) + ")"
        print(f"  {label} {elapsed:5.1f} s: {len(daemons) - alone}/{len(daemons)} connected, "
              f"{full}/{len(daemons)} hold all {n} profiles{named}", flush=True)
        if alone == 0 and full == len(daemons):
            return elapsed
        time.sleep(5)
    return None


def propagate(daemons, asker, skill, limit):
    """Posts a need for `skill` from `asker`; returns per-member delays (s) and who missed it."""
    matching = [d for d in daemons if skill in d.skills and d is not asker]
    arrivals = {}
    ready = threading.Barrier(len(matching) + 1)
    stop = threading.Event()

    def watch(d):
        c = Control(d.socket_path, timeout=limit + 10)
        try:
            c.call("subscribe", {"kinds": ["need.matched"]})
            ready.wait()
            for at, ev in c.events():
                if ev.get("event") == "need.matched":
                    arrivals.setdefault(d.i, (at, ev))
                    return
                if stop.is_set():
                    return
        except (OSError, ConnectionError, RuntimeError, threading.BrokenBarrierError):
            return
        finally:
            c.close()

    threads = [threading.Thread(target=watch, args=(d,), daemon=True) for d in matching]
    for t in threads:
        t.start()
    ready.wait()
    t0 = time.monotonic()
    need = asker.call("ask", {"text": f"a test need for {skill}", "skills": [skill]})
    need_id = need["need"]["id"]
    deadline = t0 + limit
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    stop.set()
    delays = [at - t0 for i, (at, ev) in arrivals.items()
              if json.dumps(ev).find(need_id) >= 0]
    missed = [d.i for d in matching if d.i not in arrivals]
    return delays, missed, len(matching)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100, help="daemons (default 100)")
    ap.add_argument("--layout", choices=["spread", "shared"], default="spread")
    ap.add_argument("--early", type=int, default=6, help="early members everyone bootstraps from")
    ap.add_argument("--low", type=int, default=16, help="network.low_water")
    ap.add_argument("--high", type=int, default=32, help="network.high_water")
    ap.add_argument("--settle", type=float, default=300, help="most seconds to wait for convergence")
    ap.add_argument("--guild", default="target/release/guild", help="the guild binary")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--network", action="append", default=[], metavar="KEY=VALUE",
                    help="an extra [network] setting for every daemon (repeatable), "
                         "e.g. handshake_burst_per_ip=256")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--keep", action="store_true", help="keep the homes (logs) afterwards")
    ap.add_argument("--debug", action="store_true",
                    help="log the connection manager's decisions, syncs and inbound refusals (daemon.log in each home)")
    args = ap.parse_args()
    for setting in args.network:
        key, sep, value = setting.partition("=")
        if not sep or not key.strip():
            ap.error(f"--network wants KEY=VALUE, not {setting!r}")
        EXTRA_NETWORK.append(f"{key.strip()} = {value.strip()}")
    global LOG_LEVEL
    if args.debug:
        LOG_LEVEL = "info,guild_service::mesh=debug,guild_service::direct=debug,guild_net::guard=trace,guild_net::pace=debug"
    if not os.path.exists(args.guild):
        sys.exit(f"{args.guild} not found: run `cargo build --release -p guild` first")
    rng = random.Random(args.seed)
    root = tempfile.mkdtemp(prefix="guild-mesh-")
    print(f"{args.n} daemons, layout {args.layout}, {args.early} early members, "
          f"watermarks {args.low}-{args.high}; homes in {root}", flush=True)
    daemons = []
    report = {"n": args.n, "layout": args.layout, "early": args.early,
              "low": args.low, "high": args.high}
    ok = True
    try:
        t_start = time.monotonic()
        for i in range(args.n):
            d = Daemon(i, root, os.path.abspath(args.guild), ip_of(i, args.layout))
            if i == 0:
                boot = []
            elif i < args.early:
                boot = [daemons[0].addr]
            else:
                boot = [daemons[i % args.early].addr]
            d.init(boot, args.low, args.high)
            d.start()
            d.skills = rng.sample(VOCAB[1:], 3)
            if i % 10 == 3:
                d.skills[0] = "kicad"
            d.call("profile.set", {
                "name": f"member-{i}", "bio": "a member of a test mesh",
                "skills": [{"tag": s, "level": "advanced"} for s in d.skills],
            })
            daemons.append(d)
        print(f"started in {time.monotonic() - t_start:.1f} s", flush=True)

        took = converge(daemons, args.n, args.settle, "converging")
        report["converge_secs"] = took
        time.sleep(SETTLE_EXTRA_SECS)
        snap = snapshot(daemons)
        peers = [st.get("connected_peers", 0) for _, st in snap]
        profiles = [st.get("index", {}).get("profiles", 0) for _, st in snap]
        alone = [d.i for d, st in snap if st.get("connected_peers", 0) == 0]
        over = [d.i for d, st in snap if settled(st) > args.high]
        settling = [st.get("mesh", {}).get("settling", 0) for _, st in snap]
        report["peers"] = {"min": min(peers), "p50": pct(peers, .5), "p90": pct(peers, .9),
                           "max": max(peers), "alone": alone, "above_high": over,
                           "below_low": sum(1 for p in peers if p < args.low),
                           "settling_max": max(settling)}
        report["profiles_full"] = sum(1 for p in profiles if p >= args.n)
        print(f"peers per daemon {SETTLE_EXTRA_SECS} s after converging: {summary(peers)}; "
              f"alone: {len(alone)}; below low: {report['peers']['below_low']}; "
              f"above high (not counting connections in their grace period, at most "
              f"{max(settling)} on one daemon): {len(over)}")
        print(f"profile coverage: {report['profiles_full']}/{args.n} hold all {args.n} profiles "
              f"(min {min(profiles)}); converged in "
              + (f"{took:.1f} s" if took is not None else "NOT within the limit"))
        ok &= not alone and not over and took is not None

        asker = daemons[args.n // 2]
        delays, missed, matching = propagate(daemons, asker, "kicad", 30)
        report["need"] = {"matching": matching, "reached": len(delays), "missed": missed,
                          "p50_ms": pct(delays, .5) * 1000, "p99_ms": pct(delays, .99) * 1000,
                          "max_ms": max(delays) * 1000 if delays else None}
        print(f"need for kicad: {len(delays)}/{matching} matching members reached; "
              f"delay {summary([x * 1000 for x in delays], ' ms')}")
        ok &= not missed

        rss = [d.rss_mib() for d in daemons]
        elapsed = time.monotonic() - t_start
        cpu = [(d.cpu() - d.cpu_at_start) for d in daemons]
        report["rss_mib"] = {"p50": pct(rss, .5), "p90": pct(rss, .9), "max": max(rss)}
        report["cpu_secs"] = {"p50": pct(cpu, .5), "p90": pct(cpu, .9), "max": max(cpu),
                              "over_secs": elapsed}
        print(f"RSS per daemon: {summary(rss, ' MiB')}")
        print(f"CPU per daemon over {elapsed:.0f} s: {summary(cpu, ' s')}")

        restart = daemons[1::10]
        print(f"restarting {len(restart)} daemons", flush=True)
        for d in restart:
            d.stop()
        for d in restart:
            d.start()
        took = converge(daemons, args.n, args.settle, "after restart")
        report["restart_converge_secs"] = took
        print("after 10 % restarted: converged in "
              + (f"{took:.1f} s" if took is not None else "NOT within the limit"))
        ok &= took is not None
        time.sleep(SETTLE_EXTRA_SECS)
        snap = snapshot(daemons)
        peers = [st.get("connected_peers", 0) for _, st in snap]
        over = [d.i for d, st in snap if settled(st) > args.high]
        report["peers_after_restart"] = {"min": min(peers), "p50": pct(peers, .5),
                                         "max": max(peers), "above_high": over}
        print(f"peers per daemon {SETTLE_EXTRA_SECS} s after the restart: {summary(peers)}; "
              f"above high (settled): {len(over)}")
        ok &= min(peers) > 0 and not over
    finally:
        for d in daemons:
            d.stop()
        if args.json:
            with open(args.json, "w") as f:
                json.dump(report, f, indent=2)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print("OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
