#!/usr/bin/env python3
"""Print every profile the Guild daemon learns whose skills match one of the given tags.

Usage: watch_skills.py [--socket PATH] [--min-level LEVEL] SKILL...

Talks to the daemon's control socket directly (newline-delimited JSON, see
docs/control-socket.md) with the Python standard library only: sends `subscribe` for
`profile.learned` events and prints one line per matching profile:

    <peer id>  <name>  <tag>(<level>) ...

The socket is --socket, else $GUILD_SOCKET, else $GUILD_HOME/guild.sock, else
$XDG_DATA_HOME/guild/guild.sock, else ~/.local/share/guild/guild.sock.
Exit status: 0 when the daemon stops, 1 on errors, 2 on usage errors, 3 if no daemon runs.
"""

import argparse
import json
import os
import socket
import sys
import unicodedata

LEVELS = ["beginner", "intermediate", "advanced", "expert"]


def normalise(tag):
    """Guild's tag normalisation: NFKC, lowercase, trim, whitespace runs -> '-'."""
    return "-".join(unicodedata.normalize("NFKC", tag).lower().split())


def default_socket():
    if os.environ.get("GUILD_SOCKET"):
        return os.environ["GUILD_SOCKET"]
    home = os.environ.get("GUILD_HOME")
    if not home:
        data = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
        home = os.path.join(data, "guild")
    return os.path.join(home, "guild.sock")


def lines(sock):
    """Yield decoded JSON objects, one per line, until the daemon closes the connection."""
    buf = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip():
                yield json.loads(line)


def main():
    parser = argparse.ArgumentParser(description="Print learned Guild profiles with matching skills.")
    parser.add_argument("skills", nargs="+", metavar="SKILL", help="skill tags to watch for")
    parser.add_argument("--socket", default=default_socket(), help="the daemon's control socket")
    parser.add_argument("--min-level", choices=LEVELS, default="beginner",
                        help="ignore skills declared below this level")
    args = parser.parse_args()
    wanted = {normalise(s) for s in args.skills}
    min_rank = LEVELS.index(args.min_level)

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(args.socket)
    except (FileNotFoundError, ConnectionRefusedError):
        print(f"no guild daemon is listening on {args.socket}; start one with `guild daemon`",
              file=sys.stderr)
        return 3
    except OSError as e:
        print(f"cannot connect to {args.socket}: {e}", file=sys.stderr)
        return 1

    request = {"id": 1, "method": "subscribe", "params": {"kinds": ["profile.learned"]}}
    sock.sendall(json.dumps(request).encode() + b"\n")
    stream = lines(sock)
    ack = next(stream, None)
    if ack is None:
        print("the daemon closed the connection", file=sys.stderr)
        return 1
    if "error" in ack:
        print(f"error: {ack['error']['message']}", file=sys.stderr)
        return 1

    for msg in stream:
        if "error" in msg:
            # The daemon ends the stream with an error line when it shuts down.
            print(f"guild: {msg['error']['message']}", file=sys.stderr)
            return 0
        if msg.get("event") == "events.dropped":
            print(f"(missed {msg['count']} events)", file=sys.stderr)
            continue
        if msg.get("event") != "profile.learned":
            continue
        matches = [s for s in msg.get("skills", [])
                   if s.get("tag") in wanted and s.get("level") in LEVELS
                   and LEVELS.index(s["level"]) >= min_rank]
        if matches:
            skills = " ".join(f"{s['tag']}({s['level']})" for s in matches)
            print(f"{msg['peer']}  {msg.get('name', '')}  {skills}", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
