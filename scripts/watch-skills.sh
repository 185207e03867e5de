#!/usr/bin/env bash
# Print every profile the daemon learns whose skills match one of the given tags.
#
# Usage: watch-skills.sh [--min-level LEVEL] SKILL...
#   e.g. watch-skills.sh rust kicad
#        watch-skills.sh --min-level advanced "pcb design"
#
# Needs `guild` (with a running daemon; GUILD_HOME / GUILD_SOCKET are honoured) and `jq`.
# Subscribes with `guild events --json --kind profile.learned` and filters with jq; runs until
# interrupted or until the daemon stops. Output: one line per match,
#   <peer id>  <name>  <tag>(<level>) ...
set -euo pipefail

usage() {
    echo "usage: $(basename "$0") [--min-level beginner|intermediate|advanced|expert] SKILL..." >&2
    exit 2
}

min_level=beginner
skills=()
while [ $# -gt 0 ]; do
    case "$1" in
        --min-level) [ $# -ge 2 ] || usage; min_level=$2; shift 2 ;;
        -h|--help) usage ;;
        --) shift; skills+=("$@"); break ;;
        -*) echo "unknown option: $1" >&2; usage ;;
        *) skills+=("$1"); shift ;;
    esac
done
[ ${#skills[@]} -gt 0 ] || usage
case "$min_level" in
    beginner|intermediate|advanced|expert) ;;
    *) echo "unknown level: $min_level" >&2; usage ;;
esac
for tool in guild jq; do
    command -v "$tool" >/dev/null || { echo "$(basename "$0"): \`$tool\` is not on PATH" >&2; exit 1; }
done

# Normalise the tags the way Guild does for plain ASCII input: lowercase, trim, spaces -> '-'.
wanted=$(printf '%s\n' "${skills[@]}" | jq -R 'ascii_downcase | gsub("^\\s+|\\s+$"; "") | gsub("\\s+"; "-")' | jq -s -c .)

# `guild events` exits 3 when no daemon runs, and prints why on stderr.
guild events --json --kind profile.learned |
    jq --unbuffered -r --argjson wanted "$wanted" --arg min "$min_level" '
        def rank: {"beginner":1,"intermediate":2,"advanced":3,"expert":4}[.];
        select(.event == "profile.learned")
        | . as $p
        | [ .skills[] | select((.tag as $t | $wanted | index($t)) and ((.level | rank) >= ($min | rank))) ]
        | select(length > 0)
        | "\($p.peer)  \($p.name)  \(map("\(.tag)(\(.level))") | join(" "))"
    '
