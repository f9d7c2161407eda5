package cpython

// The include and link flags for the chosen Python come from the environment
// (CGO_CFLAGS, CGO_LDFLAGS), set by the Makefile from scripts/pyconfig.py, so
// one source tree builds against any python3.9 ... python3.13.

// #cgo CFLAGS: -O2 -Wall -Wno-unused-parameter
// #cgo noescape pogo_call
// #cgo noescape pogo_call_here
// #cgo noescape pogo_init
// #cgo nocallback pogo_free2
// #cgo noescape pogo_free2
import "C"
