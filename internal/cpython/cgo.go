package cpython

// The include and link flags for the chosen Python come from the environment
// (CGO_CFLAGS, CGO_LDFLAGS), set by the Makefile from scripts/pyconfig.py, so
// one source tree builds against any python3.9 ... python3.13.

// #cgo CFLAGS: -O2 -Wall -Wno-unused-parameter -Werror
// #cgo noescape pogo_call_here
// #cgo noescape pogo_init
// #cgo nocallback pogo_free2
// #cgo noescape pogo_free2
// #cgo nocallback pogo_pool_events
// #cgo noescape pogo_pool_events
// #cgo nocallback pogo_pool_submit
// #cgo nocallback pogo_job_reply
// #cgo nocallback pogo_clock_ns
// #cgo nocallback pogo_pool_stats_get
// #cgo noescape pogo_pool_stats_get
import "C"
