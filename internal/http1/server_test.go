package http1

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
	if s.Handler == nil {
		s.Handler = echoHandler{}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Serve(l); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-done
	})
	return l.Addr().String()
}

// TestConformanceOverSockets sends every table case to a real server:
// valid ones are answered and the connection stays usable, invalid ones get
// their status and the connection is closed.
func TestConformanceOverSockets(t *testing.T) {
	addr := serve(t, &Server{IdleTimeout: 5 * time.Second})
	for _, tc := range headCases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, tc.raw)
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
// not delay other clients, and the header timeout closes them.
func TestSlowClients(t *testing.T) {
	n := 5000
	if testing.Short() {
		n = 500
	}
	srv := &Server{HeaderTimeout: 2 * time.Second, IdleTimeout: 5 * time.Second}
	addr := serve(t, srv)
	var closed atomic.Int32
	var wg sync.WaitGroup
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
	start := time.Now()
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			// One byte every 500 ms, never finishing the head.
			for _, b := range []byte("GET / HTTP/1.1\r\nHost: x\r\n") {
				if _, err := c.Write([]byte{b}); err != nil {
					closed.Add(1)
					return
				}
				c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
				if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
					closed.Add(1)
					return
				}
			}
		}()
	}
	// Meanwhile a normal client is served at once: not held until the
	// slow ones time out (2 s). It starts once the server has accepted
	// them all: while thousands wait in the kernel's accept queue, a new
	// connection's SYN may be dropped and retried a second later, which
	// says nothing about the server. The median allows for a loaded
	// machine (this test runs with -race beside others) stalling one.
	for accepted := 0; accepted < n; {
		srv.mu.Lock()
		accepted = len(srv.conns)
		srv.mu.Unlock()
		if time.Since(start) > 2*time.Second {
			t.Fatalf("%d of %d slow clients accepted after %v", accepted, n, time.Since(start))
		}
		time.Sleep(5 * time.Millisecond)
	}
	var took []time.Duration
	for range 21 {
		began := time.Now()
		resp, err := http.Get("http://" + addr + "/fast")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		took = append(took, time.Since(began))
	}
	slices.Sort(took)
	if med, worst := took[len(took)/2], took[len(took)-1]; med > 250*time.Millisecond || worst > 1500*time.Millisecond {
		t.Errorf("normal requests among %d slow clients took %v (median), %v (slowest); want them served at once", n, med, worst)
	}
	wg.Wait()
	if got := closed.Load(); got != int32(n) {
		t.Errorf("%d of %d slow clients closed by the server", got, n)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("slow clients closed after %v, want about the 2 s header timeout", d)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
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
	time.Sleep(50 * time.Millisecond) // Shutdown has begun
	if _, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
		t.Error("the listener still accepts after Shutdown")
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
	if d := time.Since(start); d < s.lastCall() || d > s.lastCall()+2*time.Second {
		t.Errorf("Shutdown took %v, want about the last call (%v)", d, s.lastCall())
	}
	if err := <-served; err != ErrServerClosed {
		t.Errorf("Serve: %v, want ErrServerClosed", err)
	}
}
