#!/usr/bin/env bash
# The whole test suite, as CI runs it (after scripts/setup.sh):
#  1. gofmt, go vet, staticcheck, go mod tidy;
#  2. the full suite with the default python3, -race, Flask/Django from .venv,
#     then the server and cli suites under AddressSanitizer;
#  3. the core suite (everything but the framework comparisons) against
#     every other python3.9 ... python3.13 installed, uninstrumented (so
#     TestHelloAllocs runs: -race and -asan skip it);
#  4. the packaging check (scripts/wheels.sh): a wheel per Python, each
#     installed in a fresh venv and serving the example, and the cli suite
#     against the installed command;
#  5. h2spec (RFC 9113/7541 conformance) over TLS and h2c (scripts/h2spec.sh);
#  6. the fuzz targets, 70 s in all;
#  7. the soak check (200k requests, RSS growth bound).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHON=${PYTHON:-python3}

echo "== lint"
bad=$(gofmt -l $(git ls-files '*.go'))
[ -z "$bad" ] || { echo "gofmt would change: $bad"; exit 1; }
make -s vet
make -s staticcheck
go mod tidy
if ! git diff --quiet -- go.mod go.sum 2>/dev/null; then echo "go mod tidy changed go.mod/go.sum"; git diff -- go.mod go.sum; exit 1; fi

echo "== full suite: $($PYTHON --version)"
VIRTUAL_ENV="$PWD/.venv" POGO_REQUIRE_FRAMEWORKS=1 make -s gotest TESTFLAGS="-race -count=1 -timeout 15m"

# Our C under AddressSanitizer (the interpreter itself is not
# instrumented). Leak reports are off: CPython keeps much of what it
# allocates until exit, by design. A malloc too big for ASan returns NULL,
# as it would without it, so that the app gets its MemoryError. The
# adaptive thread model's tests judge how the controller reads CPU and
# wait times; on a loaded machine ASan's slower C made one of them see a
# CPU-bound path as waiting (scripts/flake.sh), so they run in the race
# and core suites only.
echo "== AddressSanitizer: server and cli suites"
ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 VIRTUAL_ENV="$PWD/.venv" \
	make -s gotest PKGS="./internal/server ./internal/cli" TESTFLAGS="-asan -count=1 -timeout 15m -skip TestAdaptive"

# Other Pythons: python3.X on PATH, or pyenv's installs.
default=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
for minor in 9 10 11 12 13; do
	v=3.$minor
	[ "$v" = "$default" ] && continue
	py=""
	if command -v "python$v" >/dev/null && "python$v" -c pass 2>/dev/null; then
		py=$(command -v "python$v")
	elif command -v pyenv >/dev/null; then
		for d in "$(pyenv root)"/versions/$v.*; do
			[ -x "$d/bin/python$v" ] && py="$d/bin/python$v"
		done
	fi
	if [ -z "$py" ]; then
		echo "== core suite: python$v not installed, skipped"
		continue
	fi
	echo "== core suite: $($py --version) ($py)"
	env -u VIRTUAL_ENV make -s gotest PYTHON="$py" TESTFLAGS="-count=1 -timeout 10m"
done

echo "== packaging"
./scripts/wheels.sh

echo "== h2spec"
./scripts/h2spec.sh --check

echo "== fuzz (time-boxed)"
for target in FuzzParseHead FuzzChunked; do
	go test ./internal/http1 -run '^$' -fuzz "^$target\$" -fuzztime 20s
done
go test ./internal/http2 -run '^$' -fuzz '^FuzzFrames$' -fuzztime 20s
make -s gotest PKGS=./internal/wsgi TESTFLAGS="-run NONE -fuzz FuzzUnquote -fuzztime 10s"

echo "== soak"
./scripts/soak.sh
