#!/usr/bin/env bash
# Sets up what bench/bench.py needs; safe to run again (it only does what is
# missing):
# - bench/.venv, a virtualenv made with $PYTHON (default python3: the Python
#   pogo is built against, so pogo can run in it with --venv);
# - the pinned packages of bench/requirements.txt, installed one at a time: a
#   package that fails is recorded in bench/.venv/bench-status/NAME.failed
#   with pip's last error line (bench.py reports it) and does not stop setup;
# - wrk and h2load (apt-get install, with apt-get update only if the first
#   try fails); nginx, the reference;
# - bin/pogo (make -s build from the repo root), and bench/.venv/bin/h3load.
set -uo pipefail
bench=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$bench/.." && pwd)
PYTHON=${PYTHON:-python3}
venv=$bench/.venv
status=$venv/bench-status
say() { echo "bench/setup: $*" >&2; }
die() { say "$*"; exit 1; }

command -v "$PYTHON" >/dev/null || die "$PYTHON is not installed"
want=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])') || die "$PYTHON does not run"
if [ -x "$venv/bin/python" ] && [ "$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$want" ]; then
	say "bench/.venv is for another Python; recreating it"
	rm -rf "$venv"
fi
if [ ! -x "$venv/bin/python" ]; then
	say "creating bench/.venv with $PYTHON ($want)"
	"$PYTHON" -m venv "$venv" || die "cannot create $venv"
fi
mkdir -p "$status"

# One pip install per requirement line; NAME.ok holds the line that installed.
while IFS= read -r line; do
	line=${line%%#*}
	line=$(echo "$line" | sed -E 's/^[[:space:]]+//; s/[[:space:]]+$//')
	[ -n "$line" ] || continue
	name=$(echo "$line" | sed -E 's/^([A-Za-z0-9._-]+).*/\1/')
	if [ "$(cat "$status/$name.ok" 2>/dev/null)" = "$line" ]; then
		continue
	fi
	rm -f "$status/$name.ok" "$status/$name.failed"
	say "pip install $line"
	log=$status/$name.log
	if "$venv/bin/python" -m pip install --disable-pip-version-check --quiet "$line" >"$log" 2>&1; then
		echo "$line" >"$status/$name.ok"
	else
		err=$(grep -v -E '^\s*$|^\s*(note|hint):' "$log" | grep -i -E 'error' | tail -n 1)
		[ -n "$err" ] || err=$(grep -v -E '^\s*$' "$log" | tail -n 1)
		echo "$line: $err" >"$status/$name.failed"
		say "$name did not install: $err (full log: $log)"
	fi
done <"$bench/requirements.txt"

if ! command -v wrk >/dev/null; then
	say "installing wrk"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q wrk >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; } ||
		die "cannot install wrk"
fi
# h2load (nghttp2-client) loads the HTTP/2 rows; without it they are skipped
# and the results say so.
if ! command -v h2load >/dev/null; then
	say "installing h2load (nghttp2-client)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q nghttp2-client >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null && apt-get install -y -q nghttp2-client >/dev/null; } ||
		say "cannot install h2load: the HTTP/2 rows will say so"
fi
# nginx is the reference ceiling (static bodies, no Python); a missing one is
# reported in the results, not fatal.
if [ ! -x /usr/sbin/nginx ]; then
	say "installing nginx"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q nginx-light >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null && apt-get install -y -q nginx-light >/dev/null; } ||
		say "cannot install nginx: its column will say not installed"
	# Debian starts the packaged service; the bench runs its own.
	command -v systemctl >/dev/null && systemctl stop nginx >/dev/null 2>&1 || true
	[ -f /run/nginx.pid ] && kill "$(cat /run/nginx.pid)" 2>/dev/null || true
fi
command -v taskset >/dev/null || die "taskset (util-linux) is missing"

(cd "$root" && make -s build) || die "make build failed"
# h3load (tools/h3load, on quic-go's client) loads the HTTP/3 rows: Debian's
# h2load is built without QUIC.
(cd "$root" && go build -o "$venv/bin/h3load" ./tools/h3load) || die "cannot build tools/h3load"
