#!/usr/bin/env bash
# Soak check: pogo serves examples/hello.py under sustained keep-alive load
# with no failed request and no lasting growth in memory (see tools/soak).
# Arguments go to the soak tool and override the defaults below, e.g.
#   scripts/soak.sh -n 400000
set -euo pipefail
cd "$(dirname "$0")/.."

make -s build
go run ./tools/soak -pogo bin/pogo -n 200000 -warmup 20000 -conns 32 -max-growth-mb 5 "$@" \
	-- --chdir examples hello:app
