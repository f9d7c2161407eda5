package server

//lint:file-ignore SA1019 pogo hands each HTTP/2 connection to x/net/http2 with ServeConn (h2c with prior knowledge and TLS ALPN alike, after its own preface sniffing); net/http has no per-connection equivalent.

import (
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"github.com/pogoserver/pogo/internal/accesslog"
	"github.com/pogoserver/pogo/internal/wsgi"
)

// h2 serves HTTP/2 connections (TLS with ALPN "h2", and h2c with prior
// knowledge) with golang.org/x/net/http2, feeding the same gateway.
type h2 struct {
	s    *Server
	base *http.Server // for graceful shutdown (GOAWAY) of served connections
	srv  *http2.Server
}

func newH2(s *Server) *h2 {
	h := &h2{s: s, srv: &http2.Server{IdleTimeout: max(s.opts.KeepAlive, h2IdleTimeout)}}
	h.base = &http.Server{
		Handler:        h,
		MaxHeaderBytes: 1 << 20,
		ErrorLog:       log.New(slogWriter{s}, "", 0),
	}
	http2.ConfigureServer(h.base, h.srv)
	return h
}

func (h *h2) serveConn(c net.Conn) {
	h.srv.ServeConn(c, &http2.ServeConnOpts{BaseConfig: h.base, Handler: h})
}

var h2Exchanges = sync.Pool{New: func() any { return new(h2Exchange) }}

// h2Exchange is one HTTP/2 request: the wsgi.Request and the
// wsgi.ResponseWriter over net/http's.
type h2Exchange struct {
	req    wsgi.Request
	w      http.ResponseWriter
	rc     *http.ResponseController
	status int
	bytes  int64
	whole  bool // the body comes in one Write: the stream's end flushes it
	fields []wsgi.Field
	limit  limitedBody
	guard  *h2Guard // with Options.GatewayTimeouts, else nil
	path   []byte   // the decoded path, for routing

	// declared is the Content-Length sent, -1 if none or the response has
	// no body: no more body is sent, and a body short of it resets the
	// stream.
	declared int64
}

// h2Guard lets the gateway's watchdog answer for a stuck app on HTTP/2,
// where only the handler can end a stream: the app runs on a goroutine of
// its own, the handler waits for it or for Abandon, and the app's writes
// take mu so that none is in progress when the handler answers instead.
type h2Guard struct {
	stuck     chan struct{} // closed by Abandon
	once      sync.Once
	mu        sync.Mutex
	abandoned bool // guarded by mu: the app's writes fail
}

// lock serialises an app write with the handler's abandon; it reports
// false if the exchange is abandoned. unlock must follow a true lock.
func (x *h2Exchange) lock() bool {
	if x.guard == nil {
		return true
	}
	x.guard.mu.Lock()
	if x.guard.abandoned {
		x.guard.mu.Unlock()
		return false
	}
	return true
}

func (x *h2Exchange) unlock() {
	if x.guard != nil {
		x.guard.mu.Unlock()
	}
}

var errAbandoned = errors.New("server: response abandoned after --timeout")

// Abandon implements wsgi.Abandoner: the handler answers for the app.
func (x *h2Exchange) Abandon(int, string) {
	if x.guard != nil {
		x.guard.once.Do(func() { close(x.guard.stuck) })
	}
}

func (h *h2) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	x := h2Exchanges.Get().(*h2Exchange)
	defer func() {
		if x.guard != nil && x.guard.abandoned {
			return // the app's goroutine still holds x
		}
		*x = h2Exchange{fields: x.fields[:0], path: x.path[:0]}
		h2Exchanges.Put(x)
	}()
	x.w = w
	x.rc = http.NewResponseController(w)
	x.declared = -1
	h.fill(x, r)

	if m := h.s.opts.Metrics; m != nil {
		m.Start()
		defer func() { m.Done(x.status, time.Since(start)) }()
	}
	if h.s.opts.Access != nil {
		defer h.access(x, r, start)
	}
	if resp := h.s.route(&x.req, &x.path); resp != nil {
		x.sendStatic(resp)
		return
	}
	var err error
	if h.s.opts.GatewayTimeouts {
		x.guard = &h2Guard{stuck: make(chan struct{})}
		done := make(chan error, 1)
		go func() { done <- h.s.opts.Gateway.Serve(&x.req, x) }()
		select {
		case err = <-done:
		case <-x.guard.stuck:
			x.guard.mu.Lock()
			x.guard.abandoned = true
			x.guard.mu.Unlock()
			if x.status != 0 {
				panic(http.ErrAbortHandler) // the response has started: reset the stream
			}
			err = &wsgi.HTTPError{Status: 504, Reason: "Gateway Timeout"}
		}
	} else {
		err = h.s.opts.Gateway.Serve(&x.req, x)
	}
	if err == nil && x.declared >= 0 && x.bytes < x.declared {
		err = wsgi.ErrShortBody // (a file that shrank as it was sent)
	}
	var herr *wsgi.HTTPError
	switch {
	case err == nil:
	case errors.Is(err, wsgi.ErrShortBody):
		// A body shorter than its content-length is malformed (RFC 9113
		// 8.1.1): what there is goes out, then RST_STREAM
		// (INTERNAL_ERROR) in place of END_STREAM, so the client sees
		// the response fail rather than end.
		x.rc.Flush()
		panic(http.ErrAbortHandler)
	case errors.As(err, &herr) && x.status == 0:
		x.status = herr.Status
		hdr := w.Header()
		hdr.Set("Content-Type", "text/plain; charset=utf-8")
		if herr.RetryAfter != "" {
			hdr.Set("Retry-After", herr.RetryAfter)
		}
		w.WriteHeader(herr.Status)
		n, _ := io.WriteString(w, strconv.Itoa(herr.Status)+" "+herr.Reason+"\n")
		x.bytes += int64(n)
	default:
		// Reset the stream: the client sees the response fail, never a
		// corrupt one.
		panic(http.ErrAbortHandler)
	}
}

func (h *h2) fill(x *h2Exchange, r *http.Request) {
	req := &x.req
	req.Method = r.Method
	req.RequestURI = r.RequestURI
	req.Proto = r.Proto
	req.Host = r.Host
	for name, vs := range r.Header {
		for _, v := range vs {
			x.fields = append(x.fields, wsgi.Field{Name: name, Value: v})
		}
	}
	if r.Host != "" {
		x.fields = append(x.fields, wsgi.Field{Name: "Host", Value: r.Host})
	}
	req.Header = x.fields
	req.ContentLength = r.ContentLength
	if r.ContentLength != 0 {
		req.Body = r.Body
		if lim := h.s.opts.LimitRequestBody; lim > 0 {
			x.limit = limitedBody{r: r.Body, n: lim}
			req.Body = &x.limit
		}
	}
	req.Expect100 = strings.EqualFold(r.Header.Get("Expect"), "100-continue")
	req.RemoteAddr, req.RemotePort = splitHostPort(r.RemoteAddr)
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		req.LocalAddr, req.LocalPort = splitHostPort(la.String())
	}
	req.TLS = r.TLS != nil
	if t := h.s.opts.Trusted; t.Has(req.RemoteAddr) {
		x.fields = t.forwarded(req, x.fields)
		req.Header = x.fields
	}
}

func (h *h2) access(x *h2Exchange, r *http.Request, start time.Time) {
	path, query, _ := strings.Cut(r.RequestURI, "?")
	h.s.opts.Access.Log(&accesslog.Entry{
		RemoteAddr:      x.req.RemoteAddr,
		Start:           start,
		Duration:        time.Since(start),
		Method:          r.Method,
		URI:             r.RequestURI,
		Path:            path,
		Query:           query,
		Proto:           r.Proto,
		Status:          x.status,
		BodyBytes:       x.bytes,
		RequestHeaders:  r.Header,
		ResponseHeaders: x.w.Header(),
	})
}

func splitHostPort(a string) (host, port string) {
	h, p, err := net.SplitHostPort(a)
	if err != nil {
		return "", ""
	}
	return h, p
}

// wsgi.ResponseWriter

func (x *h2Exchange) WriteHeader(h *wsgi.ResponseHead) error {
	if !x.lock() {
		return errAbandoned
	}
	defer x.unlock()
	hdr := x.w.Header()
	for _, f := range h.Header {
		// h's strings are the gateway's until WriteHeader returns; the
		// http2 server reads the header map later.
		hdr.Add(strings.Clone(f.Name), strings.Clone(f.Value))
	}
	if _, ok := hdr["Content-Type"]; !ok {
		hdr["Content-Type"] = nil // no sniffing: send what the app said
	}
	x.declared = -1
	if h.ContentLength >= 0 {
		hdr.Set("Content-Length", strconv.FormatInt(h.ContentLength, 10))
		if x.req.Method != "HEAD" && h.Status >= 200 && h.Status != 204 && h.Status != 304 {
			x.declared = h.ContentLength
		}
	}
	x.status = h.Status
	x.whole = h.Whole
	x.w.WriteHeader(h.Status)
	return nil
}

// room bounds n body bytes by the Content-Length sent: the bytes past it
// are dropped, not sent (the gateway bounds what it writes by the app's
// Content-Length and logs the excess; this is the last line), and the
// stream ends normally.
func (x *h2Exchange) room(n int64) int64 {
	if x.declared >= 0 && n > x.declared-x.bytes {
		return x.declared - x.bytes
	}
	return n
}

func (x *h2Exchange) Write(p []byte) error {
	if !x.lock() {
		return errAbandoned
	}
	defer x.unlock()
	p = p[:x.room(int64(len(p)))]
	if len(p) == 0 && x.declared >= 0 {
		return nil
	}
	n, err := x.w.Write(p)
	x.bytes += int64(n)
	if errors.Is(err, http.ErrBodyNotAllowed) {
		return nil // 204/304: the body is dropped, as HTTP requires
	}
	if err != nil || x.whole {
		return err
	}
	return x.rc.Flush()
}

func (x *h2Exchange) SendFile(f *os.File, offset, count int64) error {
	if !x.lock() {
		return errAbandoned
	}
	defer x.unlock()
	n, err := io.Copy(x.w, io.NewSectionReader(f, offset, x.room(count)))
	x.bytes += n
	return err
}

// slogWriter routes net/http's own log lines to the error log at debug
// level.
type slogWriter struct{ s *Server }

func (w slogWriter) Write(p []byte) (int, error) {
	w.s.log.Debug(strings.TrimSpace(string(p)))
	return len(p), nil
}

// h2IdleTimeout keeps h2 connections at least this long: HTTP/2 clients
// multiplex and reuse, a 2 s keep-alive would tear them down mid-page.
const h2IdleTimeout = 30 * time.Second
