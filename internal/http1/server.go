package http1

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Handler serves one request. req, its byte slices and body are valid only
// until ServeHTTP1 returns; so is w. A handler that returns without
// writing a response gets a 500, or, if reading body failed with an
// *Error (a malformed or cut-off chunked body), that error's status.
type Handler interface {
	ServeHTTP1(w *ResponseWriter, req *Request, body io.Reader, conn *ConnInfo)
}

// ConnInfo describes the connection a request arrived on. Immutable.
type ConnInfo struct {
	Remote, Local net.Addr
	// RemoteHost, RemotePort, LocalHost and LocalPort are the addresses
	// as strings, made once per connection ("" for unix sockets).
	RemoteHost, RemotePort, LocalHost, LocalPort string
	TLS                                          bool
	// TLSState is the TLS connection's state once its handshake is done
	// (before its first request); nil for a connection in the clear.
	TLSState *tls.ConnectionState
	// Trusted is what Server.Trusted said of RemoteHost, asked once per
	// connection.
	Trusted bool
}

func splitAddr(a net.Addr) (host, port string) {
	if a == nil || a.Network() == "unix" {
		return "", ""
	}
	h, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return "", ""
	}
	return h, p
}

// Server serves HTTP/1.1 on connections it accepts or is given. Fields
// must not change after the first Serve.
type Server struct {
	Handler Handler
	Limits  Limits
	// HeaderTimeout bounds reading a request head once its first byte has
	// arrived. If zero, 10s.
	HeaderTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection waits for the next
	// request. Zero disables keep-alive.
	IdleTimeout time.Duration
	// BodyTimeout bounds each read of a request body. If zero, 60s.
	BodyTimeout time.Duration
	// WriteTimeout bounds each write to the client. If zero, 60s.
	WriteTimeout time.Duration
	// MaxConns limits open connections; beyond it accepting waits. Zero
	// means no limit.
	MaxConns int
	// Log receives connection-level errors at debug level. If nil,
	// slog.Default().
	Log *slog.Logger
	// H2, if set, takes the connections that speak HTTP/2: TLS ones that
	// negotiated "h2" with ALPN, and cleartext ones that open with the
	// HTTP/2 preface (h2c with prior knowledge). It serves the connection
	// until it ends; the conn it gets replays any bytes already read.
	H2 func(net.Conn, *ConnInfo)
	// Trusted, if set, is asked once per connection whether its remote
	// host is a trusted proxy; the answer is ConnInfo.Trusted.
	Trusted func(host string) bool
	// Rejected, if set, is called on the connection's goroutine for each
	// request head the parser refused (a 400, 414, 431, 501, 505 or 417
	// *Error; see doc.go), once the error response has been written and
	// before the connection closes: at most once per connection, since a
	// rejection ends it. The Handler never sees these requests. r and what
	// it points to are valid only during the call.
	Rejected func(r *Rejection)

	mu        sync.Mutex
	listeners map[*net.Listener]struct{} // guarded by mu
	conns     map[*conn]struct{}         // guarded by mu
	sem       chan struct{}
	semOnce   sync.Once
	shutdown  atomic.Bool
	done      chan struct{} // closed by Shutdown
	doneOnce  sync.Once
}

// Rejection describes a request head the parser refused.
type Rejection struct {
	Conn *ConnInfo
	// Start is when the request's first byte was seen.
	Start time.Time
	// Status is the status answered; Reason says why, for logs
	// ("conflicting Content-Length headers").
	Status int
	Reason string
	// Req is what was parsed before the error (see ParseHead): Method is
	// nil unless the request line had its shape; Headers are the fields
	// before the one refused. Its slices point into the read buffer.
	Req *Request
	// Written is the number of response body bytes sent.
	Written int64
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("http1: server closed")

func (s *Server) init() {
	s.semOnce.Do(func() {
		if s.MaxConns > 0 {
			s.sem = make(chan struct{}, s.MaxConns)
		}
		s.done = make(chan struct{})
		s.listeners = map[*net.Listener]struct{}{}
		s.conns = map[*conn]struct{}{}
	})
}

// Serve accepts connections on l until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	s.init()
	s.mu.Lock()
	if s.shutdown.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[&l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, &l)
		s.mu.Unlock()
	}()

	var delay time.Duration
	for {
		if s.sem != nil {
			select {
			case s.sem <- struct{}{}:
			case <-s.done:
				return ErrServerClosed
			}
		}
		rwc, err := l.Accept()
		if err != nil {
			if s.sem != nil {
				<-s.sem
			}
			if s.shutdown.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		// Tracked before Serve can return: Shutdown waits for it.
		c := s.track(rwc)
		go func() {
			s.serveConn(c)
			if s.sem != nil {
				<-s.sem
			}
		}()
	}
}

// ServeConn serves one connection until it closes. It takes a MaxConns
// slot only when called by Serve.
func (s *Server) ServeConn(rwc net.Conn) {
	s.init()
	s.serveConn(s.track(rwc))
}

func (s *Server) track(rwc net.Conn) *conn {
	c := newConn(s, rwc)
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	return c
}

func (s *Server) serveConn(c *conn) {
	defer func() {
		if r := recover(); r != nil {
			// A bug in a handler costs its connection, not the process.
			buf := make([]byte, 16<<10)
			buf = buf[:runtime.Stack(buf, false)]
			s.log().Error("http1: panic serving "+c.info.RemoteHost, "panic", fmt.Sprint(r), "traceback", string(buf))
		}
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.close()
		c.release()
	}()
	c.describe()
	c.serve()
}

// Shutdown closes the listeners, gives idle connections a last call (see
// below), then waits until every connection has finished its current
// request and closed, and every Serve has returned, or for ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.shutdown.Store(true)
	s.doneOnce.Do(func() { close(s.done) })
	s.mu.Lock()
	for l := range s.listeners {
		(*l).Close()
	}
	s.mu.Unlock()
	// An idle keep-alive connection is not closed at once: its client may
	// be sending the next request right now, and a close would lose it.
	// It gets a last call instead: a request that arrives within lastCall
	// is served, with "Connection: close".
	lastCall := time.Now().Add(s.lastCall())
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		for c := range s.conns {
			if c.idle.Load() {
				c.rwc.SetReadDeadline(lastCall)
			}
		}
		// A listener still in Accept may yet hand over a connection.
		n := len(s.listeners)
		for c := range s.conns {
			if !c.abandoned.Load() {
				n++
			}
		}
		s.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// lastCall is how long idle connections may still send a request after
// Shutdown: the keep-alive timeout, at most a second.
func (s *Server) lastCall() time.Duration {
	return min(s.IdleTimeout, time.Second)
}

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// conn is one client connection, owned by its goroutine.
type conn struct {
	s    *Server
	rwc  net.Conn
	info ConnInfo
	br   *bufio.Reader
	head []byte // copy of the current request head; req points into it
	req  Request
	w    ResponseWriter
	body bodyReader
	idle atomic.Bool // waiting for a request: Shutdown gives it a last call

	// resp says who writes the current response: respNone until its
	// first bytes go out, then respHandler, or respAbandoned once Abandon
	// has answered for a stuck handler (from another goroutine).
	resp atomic.Int32
	// abandoned is set by Abandon: Shutdown no longer waits for the
	// connection, whose goroutine is stuck in the handler.
	abandoned atomic.Bool
	// answered is what Abandon sent in the handler's place: its status
	// << 32 | its body's length; 0 if nothing.
	answered atomic.Int64

	writeDeadline time.Time // the write deadline set on rwc
}

// readBufferSize bounds a request head: one that does not fit gets 431.
const readBufferSize = 32 << 10

var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufferSize) }}

func newConn(s *Server, rwc net.Conn) *conn {
	br := readers.Get().(*bufio.Reader)
	br.Reset(rwc)
	return &conn{s: s, rwc: rwc, br: br}
}

// describe fills c.info. It runs on the connection's goroutine: asking a
// connection its addresses may read from it (a PROXY protocol header).
func (c *conn) describe() {
	rwc := c.rwc
	c.info = ConnInfo{Remote: rwc.RemoteAddr(), Local: rwc.LocalAddr()}
	c.info.RemoteHost, c.info.RemotePort = splitAddr(c.info.Remote)
	c.info.LocalHost, c.info.LocalPort = splitAddr(c.info.Local)
	_, c.info.TLS = rwc.(*tls.Conn)
	c.info.Trusted = c.s.Trusted != nil && c.s.Trusted(c.info.RemoteHost)
}

func (c *conn) release() {
	c.br.Reset(nil)
	readers.Put(c.br)
}

func (c *conn) close() { c.rwc.Close() }

func (c *conn) closing() bool { return c.s.shutdown.Load() }

// write sends iov with one writev where the connection allows. It
// consumes *iov.
func (c *conn) write(iov *net.Buffers) error {
	if c.resp.Load() != respHandler && !c.resp.CompareAndSwap(respNone, respHandler) {
		return errAbandoned
	}
	c.setWriteDeadline()
	_, err := iov.WriteTo(c.rwc)
	return err
}

// setWriteDeadline gives the next write WriteTimeout. Moving a deadline
// costs a timer update, so it moves only once half of it is used up.
func (c *conn) setWriteDeadline() {
	d := orDur(c.s.WriteTimeout, 60*time.Second)
	now := time.Now()
	if c.writeDeadline.Sub(now) > d/2 {
		return
	}
	c.writeDeadline = now.Add(d)
	c.rwc.SetWriteDeadline(c.writeDeadline)
}

func orDur(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// h2Preface opens every HTTP/2 connection (RFC 9113 section 3.4).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// handOff reports whether the connection speaks HTTP/2 and, if so, hands
// it to the H2 server.
func (c *conn) handOff() bool {
	if tc, ok := c.rwc.(*tls.Conn); ok {
		if !c.handshake(tc) {
			return true // nothing to serve
		}
		if c.s.H2 != nil && c.info.TLSState.NegotiatedProtocol == "h2" {
			c.s.H2(tc, &c.info)
			return true
		}
		return false
	}
	if c.s.H2 == nil {
		return false
	}
	// Wait for more bytes only while what arrived is a prefix of the
	// preface: no HTTP/1.1 request stays one past "PRI * HTTP/2.0".
	c.rwc.SetReadDeadline(time.Now().Add(orDur(c.s.HeaderTimeout, 10*time.Second)))
	defer c.rwc.SetReadDeadline(time.Time{})
	for n := 1; ; n = c.br.Buffered() + 1 {
		if _, err := c.br.Peek(n); err != nil {
			return false // the HTTP/1 loop sees the same error
		}
		b, _ := c.br.Peek(c.br.Buffered())
		if len(b) > len(h2Preface) {
			b = b[:len(h2Preface)]
		}
		if string(b) != h2Preface[:len(b)] {
			return false
		}
		if len(b) == len(h2Preface) {
			c.s.H2(&replayConn{Conn: c.rwc, r: c.br}, &c.info)
			return true
		}
	}
}

// handshake completes the TLS handshake, within the header timeout, and
// records it in c.info. A client that sent plain HTTP is answered 400 in
// plain HTTP, as nginx and net/http do, rather than left to guess.
func (c *conn) handshake(tc *tls.Conn) bool {
	ctx, cancel := context.WithTimeout(context.Background(), orDur(c.s.HeaderTimeout, 10*time.Second))
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader[:]) {
			c.s.log().Debug("plain HTTP on a TLS port", "remote", c.info.RemoteHost)
			plainBadRequest(re.Conn)
			return false
		}
		c.s.log().Debug("TLS handshake failed", "remote", c.info.RemoteHost, "err", err)
		return false
	}
	st := tc.ConnectionState()
	c.info.TLSState = &st
	return true
}

// looksLikeHTTP reports whether the first five bytes a client sent to a
// TLS port begin an HTTP/1.x request.
func looksLikeHTTP(b []byte) bool {
	for _, m := range []string{"GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "DELET", "PATCH"} {
		if string(b) == m {
			return true
		}
	}
	return false
}

// plainBadRequest answers a plain HTTP request on a TLS port. It
// half-closes, then reads what is left of the request for a moment:
// closing with it unread would reset the connection and lose the answer.
func plainBadRequest(rwc net.Conn) {
	const msg = "Client sent an HTTP request to an HTTPS server.\n"
	rwc.SetDeadline(time.Now().Add(time.Second))
	io.WriteString(rwc, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "+
		strconv.Itoa(len(msg))+"\r\nConnection: close\r\n\r\n"+msg)
	if cw, ok := rwc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		io.Copy(io.Discard, io.LimitReader(rwc, 64<<10))
	}
	rwc.Close()
}

// replayConn is a connection whose reads come through the bufio.Reader
// that already holds its first bytes.
type replayConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// CloseWrite half-closes the connection, as *net.TCPConn does, so that
// the HTTP/2 server can end it without resetting it.
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

func (c *conn) serve() {
	if c.handOff() {
		return
	}
	first := true
	for {
		// Wait for the next request: idle (keep-alive) timeout, then the
		// header timeout once it has started.
		c.idle.Store(true)
		if c.br.Buffered() == 0 { // else a pipelined request is already here
			wait := c.s.IdleTimeout
			if first {
				wait = orDur(c.s.HeaderTimeout, 10*time.Second)
			}
			if c.closing() {
				wait = min(wait, c.s.lastCall())
			}
			c.rwc.SetReadDeadline(time.Now().Add(wait))
			if _, err := c.br.Peek(1); err != nil {
				return // closed, idle timeout, or shut down
			}
		}
		first = false
		c.idle.Store(false)
		var start time.Time
		if c.s.Rejected != nil {
			start = time.Now()
		}
		// No deadline is cleared here: every later read sets its own.
		if err := c.readHead(); err != nil {
			var e *Error
			if errors.As(err, &e) {
				n := c.writeError(e)
				if c.s.Rejected != nil {
					c.s.Rejected(&Rejection{Conn: &c.info, Start: start, Status: e.Status, Reason: e.Reason, Req: &c.req, Written: n})
				}
			}
			return
		}
		if !c.serveRequest() {
			return
		}
		if c.s.IdleTimeout <= 0 {
			return
		}
	}
}

// readHead reads and parses the next request head into c.req, copying it
// out of the read buffer so that reading the body cannot move it.
func (c *conn) readHead() error {
	lim := &c.s.Limits
	waiting := false
	for {
		buf, _ := c.br.Peek(c.br.Buffered())
		n, err := ParseHead(buf, &c.req, lim)
		if err == nil {
			c.head = append(c.head[:0], buf[:n]...)
			rebase(&c.req, buf, c.head)
			c.br.Discard(n)
			return nil
		}
		if err != ErrIncomplete {
			return err
		}
		if c.br.Buffered() == c.br.Size() {
			return errTooManyFields // the head does not fit the buffer
		}
		if !waiting {
			// The head has started: it must be complete within the
			// header timeout however slowly it trickles in.
			c.rwc.SetReadDeadline(time.Now().Add(orDur(c.s.HeaderTimeout, 10*time.Second)))
			waiting = true
		}
		if _, err := c.br.Peek(c.br.Buffered() + 1); err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			return err
		}
	}
}

// rebase points the slices of req from old into its copy new.
func rebase(req *Request, old, new []byte) {
	move := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		off := cap(old) - cap(b)
		return new[off : off+len(b) : off+len(b)]
	}
	req.Method = move(req.Method)
	req.Target = move(req.Target)
	req.Host = move(req.Host)
	for i := range req.Headers {
		req.Headers[i].Name = move(req.Headers[i].Name)
		req.Headers[i].Value = move(req.Headers[i].Value)
	}
}

// serveRequest runs the handler for c.req and reports whether the
// connection may carry another request.
func (c *conn) serveRequest() bool {
	c.body.reset(c)
	c.w.reset(c)
	c.s.Handler.ServeHTTP1(&c.w, &c.req, &c.body, &c.info)
	keep := c.w.finish()
	if !keep {
		return false
	}
	// The next request starts after this body: read what the handler
	// left, up to a limit, else close.
	return c.body.drain()
}

// writeError answers a refused request head and returns how many bytes of
// the response body it sent.
func (c *conn) writeError(e *Error) int64 {
	body := strconv.Itoa(e.Status) + " " + statusText(e.Status) + "\n"
	head := "HTTP/1.1 " + strconv.Itoa(e.Status) + " " + statusText(e.Status) + "\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Length: " + strconv.Itoa(len(body)) +
		"\r\nConnection: close\r\n\r\n"
	c.setWriteDeadline()
	n, _ := io.WriteString(c.rwc, head+body)
	c.s.log().Debug("bad request", "remote", c.info.RemoteHost, "err", e.Reason)
	return int64(max(n-len(head), 0))
}

func statusText(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 413:
		return "Content Too Large"
	case 414:
		return "URI Too Long"
	case 417:
		return "Expectation Failed"
	case 431:
		return "Request Header Fields Too Large"
	case 501:
		return "Not Implemented"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Error"
}

// bodyReader reads the current request's body: Content-Length bytes or
// the chunked body, sending 100 Continue on the first read if asked.
type bodyReader struct {
	c         *conn
	remaining int64 // Content-Length bytes left
	chunked   ChunkedReader
	expect    bool // 100 Continue still to send
	done      bool // the body was read to its end
	err       error
}

const maxDrain = 256 << 10

func (b *bodyReader) reset(c *conn) {
	req := &c.req
	*b = bodyReader{c: c, remaining: max(req.ContentLength, 0), expect: req.Expect100}
	if req.Chunked {
		b.chunked.Reset(c.br, &c.s.Limits)
	} else if b.remaining == 0 {
		b.done, b.expect = true, false
	}
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.done {
		return 0, io.EOF
	}
	if b.expect {
		b.expect = false
		if b.c.w.wroteHead {
			// The response is on its way without the body: do not ask
			// the client for it.
			b.err = io.EOF
			return 0, b.err
		}
		b.c.setWriteDeadline()
		if _, err := io.WriteString(b.c.rwc, "HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
			b.err = err
			return 0, err
		}
	}
	b.c.rwc.SetReadDeadline(time.Now().Add(orDur(b.c.s.BodyTimeout, 60*time.Second)))
	var n int
	var err error
	if b.c.req.Chunked {
		n, err = b.chunked.Read(p)
	} else {
		if int64(len(p)) > b.remaining {
			p = p[:b.remaining]
		}
		n, err = b.c.br.Read(p)
		b.remaining -= int64(n)
		if b.remaining == 0 {
			err = io.EOF
		} else if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
	}
	if err == io.EOF {
		b.done = true
	} else if err != nil {
		b.err = err
	}
	return n, err
}

// drain reads the rest of the body so the next request can be parsed;
// false if it is too long to bother or broken.
func (b *bodyReader) drain() bool {
	if b.done {
		return true
	}
	if b.err != nil || b.expect {
		return false // never asked for: the client may not send it
	}
	n, err := io.CopyN(io.Discard, b, maxDrain+1)
	return err == io.EOF && n <= maxDrain
}
