package cpython

// Callbacks from C into Go, made with the GIL released on a thread that is
// inside pogo_call (or, for pogoLog, any thread running Python). This file
// holds declarations only: cgo copies its preamble into _cgo_export.h.

// #include "pogo.h"
import "C"

import (
	"errors"
	"io"
	"os"
	"runtime/cgo"
	"syscall"
	"unsafe"
)

func threadOf(h C.uintptr_t) *Thread { return cgo.Handle(h).Value().(*Thread) }

//export pogoRead
func pogoRead(h C.uintptr_t, p *C.char, n C.size_t) C.ssize_t {
	t := threadOf(h)
	m, err := t.handler.ReadBody(unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n)))
	if m > 0 {
		return C.ssize_t(m)
	}
	if err == nil || errors.Is(err, io.EOF) {
		return 0
	}
	t.readErr = err
	return -1
}

//export pogoWrite
func pogoWrite(h C.uintptr_t, head *C.char, headLen C.size_t, body *C.char, bodyLen C.size_t) C.int {
	t := threadOf(h)
	err := t.handler.Write(cbytes(head, headLen), cbytes(body, bodyLen))
	if err != nil {
		return -1
	}
	return 0
}

//export pogoSendFile
func pogoSendFile(h C.uintptr_t, head *C.char, headLen C.size_t, fd C.int, off, count C.int64_t) C.int {
	t := threadOf(h)
	// The descriptor belongs to Python's file object: send from a duplicate.
	dup, err := syscall.Dup(int(fd))
	if err != nil {
		return -1
	}
	f := os.NewFile(uintptr(dup), "wsgi.file_wrapper")
	defer f.Close()
	if err := t.handler.SendFile(cbytes(head, headLen), f, int64(off), int64(count)); err != nil {
		return -1
	}
	return 0
}

//export pogoLog
func pogoLog(p *C.char, n C.size_t) {
	if w := errorsOut; w != nil {
		w.Write(cbytes(p, n))
	}
}

// cbytes views C memory as a byte slice, valid only during the callback.
func cbytes(p *C.char, n C.size_t) []byte {
	if p == nil {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
}
