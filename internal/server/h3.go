package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/pogoserver/pogo/internal/http1"
	"github.com/pogoserver/pogo/internal/static"
	"github.com/pogoserver/pogo/internal/wsgi"
)

// h3 serves HTTP/3 over QUIC (quic-go) on UDP sockets beside the TLS
// ones, into the same gateway as HTTP/1.1 and HTTP/2: the same routes,
// static files, environ, limits, access log and metrics.
type h3 struct {
	s   *Server
	srv *http3.Server
}

// h3Streams bounds the streams a client may have open on one QUIC
// connection, and h3HeaderBytes a request's header block (beyond it: 431),
// as internal/http2 does for HTTP/2's.
const (
	h3Streams     = 250
	h3HeaderBytes = 1 << 20
)

func newH3(s *Server) *h3 {
	h := &h3{s: s}
	tc := s.opts.TLS.Clone()
	tc.NextProtos = nil // http3 sets "h3"
	h.srv = &http3.Server{
		TLSConfig: tc,
		QUICConfig: &quic.Config{
			Allow0RTT:             s.opts.HTTP3ZeroRTT,
			MaxIncomingStreams:    h3Streams,
			MaxIncomingUniStreams: 16,
			MaxIdleTimeout:        max(s.opts.KeepAlive, h2IdleTimeout),
		},
		Handler:        h,
		MaxHeaderBytes: h3HeaderBytes,
		IdleTimeout:    max(s.opts.KeepAlive, h2IdleTimeout),
		Logger:         s.log,
		ConnContext: func(ctx context.Context, c *quic.Conn) context.Context {
			return context.WithValue(ctx, connInfoKey{}, s.quicConnInfo(c))
		},
	}
	return h
}

type connInfoKey struct{}

// quicConnInfo describes a QUIC connection as internal/http1 describes a
// TCP one, once per connection.
func (s *Server) quicConnInfo(c *quic.Conn) *http1.ConnInfo {
	ci := &http1.ConnInfo{Remote: c.RemoteAddr(), Local: c.LocalAddr(), TLS: true}
	ci.RemoteHost, ci.RemotePort = splitHostPort(ci.Remote)
	ci.LocalHost, ci.LocalPort = splitHostPort(ci.Local)
	ci.Trusted = s.opts.Trusted.Has(ci.RemoteHost)
	return ci
}

func splitHostPort(a net.Addr) (host, port string) {
	h, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return "", ""
	}
	return h, p
}

// altSvc is the Alt-Svc header field that tells HTTP/1.1 and HTTP/2
// clients of a TLS connection that arrived on port that HTTP/3 is served
// there (on UDP) too (RFC 9114 3.1.1).
func altSvc(port string) string { return `h3=":` + port + `"; ma=86400` }

var h3Exchanges = sync.Pool{New: func() any { return new(h3Exchange) }}

// h3Exchange is one HTTP/3 request: the wsgi.Request and the
// wsgi.ResponseWriter over quic-go's http.ResponseWriter.
type h3Exchange struct {
	req     wsgi.Request
	w       http.ResponseWriter
	fields  []wsgi.Field
	env     []wsgi.Field
	limit   limitedBody
	path    []byte
	sent    []wsgi.Field
	keep    bool
	whole   bool
	status  int
	written int64

	// With gateway timeouts the app's call runs on a goroutine of its
	// own, and Abandon may end the exchange from the watchdog's: mu
	// guards the writes, abandon is closed and abandoned set when it does.
	mu        sync.Mutex
	abandon   chan struct{}
	abandoned bool
	gave      string // Abandon's status line, "504 Gateway Timeout"
	code      int
}

func (h *h3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := h.s
	x := h3Exchanges.Get().(*h3Exchange)
	defer func() {
		if x.isAbandoned() {
			return // the app's call still holds it
		}
		*x = h3Exchange{fields: x.fields[:0], env: x.env[:0], sent: x.sent[:0], path: x.path[:0]}
		h3Exchanges.Put(x)
	}()
	x.w = w
	x.keep = s.opts.Access != nil
	start := s.observe()
	defer func() { s.observed(start, &x.req, x.status, x.written, x.sent) }()
	if !h.fill(x, r) {
		x.fail(400, "Bad Request")
		return
	}
	if r.TLS != nil && !r.TLS.HandshakeComplete && !safeMethod(r.Method) {
		// Early data (--http3-0rtt) can be replayed by an attacker: only
		// safe methods run before the handshake ends (RFC 8470 5.2).
		x.fail(425, "Too Early")
		return
	}
	if resp := s.route(&x.req, &x.path); resp != nil {
		x.sendStatic(resp)
		return
	}
	if !s.opts.GatewayTimeouts {
		x.failed(s.opts.Gateway.Serve(&x.req, x))
		return
	}
	// The stream is answered here, even while the app's call is stuck.
	x.abandon = make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- s.opts.Gateway.Serve(&x.req, x) }()
	var err error
	select {
	case err = <-done:
	case <-x.abandon:
	}
	if x.isAbandoned() {
		x.answerAbandoned()
		return
	}
	x.failed(err)
}

func (x *h3Exchange) isAbandoned() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.abandoned
}

// Abandon implements wsgi.Abandoner: ServeHTTP answers for the app.
func (x *h3Exchange) Abandon(status int, reason string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.abandoned || x.abandon == nil {
		return
	}
	x.abandoned, x.code, x.gave = true, status, reason
	close(x.abandon)
}

// answerAbandoned answers an abandoned exchange: status if nothing was
// sent, else the stream is reset so the client sees the response cut.
// The app's call, still running, is kept out meanwhile by mu, then by
// abandoned.
func (x *h3Exchange) answerAbandoned() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.status != 0 {
		panic(http.ErrAbortHandler)
	}
	x.fail(x.code, x.gave) // failed writes to x.w itself, not through mu
}

func (h *h3) fill(x *h3Exchange, r *http.Request) bool {
	ci, ok := r.Context().Value(connInfoKey{}).(*http1.ConnInfo)
	if !ok {
		return false
	}
	req := &x.req
	req.Method = r.Method
	req.RequestURI = r.RequestURI
	if req.RequestURI == "" {
		req.RequestURI = r.URL.RequestURI()
	}
	req.Proto = "HTTP/3.0"
	req.Host = r.Host
	for name, vals := range r.Header {
		for _, v := range vals {
			x.fields = append(x.fields, wsgi.Field{Name: name, Value: v})
		}
	}
	if r.Host != "" {
		x.fields = append(x.fields, wsgi.Field{Name: "Host", Value: r.Host})
	}
	req.Header = x.fields
	req.ContentLength = r.ContentLength
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		req.Body = r.Body
		if lim := h.s.opts.LimitRequestBody; lim > 0 {
			x.limit = limitedBody{r: r.Body, n: lim}
			req.Body = &x.limit
		}
	} else {
		req.ContentLength = 0
	}
	x.env = fromConn(req, ci, r.TLS, x.env) // the state now: with 0-RTT, the handshake ends after the accept
	if ci.Trusted {
		x.fields = h.s.opts.Trusted.forwarded(req, x.fields)
		req.Header = x.fields
	}
	return true
}

// safeMethod reports whether m is safe (RFC 9110 9.2.1): one that a
// replay of early data cannot do harm with.
func safeMethod(m string) bool { return m == "GET" || m == "HEAD" || m == "OPTIONS" }

// fail answers with status and a plain-text body.
func (x *h3Exchange) fail(status int, reason string) {
	x.failed(&wsgi.HTTPError{Status: status, Reason: reason})
}

// sendStatic writes a Go-made response on HTTP/3.
func (x *h3Exchange) sendStatic(r *static.Response) {
	if r.File != nil {
		defer r.File.Close()
	}
	hdr := x.w.Header()
	for _, f := range r.Header {
		hdr[f.Name] = append(hdr[f.Name], f.Value)
	}
	if r.Status != 304 {
		hdr.Set("Content-Length", strconv.FormatInt(r.Length, 10))
	}
	x.status = r.Status
	x.w.WriteHeader(r.Status)
	if x.req.Method == "HEAD" {
		return
	}
	var err error
	if r.File != nil {
		err = x.SendFile(r.File, r.Offset, r.Length)
	} else {
		err = x.Write([]byte(r.Body))
	}
	if err != nil {
		panic(http.ErrAbortHandler) // the stream is reset
	}
}

// failed ends a response the gateway could not complete.
func (x *h3Exchange) failed(err error) {
	var herr *wsgi.HTTPError
	switch {
	case err == nil:
	case errors.As(err, &herr) && x.status == 0:
		hdr := x.w.Header()
		hdr.Set("Content-Type", "text/plain; charset=utf-8")
		if herr.RetryAfter != "" {
			hdr.Set("Retry-After", herr.RetryAfter)
		}
		body := strconv.Itoa(herr.Status) + " " + herr.Reason + "\n"
		hdr.Set("Content-Length", strconv.Itoa(len(body)))
		x.status = herr.Status
		x.w.WriteHeader(herr.Status)
		n, _ := io.WriteString(x.w, body)
		x.written += int64(n)
	default:
		// Short of its content-length, or failed once begun: the stream
		// is reset, so the client sees it fail, never end short.
		panic(http.ErrAbortHandler)
	}
}

// wsgi.ResponseWriter

// errAbandoned fails the writes of an app's call that timed out.
var errAbandoned = errors.New("server: the request timed out; the client has had its answer")

func (x *h3Exchange) WriteHeader(h *wsgi.ResponseHead) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.abandoned {
		return errAbandoned
	}
	hdr := x.w.Header()
	for _, f := range h.Header {
		name, value := strings.Clone(f.Name), strings.Clone(f.Value)
		hdr[name] = append(hdr[name], value)
		if x.keep {
			x.sent = append(x.sent, wsgi.Field{Name: name, Value: value})
		}
	}
	if h.ContentLength >= 0 {
		hdr.Set("Content-Length", strconv.FormatInt(h.ContentLength, 10))
	}
	x.whole = h.Whole
	x.status = h.Status
	x.w.WriteHeader(h.Status)
	return nil
}

// Write sends p; a streamed response's chunks go out as the app yields
// them.
func (x *h3Exchange) Write(p []byte) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.abandoned {
		return errAbandoned
	}
	n, err := x.w.Write(p)
	x.written += int64(n)
	if err != nil {
		return err
	}
	if !x.whole {
		return http.NewResponseController(x.w).Flush()
	}
	return nil
}

func (x *h3Exchange) SendFile(f *os.File, offset, count int64) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.abandoned {
		return errAbandoned
	}
	n, err := io.Copy(x.w, io.NewSectionReader(f, offset, count))
	x.written += n
	if err == nil && n < count {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// udpBuffer is the socket buffer QUIC wants for each direction (quic-go's
// figure): at 1 Gbit/s, the kernel's default of about 200 KiB drops
// packets in bursts.
const udpBuffer = 7 << 20

// raiseUDPBuffers raises the sockets' buffers to udpBuffer where the
// kernel allows (past net.core.rmem_max and wmem_max only with
// CAP_NET_ADMIN), and says once, in pogo's log, if it does not. quic-go
// tries the same and would say it on its own, in another format, so it
// is told not to.
func raiseUDPBuffers(pcs []net.PacketConn, log *slog.Logger) {
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	short := ""
	for _, pc := range pcs {
		sc, ok := pc.(syscall.Conn)
		if !ok {
			continue
		}
		rc, err := sc.SyscallConn()
		if err != nil {
			continue
		}
		rc.Control(func(fd uintptr) {
			for _, o := range []struct {
				name          string
				force, normal int
			}{{"receive", syscall.SO_RCVBUFFORCE, syscall.SO_RCVBUF}, {"send", syscall.SO_SNDBUFFORCE, syscall.SO_SNDBUF}} {
				if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, o.force, udpBuffer) != nil {
					syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, o.normal, udpBuffer)
				}
				// The kernel reports twice what it grants (its overhead).
				if n, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, o.normal); err == nil && n/2 < udpBuffer && short == "" {
					short = fmt.Sprintf("%s buffer %d KiB", o.name, n/2/1024)
				}
			}
		})
	}
	if short != "" {
		log.Warn(fmt.Sprintf("HTTP/3: the UDP %s, under the %d KiB QUIC wants; bursts may drop packets. Raise net.core.rmem_max and net.core.wmem_max (sysctl -w net.core.rmem_max=%d net.core.wmem_max=%d), or run pogo with CAP_NET_ADMIN",
			short, udpBuffer/1024, 2*udpBuffer, 2*udpBuffer))
	}
}

// serveH3 serves HTTP/3 on pc until Shutdown.
func (h *h3) serve(pc net.PacketConn) error {
	err := h.srv.Serve(pc)
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, quic.ErrServerClosed) {
		return nil
	}
	return err
}
