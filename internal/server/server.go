package server

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/pogoserver/pogo/internal/accesslog"
	"github.com/pogoserver/pogo/internal/dispatch"
	"github.com/pogoserver/pogo/internal/http1"
	"github.com/pogoserver/pogo/internal/metrics"
	"github.com/pogoserver/pogo/internal/static"
	"github.com/pogoserver/pogo/internal/wsgi"
)

// Gateway runs requests; *wsgi.Gateway implements it.
type Gateway interface {
	Serve(req *wsgi.Request, w wsgi.ResponseWriter) error
}

// Options configures a Server. Zero values are documented per field.
type Options struct {
	Gateway Gateway
	// Log receives the server's own messages. If nil, slog.Default().
	Log *slog.Logger
	// Access, if set, receives one entry per request, including those the
	// HTTP/1.1 parser refuses (400, 414, 431, 501, 505, 417), as nginx
	// logs them: probes and smuggling attempts show.
	Access *accesslog.Logger
	// Metrics, if set, counts every request, refused ones too.
	Metrics *metrics.Recorder
	// Static directories are tried before the apps, in order; a file one
	// has is served by Go, one none has goes on to the apps.
	Static []*static.Dir
	// Routes chooses the app (wsgi.Request.App) by Host and path, and
	// sets SCRIPT_NAME and PATH_INFO; a request it routes nowhere gets
	// 404. If nil, every request goes to app 0 at the root.
	Routes *dispatch.Table[int]
	// Trusted peers' proxy headers set the client address, scheme and
	// host (see Trusted). If nil, no peer's are used.
	Trusted *Trusted
	// ProxyProtocol reads a PROXY protocol header (v1, v2) at the start
	// of connections from Trusted peers (see proxyproto.go).
	ProxyProtocol bool
	// GatewayTimeouts tells that the gateway may abandon stuck requests
	// (wsgi.Options.Timeout). HTTP/2 requests then run the gateway on a
	// goroutine of their own, so that the stream can still be answered.
	GatewayTimeouts bool
	// TLS, if set, serves every listener over TLS.
	TLS *tls.Config
	// HTTP3 serves HTTP/3 (with TLS) on the UDP sockets given to
	// ServeHTTP3; HTTP/1.1 and HTTP/2 responses on TLS connections then
	// carry Alt-Svc for their port. HTTP3ZeroRTT accepts 0-RTT data,
	// which an attacker can replay: off by default.
	HTTP3, HTTP3ZeroRTT bool

	// KeepAlive is the idle keep-alive timeout; zero disables keep-alive.
	KeepAlive time.Duration
	// HeaderTimeout bounds reading the request line and headers. If zero, 10s.
	HeaderTimeout time.Duration
	// MaxConns bounds open connections; zero means no limit.
	MaxConns int
	// Limits; zero means unlimited (LimitRequestFields: 32768).
	LimitRequestLine, LimitRequestFields, LimitRequestFieldSize int
	LimitRequestBody                                            int64
}

// Server is the transport in front of the gateway: our HTTP/1.1 engine
// (internal/http1) on every listener, with TLS when configured, handing
// HTTP/2 connections (ALPN "h2", or the h2c preface) to internal/http2,
// and HTTP/3 on UDP to quic-go's.
type Server struct {
	opts Options
	log  *slog.Logger
	h1   *http1.Server
	h2   *h2
	h3   *h3                               // nil without Options.HTTP3
	alt  atomic.Pointer[map[string]string] // Alt-Svc by local port, of the UDP sockets served

	mu sync.Mutex
	ls []net.Listener // given to Serve, before TLS; guarded by mu
}

// New makes a Server.
func New(opts Options) *Server {
	s := &Server{opts: opts, log: opts.Log}
	if s.log == nil {
		s.log = slog.Default()
	}
	unlimited := func(n int) int {
		if n <= 0 {
			return 1 << 20
		}
		return n
	}
	s.h1 = &http1.Server{
		Handler: s,
		Limits: http1.Limits{
			RequestLine: unlimited(opts.LimitRequestLine),
			FieldSize:   unlimited(opts.LimitRequestFieldSize),
			Fields:      orInt(opts.LimitRequestFields, 32768),
		},
		HeaderTimeout: opts.HeaderTimeout,
		IdleTimeout:   opts.KeepAlive,
		MaxConns:      opts.MaxConns,
		Log:           s.log,
		Trusted:       opts.Trusted.Has,
	}
	if opts.Access != nil || opts.Metrics != nil {
		s.h1.Rejected = s.rejected
	}
	s.h2 = newH2(s)
	s.h1.H2 = s.h2.serveConn
	if opts.HTTP3 && opts.TLS != nil {
		s.h3 = newH3(s)
	}
	return s
}

func orInt(n, d int) int {
	if n <= 0 {
		return d
	}
	return n
}

// Serve accepts on every listener until Shutdown. It returns the first
// error other than the server closing.
func (s *Server) Serve(ls []net.Listener) error {
	s.mu.Lock()
	s.ls = append(s.ls, ls...)
	s.mu.Unlock()
	errc := make(chan error, len(ls))
	for _, l := range ls {
		if s.opts.ProxyProtocol {
			l = &proxyListener{Listener: l, trusted: s.opts.Trusted} // below TLS
		}
		if s.opts.TLS != nil {
			l = tls.NewListener(l, s.opts.TLS)
		}
		go func() { errc <- s.h1.Serve(l) }()
	}
	var first error
	for range ls {
		if err := <-errc; err != nil && !errors.Is(err, http1.ErrServerClosed) && first == nil {
			first = err
		}
	}
	return first
}

// ServeHTTP3 serves HTTP/3 on every UDP socket until Shutdown (with
// Options.HTTP3 and TLS; else it returns at once). It returns the first
// error other than the server closing.
func (s *Server) ServeHTTP3(pcs []net.PacketConn) error {
	if s.h3 == nil || len(pcs) == 0 {
		return nil
	}
	alt := map[string]string{}
	for _, pc := range pcs {
		_, port := splitHostPort(pc.LocalAddr())
		alt[port] = altSvc(port)
	}
	s.alt.Store(&alt)
	raiseUDPBuffers(pcs, s.log)
	errc := make(chan error, len(pcs))
	for _, pc := range pcs {
		go func() { errc <- s.h3.serve(pc) }()
	}
	var first error
	for range pcs {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// altSvcFor is the Alt-Svc field for a response on ci, or "".
func (s *Server) altSvcFor(ci *http1.ConnInfo) string {
	if m := s.alt.Load(); m != nil && ci.TLS {
		return (*m)[ci.LocalPort]
	}
	return ""
}

// Shutdown accepts the connections already queued in the listeners (at
// most for a second: see gate.go), closes the listeners and idle
// connections, then waits for in-flight requests until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	ls := s.ls
	s.mu.Unlock()
	h3done := make(chan struct{})
	go func() {
		if s.h3 != nil {
			// GOAWAY to HTTP/3 connections; they end with their streams.
			s.h3.srv.Shutdown(ctx)
		}
		close(h3done)
	}()
	drain(ctx, ls, drainTime)
	s.h2.srv.Shutdown(ctx) // GOAWAY to HTTP/2 connections; they end with their streams
	err := s.h1.Shutdown(ctx)
	<-h3done
	return err
}

var exchanges = sync.Pool{New: func() any { return new(exchange) }}

// exchange is one request/response pair: the wsgi.Request and the
// wsgi.ResponseWriter over the engine's ResponseWriter.
type exchange struct {
	req    wsgi.Request
	w      *http1.ResponseWriter
	fields []wsgi.Field
	env    []wsgi.Field // the TLS variables of the environ
	out    []http1.HeaderField
	limit  limitedBody

	path     []byte       // the decoded path, for routing; PathInfo points into it
	keepHead bool         // the access log is on: WriteHeader copies the head
	sent     []wsgi.Field // the app's response headers, copied for the access log
}

// str views b as a string without copying. The request's strings point
// into the connection's head buffer and are valid only during
// ServeHTTP1, which is as long as the gateway may use them.
func str(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (s *Server) ServeHTTP1(w *http1.ResponseWriter, r *http1.Request, body io.Reader, ci *http1.ConnInfo) {
	start := s.observe()
	x := exchanges.Get().(*exchange)
	defer func() {
		*x = exchange{fields: x.fields[:0], env: x.env[:0], out: x.out[:0], sent: x.sent[:0], path: x.path[:0]}
		exchanges.Put(x)
	}()
	x.w = w
	x.keepHead = s.opts.Access != nil
	s.fill(x, r, body, ci)

	if resp := s.route(&x.req, &x.path); resp != nil {
		x.sendStatic(resp)
	} else if err := s.opts.Gateway.Serve(&x.req, x); err != nil {
		x.failed(err)
	}
	s.observed(start, &x.req, w.Status(), w.Written(), x.sent)
}

// observe begins a request's metrics and access log timing; observed
// ends them, with the response's status, body bytes and header fields.
func (s *Server) observe() (start time.Time) {
	if s.opts.Access != nil || s.opts.Metrics != nil {
		start = time.Now()
	}
	if s.opts.Metrics != nil {
		s.opts.Metrics.Start()
	}
	return start
}

func (s *Server) observed(start time.Time, req *wsgi.Request, status int, written int64, sent []wsgi.Field) {
	if s.opts.Metrics != nil {
		s.opts.Metrics.Done(status, time.Since(start))
	}
	if s.opts.Access != nil {
		s.logAccess(req, status, written, sent, start)
	}
}

// failed ends a response the gateway could not complete.
func (x *exchange) failed(err error) {
	var herr *wsgi.HTTPError
	if errors.As(err, &herr) && x.w.Status() == 0 {
		x.writeError(herr)
		return
	}
	if errors.Is(err, wsgi.ErrShortBody) {
		// All there is has been given: the engine sends the head if it
		// still holds it, then closes the connection, as for any body
		// short of its Content-Length.
		return
	}
	// The response is incomplete: close without finishing it, so the
	// client sees a truncated, never a corrupt, response.
	x.w.Abort()
}

// fill maps the engine's request to a wsgi.Request.
func (s *Server) fill(x *exchange, r *http1.Request, body io.Reader, ci *http1.ConnInfo) {
	req := &x.req
	req.Method = str(r.Method)
	req.RequestURI = str(r.Target)
	req.Proto = "HTTP/1.1"
	if r.Minor == 0 {
		req.Proto = "HTTP/1.0"
	}
	req.Host = str(r.Host)
	for _, h := range r.Headers {
		x.fields = append(x.fields, wsgi.Field{Name: str(h.Name), Value: str(h.Value)})
	}
	req.Header = x.fields
	switch {
	case r.Chunked:
		req.ContentLength = -1
	case r.ContentLength > 0:
		req.ContentLength = r.ContentLength
	default:
		req.ContentLength = 0
	}
	if req.ContentLength != 0 {
		req.Body = body
		if s.opts.LimitRequestBody > 0 {
			x.limit = limitedBody{r: body, n: s.opts.LimitRequestBody}
			req.Body = &x.limit
		}
	}
	req.Expect100 = r.Expect100
	x.env = fromConn(req, ci, ci.TLSState, x.env)
	if alt := s.altSvcFor(ci); alt != "" {
		x.out = append(x.out, http1.HeaderField{Name: "Alt-Svc", Value: alt})
	}
	if ci.Trusted {
		x.fields = s.opts.Trusted.forwarded(req, x.fields)
		req.Header = x.fields
	}
}

// limitedBody fails with 413 once a body (chunked, or lying about its
// length) goes past the limit.
type limitedBody struct {
	r io.Reader
	n int64 // bytes still allowed
}

var errBodyTooLarge = &wsgi.HTTPError{Status: 413, Reason: "Content Too Large", Err: errors.New("request body too large")}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return 0, errBodyTooLarge
	}
	return n, err
}

// logAccess writes req's access log entry: status and written are the
// response's, sent its header fields.
func (s *Server) logAccess(req *wsgi.Request, status int, written int64, sent []wsgi.Field, start time.Time) {
	path, query, _ := strings.Cut(req.RequestURI, "?")
	e := accesslog.Entry{
		RemoteAddr:     req.RemoteAddr,
		Start:          start,
		Duration:       time.Since(start),
		Method:         req.Method,
		URI:            req.RequestURI,
		Path:           path,
		Query:          query,
		Proto:          req.Proto,
		Status:         status,
		BodyBytes:      written,
		RequestHeaders: fieldList(req.Header),
	}
	if status != 0 {
		e.ResponseHeaders = fieldList(sent)
	}
	s.opts.Access.Log(&e)
}

// rejected logs and counts a request head the parser refused. The client
// address is the peer's (or the PROXY protocol's): forwarded headers of a
// head that did not parse are not used. The request line is logged if it
// had its shape, else the access log shows "-" for it.
func (s *Server) rejected(r *http1.Rejection) {
	d := time.Since(r.Start)
	if s.opts.Metrics != nil {
		s.opts.Metrics.Start()
		s.opts.Metrics.Done(r.Status, d)
	}
	if s.opts.Access == nil {
		return
	}
	req := r.Req
	e := accesslog.Entry{
		RemoteAddr:     r.Conn.RemoteHost,
		Start:          r.Start,
		Duration:       d,
		Status:         r.Status,
		BodyBytes:      r.Written,
		RequestHeaders: headerList(req.Headers),
	}
	if req.Method != nil {
		e.Method, e.URI = str(req.Method), str(req.Target)
		e.Path, e.Query, _ = strings.Cut(e.URI, "?")
		e.Proto = "HTTP/" + strconv.Itoa(req.Major) + "." + strconv.Itoa(req.Minor)
	}
	s.opts.Access.Log(&e)
}

// headerList gives the access log the header fields of a refused head.
type headerList []http1.Header

func (l headerList) Get(name string) string {
	for _, h := range l {
		if strings.EqualFold(str(h.Name), name) {
			return str(h.Value)
		}
	}
	return ""
}

// fieldList gives the access log header lookups.
type fieldList []wsgi.Field

func (l fieldList) Get(name string) string {
	for _, f := range l {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// wsgi.ResponseWriter

func (x *exchange) WriteHeader(h *wsgi.ResponseHead) error {
	for _, f := range h.Header {
		x.out = append(x.out, http1.HeaderField{Name: f.Name, Value: f.Value})
		if x.keepHead {
			x.sent = append(x.sent, wsgi.Field{Name: strings.Clone(f.Name), Value: strings.Clone(f.Value)})
		}
	}
	return x.w.WriteHeader(h.Status, h.Reason, x.out, h.ContentLength, h.Close)
}

func (x *exchange) Write(p []byte) error {
	_, err := x.w.Write(p)
	return err
}

func (x *exchange) SendFile(f *os.File, offset, count int64) error {
	return x.w.SendFile(f, offset, count)
}

// Abandon implements wsgi.Abandoner.
func (x *exchange) Abandon(status int, reason string) { x.w.Abandon(status, reason) }

func (x *exchange) writeError(e *wsgi.HTTPError) {
	hdr := []http1.HeaderField{{Name: "Content-Type", Value: "text/plain; charset=utf-8"}}
	if e.RetryAfter != "" {
		hdr = append(hdr, http1.HeaderField{Name: "Retry-After", Value: e.RetryAfter})
	}
	body := strconv.Itoa(e.Status) + " " + e.Reason + "\n"
	// After a 4xx the request body may be unread: close.
	x.w.WriteHeader(e.Status, e.Reason, hdr, int64(len(body)), e.Status >= 400 && e.Status != 503)
	io.WriteString(x.w, body)
}
