#!/usr/bin/env bash
# How pogo scales with worker processes: -w 1 against -w 2, unpinned, under
# the same load, in one run (issue 5's "2 workers on 2 cores >= 1.8x one
# worker").
#
# Two workloads, because they answer different questions on a 2-CPU machine:
# - hello world: one pogo process already keeps one CPU busy with Go and one
#   with Python (Python runs outside Go's one P), and the load generator
#   needs the same CPUs, so this shows what the machine allows, not what a
#   second worker adds. wrk pipelining 16 requests per write costs the client
#   least; plain wrk is printed too.
# - flask-json: Python-bound (~200 us of Python per request against ~10 us
#   for the client), so one worker is held to one GIL and a second worker
#   has a CPU to use: this is the process model's scaling; once as is, once
#   with the two workers bound to a CPU each (--cpu-affinity) against the
#   same unbound single worker.
# Also printed: pogo's CPU per request (whole process tree). req/s and the
# CPU per request count 2xx responses only.
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

run() { # workers, app, path, wrk args... -> "req/s cpu_us_per_req"
	local w=$1 app=$2 path=$3
	shift 3
	local args=(-b "127.0.0.1:$port" --chdir "$bench/apps" --venv "$bench/.venv")
	args+=(-w "$w")
	[ "$w" = 2 ] && args+=("${two_extra[@]}")
	setsid "$root/bin/pogo" "${args[@]}" "$app" 2>/dev/null &
	local pid=$!
	for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port$path" && break; sleep 0.1; done
	wrk -t2 -c64 -d2s "$@" "http://127.0.0.1:$port$path" >/dev/null # warm-up
	local c0 out c1
	c0=$(cpu "$pid")
	out=$(wrk -t2 -c64 -d"${secs}s" "$@" "http://127.0.0.1:$port$path")
	c1=$(cpu "$pid")
	kill -TERM "$pid"
	wait "$pid" 2>/dev/null || true
	# served = 2xx: wrk's completed requests minus its "Non-2xx or 3xx"
	# count (statuses of 400 and up); a 503 is never a served request
	local rps n
	read -r rps n < <(echo "$out" | awk '
		/requests in/ { n = $1 } /Non-2xx or 3xx responses:/ { bad = $NF } /Requests\/sec/ { rps = $2 }
		END { ok = n - bad; printf "%.2f %d\n", (n ? rps * ok / n : 0), ok }')
	echo "$rps $( ((n > 0)) && echo "($c1 - $c0) * 1000000 / $(getconf CLK_TCK) / $n" | bc -l || echo nan)"
}

printf "%-40s %12s %12s %8s\n" "load" "-w 1 req/s" "-w 2 req/s" "ratio"
for r in $(seq "$rounds"); do
	for mode in "hello pipelined" "hello plain" "flask-json plain" "flask-json, -w 2 --cpu-affinity"; do
		extra=() two_extra=()
		app=workload:app path=/
		case $mode in
		"hello pipelined") extra=(-s "$lua") ;;
		flask-json*) app=flask_app:app path=/json ;;
		esac
		case $mode in *--cpu-affinity) two_extra=(--cpu-affinity) ;; esac
		read -r a ca < <(run 1 "$app" "$path" "${extra[@]}")
		read -r b cb < <(run 2 "$app" "$path" "${extra[@]}")
		printf "%-40s %12.0f %12.0f %7.2fx   (CPU/req: %.1f / %.1f us)\n" "$mode (round $r)" "$a" "$b" "$(echo "$b / $a" | bc -l)" "$ca" "$cb"
	done
done
