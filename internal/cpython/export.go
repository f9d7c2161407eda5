package cpython

// Callbacks from C into Go, made with the GIL released on a thread that is
// inside pogo_call_here (or, for pogoLog, any thread running Python but a
// pool thread, which asks its job's goroutine instead). This file
// holds declarations only: cgo copies its preamble into _cgo_export.h.

// #include "pogo.h"
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

func callOf(h C.uintptr_t) *Call { return cgo.Handle(h).Value().(*Call) }

//export pogoRead
func pogoRead(h C.uintptr_t, p *C.char, n C.size_t) C.ssize_t {
	return C.ssize_t(callOf(h).read(cbytes(p, n)))
}

//export pogoWrite
func pogoWrite(h C.uintptr_t, head *C.char, headLen C.size_t, body *C.char, bodyLen C.size_t) C.int {
	return C.int(callOf(h).write(cbytes(head, headLen), cbytes(body, bodyLen)))
}

//export pogoSendFile
func pogoSendFile(h C.uintptr_t, head *C.char, headLen C.size_t, fd C.int, off, count C.int64_t) C.int {
	return C.int(callOf(h).sendFile(cbytes(head, headLen), int(fd), int64(off), int64(count)))
}

//export pogoLog
func pogoLog(p *C.char, n C.size_t) { writeLog(cbytes(p, n)) }

// writeLog appends wsgi.errors output to the error log.
func writeLog(b []byte) {
	if w := errorsOut; w != nil {
		w.Write(b)
	}
}

// cbytes views C memory as a byte slice, valid only during the callback.
func cbytes(p *C.char, n C.size_t) []byte {
	if p == nil {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
}
