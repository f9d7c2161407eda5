#!/usr/bin/env bash
# Packaging check, as a Python user installs pogo: for the default python3
# and every other python3.9 ... 3.13 installed, build the wheel with pip
# (the in-tree PEP 517 backend, packaging/pogo_build.py, runs go build
# against that Python), install it into a fresh virtualenv, and serve the
# example app with the installed `pogo` command and with `python -m pogo`.
# For the default Python, also run the cli suite against the installed
# command (POGO_TEST_BINARY).
#
#   scripts/wheels.sh            all Pythons found
#   scripts/wheels.sh PYTHON...  only these
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pogo-wheels.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export PYTHON=${PYTHON:-python3}
version=$(cat VERSION)

pythons=("$@")
if [ ${#pythons[@]} -eq 0 ]; then
	pythons=("$(command -v "$PYTHON")")
	default=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
	for minor in 9 10 11 12 13; do
		v=3.$minor
		[ "$v" = "$default" ] && continue
		if command -v "python$v" >/dev/null && "python$v" -c pass 2>/dev/null; then
			pythons+=("$(command -v "python$v")")
		elif command -v pyenv >/dev/null; then
			for d in "$(pyenv root)"/versions/$v.*; do
				[ -x "$d/bin/python$v" ] && py="$d/bin/python$v"
			done
			[ -n "${py:-}" ] && pythons+=("$py")
			py=""
		fi
	done
fi

# serve PROGRAM...: start it on a free port with examples/hello.py, GET /,
# stop it with SIGTERM, and check the answer and the exit code.
serve() {
	local log=$tmp/serve.log
	(cd examples && exec "$@" -b 127.0.0.1:0 hello:app) >"$log" 2>&1 &
	local pid=$! url=""
	for _ in $(seq 200); do
		url=$(grep -o 'listening on http://[0-9.:]*' "$log" | head -1 | cut -d' ' -f3) || true
		[ -n "$url" ] && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$url" ] || { cat "$log"; echo "wheels: $* did not start"; return 1; }
	body=$("$PYTHON" -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=20).read().decode())' "$url/")
	kill -TERM $pid
	wait $pid || { cat "$log"; echo "wheels: $* exited with $?"; return 1; }
	[ "$body" = "Hello, World!" ] || { echo "wheels: $* answered $body"; return 1; }
	echo "   served the example: $*"
}

first=true
for py in "${pythons[@]}"; do
	v=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
	echo "== wheel for $("$py" --version) ($py)"
	venv=$tmp/venv$v
	"$py" -m venv "$venv"
	"$venv/bin/python" -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$tmp/dist$v" "$root" >"$tmp/build.log" 2>&1 ||
		{ cat "$tmp/build.log"; exit 1; }
	wheel=$(ls "$tmp/dist$v"/pogo-"$version"-cp${v/./}-*.whl)
	echo "   built $(basename "$wheel")"
	"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel"
	got=$("$venv/bin/pogo" --version)
	[ "$got" = "pogo $version (built with Python $v)" ] || { echo "wheels: pogo --version says: $got"; exit 1; }
	serve "$venv/bin/pogo"
	serve "$venv/bin/python" -m pogo
	if $first; then
		first=false
		# Without Go, pip says why in one line.
		if PATH="$venv/bin" "$venv/bin/python" -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$tmp/nogo" "$root" >"$tmp/nogo.log" 2>&1 ||
			! grep -q "pogo_build: error: building pogo needs Go on PATH" "$tmp/nogo.log"; then
			cat "$tmp/nogo.log"
			echo "wheels: a build without Go did not fail with the one-line reason"
			exit 1
		fi
		echo "   without Go: $(grep -o 'pogo_build: error: [^(]*' "$tmp/nogo.log")"
		exe=$("$venv/bin/python" -c 'import pogo.__main__ as m; print(m.command())')
		echo "== cli suite against the installed $exe"
		VIRTUAL_ENV="$root/.venv" POGO_TEST_BINARY=$exe make -s gotest PYTHON="$py" PKGS=./internal/cli TESTFLAGS="-count=1 -timeout 15m"
	fi
done
