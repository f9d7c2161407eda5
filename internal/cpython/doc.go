// Package cpython is the only package of pogo that uses cgo. It starts the
// embedded interpreter, gives each Python thread one PyThreadState for its
// whole life, loads WSGI apps and runs one WSGI call per Call, in C
// (gateway.c): environ, wsgi.input, start_response and write, wsgi.errors,
// wsgi.file_wrapper, and consuming the response iterable.
//
// pogo.h is the contract between Go and C: opaque handles, and for every
// function who allocates and who frees. C never keeps a Go pointer past the
// call it was passed to; callbacks into Go (export.go) are made with the GIL
// released and find their state through a cgo.Handle held per thread.
//
// Methods of Thread must be called on the OS thread that created it (a
// goroutine locked with runtime.LockOSThread). See docs/internals.md.
package cpython
