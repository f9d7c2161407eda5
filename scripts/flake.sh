#!/usr/bin/env bash
# Flake hunt: runs the README's test command (make test) N times, each
# time in a fresh clone of this repository's HEAD, as CI does (CI=true),
# while busy loops keep every CPU loaded, and says which runs failed.
#
#   scripts/flake.sh N        N runs (a full run takes 30 minutes or more)
#   scripts/flake.sh -n N     dry run: clone, then say what would run
#
# FLAKE_CMD replaces "make test", e.g. FLAKE_CMD=true to try the script
# itself. Uncommitted changes are not in the clones. The log of a failed
# run is kept and named; the exit code is 0 only if every run passed.
set -euo pipefail

usage() { echo "usage: $0 [-n] N" >&2; exit 2; }
dry=false
if [ "${1:-}" = "-n" ]; then
	dry=true
	shift
fi
[ $# -eq 1 ] && [[ $1 =~ ^[1-9][0-9]*$ ]] || usage
runs=$1
cmd=${FLAKE_CMD:-make test}

root=$(cd "$(dirname "$0")/.." && git rev-parse --show-toplevel)
rev=$(git -C "$root" rev-parse HEAD)
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no)" ]; then
	echo "flake: uncommitted changes in $root are not tested (HEAD is ${rev:0:12})" >&2
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pogo-flake.XXXXXX")
cpus=$(nproc)

# The busy loops: one per CPU, ended (by pid, with the clones) on exit.
busy=()
cleanup() {
	for pid in "${busy[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$tmp/clone"
	rmdir "$tmp" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

clone() {
	rm -rf "$tmp/clone"
	git clone --quiet --no-checkout "$root" "$tmp/clone"
	git -C "$tmp/clone" checkout --quiet --detach "$rev"
}

if $dry; then
	clone
	echo "flake: would run $runs times, in a fresh clone of ${rev:0:12} in $tmp/clone, with $cpus busy loops:"
	echo "  (cd $tmp/clone && CI=true bash -c \"$cmd\")"
	exit 0
fi

for _ in $(seq "$cpus"); do
	bash -c 'while :; do :; done' &
	busy+=($!)
done
echo "flake: $runs runs of \"$cmd\" on ${rev:0:12}, $cpus CPUs kept busy"

passed=0
for i in $(seq "$runs"); do
	clone
	log="$tmp/run$i.log"
	began=$SECONDS
	if (cd "$tmp/clone" && CI=true bash -c "$cmd") >"$log" 2>&1; then
		passed=$((passed + 1))
		echo "run $i/$runs: pass ($(((SECONDS - began) / 60))m$(((SECONDS - began) % 60))s)"
		rm -f "$log"
	else
		rc=$?
		echo "run $i/$runs: FAIL, exit $rc ($(((SECONDS - began) / 60))m$(((SECONDS - began) % 60))s), log $log"
		grep -E -- '^(--- FAIL|FAIL|panic:)|^ +[a-z_]+_test\.go:[0-9]+:' "$log" | head -20 | sed 's/^/  /' || true
	fi
done
echo "$passed/$runs passed"
[ "$passed" -eq "$runs" ]
