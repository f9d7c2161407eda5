#!/usr/bin/env bash
# Runs h2spec (RFC 9113/7541 conformance) against pogo over TLS and h2c,
# and against net/http serving the same body, and prints the pass counts.
# h2spec is installed with `go install` into a temporary GOBIN if missing.
#
# With --check (scripts/test.sh), it fails unless pogo passes every case
# over TLS, and every case on h2c but one: "Sends invalid connection
# preface" (3.5/2), which on a port shared with HTTP/1.1 is an HTTP/1.1
# request line, answered 400 as RFC 9112 says, where h2spec wants the
# connection closed without an answer.
set -euo pipefail
check=0
[ "${1:-}" = "--check" ] && check=1
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

h2spec=$(command -v h2spec || true)
if [ -z "$h2spec" ]; then
	GOBIN="$work/bin" go install 'github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible'
	h2spec="$work/bin/h2spec"
fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
	-keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

make -s build
./bin/pogo --chdir examples hello:app -b 127.0.0.1:19443 --certfile "$work/cert.pem" --keyfile "$work/key.pem" 2>"$work/pogo-tls.log" &
./bin/pogo --chdir examples hello:app -b 127.0.0.1:19080 2>"$work/pogo-h2c.log" &
ports="19443 19080"
if [ $check = 0 ]; then
	go build -o "$work/h2ref" ./tools/h2ref
	"$work/h2ref" -tls 127.0.0.1:19444 -h2c 127.0.0.1:19081 -cert "$work/cert.pem" -key "$work/key.pem" 2>"$work/ref.log" &
	ports="$ports 19444 19081"
fi
for port in $ports; do
	for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
done

failed=0
run() { # name port extra-flags [allowed failure]
	local out bad
	out=$("$h2spec" -h 127.0.0.1 -p "$2" $3 -o 2 2>&1) || true
	printf '%-22s %s\n' "$1" "$(grep -o '[0-9]* tests, [0-9]* passed, [0-9]* skipped, [0-9]* failed' <<<"$out" | tail -n 1)"
	# The failures, once each (h2spec lists them twice), less the allowed one.
	bad=$(grep -E '^ +× ' <<<"$out" | sed 's/^ *× //' | sort -u | grep -vxF "${4:-none}" || true)
	if [ -n "$bad" ]; then
		sed 's/^/    failed: /' <<<"$bad"
		failed=1
	fi
}
run "pogo TLS" 19443 "-t -k"
run "pogo h2c" 19080 "" "2: Sends invalid connection preface"
if [ $check = 1 ]; then
	[ $failed = 0 ] || { echo "h2spec: pogo failed the cases above"; exit 1; }
	exit 0
fi
run "net/http TLS" 19444 "-t -k"
run "net/http h2c" 19081 ""
