package cpython

// #include <stdlib.h>
// #include "pogo.h"
import "C"

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/cgo"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// bootstrap is the body of module _pogo: loading apps, reading gunicorn
// config files and calling their hooks, and rendering debug pages.
//
//go:embed bootstrap.py
var bootstrapPy string

//go:embed gunicorn.py
var gunicornPy string

//go:embed debugpage.py
var debugPagePy string

var bootstrap = bootstrapPy + gunicornPy + debugPagePy

// errorsOut receives what the app writes to wsgi.errors. Set by Start,
// and by SetErrors before requests run.
var errorsOut io.Writer

// SetErrors sends what the app writes to wsgi.errors to w from now on.
// Call it after Start and before any request runs.
func SetErrors(w io.Writer) { errorsOut = w }

var started sync.Once

// Options configures the interpreter. Zero values are documented per field.
type Options struct {
	// Program is the python executable whose installation (or virtualenv,
	// when it is a venv's bin/python) the interpreter uses. If empty,
	// DefaultProgram.
	Program string
	// Argv becomes sys.argv. If empty, sys.argv is [""].
	Argv []string
	// EnvKeys names the environ keys the gateway's env buffer refers to by
	// index: EnvKeys[i] is index i+1. At most 255.
	EnvKeys []string
	// EnvReserved says that the first EnvReserved keys (at most 64) come
	// with nearly every request: every app's base environ holds them, so
	// a request's environ replaces their values instead of growing its
	// table, and drops those a request did not send.
	EnvReserved int
	// Errors receives wsgi.errors output. If nil, os.Stderr is used.
	Errors io.Writer
}

// Handler is the transport side of one request, called back from C while
// Python runs the app. Byte slices passed in are valid only during the call.
type Handler interface {
	// ReadBody reads the rest of the request body (what did not fit in the
	// body passed to Call). It returns io.EOF at the end.
	ReadBody(p []byte) (int, error)
	// Write sends body bytes; head (status and headers, encoded as in
	// Result.Head) is non-nil on the first call only. No more body than
	// the head's Content-Length is given, in all.
	Write(head, body []byte) error
	// SendFile sends count bytes of f from offset after head: the rest of
	// the file, or no more than the head's Content-Length. f is closed
	// by the caller after SendFile returns.
	SendFile(head []byte, f *os.File, offset, count int64) error
}

// Kind says how a call ended.
type Kind int

const (
	// Buffered: the whole response is in Result.Head and Result.Body.
	Buffered Kind = C.POGO_BUFFERED
	// Streamed: the response was written through the Handler.
	Streamed Kind = C.POGO_STREAMED
	// ErrorBeforeHeaders: the app failed before headers were sent.
	ErrorBeforeHeaders Kind = C.POGO_ERROR_BEFORE
	// ErrorAfterHeaders: the app failed after headers were sent.
	ErrorAfterHeaders Kind = C.POGO_ERROR_AFTER
	// ClientGone: a write to the client failed.
	ClientGone Kind = C.POGO_GONE
)

// Flags describe a request to Call.
type Flags int

const (
	Head     Flags = C.POGO_HEAD      // HEAD: consume the body, send none
	HTTPS    Flags = C.POGO_HTTPS     // wsgi.url_scheme "https"
	MoreBody Flags = C.POGO_MORE_BODY // body passed to Call is only the start
	CPUTime  Flags = C.POGO_CPU_TIME  // measure the call's CPU and preempted time (Timing)
	Debug    Flags = C.POGO_DEBUG     // an ErrorBeforeHeaders comes with a debug page (Result.Page)
)

// Thread is Python's main thread (from Start): bound to the OS thread that
// started the interpreter and used only from it, for setup work (loading
// apps, tracebacks, atexit). Requests run through a Call.
type Thread struct {
	c      *C.pogo_thread // never nil
	handle cgo.Handle
}

// App is a loaded WSGI application.
type App struct{ c *C.pogo_app }

// Start initialises Python on the calling OS thread, which must stay locked
// for the life of the process, and returns that thread (Python's main
// thread). Start may be called once per process.
func Start(opts Options) (*Thread, error) {
	err := errors.New("cpython: Start called twice")
	var main *Thread
	started.Do(func() {
		main, err = start(opts)
	})
	return main, err
}

func start(opts Options) (*Thread, error) {
	if opts.Program == "" {
		opts.Program = DefaultProgram
	}
	if len(opts.EnvKeys) > 255 {
		return nil, errors.New("cpython: too many environ keys")
	}
	if opts.EnvReserved < 0 || opts.EnvReserved > min(64, len(opts.EnvKeys)) {
		return nil, errors.New("cpython: EnvReserved out of range")
	}
	errorsOut = opts.Errors
	if errorsOut == nil {
		errorsOut = os.Stderr
	}
	argv := opts.Argv
	if len(argv) == 0 {
		argv = []string{""}
	}
	cprog := C.CString(opts.Program) // "" lets Python use its built-in prefix
	defer C.free(unsafe.Pointer(cprog))
	cboot := C.CString(bootstrap)
	defer C.free(unsafe.Pointer(cboot))
	av := nulJoin(argv)
	keys := nulJoin(opts.EnvKeys)

	t := &Thread{}
	t.handle = cgo.NewHandle(t) // pogo_init wants one; the main thread makes no callbacks
	var cerr *C.char
	t.c = C.pogo_init(cprog, cstr(av), C.size_t(len(av)), cstr(keys), C.size_t(len(keys)),
		C.int(opts.EnvReserved), cboot, C.uintptr_t(t.handle), &cerr)
	if t.c == nil {
		return nil, fmt.Errorf("cpython: %s", takeString(cerr))
	}
	return t, nil
}

// Error is a failure reported by Python while loading or setting up: a
// one-line Message and, for unexpected exceptions, the Traceback.
type Error struct {
	Message   string
	Traceback string
}

func (e *Error) Error() string { return e.Message }

func pyError(prefix string, cerr *C.char) error {
	text := takeString(cerr)
	msg, tb, _ := strings.Cut(text, "\n")
	return &Error{Message: prefix + msg, Traceback: tb}
}

// AddPaths puts dirs first on sys.path, in order.
func (t *Thread) AddPaths(dirs []string) error {
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := t.exec("add_path", dirs[i]); err != nil {
			return err
		}
	}
	return nil
}

func (t *Thread) exec(fn, arg string) error {
	cfn := C.CString(fn)
	defer C.free(unsafe.Pointer(cfn))
	carg := C.CString(arg)
	defer C.free(unsafe.Pointer(carg))
	var cerr *C.char
	if C.pogo_exec(t.c, cfn, carg, &cerr) < 0 {
		return pyError("", cerr)
	}
	return nil
}

// call is exec for a helper that returns a str.
func (t *Thread) call(fn, arg string) (string, error) {
	cfn := C.CString(fn)
	defer C.free(unsafe.Pointer(cfn))
	carg := C.CString(arg)
	defer C.free(unsafe.Pointer(carg))
	var cerr *C.char
	out := C.pogo_exec_str(t.c, cfn, carg, &cerr)
	if out == nil {
		return "", pyError("", cerr)
	}
	return takeString(out), nil
}

// ReadConfig executes a gunicorn config file (a path, file:PATH or
// python:MODULE) as gunicorn does and returns the values of the settings
// in names that it defines, as JSON. The hooks among them (names in hooks)
// must be callables; they are kept for CallHook, their values are true.
func (t *Thread) ReadConfig(location string, names, hooks []string) (map[string]json.RawMessage, error) {
	arg, _ := json.Marshal(map[string]any{"location": location, "names": names, "hooks": hooks})
	out, err := t.call("read_config", string(arg))
	if err != nil {
		return nil, err
	}
	var r struct{ Settings map[string]json.RawMessage }
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return nil, fmt.Errorf("cpython: read_config: %w", err)
	}
	return r.Settings, nil
}

// ConfigureLogging sets up the app's Python logging as gunicorn's
// logconfig settings do, from the first one not empty: a
// logging.config.fileConfig file, a JSON file for dictConfig, or a
// dictConfig dict as JSON.
//
// First it gives gunicorn's error logger (gunicorn.error, which apps use)
// a handler writing to the error log in pogo's format at level. It
// returns the format and datefmt (Python's) that the configuration gave
// that logger, if any, for pogo's own lines.
func (t *Thread) ConfigureLogging(level, file, jsonFile, dict string) (format, dateFmt string, err error) {
	if err := t.exec("setup_loggers", level); err != nil {
		return "", "", err
	}
	if file == "" && jsonFile == "" && dict == "" {
		return "", "", nil
	}
	arg, _ := json.Marshal(map[string]string{"file": file, "json": jsonFile, "dict": dict})
	if err := t.exec("configure_logging", string(arg)); err != nil {
		return "", "", err
	}
	out, err := t.call("log_format", "")
	if err != nil {
		return "", "", err
	}
	var f struct{ Fmt, Datefmt string }
	json.Unmarshal([]byte(out), &f)
	return f.Fmt, f.Datefmt, nil
}

// SetSettings gives the objects gunicorn hooks receive their values:
// server.cfg's settings by gunicorn's names (every one of names is an
// attribute, None if not in settings) and the level of server.log.
func (t *Thread) SetSettings(settings map[string]any, names []string, logLevel string) error {
	arg, err := json.Marshal(map[string]any{"settings": settings, "names": names, "loglevel": logLevel})
	if err != nil {
		return err
	}
	return t.exec("set_settings", string(arg))
}

// CallHook calls the config file's hook (if it defines it) with gunicorn's
// arguments built from arg: "server" and "worker" (the attributes of
// those objects: pid, age, workers, ...), "this_process" (the worker is
// this process) and "args" (nworkers_changed's). It returns what the
// hook changed in os.environ: values, nil for a variable it removed.
func (t *Thread) CallHook(hook string, arg map[string]any) (map[string]*string, error) {
	a := map[string]any{"hook": hook}
	for k, v := range arg {
		a[k] = v
	}
	b, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	out, err := t.call("call_hook", string(b))
	if err != nil {
		return nil, err
	}
	var r struct{ Env map[string]*string }
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return nil, fmt.Errorf("cpython: call_hook: %w", err)
	}
	return r.Env, nil
}

// SetEnviron sets os.environ entries, for environment variables set
// after Python started (which Python's os.environ does not see).
func (t *Thread) SetEnviron(env map[string]string) error {
	arg, _ := json.Marshal(env)
	return t.exec("set_environ", string(arg))
}

// Mode is how an app is served, as its environ's wsgi.multithread,
// wsgi.multiprocess and wsgi.run_once tell it.
type Mode int

const (
	Threaded     Mode = C.POGO_THREADS   // threads in one process
	Multiprocess Mode = C.POGO_PROCESSES // threads in each of several processes
	RunOnce      Mode = C.POGO_RUN_ONCE  // one request in this process (CGI)
)

// Load imports the app named by spec (MODULE:CALLABLE or
// MODULE:factory(args)), to be served in mode.
func (t *Thread) Load(spec string, mode Mode) (*App, error) {
	cspec := C.CString(spec)
	defer C.free(unsafe.Pointer(cspec))
	var cerr *C.char
	app := C.pogo_load(t.c, cspec, C.int(mode), &cerr)
	if app == nil {
		return nil, pyError("", cerr)
	}
	return &App{c: app}, nil
}

// Result is the outcome of a Call. Head and Body point into the scratch
// buffer given to the Call or into C memory owned by the Result, until
// Release.
type Result struct {
	Kind      Kind
	Traceback string // for the error kinds, and a Buffered response whose close() failed
	// PageType and Page are the debug page of an ErrorBeforeHeaders in
	// a Debug call: its Content-Type and body ("" if it could not be
	// rendered).
	PageType, Page string
	head           unsafe.Pointer
	headLen        int
	body           unsafe.Pointer
	bodyLen        int
	c              uint8 // bit 0: head is C memory, bit 1: body is

	// Over is set when the app's body went past its own Content-Length:
	// the excess was dropped, never handed to the Handler or kept in
	// Body (a wsgi.file_wrapper bounded by it does not count: see
	// pogo.h).
	Over bool

	Timing Timing
}

// Timing is how a call spent its time.
type Timing struct {
	// GIL is the time spent waiting for the GIL: to start, and after
	// each hand-off to Go (reading the body, writing the response).
	GIL time.Duration
	// Wall is the time in the app, from having the GIL to the end.
	Wall time.Duration
	// CPU is the thread's CPU time over Wall, and Preempted the time it
	// was runnable but had no CPU (another thread ran); both -1 if not
	// measured (see CPUTime).
	CPU, Preempted time.Duration
	// Handoff is the part of Wall handed off to Go: reading the body,
	// writing the response. Wall - Handoff - CPU - Preempted is the time
	// the app waited: for I/O, a lock, the GIL.
	Handoff time.Duration
	// Queue is how long a pooled call waited for a pool thread.
	Queue time.Duration
}

// Head is the response head for Buffered results: "STATUS\x00Name\x00Value\x00...".
func (r *Result) Head() []byte { return unsafe.Slice((*byte)(r.head), r.headLen) }

// Body is the buffered body. For a HEAD request it is nil and BodyLen
// tells how long it would have been.
func (r *Result) Body() []byte {
	if r.body == nil {
		return nil
	}
	return unsafe.Slice((*byte)(r.body), r.bodyLen)
}

// BodyLen is the length of the body, also for HEAD requests.
func (r *Result) BodyLen() int { return r.bodyLen }

// Release frees the C memory behind Head and Body, if any.
func (r *Result) Release() {
	if r.c != 0 {
		var h, b unsafe.Pointer
		if r.c&1 != 0 {
			h = r.head
		}
		if r.c&2 != 0 {
			b = r.body
		}
		C.pogo_free2(h, b)
	}
	r.head, r.body, r.c = nil, nil, 0
}

// Traceback returns the stack of the Python thread with ident, for a call
// that runs too long: taken with the GIL held, which waits for the thread
// to let go of it (a thread that never does blocks Traceback). "" if no
// such thread runs Python.
func (t *Thread) Traceback(ident uint64) (string, error) {
	return t.call("traceback_of", strconv.FormatUint(ident, 10))
}

// Finalize runs Python's atexit functions and flushes stdio. Python must not
// be used afterwards; the process is expected to exit.
func (t *Thread) Finalize() { C.pogo_finalize(t.c) }

// Version is the running Python's version, e.g. "3.11.7".
func Version() string {
	v := C.GoString(C.pogo_version())
	v, _, _ = strings.Cut(v, " ")
	return v
}

func nulJoin(ss []string) []byte {
	var b []byte
	for _, s := range ss {
		b = append(b, s...)
		b = append(b, 0)
	}
	return b
}

func cbuf(b []byte) *C.char {
	if len(b) == 0 {
		return nil
	}
	return (*C.char)(unsafe.Pointer(&b[0]))
}

func cstr(b []byte) *C.char { return cbuf(b) }

func takeString(p *C.char) string {
	if p == nil {
		return "unknown error"
	}
	s := C.GoString(p)
	C.free(unsafe.Pointer(p))
	return s
}

// Main is Python's main thread: a goroutine locked to the OS thread that
// started the interpreter. Setup work (loading apps, atexit) runs on it.
type Main struct {
	do chan func(*Thread) // callers -> the main thread
}

// StartMain starts the interpreter on a new locked OS thread.
func StartMain(opts Options) (*Main, error) {
	m := &Main{do: make(chan func(*Thread))}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // for life: the main thread state lives here
		t, err := Start(opts)
		errc <- err
		if err != nil {
			return
		}
		for f := range m.do {
			f(t)
		}
	}()
	return m, <-errc
}

// Do runs f on the main thread and waits for it.
func (m *Main) Do(f func(*Thread)) {
	done := make(chan struct{})
	m.do <- func(t *Thread) { f(t); close(done) }
	<-done
}

// DefaultProgram is the python executable pogo was built against, set at
// link time by the Makefile (-X). Options.Program falls back to it.
var DefaultProgram string

// BuildVersion is the "major.minor" of the Python headers pogo was built with.
func BuildVersion() string {
	return fmt.Sprintf("%d.%d", int(C.pogo_build_major()), int(C.pogo_build_minor()))
}
