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
)

// DefaultPrefetch is how much of a request body is read in Go before the
// request takes a Python thread, if Options.Prefetch is zero. The app then
// reads it from memory without letting go of the GIL, where a streamed
// body costs a GIL hand-off per read: per core, 100 KiB uploads read in
// 4 KiB pieces, 3.0-3.4k req/s with 64 KiB, 3.9-4.8k with 256 KiB. At most
// Threads + QueueSize requests hold one (waitress buffers 512 KiB).
const DefaultPrefetch = 256 << 10

// Options configures a Gateway.
type Options struct {
	// Threads is the number of Python threads: at most this many requests
	// run Python at once. Must be > 0.
	Threads int
	// QueueSize bounds the requests waiting for a Python slot; beyond it
	// Serve answers 503. If zero, 64 per thread is used.
	QueueSize int
	// Prefetch is the largest body read in Go before dispatch. If zero,
	// DefaultPrefetch is used.
	Prefetch int
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
}

// An Abandoner is a ResponseWriter that can answer for an app that is
// stuck (Options.Timeout), from another goroutine: with status if no
// response bytes have been written, and by closing the connection in any
// case. The stuck call's later writes fail.
type Abandoner interface {
	Abandon(status int, reason string)
}

// Gateway runs WSGI requests with at most Threads of them in Python at
// once. The connection goroutine calls Python itself (no hand-off to
// another thread); the OS thread it is on keeps one PyThreadState for its
// whole life, so threading.local survives across requests. See
// docs/internals.md for why this shape and not a pool of locked threads.
type Gateway struct {
	apps    []*cpython.App // Request.App indexes it
	opts    Options
	log     *slog.Logger
	slots   chan *slot    // free call slots: the semaphore of size Threads
	all     []*slot       // every slot, for the watchdog
	waiting atomic.Int64  // requests waiting for a slot
	served  atomic.Uint64 // requests that reached Serve
	stuck   atomic.Int64  // timed-out calls still running
	done    chan struct{} // closed by Close: stops the watchdog
}

// slot is one call slot: a Python thread state holder, and with a
// Timeout, the call running in it.
type slot struct {
	t *cpython.Thread

	mu      sync.Mutex // held briefly by Serve and the watchdog
	c       *call      // the running call; guarded by mu
	started int64      // its start in Unix ns, 0 if idle, -1 once timed out; guarded by mu
}

// New starts the Python threads for apps (Request.App chooses one; most
// servers have one). The interpreter must be started.
func New(apps []*cpython.App, opts Options) (*Gateway, error) {
	if len(apps) == 0 {
		return nil, errors.New("wsgi: no app")
	}
	if opts.Threads <= 0 {
		return nil, fmt.Errorf("wsgi: threads must be > 0, got %d", opts.Threads)
	}
	if opts.QueueSize == 0 {
		opts.QueueSize = 64 * opts.Threads
	}
	if opts.Prefetch == 0 {
		opts.Prefetch = DefaultPrefetch
	}
	g := &Gateway{apps: apps, opts: opts, log: opts.Log}
	if g.log == nil {
		g.log = slog.Default()
	}
	g.slots = make(chan *slot, opts.Threads)
	for range opts.Threads {
		s := &slot{t: cpython.NewSlot()}
		g.all = append(g.all, s)
		g.slots <- s
	}
	g.done = make(chan struct{})
	if opts.Timeout > 0 {
		go g.watch()
	}
	return g, nil
}

// Close waits for the requests running in Python to finish, except the
// ones that timed out, and reports whether all did. Serve must not be
// called afterwards.
func (g *Gateway) Close() bool {
	close(g.done)
	for got := 0; got < g.opts.Threads; {
		select {
		case <-g.slots:
			got++
		case <-time.After(50 * time.Millisecond):
			if got+int(g.stuck.Load()) >= g.opts.Threads {
				return false
			}
		}
	}
	return true
}

// Requests returns how many requests Serve has been given.
func (g *Gateway) Requests() uint64 { return g.served.Load() }

// call is one request in flight, owned by its connection goroutine.
type call struct {
	req   *Request
	w     ResponseWriter
	env   envBuf
	path  []byte
	body  []byte
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
}

var calls = sync.Pool{New: func() any { return new(call) }}

// scratchSize is the largest buffered response (head and body) a call
// holds in Go memory; larger ones are malloc'd by C and freed after the
// write.
const scratchSize = 16 << 10

// Serve runs req through the app and writes the response to w. It returns
// nil when the response was written completely and the connection may be
// reused; ErrAborted or ErrClientGone when it must be closed; or an
// *HTTPError the transport should answer (bad body, queue full).
func (g *Gateway) Serve(req *Request, w ResponseWriter) error {
	g.served.Add(1)
	c := calls.Get().(*call)
	defer func() {
		c.req, c.w, c.res, c.readErr, c.werr, c.sent = nil, nil, cpython.Result{}, nil, nil, false
		c.head = ResponseHead{}
		calls.Put(c)
	}()
	c.req, c.w = req, w

	// Read a small body now, so a slow upload never holds a Python thread.
	c.flags = 0
	c.body = c.body[:0]
	contentLength := req.ContentLength
	if req.Body != nil && req.ContentLength != 0 && !req.Expect100 {
		var err error
		contentLength, err = c.prefetch(g.opts.Prefetch)
		if err != nil {
			var herr *HTTPError
			if errors.As(err, &herr) {
				return herr
			}
			return &HTTPError{Status: 400, Reason: "Bad Request", Err: err}
		}
	} else if req.Body != nil && req.ContentLength != 0 {
		c.flags |= cpython.MoreBody
	}
	if req.Method == "HEAD" {
		c.flags |= cpython.Head
	}
	if req.TLS {
		c.flags |= cpython.HTTPS
	}
	if contentLength == 0 && !seen(req.Header, "Content-Length") {
		contentLength = -1 // no body and no header: no CONTENT_LENGTH, as in CGI
	}
	c.env, c.path = buildEnviron(c.env[:0], c.path, req, contentLength, g.opts.Software)

	var s *slot
	select {
	case s = <-g.slots:
	default:
		if g.waiting.Add(1) > int64(g.opts.QueueSize) {
			g.waiting.Add(-1)
			return errQueueFull
		}
		s = <-g.slots
		g.waiting.Add(-1)
	}
	if g.opts.Timeout > 0 {
		s.mu.Lock()
		s.c, s.started = c, time.Now().UnixNano()
		s.mu.Unlock()
	}
	if c.scratch == nil {
		c.scratch = make([]byte, scratchSize)
	}
	c.res = s.t.Call(g.apps[req.App], c, c.env, c.body, c.scratch, c.flags)
	c.readErr = s.t.ReadErr()
	timedOut := false
	if g.opts.Timeout > 0 {
		s.mu.Lock()
		timedOut = s.started < 0
		s.c, s.started = nil, 0
		s.mu.Unlock()
	}
	g.slots <- s // free before a buffered response is written
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

// watch is the watchdog for Options.Timeout.
func (g *Gateway) watch() {
	t := time.NewTicker(min(max(g.opts.Timeout/10, 10*time.Millisecond), time.Second))
	defer t.Stop()
	for {
		select {
		case <-g.done:
			return
		case now := <-t.C:
			for _, s := range g.all {
				g.check(s, now)
			}
		}
	}
}

// check times out the call in s if it has run too long. The call and its
// request stay valid while s.mu is held: Serve waits for it when the
// call returns.
func (g *Gateway) check(s *slot, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started <= 0 || now.Sub(time.Unix(0, s.started)) < g.opts.Timeout {
		return
	}
	s.started = -1
	g.stuck.Add(1)
	c := s.c
	what := c.req.Method + " " + c.req.RequestURI // copies: the request's strings live in the connection's buffer
	if a, ok := c.w.(Abandoner); ok {
		a.Abandon(504, "Gateway Timeout")
	}
	go g.timedOut(s.t.Ident(), what)
}

// timedOut logs a timed-out request with the stack of its thread, then
// calls OnTimeout.
func (g *Gateway) timedOut(ident uint64, what string) {
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

// Load returns the Python threads running a request, the requests
// waiting for one, and the number of threads.
func (g *Gateway) Load() (busy, queued, threads int) {
	return g.opts.Threads - len(g.slots), int(g.waiting.Load()), g.opts.Threads
}

// Stuck is the number of timed-out calls still running.
func (g *Gateway) Stuck() int { return int(g.stuck.Load()) }

// prefetch reads the body if it is no longer than limit. It returns the
// CONTENT_LENGTH to report: the real length of a chunked body read whole.
func (c *call) prefetch(limit int) (int64, error) {
	req := c.req
	n := req.ContentLength
	if n > int64(limit) {
		c.flags |= cpython.MoreBody
		return n, nil
	}
	want := int(n)
	if n < 0 {
		want = limit + 1 // to tell "exactly limit" from "more"
	}
	if cap(c.body) < want {
		c.body = make([]byte, want)
	}
	got, err := io.ReadFull(req.Body, c.body[:want])
	c.body = c.body[:got]
	switch {
	case n >= 0 && err != nil:
		return n, err
	case n < 0 && got > limit:
		c.flags |= cpython.MoreBody
		return -1, nil
	case n < 0 && err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF):
		return -1, err
	case n < 0:
		return int64(got), nil
	}
	return n, nil
}

func (g *Gateway) finish(c *call) error {
	res := &c.res
	switch res.Kind {
	case cpython.Buffered:
		defer res.Release()
		h, err := c.parseHead(res.Head())
		if err != nil {
			g.appError(c, err.Error()+"\n")
			return c.writeError(500)
		}
		if h.ContentLength < 0 || c.req.Method != "HEAD" {
			// The server frames what it sends; for HEAD, an app that
			// skips the body (Werkzeug does) still knows its length.
			h.ContentLength = int64(res.BodyLen())
		}
		h.Whole = true
		if err := c.w.WriteHeader(h); err != nil {
			return ErrClientGone
		}
		if body := res.Body(); len(body) > 0 {
			if err := c.w.Write(body); err != nil {
				return ErrClientGone
			}
		}
		return nil
	case cpython.Streamed:
		if c.werr != nil {
			return c.werr
		}
		return nil
	case cpython.ErrorBeforeHeaders:
		g.appError(c, res.Traceback)
		return c.writeError(500)
	case cpython.ErrorAfterHeaders:
		g.appError(c, res.Traceback)
		return ErrAborted
	case cpython.ClientGone:
		if c.werr != nil && !errors.Is(c.werr, ErrClientGone) {
			// A bad head from the app surfaced at the first write.
			g.appError(c, c.werr.Error()+"\n")
			if !c.sent {
				return c.writeError(500)
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

// writeError answers with a short plain-text error page.
func (c *call) writeError(status int) error {
	body := []byte(strconv.Itoa(status) + " " + statusText(status) + "\n")
	h := ResponseHead{
		Status:        status,
		Reason:        statusText(status),
		Header:        []Field{{"Content-Type", "text/plain; charset=utf-8"}},
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
	return c.req.Body.Read(p)
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
	if len(body) > 0 && c.req.Method != "HEAD" {
		if err := c.w.Write(body); err != nil {
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
	if err := c.w.SendFile(f, offset, count); err != nil {
		c.werr = ErrClientGone
		return c.werr
	}
	return nil
}

// writeHead sends the head of a streamed response. length is the body
// length when the server knows it (a file), else -1.
func (c *call) writeHead(head []byte, length int64) error {
	h, err := c.parseHead(head)
	if err != nil {
		c.werr = err
		return err
	}
	if length >= 0 && (h.ContentLength < 0 || h.ContentLength > length) {
		h.ContentLength = length
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

var errQueueFull = &HTTPError{Status: 503, Reason: "Service Unavailable", RetryAfter: "1",
	Err: errors.New("all Python threads are busy and the queue is full")}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "Unknown"
}
