package http1

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pogoserver/pogo/internal/testutil"
)

// echoHandler answers with the method, target and body it read.
type echoHandler struct{}

func (echoHandler) ServeHTTP1(w *ResponseWriter, req *Request, body io.Reader, _ *ConnInfo) {
	b, err := io.ReadAll(body)
	if err != nil {
		w.WriteHeader(400, "Bad Body", nil, 0, true)
		return
	}
	out := fmt.Sprintf("%s %s %d:%s", req.Method, req.Target, len(b), b)
	w.WriteHeader(200, "OK", []HeaderField{{"Content-Type", "text/plain"}}, int64(len(out)), false)
	io.WriteString(w, out)
}

func serve(t testing.TB, s *Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, s, l)
	return l.Addr().String()
}

// serveOn serves s on l until the test ends.
func serveOn(t testing.TB, s *Server, l net.Listener) {
	t.Helper()
	if s.Handler == nil {
		s.Handler = echoHandler{}
	}
	done := make(chan struct{})
	go func() { s.Serve(l); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-done
	})
}

// TestConformanceOverSockets sends every table case to a real server:
// valid ones are answered and the connection stays usable, invalid ones get
// their status and the connection is closed.
func TestConformanceOverSockets(t *testing.T) {
	addr := serve(t, &Server{IdleTimeout: 5 * time.Second})
	for _, tc := range headCases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialFor(t, addr)
			io.WriteString(c, tc.raw)
			if tc.eof {
				c.(*net.TCPConn).CloseWrite()
			}
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			for err == nil && resp.StatusCode == 100 {
				resp, err = http.ReadResponse(br, nil) // the final response follows
			}
			if err != nil {
				t.Fatalf("no response: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if tc.status != 0 {
				if resp.StatusCode != tc.status {
					t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
				}
				if _, err := br.ReadByte(); err != io.EOF {
					t.Errorf("connection not closed after %d", tc.status)
				}
				return
			}
			want := fmt.Sprintf("%s %s %d:%s", tc.method, tc.target, len(tc.body), tc.body)
			if resp.StatusCode != 200 || string(body) != want {
				t.Errorf("got %d %q, want %q", resp.StatusCode, body, want)
			}
		})
	}
}

// TestSlowClients: thousands of connections that trickle their heads do
// not stop other clients being served, and the header timeout closes
// them however slowly their heads come in.
//
// It judges what happens, never how fast: on a loaded machine (this runs
// with -race beside other tests) any bound on elapsed time fails now and
// then. So the read deadlines the server sets are held back (see
// heldListener) while the slow clients trickle and the others are served:
// no slow connection can time out before the test has seen what it wants,
// and a server that made other clients wait for slow ones would keep them
// waiting for good (go test's -timeout then ends it, with the stacks).
// Then the deadlines take effect, and every slow connection must be
// closed by the header timeout.
func TestSlowClients(t *testing.T) {
	n := 5000
	if testing.Short() {
		n = 500
	}
	const headerTimeout = 2 * time.Second
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := holdDeadlines(inner)
	serveOn(t, &Server{HeaderTimeout: headerTimeout, IdleTimeout: 5 * time.Second}, l)
	addr := inner.Addr().String()

	slow := make([]net.Conn, n)
	isSlow := map[string]bool{}
	for i := range slow {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		defer c.Close()
		slow[i] = c
		isSlow[c.LocalAddr().String()] = true
	}
	// The heads trickle in a byte at a time, never finished: each byte
	// goes out once the server has read the one before from every slow
	// client, so that the server sees each in a read of its own.
	const head = "GET / HTTP/1.1\r\nHost: x\r\n"
	for k := range len(head) {
		for i, c := range slow {
			if _, err := io.WriteString(c, head[k:k+1]); err != nil {
				t.Fatalf("slow client %d, byte %d: %v", i, k, err)
			}
		}
		l.wait(func() bool { return l.read == n*(k+1) })
	}

	// Meanwhile other clients are served, each on a connection of its own.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 10 {
		resp, err := fresh.Get(fmt.Sprintf("http://%s/fast/%d", addr, i))
		if err != nil {
			t.Fatalf("normal request %d among %d slow clients: %v", i, n, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("GET /fast/%d 0:", i); err != nil || resp.StatusCode != 200 || string(body) != want {
			t.Errorf("normal request %d among %d slow clients: %d %q (%v), want 200 %q", i, n, resp.StatusCode, body, err, want)
		}
	}

	// The header timeout counts from the start of a head: the bytes that
	// trickle in after it do not push it back. So the server had set its
	// last deadline on each slow connection before it read the head's
	// second byte, at most the header timeout ahead.
	var conns []*heldConn
	err = l.inspect(func() error {
		for _, c := range l.conns {
			if isSlow[c.RemoteAddr().String()] {
				conns = append(conns, c)
			}
		}
		if len(conns) != n {
			return fmt.Errorf("the server has %d of the %d slow connections", len(conns), n)
		}
		for _, c := range conns {
			switch {
			case c.closed || c.err != nil:
				return fmt.Errorf("a slow connection ended before its header timeout: closed %v, read error %v", c.closed, c.err)
			case c.deadline.IsZero():
				return errors.New("no read deadline on a slow connection whose head has started")
			case c.deadline.After(c.second.Add(headerTimeout)):
				return fmt.Errorf("the header deadline of a slow connection moved as its head trickled in: %v after the head's second byte, want at most the header timeout (%v)",
					c.deadline.Sub(c.second), headerTimeout)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Time runs again: the header timeout closes every slow connection,
	// without a response.
	l.release()
	for i, c := range slow {
		if b, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("slow client %d: read %d bytes, %v; want the server to close it (EOF)", i, b, err)
		}
	}
	l.wait(func() bool {
		for _, c := range conns {
			if !c.closed {
				return false
			}
		}
		return true
	})
	err = l.inspect(func() error {
		for _, c := range conns {
			if !errors.Is(c.err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("a slow connection was closed after the read error %v, want its header timeout", c.err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// heldListener hands the server connections whose read deadlines are held
// back: the server sets them as it always does, but they take effect only
// when release is called, so that no read times out before the test says
// so. It also records what the server reads, for the test to wait on.
type heldListener struct {
	net.Listener

	mu       sync.Mutex
	changed  sync.Cond   // broadcast when anything below changes; L is &mu
	conns    []*heldConn // guarded by mu
	read     int         // bytes the server has read from all conns; guarded by mu
	released bool        // guarded by mu
}

// heldConn is one connection of a heldListener. Its fields are guarded by
// the listener's mu.
type heldConn struct {
	net.Conn
	l        *heldListener
	deadline time.Time // the read deadline the server set last
	reads    int       // reads that returned bytes
	second   time.Time // when the read that returned the second byte began
	err      error     // the error that ended the server's reading
	closed   bool
}

func holdDeadlines(l net.Listener) *heldListener {
	h := &heldListener{Listener: l}
	h.changed.L = &h.mu
	return h
}

func (l *heldListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	h := &heldConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns = append(l.conns, h)
	l.mu.Unlock()
	return h, nil
}

// inspect calls f with l.mu held and returns what it returns.
func (l *heldListener) inspect(f func() error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return f()
}

// wait waits until cond, called with l.mu held, is true.
func (l *heldListener) wait(cond func() bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for !cond() {
		l.changed.Wait()
	}
}

// release gives every connection the read deadline the server set last,
// and passes later ones straight on.
func (l *heldListener) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.released = true
	for _, c := range l.conns {
		c.Conn.SetReadDeadline(c.deadline)
	}
}

// update changes the listener's state with l.mu held and wakes its waiters.
func (l *heldListener) update(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f()
	l.changed.Broadcast()
}

func (c *heldConn) Read(p []byte) (int, error) {
	began := time.Now()
	n, err := c.Conn.Read(p)
	c.l.update(func() {
		if n > 0 {
			if c.reads++; c.reads == 2 {
				c.second = began
			}
			c.l.read += n
		}
		if err != nil && c.err == nil {
			c.err = err
		}
	})
	return n, err
}

func (c *heldConn) SetReadDeadline(t time.Time) error {
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	if c.l.released {
		return c.Conn.SetReadDeadline(t)
	}
	c.deadline = t
	return nil
}

func (c *heldConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.Conn.SetWriteDeadline(t)
}

func (c *heldConn) Close() error {
	c.l.update(func() { c.closed = true })
	return c.Conn.Close()
}

// TestPipelinedBodies: requests with bodies written back to back are
// answered in order and none reads into the next.
func TestPipelinedBodies(t *testing.T) {
	addr := serve(t, &Server{IdleTimeout: 5 * time.Second})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST /1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"+
		"POST /2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n"+
		"GET /3 HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	for _, want := range []string{"POST /1 3:abc", "POST /2 2:de", "GET /3 0:"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != want {
			t.Errorf("got %q, want %q", b, want)
		}
	}
}

// TestUnreadBody: a handler that ignores the body still leaves the
// connection usable for the next request.
func TestUnreadBody(t *testing.T) {
	addr := serve(t, &Server{IdleTimeout: 5 * time.Second, Handler: HandlerFunc(func(w *ResponseWriter, req *Request, body io.Reader) {
		w.WriteHeader(200, "OK", nil, 2, false)
		io.WriteString(w, "ok")
	})})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	for range 2 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := io.ReadAll(resp.Body); string(b) != "ok" {
			t.Errorf("got %q", b)
		}
	}
}

// TestChunkedCutOff: a chunked body the client half-closes inside, even
// right after the last chunk's "0\r\n", is a 400, never a 200: the body
// read fails, and a handler that gives up on it without answering gets
// the 400 from the server; one that answers itself sees the read error.
func TestChunkedCutOff(t *testing.T) {
	gaveUp := HandlerFunc(func(w *ResponseWriter, req *Request, body io.Reader) {
		if _, err := io.ReadAll(body); err != nil {
			return // no response: the server answers for the body's error
		}
		w.WriteHeader(200, "OK", nil, 2, false)
		io.WriteString(w, "ok")
	})
	head := "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
	whole := "5\r\nhello\r\n0\r\n\r\n"
	for name, h := range map[string]Handler{"echo": echoHandler{}, "gives up": gaveUp} {
		addr := serve(t, &Server{IdleTimeout: 5 * time.Second, Handler: h})
		// Every strict prefix of the body, from the middle of the first
		// size line to just before the final CRLF.
		for n := 1; n < len(whole); n++ {
			t.Run(fmt.Sprintf("%s/%q", name, whole[:n]), func(t *testing.T) {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(c, head+whole[:n])
				c.(*net.TCPConn).CloseWrite()
				br := bufio.NewReader(c)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("no response: %v", err)
				}
				io.Copy(io.Discard, resp.Body)
				if resp.StatusCode != 400 {
					t.Errorf("status %d, want 400", resp.StatusCode)
				}
			})
		}
	}
}

// TestChunkedReaderCutOff: at the reader, every strict prefix of a chunked
// body fails with a 400 *Error, and the whole body reads to io.EOF.
func TestChunkedReaderCutOff(t *testing.T) {
	whole := "5;a=b\r\nhello\r\n3\r\n, w\r\n0\r\nX-T: 1\r\n\r\n"
	for n := range len(whole) {
		br := bufio.NewReader(strings.NewReader(whole[:n]))
		_, err := io.ReadAll(NewChunkedReader(br, &Limits{}))
		var e *Error
		if !errors.As(err, &e) || e.Status != 400 {
			t.Errorf("%q: %v, want a 400 *Error", whole[:n], err)
		}
	}
	br := bufio.NewReader(strings.NewReader(whole))
	if b, err := io.ReadAll(NewChunkedReader(br, &Limits{})); err != nil || string(b) != "hello, w" {
		t.Errorf("whole body: %q %v", b, err)
	}
}

// TestRejected: every refused head reaches Server.Rejected once, after
// its answer, with what was parsed of it; served requests never do.
func TestRejected(t *testing.T) {
	type seen struct {
		status                  int
		method, target, version string
		headers                 []string
		written                 int64
		remote                  string
	}
	got := make(chan seen, 16)
	s := &Server{IdleTimeout: 5 * time.Second, Rejected: func(r *Rejection) {
		v := seen{status: r.Status, written: r.Written, remote: r.Conn.RemoteHost}
		if r.Req.Method != nil {
			v.method, v.target = string(r.Req.Method), string(r.Req.Target)
			v.version = fmt.Sprintf("%d.%d", r.Req.Major, r.Req.Minor)
		}
		for _, h := range r.Req.Headers {
			v.headers = append(v.headers, string(h.Name)+": "+string(h.Value))
		}
		if r.Start.IsZero() {
			t.Error("Rejection.Start not set")
		}
		got <- v
	}}
	addr := serve(t, s)
	for _, tc := range []struct {
		name string
		raw  string
		want seen
	}{
		{"differing Content-Length", "POST /p HTTP/1.1\r\nHost: a\r\nUser-Agent: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
			seen{status: 400, method: "POST", target: "/p", version: "1.1", headers: []string{"Host: a", "User-Agent: x", "Content-Length: 1", "Content-Length: 2"}}},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\n\r\n",
			seen{status: 400, method: "GET", target: "/", version: "1.1", headers: []string{"Host: a", "X-A: 1"}}},
		{"request line too long", "GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: a\r\n\r\n", seen{status: 414}},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", seen{status: 505, method: "GET", target: "/", version: "2.0"}},
		{"not HTTP", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", seen{status: 400}},
		{"unknown expectation", "POST / HTTP/1.1\r\nHost: a\r\nExpect: x\r\n\r\n",
			seen{status: 417, method: "POST", target: "/", version: "1.1", headers: []string{"Host: a", "Expect: x"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialFor(t, addr)
			// A valid request first: served, not reported.
			io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"+tc.raw)
			br := bufio.NewReader(c)
			for _, want := range []int{200, tc.want.status} {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("no response: %v", err)
				}
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != want {
					t.Fatalf("status %d, want %d", resp.StatusCode, want)
				}
				tc.want.written = int64(len(b))
			}
			tc.want.remote = "127.0.0.1"
			select {
			case v := <-got:
				if fmt.Sprint(v) != fmt.Sprint(tc.want) {
					t.Errorf("Rejected got %+v, want %+v", v, tc.want)
				}
			case <-time.After(10 * time.Second): // a failure only: it comes before the close
				t.Fatal("Rejected not called")
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("connection not closed: %v", err)
			}
			select {
			case v := <-got:
				t.Errorf("Rejected called again: %+v", v)
			default:
			}
		})
	}
}

// connHandler is a Handler that sees the connection, not the request.
type connHandler func(w *ResponseWriter, ci *ConnInfo)

func (f connHandler) ServeHTTP1(w *ResponseWriter, _ *Request, _ io.Reader, ci *ConnInfo) { f(w, ci) }

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(w *ResponseWriter, req *Request, body io.Reader)

func (f HandlerFunc) ServeHTTP1(w *ResponseWriter, req *Request, body io.Reader, _ *ConnInfo) {
	f(w, req, body)
}

// fakeConn replays one request forever and discards what is written.
type fakeConn struct {
	net.Conn
	req       []byte
	off       int
	left      int // requests still to serve
	responses int
}

func (f *fakeConn) Read(p []byte) (int, error) {
	if f.left == 0 && f.off == 0 {
		return 0, io.EOF
	}
	n := copy(p, f.req[f.off:])
	f.off += n
	if f.off == len(f.req) {
		f.off = 0
		f.left--
	}
	return n, nil
}

func (f *fakeConn) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("HTTP/1.1 ")) {
		f.responses++
	}
	return len(p), nil
}
func (f *fakeConn) Close() error                     { return nil }
func (f *fakeConn) SetDeadline(time.Time) error      { return nil }
func (f *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (f *fakeConn) SetWriteDeadline(time.Time) error { return nil }
func (f *fakeConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (f *fakeConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }

var helloBody = []byte("Hello, World!")
var helloHeader = []HeaderField{{"Content-Type", "text/plain"}}

// BenchmarkRequest runs GETs with 10 headers through the whole engine:
// parse, handler, response head and body written together. Target: 0
// allocations per request.
func BenchmarkRequest(b *testing.B) {
	raw := []byte("GET /search?q=pogo HTTP/1.1\r\nHost: example.com\r\n" +
		"User-Agent: bench\r\nAccept: */*\r\nAccept-Language: en\r\nAccept-Encoding: gzip\r\n" +
		"Connection: keep-alive\r\nCookie: a=1\r\nCache-Control: no-cache\r\nReferer: http://x/\r\nX-Req: 1\r\n\r\n")
	s := &Server{IdleTimeout: time.Minute, Handler: HandlerFunc(func(w *ResponseWriter, req *Request, body io.Reader) {
		w.WriteHeader(200, "OK", helloHeader, int64(len(helloBody)), false)
		w.Write(helloBody)
	})}
	s.init()
	b.ReportAllocs()
	fc := &fakeConn{req: raw, left: b.N}
	b.ResetTimer()
	s.ServeConn(fc)
	if fc.responses != b.N {
		b.Fatalf("%d responses for %d requests", fc.responses, b.N)
	}
}

func TestRequestAllocs(t *testing.T) {
	res := testing.Benchmark(BenchmarkRequest)
	if a := res.AllocsPerOp(); a != 0 {
		t.Errorf("%d allocations per request, want 0", a)
	}
	if !strings.Contains(res.MemString(), "0 allocs/op") {
		t.Logf("%s", res.MemString())
	}
}

// TestMaxConns: beyond the limit a connection waits in the backlog until
// another closes.
func TestMaxConns(t *testing.T) {
	addr := serve(t, &Server{MaxConns: 2, IdleTimeout: 5 * time.Second})
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /held HTTP/1.1\r\nHost: x\r\n\r\n")
		if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	third, err := net.Dial("tcp", addr) // accepted by the kernel, not by the server
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	io.WriteString(third, "GET /third HTTP/1.1\r\nHost: x\r\n\r\n")
	third.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	br := bufio.NewReader(third)
	if _, err := br.Peek(1); err == nil {
		t.Fatal("a third connection was served over the limit of 2")
	}
	held[0].Close()
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("third connection after one closed: %v", err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "GET /third 0:" {
		t.Errorf("got %q", b)
	}
}

// TestShutdownLastCall: an idle keep-alive connection is not cut at
// Shutdown. A request its client sends within the last call is answered,
// with "Connection: close"; one that stays idle is closed after it.
func TestShutdownLastCall(t *testing.T) {
	s := &Server{Handler: echoHandler{}, IdleTimeout: 5 * time.Second}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()

	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		br := bufio.NewReader(c)
		io.WriteString(c, "GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		return c, br
	}
	busy, busyR := dial()
	quiet, quietR := dial()

	start := time.Now()
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	// Shutdown closes the listener first.
	for deadline := time.Now().Add(30 * time.Second); ; {
		c, err := net.DialTimeout("tcp", l.Addr().String(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener still accepts after Shutdown")
		}
	}

	io.WriteString(busy, "GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(busyR, nil)
	if err != nil {
		t.Fatalf("request in the last call: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "GET /second 0:" || !resp.Close {
		t.Errorf("last-call response: %d %q close=%v, want 200 \"GET /second 0:\" with Connection: close", resp.StatusCode, body, resp.Close)
	}
	if _, err := busyR.ReadByte(); err != io.EOF {
		t.Errorf("after the last-call response: %v, want EOF", err)
	}

	quiet.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := quietR.ReadByte(); err != io.EOF {
		t.Errorf("idle connection: %v, want EOF at the end of the last call", err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if d := time.Since(start); d < s.lastCall() {
		t.Errorf("Shutdown returned after %v, before the last call (%v) was over", d, s.lastCall())
	}
	if err := <-served; err != ErrServerClosed {
		t.Errorf("Serve: %v, want ErrServerClosed", err)
	}
}

// dialFor connects to addr for the test (see testutil.Dial).
func dialFor(t *testing.T, addr string) net.Conn { return testutil.Dial(t, addr, 5*time.Second) }

// TestH2HandOffCloseWrite: the conn an h2c connection is handed off as
// can be half-closed, as the HTTP/2 server does to end a connection
// without resetting it: the client reads EOF while the server still
// reads what the client sends after.
func TestH2HandOffCloseWrite(t *testing.T) {
	got := make(chan string, 1)
	addr := serve(t, &Server{H2: func(c net.Conn, _ *ConnInfo) {
		defer c.Close()
		cw, ok := c.(interface{ CloseWrite() error })
		if !ok {
			got <- "no CloseWrite"
			return
		}
		if err := cw.CloseWrite(); err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(c)
		got <- string(b)
	}})
	c := dialFor(t, addr)
	io.WriteString(c, h2Preface)
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read %d, %v; want EOF", n, err)
	}
	io.WriteString(c, "after")
	c.(*net.TCPConn).CloseWrite()
	if s := <-got; s != h2Preface+"after" {
		t.Errorf("the server read %q", s)
	}
}

// TestTLSPort: a stalled handshake is cut at the header timeout; a TLS
// connection's state reaches the handler; plain HTTP
// sent to the TLS port gets a 400 in plain HTTP, and the connection is
// closed.
func TestTLSPort(t *testing.T) {
	cert := testutil.SelfSigned(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	versions := make(chan uint16, 1)
	h := connHandler(func(w *ResponseWriter, ci *ConnInfo) {
		if ci.TLSState != nil {
			versions <- ci.TLSState.Version
		}
		close(versions)
		w.WriteHeader(200, "OK", nil, 0, false)
	})
	serveOn(t, &Server{Handler: h, HeaderTimeout: 200 * time.Millisecond}, tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert.TLS}}))
	addr := l.Addr().String()

	// A handshake that never ends is cut at the header timeout.
	slow := dialFor(t, addr)
	slow.Write([]byte{0x16, 0x03, 0x01}) // a record header begun, never finished
	slow.SetReadDeadline(time.Now().Add(20 * time.Second))
	if n, err := slow.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a stalled handshake: read %d, %v; want the connection closed", n, err)
	}

	c := dialFor(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("plain HTTP to the TLS port: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(b), "HTTPS") {
		t.Errorf("plain HTTP to the TLS port: %d %q", resp.StatusCode, b)
	}

	tc := tls.Client(dialFor(t, addr), &tls.Config{RootCAs: cert.Roots, ServerName: "127.0.0.1"})
	io.WriteString(tc, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(tc), nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("over TLS: %v %v", resp, err)
	}
	if v, ok := <-versions; !ok || v != tc.ConnectionState().Version {
		t.Errorf("the handler saw TLS version %x (%v), the client %x", v, ok, tc.ConnectionState().Version)
	}
}
