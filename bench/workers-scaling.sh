#!/usr/bin/env bash
# How pogo scales with worker processes: hello world with -w 1 and -w 2,
# unpinned, under the same load, in one run (issue 5's "2 workers on 2 cores
# >= 1.8x one worker").
#
# On a 2-core machine the load generator shares the cores with the server:
# plain wrk needs most of a core for 80k req/s and caps both figures alike.
# So the load here is wrk pipelining 16 requests per connection write,
# which costs the client a fraction of that, leaving the cores to pogo (it
# answers pipelined requests strictly in order, one response per request).
# Also printed: the same with plain wrk, and pogo's CPU per request.
#
#   bench/workers-scaling.sh [SECONDS] [ROUNDS]
set -euo pipefail
bench=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$bench/.." && pwd)
secs=${1:-10}
rounds=${2:-3}
"$bench/setup.sh" >/dev/null
port=18790
lua=$(mktemp --suffix=.lua)
trap 'rm -f "$lua"' EXIT
cat >"$lua" <<'EOF'
-- 16 requests per write: the client's cost per request drops by about 16x.
init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format(nil, "/") end
  req = table.concat(r)
end
request = function() return req end
EOF

cpu() { # utime+stime ticks of a process tree
	local total=0 p
	for p in $(pgrep -g "$1" 2>/dev/null || true); do
		total=$((total + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$total"
}

run() { # workers, wrk args... -> "req/s cpu_us_per_req"
	local w=$1
	shift
	local args=(-b "127.0.0.1:$port" --chdir "$bench/apps" --venv "$bench/.venv")
	args+=(-w "$w")
	setsid "$root/bin/pogo" "${args[@]}" workload:app 2>/dev/null &
	local pid=$!
	for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
	wrk -t2 -c64 -d2s "$@" "http://127.0.0.1:$port/" >/dev/null # warm-up
	local c0 out c1
	c0=$(cpu "$pid")
	out=$(wrk -t2 -c64 -d"${secs}s" "$@" "http://127.0.0.1:$port/")
	c1=$(cpu "$pid")
	kill -TERM "$pid"
	wait "$pid" 2>/dev/null || true
	local rps n
	rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
	n=$(echo "$out" | awk '/requests in/ {print $1}')
	echo "$rps $(echo "($c1 - $c0) * 1000000 / $(getconf CLK_TCK) / $n" | bc -l)"
}

printf "%-26s %12s %12s %8s\n" "load" "-w 1 req/s" "-w 2 req/s" "ratio"
for r in $(seq "$rounds"); do
	for mode in pipelined plain; do
		extra=()
		[ $mode = pipelined ] && extra=(-s "$lua")
		read -r a ca < <(run 1 "${extra[@]}")
		read -r b cb < <(run 2 "${extra[@]}")
		printf "%-26s %12.0f %12.0f %7.2fx   (CPU/req: %.1f / %.1f us)\n" "$mode (round $r)" "$a" "$b" "$(echo "$b / $a" | bc -l)" "$ca" "$cb"
	done
done
