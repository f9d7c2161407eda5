package server

import (
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2/hpack"

	"github.com/pogoserver/pogo/internal/http1"
	"github.com/pogoserver/pogo/internal/http2"
	"github.com/pogoserver/pogo/internal/static"
	"github.com/pogoserver/pogo/internal/wsgi"
)

// h2 serves HTTP/2 connections (TLS with ALPN "h2", and h2c with prior
// knowledge) with internal/http2, feeding the same gateway.
type h2 struct {
	s   *Server
	srv *http2.Server
}

func newH2(s *Server) *h2 {
	h := &h2{s: s}
	h.srv = &http2.Server{
		Handler: h,
		// Every complete request starts on the connection's goroutine;
		// ServeHTTP2 detaches the ones that will wait for Python.
		Inline:        func(*http2.Request) bool { return true },
		HeaderTimeout: s.opts.HeaderTimeout,
		IdleTimeout:   max(s.opts.KeepAlive, h2IdleTimeout),
		Log:           s.log,
	}
	return h
}

func (h *h2) serveConn(c net.Conn, info *http1.ConnInfo) { h.srv.ServeConn(c, info) }

// waiter is a Gateway that can tell a request that will wait for Python
// (*wsgi.Gateway can).
type waiter interface {
	Waits(req *wsgi.Request) bool
}

var h2Exchanges = sync.Pool{New: func() any { return new(h2Exchange) }}

// h2Exchange is one HTTP/2 request: the wsgi.Request and the
// wsgi.ResponseWriter over the stream's.
type h2Exchange struct {
	req    wsgi.Request
	w      *http2.ResponseWriter
	fields []wsgi.Field
	env    []wsgi.Field // the TLS variables of the environ
	out    []hpack.HeaderField
	limit  limitedBody
	path   []byte       // the decoded path, for routing
	sent   []wsgi.Field // the app's response headers, for the access log
	keep   bool         // the access log is on
	whole  bool         // the body comes in one Write: the stream's end flushes it
	cookie strings.Builder
}

func (h *h2) ServeHTTP2(w *http2.ResponseWriter, r *http2.Request) {
	s := h.s
	start := s.observe()
	x := h2Exchanges.Get().(*h2Exchange)
	defer func() {
		*x = h2Exchange{fields: x.fields[:0], env: x.env[:0], out: x.out[:0], sent: x.sent[:0], path: x.path[:0]}
		h2Exchanges.Put(x)
	}()
	x.w = w
	x.keep = s.opts.Access != nil
	h.fill(x, r)

	if resp := s.route(&x.req, &x.path); resp != nil {
		x.sendStatic(resp)
	} else {
		if g, ok := s.opts.Gateway.(waiter); !ok || g.Waits(&x.req) {
			w.Detach() // the connection's other streams go on meanwhile
		}
		x.failed(s.opts.Gateway.Serve(&x.req, x))
	}
	s.observed(start, &x.req, w.Status(), w.Written(), x.sent)
}

// failed ends a response the gateway could not complete.
func (x *h2Exchange) failed(err error) {
	var herr *wsgi.HTTPError
	switch {
	case err == nil:
	case errors.As(err, &herr) && x.w.Status() == 0:
		hdr := append(x.out[:0], hpack.HeaderField{Name: "content-type", Value: "text/plain; charset=utf-8"})
		if herr.RetryAfter != "" {
			hdr = append(hdr, hpack.HeaderField{Name: "retry-after", Value: herr.RetryAfter})
		}
		body := strconv.Itoa(herr.Status) + " " + herr.Reason + "\n"
		x.w.WriteHeader(herr.Status, hdr, int64(len(body)))
		io.WriteString(x.w, body)
	default:
		// A body short of its content-length (RFC 9113 8.1.1), or a
		// response that failed once begun: what there is goes out, then
		// RST_STREAM in place of END_STREAM, so the client sees it fail,
		// never end short.
		x.w.Reset()
	}
}

func (h *h2) fill(x *h2Exchange, r *http2.Request) {
	req := &x.req
	req.Method = r.Method
	req.RequestURI = r.Path
	req.Proto = "HTTP/2.0"
	req.Host = r.Authority
	// RFC 9113 8.2.3: cookie crumbs are joined for an HTTP/1.1 view;
	// 8.3.1: :authority stands for Host.
	crumbs := 0
	for _, f := range r.Header {
		switch f.Name {
		case "cookie":
			if crumbs > 0 {
				x.cookie.WriteString("; ")
			}
			x.cookie.WriteString(f.Value)
			crumbs++
			continue
		case "host":
			if r.Authority != "" {
				continue
			}
			req.Host = f.Value
		}
		x.fields = append(x.fields, wsgi.Field{Name: f.Name, Value: f.Value})
	}
	if crumbs > 0 {
		x.fields = append(x.fields, wsgi.Field{Name: "cookie", Value: x.cookie.String()})
	}
	if r.Authority != "" {
		x.fields = append(x.fields, wsgi.Field{Name: "host", Value: r.Authority})
	}
	req.Header = x.fields
	req.ContentLength = r.ContentLength
	if r.Body != nil {
		req.Body = r.Body
		if lim := h.s.opts.LimitRequestBody; lim > 0 {
			x.limit = limitedBody{r: r.Body, n: lim}
			req.Body = &x.limit
		}
	}
	req.Expect100 = r.Expect100
	ci := r.Conn.(*http1.ConnInfo)
	x.env = fromConn(req, ci, ci.TLSState, x.env)
	if alt := h.s.altSvcFor(ci); alt != "" {
		x.out = append(x.out, hpack.HeaderField{Name: "alt-svc", Value: alt})
	}
	if ci.Trusted {
		x.fields = h.s.opts.Trusted.forwarded(req, x.fields)
		req.Header = x.fields
	}
}

// sendStatic writes a Go-made response on HTTP/2.
func (x *h2Exchange) sendStatic(r *static.Response) {
	if r.File != nil {
		defer r.File.Close()
	}
	for _, h := range r.Header {
		x.out = append(x.out, hpack.HeaderField{Name: h.Name, Value: h.Value})
	}
	length := r.Length
	if r.Status == 304 {
		length = -1
	}
	if x.w.WriteHeader(r.Status, x.out, length) != nil || x.req.Method == "HEAD" {
		return
	}
	var err error
	if r.File != nil {
		err = x.w.SendFile(r.File, r.Offset, r.Length)
	} else {
		_, err = io.WriteString(x.w, r.Body)
	}
	if err != nil {
		x.w.Reset()
	}
}

// wsgi.ResponseWriter

func (x *h2Exchange) WriteHeader(h *wsgi.ResponseHead) error {
	out := x.out // Alt-Svc, if any, first
	for _, f := range h.Header {
		// The encoder's table keeps what it indexes: copies, since h's
		// strings are the gateway's only during the call.
		out = append(out, hpack.HeaderField{Name: strings.Clone(f.Name), Value: strings.Clone(f.Value)})
		if x.keep {
			x.sent = append(x.sent, wsgi.Field{Name: out[len(out)-1].Name, Value: out[len(out)-1].Value})
		}
	}
	x.out = out
	x.whole = h.Whole
	return x.w.WriteHeader(h.Status, out, h.ContentLength)
}

// Write sends p; a streamed response's chunks go out as the app yields
// them, a whole one's with the end of the stream.
func (x *h2Exchange) Write(p []byte) error {
	if _, err := x.w.Write(p); err != nil || x.whole {
		return err
	}
	return x.w.Flush()
}

func (x *h2Exchange) SendFile(f *os.File, offset, count int64) error {
	return x.w.SendFile(f, offset, count)
}

// Abandon implements wsgi.Abandoner.
func (x *h2Exchange) Abandon(status int, reason string) { x.w.Abandon(status, reason) }

// h2IdleTimeout keeps h2 connections at least this long: HTTP/2 clients
// multiplex and reuse, a 2 s keep-alive would tear them down mid-page.
const h2IdleTimeout = 30 * time.Second
