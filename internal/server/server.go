package server

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pogoserver/pogo/internal/accesslog"
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
	// Access, if set, receives one entry per request.
	Access *accesslog.Logger
	// TLS, if set, serves every listener over TLS.
	TLS *tls.Config

	// KeepAlive is the idle keep-alive timeout; zero disables keep-alive.
	KeepAlive time.Duration
	// HeaderTimeout bounds reading the request line and headers. If zero, 10s.
	HeaderTimeout time.Duration
	// Limits; zero means unlimited (LimitRequestFields: 32768).
	LimitRequestLine, LimitRequestFields, LimitRequestFieldSize int
	LimitRequestBody                                            int64
}

// Server is the HTTP/1.1 transport in front of the gateway. For now it
// rides on net/http; the gateway does not depend on it.
type Server struct {
	opts Options
	log  *slog.Logger
	srv  *http.Server
}

// New makes a Server.
func New(opts Options) *Server {
	s := &Server{opts: opts, log: opts.Log}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.opts.HeaderTimeout == 0 {
		s.opts.HeaderTimeout = 10 * time.Second
	}
	if s.opts.LimitRequestFields == 0 {
		s.opts.LimitRequestFields = 32768
	}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.opts.HeaderTimeout,
		IdleTimeout:       opts.KeepAlive,
		MaxHeaderBytes:    s.maxHeaderBytes(),
		// HTTP/2 comes with the next transport; keep ALPN to http/1.1.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     log.New(slogWriter{s.log}, "", 0),
	}
	if opts.KeepAlive == 0 {
		s.srv.SetKeepAlivesEnabled(false)
	}
	return s
}

func (s *Server) maxHeaderBytes() int {
	o := s.opts
	if o.LimitRequestLine == 0 || o.LimitRequestFieldSize == 0 {
		return 1 << 20
	}
	n := o.LimitRequestLine + o.LimitRequestFields*(o.LimitRequestFieldSize+2)
	return min(n, 1<<20)
}

// Serve accepts on every listener until Shutdown. It returns the first
// error other than http.ErrServerClosed.
func (s *Server) Serve(ls []net.Listener) error {
	errc := make(chan error, len(ls))
	for _, l := range ls {
		if s.opts.TLS != nil {
			l = tls.NewListener(l, s.opts.TLS)
		}
		go func() { errc <- s.srv.Serve(l) }()
	}
	var first error
	for range ls {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) && first == nil {
			first = err
		}
	}
	return first
}

// Shutdown closes the listeners, then waits for in-flight requests until
// ctx is done.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// reqPool recycles the per-request state.
var reqPool = sync.Pool{New: func() any { return new(exchange) }}

// exchange is one request/response pair: the wsgi.Request and the
// wsgi.ResponseWriter over net/http's ResponseWriter.
type exchange struct {
	req    wsgi.Request
	w      http.ResponseWriter
	rc     *http.ResponseController
	status int
	bytes  int64
	fields []wsgi.Field
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	x := reqPool.Get().(*exchange)
	defer func() {
		*x = exchange{fields: x.fields[:0]}
		reqPool.Put(x)
	}()
	x.w = w
	x.rc = http.NewResponseController(w)

	err := s.check(r)
	if err == nil {
		s.fill(x, r)
		err = s.opts.Gateway.Serve(&x.req, x)
	}
	var herr *wsgi.HTTPError
	if errors.As(err, &herr) && x.status == 0 {
		x.writeError(herr)
	}
	if s.opts.Access != nil {
		s.access(x, r, start)
	}
	switch {
	case err == nil:
	case herr != nil:
		if herr.Status == 400 || herr.Status == 413 {
			// The body was not read to its end: the connection cannot be
			// reused. net/http closes it after the handler returns.
			w.Header().Set("Connection", "close")
		}
	default:
		// The response is incomplete: close without finishing it, so the
		// client sees a truncated, never a corrupt, response.
		panic(http.ErrAbortHandler)
	}
}

// check applies gunicorn's request limits.
func (s *Server) check(r *http.Request) error {
	o := s.opts
	if o.LimitRequestLine > 0 && len(r.Method)+len(r.RequestURI)+len(r.Proto)+2 > o.LimitRequestLine {
		return &wsgi.HTTPError{Status: 414, Reason: "URI Too Long"}
	}
	n := 0
	for name, vs := range r.Header {
		n += len(vs)
		for _, v := range vs {
			if o.LimitRequestFieldSize > 0 && len(name)+2+len(v) > o.LimitRequestFieldSize {
				return &wsgi.HTTPError{Status: 431, Reason: "Request Header Fields Too Large",
					Err: errors.New("header field " + name + " too long")}
			}
		}
	}
	if n > o.LimitRequestFields {
		return &wsgi.HTTPError{Status: 431, Reason: "Request Header Fields Too Large",
			Err: errors.New("too many header fields")}
	}
	if o.LimitRequestBody > 0 && r.ContentLength > o.LimitRequestBody {
		return &wsgi.HTTPError{Status: 413, Reason: "Content Too Large"}
	}
	return nil
}

// fill maps a net/http request to a wsgi.Request.
func (s *Server) fill(x *exchange, r *http.Request) {
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
		if s.opts.LimitRequestBody > 0 {
			req.Body = &limitedBody{r: r.Body, n: s.opts.LimitRequestBody}
		}
	}
	req.Expect100 = strings.EqualFold(r.Header.Get("Expect"), "100-continue")
	req.RemoteAddr, req.RemotePort = splitAddr(r.RemoteAddr)
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		req.LocalAddr, req.LocalPort = splitAddr(la.String())
	}
	req.TLS = r.TLS != nil
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

func splitAddr(a string) (host, port string) {
	h, p, err := net.SplitHostPort(a)
	if err != nil {
		return "", "" // unix socket
	}
	return h, p
}

func (s *Server) access(x *exchange, r *http.Request, start time.Time) {
	path, query, _ := strings.Cut(r.RequestURI, "?")
	if r.URL != nil {
		path = r.URL.Path
	}
	e := accesslog.Entry{
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
	}
	s.opts.Access.Log(&e)
}

// wsgi.ResponseWriter

func (x *exchange) WriteHeader(h *wsgi.ResponseHead) error {
	hdr := x.w.Header()
	for _, f := range h.Header {
		hdr.Add(f.Name, f.Value)
	}
	if _, ok := hdr["Content-Type"]; !ok {
		hdr["Content-Type"] = nil // no sniffing: send what the app said
	}
	if h.ContentLength >= 0 {
		hdr.Set("Content-Length", strconv.FormatInt(h.ContentLength, 10))
	}
	if h.Close {
		hdr.Set("Connection", "close")
	}
	x.status = h.Status
	x.w.WriteHeader(h.Status)
	return nil
}

func (x *exchange) Write(p []byte) error {
	n, err := x.w.Write(p)
	x.bytes += int64(n)
	if errors.Is(err, http.ErrBodyNotAllowed) {
		return nil // 204/304: the body is dropped, as HTTP requires
	}
	if err != nil {
		return err
	}
	return x.rc.Flush()
}

func (x *exchange) SendFile(f *os.File, offset, count int64) error {
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return err
	}
	// net/http's ReaderFrom uses sendfile(2) for a LimitedReader over an
	// *os.File when the response has a Content-Length.
	n, err := io.Copy(x.w, &io.LimitedReader{R: f, N: count})
	x.bytes += n
	return err
}

func (x *exchange) writeError(e *wsgi.HTTPError) {
	hdr := x.w.Header()
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	if e.RetryAfter != "" {
		hdr.Set("Retry-After", e.RetryAfter)
	}
	if e.Status >= 400 && e.Status != 503 {
		hdr.Set("Connection", "close")
	}
	body := strconv.Itoa(e.Status) + " " + e.Reason + "\n"
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	x.status = e.Status
	x.w.WriteHeader(e.Status)
	n, _ := io.WriteString(x.w, body)
	x.bytes += int64(n)
}

// slogWriter routes net/http's own log lines (TLS handshake errors and the
// like) to the error log at debug level.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Debug(strings.TrimSpace(string(p)))
	return len(p), nil
}
