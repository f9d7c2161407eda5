package cpython

// #include <stdlib.h>
// #include "pogo.h"
import "C"

import (
	"errors"
	"io"
	"os"
	"runtime"
	"runtime/cgo"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// ErrNoThread is returned by Pooled when the pool has no thread and cannot
// start one.
var ErrNoThread = errors.New("cpython: cannot start a Python thread")

// Call is one request at a time in Python, owned by one goroutine. It runs
// either directly on that goroutine's OS thread (Direct) or on a pool
// thread (Pooled); either way the Handler is called on the owning
// goroutine's side: from a cgo callback on the direct path, from Pooled's
// own loop on the pool path.
type Call struct {
	job     *C.pogo_job // C memory, for the Call's life (also the direct path's result)
	handle  cgo.Handle  // names the Call in callbacks and pool events
	handler Handler     // set during a run
	readErr error
	wake    chan struct{} // the pool's dispatcher -> Pooled: job.op is set
	pin     runtime.Pinner
}

// NewCall makes a Call. Close it when it will run no more.
func NewCall() *Call {
	c := &Call{
		job:  (*C.pogo_job)(C.calloc(1, C.size_t(unsafe.Sizeof(C.pogo_job{})))),
		wake: make(chan struct{}, 1),
	}
	c.handle = cgo.NewHandle(c)
	return c
}

// Close frees the Call. It must not be running.
func (c *Call) Close() {
	c.handle.Delete()
	C.free(unsafe.Pointer(c.job))
	c.job = nil
}

// Ident is Python's thread ident of the thread running the call, or of
// the last one. It may be read from any goroutine while the call runs.
func (c *Call) Ident() uint64 {
	return uint64(atomic.LoadUintptr((*uintptr)(unsafe.Pointer(&c.job.out.ident))))
}

// CPUTime is the CPU time so far of the thread running the call, or of
// the last one; false if it cannot be read (the thread has ended). It may
// be called from any goroutine while the call runs.
func (c *Call) CPUTime() (time.Duration, bool) {
	clock := atomic.LoadInt64((*int64)(unsafe.Pointer(&c.job.out.cpu_clock)))
	if clock == 0 {
		return 0, false
	}
	ns := C.pogo_clock_ns(C.int64_t(clock))
	return time.Duration(ns), ns >= 0
}

// Waits reports whether the thread running the call is blocked on I/O or
// on the app (a lock, a sleep) rather than running, runnable (preempted)
// or waiting for the GIL, as far as p has learnt where the GIL is. It may
// be called from any goroutine while the call runs.
func (c *Call) Waits(p *Pool) bool {
	tid := atomic.LoadInt32((*int32)(unsafe.Pointer(&c.job.out.tid)))
	return tid != 0 && C.pogo_pool_waits(p.c, C.int32_t(tid)) != 0
}

// StateReads counts the threads' states read from /proc (Waits,
// Pool.Sample) in the process: each is a few µs of system calls.
func StateReads() uint64 { return uint64(C.pogo_state_reads()) }

// HandedOff reports, while the call runs, whether it is handed off to Go
// now (reading the body, writing the response: waiting on its client or
// on Go), and its time handed off so far, the current hand-off included.
// It may be called from any goroutine.
func (c *Call) HandedOff() (now bool, total time.Duration) {
	since := atomic.LoadInt64((*int64)(unsafe.Pointer(&c.job.out.to_go_since)))
	total = time.Duration(atomic.LoadInt64((*int64)(unsafe.Pointer(&c.job.out.handoff_ns))))
	if since != 0 {
		total += time.Duration(int64(C.pogo_now_ns()) - since)
	}
	return since != 0, total
}

// ReadErr returns the error that ended the last run's body read, if any.
func (c *Call) ReadErr() error { return c.readErr }

// SetDirectThreads sets how many OS threads may run Python directly
// (Call.Direct), each with a thread state of its own for good.
func SetDirectThreads(n int) { C.pogo_set_direct_max(C.int(n)) }

// DirectThreads is how many OS threads have run Python directly.
func DirectThreads() int { return int(C.pogo_direct_threads()) }

// ExitRequested reports whether the app has called os._exit in a request,
// and with what code: that request ended with SystemExit instead, and the
// process is to end with the code once its other requests are done. (A
// plain load of a C int: cheap enough to ask after every call.)
func ExitRequested() (code int, ok bool) {
	c := int(C.pogo_exit_status)
	return c, c >= 0
}

// Direct runs app for one request on the calling OS thread, with that
// thread's own thread state (made on its first call, kept for its life).
// It returns false, having run nothing, if the thread has none and
// SetDirectThreads allows no more. env is the encoded environ (see
// pogo.h); body is the request body read so far; a buffered response's
// head and body go into scratch if they fit. flags may include CPUTime.
func (c *Call) Direct(app *App, h Handler, env, body, scratch []byte, flags Flags) (Result, bool) {
	c.handler, c.readErr = h, nil
	kind := C.pogo_call_here(C.uintptr_t(c.handle), app.c, cbuf(env), C.size_t(len(env)), cbuf(body), C.size_t(len(body)),
		C.int(flags), cbuf(scratch), C.size_t(len(scratch)), &c.job.out)
	c.handler = nil
	if kind == C.POGO_NO_THREAD {
		return Result{}, false
	}
	return c.result(scratch), true
}

// Pooled runs app for one request on a thread of p, as Direct does, and
// serves what the thread asks of the Handler meanwhile. It returns
// ErrNoThread if the pool has no thread and cannot start one.
func (c *Call) Pooled(p *Pool, app *App, h Handler, env, body, scratch []byte, flags Flags) (Result, error) {
	c.handler, c.readErr = h, nil
	defer func() { c.handler = nil }()
	j := c.job
	// The pool thread reads these after this call has returned to Go:
	// pinned until the job is done.
	for _, b := range [...][]byte{env, body, scratch} {
		if len(b) > 0 {
			c.pin.Pin(unsafe.SliceData(b))
		}
	}
	defer c.pin.Unpin()
	j.app = app.c
	j.env, j.env_len = cbuf(env), C.size_t(len(env))
	j.body, j.body_len = cbuf(body), C.size_t(len(body))
	j.flags = C.int(flags)
	j.scratch, j.scratch_cap = cbuf(scratch), C.size_t(len(scratch))
	j.handle = C.uintptr_t(c.handle)
	defer func() { j.env, j.body, j.scratch = nil, nil, nil }() // C keeps no Go pointer
	if C.pogo_pool_submit(p.c, j) < 0 {
		return Result{}, ErrNoThread
	}
	for {
		<-c.wake
		var ret C.int64_t
		switch j.op {
		case C.POGO_OP_DONE:
			return c.result(scratch), nil
		case C.POGO_OP_READ:
			ret = C.int64_t(c.read(cbytes(j.p, j.n)))
		case C.POGO_OP_WRITE:
			ret = C.int64_t(c.write(cbytes(j.head, j.head_len), cbytes(j.p, j.n)))
		case C.POGO_OP_SENDFILE:
			ret = C.int64_t(c.sendFile(cbytes(j.head, j.head_len), int(j.fd), int64(j.off), int64(j.count)))
		case C.POGO_OP_LOG:
			writeLog(cbytes(j.p, j.n))
		}
		C.pogo_job_reply(j, ret)
	}
}

// result turns the C result into a Result.
func (c *Call) result(scratch []byte) Result {
	res := &c.job.out
	r := Result{
		Kind:    Kind(res.kind),
		Over:    res.over != 0,
		head:    unsafe.Pointer(res.head),
		headLen: int(res.head_len),
		body:    unsafe.Pointer(res.body),
		bodyLen: int(res.body_len),
		Timing: Timing{
			GIL:       time.Duration(res.gil_ns),
			Wall:      time.Duration(res.wall_ns),
			CPU:       time.Duration(res.cpu_ns),
			Preempted: time.Duration(res.preempted_ns),
			Handoff:   time.Duration(res.handoff_ns),
			Queue:     time.Duration(res.queue_ns),
		},
	}
	inScratch := func(p unsafe.Pointer) bool {
		lo := uintptr(unsafe.Pointer(unsafe.SliceData(scratch)))
		return len(scratch) > 0 && uintptr(p) >= lo && uintptr(p) < lo+uintptr(len(scratch))
	}
	if r.head != nil && !inScratch(r.head) {
		r.c |= 1
	}
	if r.body != nil && !inScratch(r.body) {
		r.c |= 2
	}
	// C keeps no Go pointer past the call.
	res.head, res.body = nil, nil
	if res.err != nil {
		r.Traceback = C.GoStringN(res.err, C.int(res.err_len))
		C.free(unsafe.Pointer(res.err))
		res.err = nil
	}
	if res.page != nil {
		page := C.GoStringN(res.page, C.int(res.page_len))
		r.PageType, r.Page, _ = strings.Cut(page, "\x00")
		C.free(unsafe.Pointer(res.page))
		res.page = nil
	}
	return r
}

// The Handler calls of both paths; they return what C expects.

func (c *Call) read(p []byte) int {
	n, err := c.handler.ReadBody(p)
	if n > 0 {
		return n
	}
	if err == nil || errors.Is(err, io.EOF) {
		return 0
	}
	c.readErr = err
	return -1
}

func (c *Call) write(head, body []byte) int {
	if c.handler.Write(head, body) != nil {
		return -1
	}
	return 0
}

func (c *Call) sendFile(head []byte, fd int, off, count int64) int {
	// The descriptor belongs to Python's file object: send from a duplicate.
	dup, err := syscall.Dup(fd)
	if err != nil {
		return -1
	}
	f := os.NewFile(uintptr(dup), "wsgi.file_wrapper")
	defer f.Close()
	if c.handler.SendFile(head, f, off, count) != nil {
		return -1
	}
	return 0
}

// Pool is a set of Python threads that C starts on demand and that never
// run Go code, so a request that waits holds none of Go's Ps (see pogo.h
// and docs/internals.md). Its dispatcher goroutine passes what the
// threads ask for to the goroutines that own the jobs.
type Pool struct {
	c      *C.pogo_pool
	events *os.File // eventfd: written when an event arrives after the dispatcher found none
	closed atomic.Bool
}

// PoolOptions configures a Pool.
type PoolOptions struct {
	// Cap is the most threads at once. Must be > 0.
	Cap int
	// Keep threads are never ended for being idle.
	Keep int
	// IdleTimeout ends a thread idle this long (beyond Keep); its thread
	// state is cleared, so its threading.local data goes. If zero, 30s.
	IdleTimeout time.Duration
}

// NewPool makes a Pool. Python must be started.
func NewPool(o PoolOptions) (*Pool, error) {
	if o.Cap <= 0 {
		return nil, errors.New("cpython: pool cap must be > 0")
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 30 * time.Second
	}
	var fd C.int
	cp := C.pogo_pool_new(C.int(o.Cap), C.int(o.Keep), C.int64_t(o.IdleTimeout), &fd)
	if cp == nil {
		return nil, errors.New("cpython: cannot make the pool's eventfd")
	}
	p := &Pool{c: cp, events: os.NewFile(uintptr(fd), "pogo-pool-events")}
	go p.dispatch()
	return p, nil
}

// Set changes the pool's limits (see PoolOptions).
func (p *Pool) Set(o PoolOptions) {
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 30 * time.Second
	}
	C.pogo_pool_set(p.c, C.int(o.Cap), C.int(o.Keep), C.int64_t(o.IdleTimeout))
}

// Close ends the pool's threads as they go idle; jobs must no longer be
// submitted. The dispatcher ends with the last thread.
func (p *Pool) Close() {
	p.closed.Store(true)
	C.pogo_pool_set(p.c, 0, 0, C.int64_t(time.Second))
}

// PoolStats are a pool's figures at one moment.
type PoolStats struct {
	Threads, Idle, Busy, Pending, Cap int
	Started, Ended, Failed            uint64 // threads started, ended for being idle, failed to start
}

// Stats returns the pool's figures.
func (p *Pool) Stats() PoolStats {
	var s C.pogo_pool_stats
	C.pogo_pool_stats_get(p.c, &s)
	return PoolStats{
		Threads: int(s.threads), Idle: int(s.idle), Busy: int(s.busy), Pending: int(s.pending), Cap: int(s.cap),
		Started: uint64(s.started), Ended: uint64(s.ended), Failed: uint64(s.failed),
	}
}

// Sample is what some of a pool's busy threads were doing at one moment.
type Sample struct {
	Running int // on a CPU, or runnable
	GIL     int // blocked taking the GIL: to start the call, after Go, or in the app (on the futex word seen for the first)
	Futex   int // blocked on another lock or condition: the app's (or the GIL, before GILKnown)
	// GILKnown: the GIL's futex word has been seen, so waits for the GIL
	// in the app count as GIL.
	GILKnown bool
	IO       int // blocked in another system call: I/O, a sleep
	Client   int // waiting for the client for over a ms: reading the body, writing the response
}

// Sample looks at up to max busy threads (at most 64), the next ones
// each time.
func (p *Pool) Sample(max int) Sample {
	var c C.pogo_pool_sample_counts
	C.pogo_pool_sample(p.c, C.int(max), &c)
	return Sample{Running: int(c.running), GIL: int(c.gil), Futex: int(c.futex), IO: int(c.io), Client: int(c.client), GILKnown: c.gil_known != 0}
}

func (p *Pool) dispatch() {
	var handles [64]C.uintptr_t
	var b [8]byte
	for {
		n := int(C.pogo_pool_events(p.c, &handles[0], C.int(len(handles))))
		for _, h := range handles[:n] {
			cgo.Handle(h).Value().(*Call).wake <- struct{}{}
		}
		if n > 0 {
			continue
		}
		if p.closed.Load() && p.Stats().Threads == 0 {
			p.events.Close()
			return
		}
		if _, err := p.events.Read(b[:]); err != nil {
			return
		}
	}
}
