package wsgi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pogoserver/pogo/internal/cpython"
	"github.com/pogoserver/pogo/internal/metrics"
)

// DefaultPrefetch is how much of a request body is read into memory in Go
// before the request takes a Python thread, if Options.Prefetch is zero.
// The app then reads it from memory without letting go of the GIL, where
// a streamed body costs a GIL hand-off per read: per core, 100 KiB
// uploads read in 4 KiB pieces, 3.0-3.4k req/s with 64 KiB, 3.9-4.8k with
// 256 KiB. At most the requests in Python and those queued for it hold
// one (waitress buffers 512 KiB).
const DefaultPrefetch = 256 << 10

// directThreads is how many of Go's OS threads may run Python directly
// without --threads (each keeps a thread state for good).
const directThreads = 8

// DefaultMaxThreads is the most Python threads a process runs without
// --threads, if Options.MaxThreads is zero: 512 on the pool, Granian's
// default of blocking threads, so that 512 requests may wait at once,
// and the direct path's eight. (At 512, 512 connections on an app that
// sleeps 100 ms kept eight of them queued: 4.95k req/s of the 5.12k.)
const DefaultMaxThreads = 512 + directThreads

// Options configures a Gateway.
type Options struct {
	// Threads, if positive, is a fixed number of Python threads
	// (gunicorn's --threads): at most this many requests run Python at
	// once, all on the pool's threads. If zero, the gateway adapts how
	// many run at once to the app, up to MaxThreads (see adapt.go).
	Threads int
	// MaxThreads is the most Python threads when Threads is zero. If
	// zero, DefaultMaxThreads.
	MaxThreads int
	// ThreadIdleTimeout ends a pool thread idle this long (not with a
	// fixed Threads); its thread state is cleared, so its threading.local
	// data goes. If zero, 30s.
	ThreadIdleTimeout time.Duration
	// QueueSize bounds the requests waiting for a Python thread; beyond it
	// Serve answers 503. If zero, 2048.
	QueueSize int
	// Prefetch is the largest body read into memory before dispatch. If
	// zero, DefaultPrefetch is used.
	Prefetch int
	// SpoolMax, if positive, is the largest body read before dispatch:
	// Prefetch bytes in memory, the rest in a temporary file ($TMPDIR,
	// unlinked at once), so that a slow upload holds no Python thread.
	// The app then streams a longer body from the client. Zero: bodies
	// over Prefetch are streamed, and with "Expect: 100-continue" none is
	// read before the app asks.
	SpoolMax int64
	// Software is SERVER_SOFTWARE, e.g. "pogo/1.0".
	Software string
	// Log receives errors (app tracebacks). If nil, slog.Default() is used.
	Log *slog.Logger

	// Timeout, if positive, bounds a request's time in the app. Past it
	// the transport answers for the app (see Abandoner): 504 if the
	// response has not started, else the connection closes. The stuck
	// thread's traceback is logged and OnTimeout is called. The thread
	// itself runs on: a Python thread cannot be stopped safely, so the
	// process should be replaced.
	Timeout time.Duration
	// Traceback returns the stack of the Python thread with ident, for
	// the timeout log. It may block while the thread holds the GIL.
	Traceback func(ident uint64) (string, error)
	// OnTimeout, if set, is called once a request has timed out.
	OnTimeout func()
	// Debug answers an app's failure before its response started with
	// a debug page instead of a bare 500: the exception's traceback with
	// each frame's source lines and locals, and the request, as HTML for
	// a browser (Accept: text/html) and as text for anything else. For
	// development only: the page shows the app's secrets to the client.
	Debug bool
	// OnAppExit, if set, is called once, with the code, after the app
	// has called os._exit in a request: that request ended with a
	// SystemExit (a 500), and the process should end with code once its
	// other requests are done.
	OnAppExit func(code int)
}

// DefaultQueueSize is Options.QueueSize's default.
const DefaultQueueSize = 2048

// An Abandoner is a ResponseWriter that can answer for an app that is
// stuck (Options.Timeout), from another goroutine: with status if no
// response bytes have been written, and by closing the connection in any
// case. The stuck call's later writes fail.
type Abandoner interface {
	Abandon(status int, reason string)
}

// Gateway runs WSGI requests in Python: at most a limit of them at once
// (fixed, or adapted to the app), each either directly on the calling
// goroutine's OS thread or on a pool thread that holds none of Go's Ps.
// Every OS thread that runs Python keeps one PyThreadState for its life,
// so threading.local survives across requests. See docs/internals.md.
type Gateway struct {
	apps   []*cpython.App // Request.App indexes it
	opts   Options
	log    *slog.Logger
	pool   *cpython.Pool
	adm    *admission // the pool's calls: a limit the controller adapts, or Threads
	direct *admission // the direct path's calls, one at a time (nil with a fixed Threads)
	fixed  bool       // Options.Threads > 0
	// shared: the paths that run go to the pool too (adapt.go).
	shared atomic.Bool
	// waiting counts the requests waiting in either admission: at
	// most QueueSize in all.
	waiting atomic.Int64
	routes  routes
	stats   stats
	served  atomic.Uint64 // requests admitted to Python
	// pooled counts the pool's calls running, and pooledSeq those
	// started: a direct call that saw either move may have had the GIL
	// taken from it by them (stats.end).
	pooled    atomic.Int64
	pooledSeq atomic.Uint64
	stuck     atomic.Int64   // timed-out calls still running
	reports   sync.WaitGroup // the watchdog and its timedOut calls, which Close waits for
	done      chan struct{}  // closed by Close: stops the controller and the watchdog
	stopped   chan struct{}  // closed by the controller when it has stopped
	ctl       controller     // owned by the control goroutine

	exitOnce sync.Once      // OnAppExit
	mu       sync.Mutex     // guards active, with a Timeout
	active   map[*call]bool // calls in Python, with a Timeout

	freeMu sync.Mutex
	free   []*call // idle calls, for reuse; guarded by freeMu

	allMu sync.Mutex
	all   []*call // every call made, for the controller; guarded by allMu (append only)
}

// New starts the gateway for apps (Request.App chooses one; most servers
// have one). The interpreter must be started.
func New(apps []*cpython.App, opts Options) (*Gateway, error) {
	if len(apps) == 0 {
		return nil, errors.New("wsgi: no app")
	}
	if opts.Threads < 0 {
		return nil, fmt.Errorf("wsgi: threads must be >= 0, got %d", opts.Threads)
	}
	if opts.MaxThreads == 0 {
		opts.MaxThreads = DefaultMaxThreads
	}
	if opts.Threads == 0 && opts.MaxThreads < 2 {
		return nil, fmt.Errorf("wsgi: max threads must be >= 2, got %d", opts.MaxThreads)
	}
	if opts.QueueSize == 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.Prefetch == 0 {
		opts.Prefetch = DefaultPrefetch
	}
	g := &Gateway{apps: apps, opts: opts, log: opts.Log, fixed: opts.Threads > 0, done: make(chan struct{}), stopped: make(chan struct{})}
	if g.log == nil {
		g.log = slog.Default()
	}
	po := cpython.PoolOptions{Cap: opts.Threads, Keep: opts.Threads, IdleTimeout: opts.ThreadIdleTimeout}
	limit := opts.Threads
	if !g.fixed {
		// A few OS threads of Go's may run Python directly, each with a
		// thread state for good; the pool has the rest of MaxThreads.
		// Eight: a direct call that waits for the GIL can lose its P,
		// and the connection goroutines then run on more Ms; with four,
		// beside 500 event streams, up to a third of hello's requests
		// found no thread state left and ran on the pool, at half the
		// rate (docs/internals.md, "Long responses").
		direct := min(directThreads, opts.MaxThreads/4)
		cpython.SetDirectThreads(direct)
		po = cpython.PoolOptions{Cap: opts.MaxThreads - direct, IdleTimeout: opts.ThreadIdleTimeout}
		g.ctl = newController(opts.MaxThreads - direct)
		limit = g.ctl.limit
		g.direct = newAdmission(1, opts.QueueSize, &g.waiting)
	}
	pool, err := cpython.NewPool(po)
	if err != nil {
		return nil, err
	}
	g.pool = pool
	g.adm = newAdmission(limit, opts.QueueSize, &g.waiting)
	if opts.Timeout > 0 {
		g.active = make(map[*call]bool)
		g.reports.Add(1) // the watchdog's own: it adds the timedOut calls
		go g.watch()
	}
	if g.fixed {
		close(g.stopped)
	} else {
		go g.control()
	}
	return g, nil
}

// Close waits for the requests running in Python to finish, except the
// ones that timed out, and reports whether all did. Serve must not be
// called afterwards.
func (g *Gateway) Close() bool {
	close(g.done)
	// The controller looks at every call, the free ones too: it stops
	// before they are freed.
	<-g.stopped
	// A request that timed out as the process stops is still logged,
	// and OnTimeout called, before Python goes.
	g.reports.Wait()
	ok := true
	for {
		_, running, _ := g.adm.load()
		if g.direct != nil {
			_, r, _ := g.direct.load()
			running += r
		}
		if running <= int(g.stuck.Load()) {
			ok = running == 0
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	g.pool.Close()
	g.freeMu.Lock()
	for _, c := range g.free {
		c.cc.Close()
	}
	g.free = nil
	g.freeMu.Unlock()
	return ok
}

// Requests returns how many requests the gateway has run in Python (not
// counting those it turned away).
func (g *Gateway) Requests() uint64 { return g.served.Load() }

// call is one request in flight, owned by its connection goroutine.
type call struct {
	cc    *cpython.Call
	wait  waiter
	req   *Request
	w     ResponseWriter
	env   envBuf
	path  []byte
	body  []byte    // the body read before the call (all of it unless MoreBody)
	rest  io.Reader // the rest, with MoreBody: the spool, or the request's
	spool *os.File  // the spooled body, if any
	flags cpython.Flags
	// scratch takes a buffered response's head and body when they fit:
	// most responses then need no C allocation (see cpython.Call).
	scratch []byte

	res     cpython.Result
	head    ResponseHead // the app's, for WriteHeader (an interface call: on the heap anyway)
	fields  []Field      // head.Header's backing array, reused: see parseHead
	readErr error
	sent    bool  // head was written through w
	werr    error // first write error
	// A streamed response's body, bounded by the app's Content-Length
	// (see bound): declared is it once the head is written, -1 if there
	// is none or the response has no body (HEAD, 1xx, 204, 304);
	// bodySent is what went to w; over is set when the app's body went
	// past declared and the excess was dropped.
	declared int64
	bodySent int64
	over     bool

	// With a Timeout: when the call started, and whether the watchdog
	// has given up on it; guarded by Gateway.mu.
	started  time.Time
	timedOut bool

	// For the controller (adapt.go): the running call's number (0 when
	// none runs) and the tick it began.
	seq   atomic.Uint64
	began atomic.Int64
	route atomic.Int32 // its routes slot
	slot  atomic.Int32 // the direct path's slot: slotHeld while it runs there
	look  look         // the controller's
}

func (g *Gateway) getCall() *call {
	g.freeMu.Lock()
	if n := len(g.free); n > 0 {
		c := g.free[n-1]
		g.free = g.free[:n-1]
		g.freeMu.Unlock()
		return c
	}
	g.freeMu.Unlock()
	c := &call{cc: cpython.NewCall(), wait: newWaiter()}
	g.allMu.Lock()
	g.all = append(g.all, c)
	g.allMu.Unlock()
	return c
}

func (g *Gateway) putCall(c *call) {
	c.req, c.w, c.res, c.readErr, c.werr, c.sent = nil, nil, cpython.Result{}, nil, nil, false
	c.declared, c.bodySent, c.over = -1, 0, false
	c.head = ResponseHead{}
	g.freeMu.Lock()
	g.free = append(g.free, c)
	g.freeMu.Unlock()
}

// scratchSize is the largest buffered response (head and body) a call
// holds in Go memory; larger ones are malloc'd by C and freed after the
// write.
const scratchSize = 16 << 10

// Serve runs req through the app and writes the response to w. It returns
// nil when the response was written completely and the connection may be
// reused; ErrAborted or ErrClientGone when it must be closed; ErrShortBody
// when the app's body fell short of its Content-Length; or an *HTTPError
// the transport should answer (bad body, queue full).
//
// The app's Content-Length is kept, and bounds the body on every path (a
// list, an iterable, write(), wsgi.file_wrapper): no more than it is ever
// written. What goes past it is dropped and the response stays framed, so
// the connection stays in step and may carry the next request; that is
// logged once, as a warning, except for a wsgi.file_wrapper, where a
// Content-Length shorter than the file is how part of one is sent
// (Falcon's Range responses). A body that falls short of it is written as
// it is, under the app's Content-Length (never one rewritten to match),
// and Serve returns ErrShortBody.
func (g *Gateway) Serve(req *Request, w ResponseWriter) error {
	c := g.getCall()
	defer g.putCall(c)
	c.req, c.w = req, w
	c.declared, c.bodySent, c.over = -1, 0, false

	// Read the body now, so a slow upload never holds a Python thread.
	c.flags = 0
	contentLength, err := c.readBody(g.opts.Prefetch, g.opts.SpoolMax)
	defer c.closeSpool()
	if err != nil {
		return bodyError(err)
	}
	if req.Method == "HEAD" {
		c.flags |= cpython.Head
	}
	if req.TLS {
		c.flags |= cpython.HTTPS
	}
	if g.opts.Debug {
		c.flags |= cpython.Debug
	}
	if contentLength == 0 && !seen(req.Header, "Content-Length") {
		contentLength = -1 // no body and no header: no CONTENT_LENGTH, as in CGI
	}
	c.env, c.path = buildEnviron(c.env[:0], c.path, req, contentLength, g.opts.Software)
	if c.scratch == nil {
		c.scratch = make([]byte, scratchSize)
	}

	// Where it runs: directly if its path is not known to wait, and the
	// pool's calls do not take the GIL so often that one direct thread
	// would lose it to them over and over (adapt.go, shared).
	route := slot(req.App, req.RequestURI)
	direct := false
	if g.direct != nil {
		if g.routes.direct(route) {
			direct = !g.shared.Load()
		} else {
			g.stats.waitCalls.Add(1)
		}
	}
	adm := g.adm
	if direct {
		adm = g.direct
	}
	ok, waited := adm.acquire(&c.wait)
	if !ok && c.wait.diverted {
		// The direct call ahead ran long: the pool, rather than the
		// wait for the next (adapt.go, longWaits).
		direct, adm = false, g.adm
		var more time.Duration
		ok, more = adm.acquire(&c.wait)
		waited += more
	}
	if !ok {
		return errQueueFull
	}
	g.served.Add(1)
	if g.active != nil {
		g.mu.Lock()
		c.started, c.timedOut = time.Now(), false
		g.active[c] = true
		g.mu.Unlock()
	}
	app := g.apps[req.App]
	ran := false
	flags := c.flags
	seq := g.stats.seq.Add(1)
	if seq&g.stats.mask.Load() == 0 || g.routes.learning(route) {
		flags |= cpython.CPUTime
	}
	c.route.Store(int32(route))
	if direct {
		c.slot.Store(slotHeld)
	}
	c.began.Store(g.stats.clock.Load())
	c.seq.Store(seq)
	contended := false
	if direct {
		busy, started := g.pooled.Load(), g.pooledSeq.Load()
		c.res, ran = c.cc.Direct(app, c, c.env, c.body, c.scratch, flags)
		contended = busy > 0 || g.pooledSeq.Load() != started || g.pooled.Load() > 0
	}
	if !ran {
		g.pooledSeq.Add(1)
		g.pooled.Add(1)
		c.res, err = c.cc.Pooled(g.pool, app, c, c.env, c.body, c.scratch, flags)
		g.pooled.Add(-1)
	}
	c.readErr = c.cc.ReadErr()
	c.res.Timing.Queue += waited
	c.seq.Store(0)
	if measured, waits := g.stats.end(&c.res.Timing, ran, contended); measured && !g.fixed {
		if g.routes.observe(route, waits) {
			if debugAdapt {
				fmt.Fprintf(os.Stderr, "adapt: %s to the pool: %v (direct %v, beside pool calls %v) %+v\n",
					req.RequestURI, waits, ran, contended, c.res.Timing)
			}
			g.stats.flipped(waits)
		}
	}
	if code, ok := cpython.ExitRequested(); ok && g.opts.OnAppExit != nil {
		g.exitOnce.Do(func() { g.opts.OnAppExit(code) })
	}
	timedOut := false
	if g.active != nil {
		g.mu.Lock()
		timedOut = c.timedOut
		delete(g.active, c)
		g.mu.Unlock()
	}
	// Before a buffered response is written. (A direct call that ran
	// long has given its slot back already: see longWaits.)
	if !direct || c.slot.Swap(slotNone) == slotHeld {
		adm.release()
	}
	if err != nil {
		g.log.Error("Cannot run the request: "+err.Error(), "request", req.Method+" "+req.RequestURI)
		return errNoThread
	}
	if timedOut {
		// The client has had its 504 and the connection is closed.
		g.stuck.Add(-1)
		if c.res.Kind == cpython.Buffered {
			c.res.Release()
		}
		return ErrAborted
	}
	return g.finish(c)
}

// Waits reports whether req is expected to wait before it is answered:
// to run on a pool thread (its path is known to wait, or every call runs
// there now) rather than directly on the calling goroutine. A transport
// that multiplexes requests on one goroutine (HTTP/2) lets the others go
// on first.
func (g *Gateway) Waits(req *Request) bool {
	return g.direct == nil || g.shared.Load() || !g.routes.direct(slot(req.App, req.RequestURI))
}

// watch is the watchdog for Options.Timeout.
func (g *Gateway) watch() {
	defer g.reports.Done()
	t := time.NewTicker(min(max(g.opts.Timeout/10, 10*time.Millisecond), time.Second))
	defer t.Stop()
	for {
		select {
		case <-g.done:
			return
		case <-t.C:
			g.mu.Lock()
			for c := range g.active {
				g.check(c)
			}
			g.mu.Unlock()
		}
	}
}

// check times out c if it has run too long; g.mu held. The call and its
// request stay valid while g.mu is held: Serve waits for it when the
// call returns.
func (g *Gateway) check(c *call) {
	if c.timedOut || time.Since(c.started) < g.opts.Timeout {
		return
	}
	c.timedOut = true
	g.stuck.Add(1)
	what := c.req.Method + " " + c.req.RequestURI // copies: the request's strings live in the connection's buffer
	if a, ok := c.w.(Abandoner); ok {
		a.Abandon(504, "Gateway Timeout")
	}
	g.reports.Add(1)
	go g.timedOut(c.cc.Ident(), what)
}

// timedOut logs a timed-out request with the stack of its thread, then
// calls OnTimeout.
func (g *Gateway) timedOut(ident uint64, what string) {
	defer g.reports.Done()
	tb := "(no traceback: Options.Traceback is not set)\n"
	if g.opts.Traceback != nil {
		got := make(chan string, 1)
		go func() {
			s, err := g.opts.Traceback(ident)
			switch {
			case err != nil:
				s = "(no traceback: " + err.Error() + ")\n"
			case s == "":
				s = "(no traceback: the thread is not running Python)\n"
			}
			got <- s
		}()
		select {
		case tb = <-got:
		case <-time.After(5 * time.Second):
			tb = "(no traceback: the thread has held the GIL for 5s; it is stuck in C code)\n"
		}
	}
	g.log.Error(fmt.Sprintf("Request timed out after %v (--timeout): %s; answered 504", g.opts.Timeout, what),
		"thread", ident, "traceback", "Stack of the thread running it (most recent call last):\n"+tb)
	if g.opts.OnTimeout != nil {
		g.opts.OnTimeout()
	}
}

// Stats are a gateway's figures about its Python threads.
type Stats struct {
	Threads int // Python threads: Pool + Direct
	Pool    int // the pool's threads
	Direct  int // Go's threads that have run Python directly (0 with a fixed Threads; else the process's, not only this gateway's)
	Busy    int // requests in Python now
	Queued  int // requests waiting for a Python thread now
	Limit   int // requests allowed on the pool at once now (and one more directly)
	// DirectCalls and PoolCalls count the requests run on each path.
	DirectCalls, PoolCalls uint64
	// Started and Ended count the pool's threads: started, and ended
	// for being idle.
	Started, Ended uint64
	// Calls counts requests run in Python; GILWait and QueueWait are
	// their total waits for the GIL and for a thread.
	Calls              uint64
	GILWait, QueueWait time.Duration
	// CPU, Preempted and Waiting estimate, from a sample of calls, how
	// the calls' time in the app was spent: on a CPU, runnable without
	// one, and waiting (I/O, locks, the GIL).
	CPU, Preempted, Waiting time.Duration
	// Decisions counts the adaptive controller's decisions by kind:
	// "grow" and "shrink" the pool's limit, and a path's requests moved
	// to the "pool" or back to running "direct".
	Decisions map[string]uint64
	// Ticks counts the adaptive controller's ticks (one every 10 ms);
	// StateReads the threads' states it read from /proc meanwhile (the
	// process's, not only this gateway's).
	Ticks      int64
	StateReads uint64
}

// Stats returns the gateway's figures.
func (g *Gateway) Stats() Stats {
	limit, running, waiting := g.adm.load()
	if g.direct != nil {
		_, r, w := g.direct.load()
		running, waiting = running+r, waiting+w
	}
	ps := g.pool.Stats()
	st := &g.stats
	s := Stats{
		Pool:        ps.Threads,
		Busy:        running,
		Queued:      waiting + ps.Pending,
		Limit:       limit,
		DirectCalls: st.direct.Load(),
		Started:     ps.Started,
		Ended:       ps.Ended,
		Calls:       st.calls.Load(),
		GILWait:     time.Duration(st.gil.Load()),
		QueueWait:   time.Duration(st.queue.Read(nil)),
		Decisions:   map[string]uint64{},
		Ticks:       st.clock.Load(),
		StateReads:  cpython.StateReads(),
	}
	if !g.fixed {
		s.Direct = cpython.DirectThreads()
	}
	s.Threads = s.Pool + s.Direct
	s.PoolCalls = s.Calls - s.DirectCalls
	if sampled := st.sampled.Load(); sampled > 0 {
		scale := float64(s.Calls) / float64(sampled)
		s.CPU = time.Duration(float64(st.cpu.Load()) * scale)
		s.Preempted = time.Duration(float64(st.preempted.Load()) * scale)
		s.Waiting = max(0, time.Duration(float64(st.allWall.Load()))-s.CPU-s.Preempted)
	}
	for k, name := range metrics.Decisions {
		s.Decisions[name] = st.decision[k].Load()
	}
	return s
}

// Metrics fills in s's figures about Python threads, reading a sample of
// the busy pool threads to tell how many are blocked.
func (g *Gateway) Metrics(s *metrics.Snapshot) {
	st := g.Stats()
	s.Busy, s.Queued, s.Threads, s.Limit = int64(st.Busy), int64(st.Queued), int64(st.Threads), int64(st.Limit)
	if g.direct != nil {
		s.Limit++ // the direct path's one
	}
	// (A direct call rarely blocks for long: its path goes to the pool.)
	if _, busy, _ := g.adm.load(); busy > 0 {
		t := g.pool.Sample(64)
		if seen := t.Running + t.GIL + t.Futex + t.IO + t.Client; seen > 0 {
			s.Blocked = int64((busy*(t.Futex+t.IO+t.Client) + seen/2) / seen)
		}
	}
	p := &s.Python
	p.DirectCalls, p.PoolCalls = st.DirectCalls, st.PoolCalls
	p.Started, p.Ended = st.Started, st.Ended
	p.GILNanos = uint64(st.GILWait)
	p.QueueNanos = g.stats.queue.Read(p.QueueBuckets[:])
	for i, name := range metrics.Decisions {
		p.Decisions[i] = st.Decisions[name]
	}
}

// Stuck is the number of timed-out calls still running.
func (g *Gateway) Stuck() int { return int(g.stuck.Load()) }

// bodyError is the answer to a request whose body could not be read: the
// *HTTPError it failed with (413 from a limit), else 400.
func bodyError(err error) *HTTPError {
	var herr *HTTPError
	if errors.As(err, &herr) {
		return herr
	}
	return &HTTPError{Status: 400, Reason: "Bad Request", Err: err}
}

func (g *Gateway) finish(c *call) error {
	res := &c.res
	if c.readErr != nil && (res.Kind == cpython.Buffered || res.Kind == cpython.ErrorBeforeHeaders) {
		// The app read a body that failed (malformed, cut off, too
		// large) and has sent nothing yet: whatever it made of part of
		// the body, from a traceback to a 200, the answer is the body's
		// error, never a success for a request not received whole.
		if res.Kind == cpython.Buffered {
			res.Release()
		}
		g.log.Debug("request body read failed", "err", c.readErr, "request", c.req.Method+" "+c.req.RequestURI, "traceback", res.Traceback)
		return bodyError(c.readErr)
	}
	switch res.Kind {
	case cpython.Buffered:
		defer res.Release()
		if res.Traceback != "" {
			// close() failed after the app had made its whole body:
			// the response stands, and the error is logged.
			g.appError(c, res.Traceback)
		}
		h, err := c.parseHead(res.Head())
		if err != nil {
			g.appError(c, err.Error()+"\n")
			return g.fail(c, "", "", err.Error()+"\n")
		}
		body := res.Body()
		short := false
		switch {
		case h.ContentLength < 0:
			// The server frames what it sends; for HEAD, the length
			// the body would have had.
			h.ContentLength = int64(res.BodyLen())
		case c.req.Method == "HEAD":
			// An app that skips the body for HEAD (Werkzeug does)
			// still knows its length: the app's.
		case !bodyAllowed(h.Status, c.req.Method):
			h.ContentLength = int64(res.BodyLen())
		case int64(len(body)) > h.ContentLength:
			// C bounds a buffered body by Content-Length already; a
			// value it did not read as one ("+5") is bounded here.
			body = body[:h.ContentLength]
			res.Over = true
		default:
			// The app's Content-Length, kept even if the body falls
			// short of it: the client must see the response truncated.
			short = int64(len(body)) < h.ContentLength
		}
		if res.Over {
			g.warnOver(c)
		}
		h.Whole = true
		if err := c.w.WriteHeader(h); err != nil {
			return ErrClientGone
		}
		if len(body) > 0 {
			if err := c.w.Write(body); err != nil {
				return ErrClientGone
			}
		}
		if short {
			return g.short(c, h.ContentLength, int64(len(body)))
		}
		return nil
	case cpython.Streamed:
		if res.Over || c.over {
			g.warnOver(c)
		}
		if c.werr != nil {
			return c.werr
		}
		if c.declared >= 0 && c.bodySent < c.declared {
			return g.short(c, c.declared, c.bodySent)
		}
		return nil
	case cpython.ErrorBeforeHeaders:
		g.appError(c, res.Traceback)
		return g.fail(c, res.PageType, res.Page, res.Traceback)
	case cpython.ErrorAfterHeaders:
		if res.Over || c.over {
			g.warnOver(c)
		}
		g.appError(c, res.Traceback)
		return ErrAborted
	case cpython.ClientGone:
		if c.werr != nil && !errors.Is(c.werr, ErrClientGone) {
			// A bad head from the app surfaced at the first write.
			g.appError(c, c.werr.Error()+"\n")
			if !c.sent {
				return g.fail(c, "", "", c.werr.Error()+"\n")
			}
			return ErrAborted
		}
		if c.readErr != nil {
			g.log.Debug("request body read failed", "err", c.readErr)
		}
		return ErrClientGone
	}
	return fmt.Errorf("wsgi: unknown result kind %d", res.Kind)
}

func (g *Gateway) appError(c *call, traceback string) {
	g.log.Error("Error handling request "+c.req.Method+" "+c.req.RequestURI, "traceback", traceback)
}

// warnOver logs, once per response, that the app's body went past its
// Content-Length and the rest was dropped (net/http logs "wrote more than
// the declared Content-Length"; it, nginx and pogo send no more).
func (g *Gateway) warnOver(c *call) {
	g.log.Warn(fmt.Sprintf("Response to %s %s longer than its Content-Length (%d): the rest of the body was not sent",
		c.req.Method, c.req.RequestURI, c.head.ContentLength))
}

// short logs a body that fell short of its Content-Length cl, at sent
// bytes, and returns ErrShortBody: the transport ends the response there.
func (g *Gateway) short(c *call, cl, sent int64) error {
	g.log.Warn(fmt.Sprintf("Response to %s %s shorter than its Content-Length (%d): sent %d bytes, then ended the connection",
		c.req.Method, c.req.RequestURI, cl, sent))
	return ErrShortBody
}

// bodyAllowed reports whether a response to method with status has a body
// that its Content-Length frames.
func bodyAllowed(status int, method string) bool {
	return method != "HEAD" && status >= 200 && status != 204 && status != 304
}

// bound is how many of n more body bytes fit in the app's Content-Length;
// quiet is set for a file, which Content-Length may bound on purpose.
func (c *call) bound(n int64, quiet bool) int64 {
	if c.declared >= 0 && n > c.declared-c.bodySent {
		n = c.declared - c.bodySent
		c.over = c.over || !quiet
	}
	return n
}

// fail answers for an app that failed before its response started: 500,
// and with Options.Debug the debug page ctype, page if C rendered one,
// else the error as text.
func (g *Gateway) fail(c *call, ctype, page, traceback string) error {
	if !g.opts.Debug {
		return c.writeError(500)
	}
	if page == "" {
		ctype, page = "text/plain; charset=utf-8", "500 Internal Server Error\n\n"+traceback
	}
	return c.writePage(500, []byte(page), Field{"Content-Type", ctype}, Field{"Cache-Control", "no-store"})
}

// writeError answers with a short plain-text error page.
func (c *call) writeError(status int) error {
	return c.writePage(status, []byte(strconv.Itoa(status)+" "+statusText(status)+"\n"), Field{"Content-Type", "text/plain; charset=utf-8"})
}

// writePage answers with status, body and header.
func (c *call) writePage(status int, body []byte, header ...Field) error {
	h := ResponseHead{
		Status:        status,
		Reason:        statusText(status),
		Header:        header,
		ContentLength: int64(len(body)),
		Whole:         true,
	}
	if err := c.w.WriteHeader(&h); err != nil {
		return ErrClientGone
	}
	if c.req.Method != "HEAD" {
		if err := c.w.Write(body); err != nil {
			return ErrClientGone
		}
	}
	return nil
}

// cpython.Handler, called on the Python thread with the GIL released.

func (c *call) ReadBody(p []byte) (int, error) {
	return c.rest.Read(p)
}

func (c *call) Write(head, body []byte) error {
	if c.werr != nil {
		return c.werr
	}
	if head != nil {
		if err := c.writeHead(head, -1); err != nil {
			return err
		}
	}
	// (C bounds the body by Content-Length already; bound catches a
	// value it did not read as one.)
	if n := c.bound(int64(len(body)), false); n > 0 && c.req.Method != "HEAD" {
		c.bodySent += n
		if err := c.w.Write(body[:n]); err != nil {
			c.werr = ErrClientGone
			return c.werr
		}
	}
	return nil
}

func (c *call) SendFile(head []byte, f *os.File, offset, count int64) error {
	if err := c.writeHead(head, count); err != nil {
		return err
	}
	count = c.bound(count, true)
	c.bodySent += count
	if err := c.w.SendFile(f, offset, count); err != nil {
		c.werr = ErrClientGone
		return c.werr
	}
	return nil
}

// writeHead sends the head of a streamed response. length is the body
// length when the server knows it (a file), else -1: it frames the body
// only if the app sent no Content-Length. The app's is kept, also when
// the file falls short of it (the response then ends short: see Serve).
func (c *call) writeHead(head []byte, length int64) error {
	h, err := c.parseHead(head)
	if err != nil {
		c.werr = err
		return err
	}
	if h.ContentLength < 0 {
		h.ContentLength = length
	}
	if bodyAllowed(h.Status, c.req.Method) {
		c.declared = h.ContentLength
	}
	c.sent = true
	if err := c.w.WriteHeader(h); err != nil {
		c.werr = ErrClientGone
		return c.werr
	}
	return nil
}

// parseHead parses the app's head into c.head.
func (c *call) parseHead(b []byte) (*ResponseHead, error) {
	var err error
	c.head, err = parseHead(b, c.fields[:0])
	c.fields = c.head.Header
	return &c.head, err
}

// parseHead decodes the C side's "STATUS\0Name\0Value\0..." block, already
// validated for characters, into a ResponseHead, taking out hop-by-hop
// headers and Content-Length. The head's strings point into b (C memory,
// valid until the Result is released or the write callback returns:
// longer than ResponseWriter.WriteHeader may keep them); its fields are
// appended to fields.
func parseHead(b []byte, fields []Field) (ResponseHead, error) {
	h := ResponseHead{ContentLength: -1, Header: fields}
	status, rest, _ := bytes.Cut(b, []byte{0})
	code, reason, _ := bytes.Cut(status, []byte{' '})
	n, err := strconv.Atoi(string(code))
	if err != nil {
		return h, fmt.Errorf("wsgi: invalid status %q", status)
	}
	h.Status = n
	h.Reason = str(reason)
	if h.Reason == "" {
		h.Reason = statusText(n)
	}
	for len(rest) > 0 {
		var name, value []byte
		name, rest, _ = bytes.Cut(rest, []byte{0})
		value, rest, _ = bytes.Cut(rest, []byte{0})
		switch hop(name) {
		case hopNone:
			h.Header = append(h.Header, Field{str(name), str(value)})
		case hopConnection:
			if bytes.EqualFold(bytes.TrimSpace(value), []byte("close")) {
				h.Close = true
			}
		case hopContentLength:
			cl, err := strconv.ParseInt(str(bytes.TrimSpace(value)), 10, 64)
			if err != nil || cl < 0 {
				return h, fmt.Errorf("wsgi: invalid Content-Length %q from the application", value)
			}
			if h.ContentLength >= 0 && h.ContentLength != cl {
				return h, fmt.Errorf("wsgi: conflicting Content-Length headers from the application")
			}
			h.ContentLength = cl
		}
	}
	return h, nil
}

const (
	hopNone = iota
	hopConnection
	hopContentLength
	hopDrop
)

// hop classifies response header names the server owns: hop-by-hop
// headers (RFC 9110 section 7.6.1), which gunicorn drops too, and
// Content-Length, which frames the body.
func hop(name []byte) int {
	switch len(name) {
	case 2:
		if bytes.EqualFold(name, []byte("TE")) {
			return hopDrop
		}
	case 7:
		if bytes.EqualFold(name, []byte("Upgrade")) || bytes.EqualFold(name, []byte("Trailer")) {
			return hopDrop
		}
	case 10:
		if bytes.EqualFold(name, []byte("Connection")) {
			return hopConnection
		}
		if bytes.EqualFold(name, []byte("Keep-Alive")) {
			return hopDrop
		}
	case 14:
		if bytes.EqualFold(name, []byte("Content-Length")) {
			return hopContentLength
		}
	case 17:
		if bytes.EqualFold(name, []byte("Transfer-Encoding")) {
			return hopDrop
		}
	case 18:
		if bytes.EqualFold(name, []byte("Proxy-Authenticate")) {
			return hopDrop
		}
	case 19:
		if bytes.EqualFold(name, []byte("Proxy-Authorization")) {
			return hopDrop
		}
	}
	return hopNone
}

// HTTPError is an error the transport answers with Status.
type HTTPError struct {
	Status int
	Reason string
	// RetryAfter, if set, is sent as a Retry-After header.
	RetryAfter string
	Err        error
}

func (e *HTTPError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("wsgi: %d %s: %v", e.Status, e.Reason, e.Err)
	}
	return fmt.Sprintf("wsgi: %d %s", e.Status, e.Reason)
}

func (e *HTTPError) Unwrap() error { return e.Err }

var (
	errQueueFull = &HTTPError{Status: 503, Reason: "Service Unavailable", RetryAfter: "1",
		Err: errors.New("all Python threads are busy and the queue is full")}
	errNoThread = &HTTPError{Status: 503, Reason: "Service Unavailable", RetryAfter: "1",
		Err: cpython.ErrNoThread}
)

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "Unknown"
}
