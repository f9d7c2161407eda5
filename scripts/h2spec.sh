#!/usr/bin/env bash
# Runs h2spec (RFC 9113/7541 conformance) against pogo over TLS and h2c,
# and against net/http serving the same body, and prints the pass counts.
# h2spec is installed with `go install` into a temporary GOBIN if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

h2spec=$(command -v h2spec || true)
if [ -z "$h2spec" ]; then
	GOBIN="$work/bin" go install github.com/summerwind/h2spec/cmd/h2spec@v2.6.0 2>/dev/null ||
		GOBIN="$work/bin" go install github.com/summerwind/h2spec/cmd/h2spec@latest
	h2spec="$work/bin/h2spec"
fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
	-keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

make -s build
./bin/pogo --chdir examples hello:app -b 127.0.0.1:19443 --certfile "$work/cert.pem" --keyfile "$work/key.pem" 2>"$work/pogo-tls.log" &
./bin/pogo --chdir examples hello:app -b 127.0.0.1:19080 2>"$work/pogo-h2c.log" &
go build -o "$work/h2ref" ./tools/h2ref
"$work/h2ref" -tls 127.0.0.1:19444 -h2c 127.0.0.1:19081 -cert "$work/cert.pem" -key "$work/key.pem" 2>"$work/ref.log" &
for port in 19443 19080 19444 19081; do
	for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
done

run() { # name port extra-flags
	local out
	out=$("$h2spec" -h 127.0.0.1 -p "$2" $3 -o 2 2>&1 | tail -n 3 | tr '\n' ' ') || true
	printf '%-22s %s\n' "$1" "$(grep -o '[0-9]* tests, [0-9]* passed, [0-9]* skipped, [0-9]* failed' <<<"$out")"
}
run "pogo TLS" 19443 "-t -k"
run "net/http TLS" 19444 "-t -k"
run "pogo h2c" 19080 ""
run "net/http h2c" 19081 ""
