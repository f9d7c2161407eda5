package server_test

// The tests in this package run real WSGI apps (testdata/apps) in a real
// CPython, embedded once per test binary, behind real sockets on
// 127.0.0.1:0: framing, timeouts and threads are behaviour a fake cannot
// show.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pogoserver/pogo/internal/accesslog"
	"github.com/pogoserver/pogo/internal/cpython"
	"github.com/pogoserver/pogo/internal/logging"
	"github.com/pogoserver/pogo/internal/server"
	"github.com/pogoserver/pogo/internal/testutil"
	"github.com/pogoserver/pogo/internal/wsgi"
)

var (
	py       *cpython.Main
	pyErrors syncBuffer // everything the apps write to wsgi.errors

	appsMu sync.Mutex
	apps   = map[string]*cpython.App{}
)

func TestMain(m *testing.M) {
	program, err := cpython.ProgramFor("") // honours VIRTUAL_ENV
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	keys, reserved := wsgi.EnvKeys()
	py, err = cpython.StartMain(cpython.Options{Program: program, EnvKeys: keys, EnvReserved: reserved, Errors: &pyErrors})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	root, _ := filepath.Abs("../../testdata")
	py.Do(func(t *cpython.Thread) {
		err = t.AddPaths([]string{filepath.Join(root, "apps"), filepath.Join(root, "frameworks")})
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// loadApp imports spec once per test binary.
func loadApp(t testing.TB, spec string) *cpython.App {
	t.Helper()
	appsMu.Lock()
	defer appsMu.Unlock()
	if app := apps[spec]; app != nil {
		return app
	}
	var app *cpython.App
	var err error
	py.Do(func(th *cpython.Thread) { app, err = th.Load(spec, cpython.Threaded) })
	if err != nil {
		var pe *cpython.Error
		if ok := asPyError(err, &pe); ok {
			t.Fatalf("load %s: %v\n%s", spec, err, pe.Traceback)
		}
		t.Fatalf("load %s: %v", spec, err)
	}
	apps[spec] = app
	return app
}

func asPyError(err error, pe **cpython.Error) bool {
	e, ok := err.(*cpython.Error)
	if ok {
		*pe = e
	}
	return ok
}

type testServer struct {
	Addr string // host:port
	URL  string // http://host:port
	GW   *wsgi.Gateway
	logs *syncBuffer
}

// Logs is everything the server logged so far.
func (s *testServer) Logs() string { return s.logs.String() }

// setup tweaks the options of a test server.
type setup struct {
	gw  wsgi.Options
	srv server.Options
	// apps are more app specs after the main one: app 1, 2, ... for
	// srv.Routes.
	apps []string
}

// start serves spec on 127.0.0.1:0 until the test ends.
func start(t testing.TB, spec string, opts ...func(*setup)) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(logging.NewHandler(logs, slog.LevelDebug))
	st := setup{
		gw:  wsgi.Options{Threads: 4, Software: "pogo/test", Log: log},
		srv: server.Options{Log: log, KeepAlive: 5 * time.Second, HeaderTimeout: 5 * time.Second},
	}
	for _, o := range opts {
		o(&st)
	}
	apps := []*cpython.App{loadApp(t, spec)}
	for _, a := range st.apps {
		apps = append(apps, loadApp(t, a))
	}
	gw, err := wsgi.New(apps, st.gw)
	if err != nil {
		t.Fatal(err)
	}
	st.srv.Gateway = gw
	srv := server.New(st.srv)
	ls, err := server.Listen([]string{"127.0.0.1:0"}, 128)
	if err != nil {
		t.Fatal(err)
	}
	var pcs []net.PacketConn
	if st.srv.HTTP3 {
		if pcs, err = server.ListenPackets(ls); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { srv.Serve(ls); close(done) }()
	go srv.ServeHTTP3(pcs)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
		for _, pc := range pcs {
			pc.Close()
		}
		gw.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	addr := ls[0].Addr().String()
	return &testServer{Addr: addr, URL: "http://" + addr, GW: gw, logs: logs}
}

// accessLog is an access log into lines, in format, for a test server
// (setup.srv.Access).
func accessLog(t testing.TB, lines *syncBuffer, format string) *accesslog.Logger {
	t.Helper()
	access, err := accesslog.New(lines, format)
	if err != nil {
		t.Fatal(err)
	}
	return access
}

func withThreads(n int) func(*setup) { return func(s *setup) { s.gw.Threads = n } }

// onBothPaths runs f in a subtest against a server of spec on each path a
// call can take: a fixed pool of threads, and the adaptive model, whose
// calls run directly on the connection's goroutine; and checks that f's
// calls took that path (direct: the adaptive model). (A call in the adaptive model may still run on the
// pool: its goroutine's OS thread may be one beyond those allowed to run
// Python directly, which the tests before it in this process have used. A
// test of a few calls makes more until one has run directly.)
func onBothPaths(t *testing.T, spec string, poolThreads int, f func(t *testing.T, s *testServer, direct bool)) {
	for _, mode := range []struct {
		name    string
		threads int
	}{{"pool", poolThreads}, {"direct", 0}} {
		t.Run(mode.name, func(t *testing.T) {
			s := start(t, spec, withThreads(mode.threads))
			f(t, s, mode.threads == 0)
			if st := s.GW.Stats(); mode.threads == 0 && st.DirectCalls == 0 || mode.threads > 0 && st.DirectCalls > 0 {
				t.Errorf("%d calls ran directly, %d on the pool", st.DirectCalls, st.PoolCalls)
			}
		})
	}
}

// get fetches path and returns status and body.
func get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, body := fetch(t, http.DefaultClient, url)
	return resp.StatusCode, body
}

// fetch GETs url with c and returns the response and its whole body.
func fetch(t testing.TB, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// rawConn is a client connection for writing raw bytes and reading
// responses one at a time.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dial(t testing.TB, addr string) *rawConn {
	t.Helper()
	c := testutil.Dial(t, addr, 10*time.Second)
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *rawConn) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.c, s); err != nil {
		r.t.Fatal(err)
	}
}

// response reads one response to a request with method.
func (r *rawConn) response(method string) (*http.Response, string) {
	r.t.Helper()
	resp, err := http.ReadResponse(r.br, &http.Request{Method: method})
	if err != nil {
		r.t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		r.t.Fatalf("reading body: %v", err)
	}
	return resp, string(b)
}

// rest reads until the server closes the connection.
func (r *rawConn) rest() string {
	r.t.Helper()
	b, _ := io.ReadAll(r.br)
	return string(b)
}

// closed reports whether the server closed the connection (EOF within d).
func (r *rawConn) closed(d time.Duration) bool {
	r.c.SetReadDeadline(time.Now().Add(d))
	_, err := r.br.ReadByte()
	return err == io.EOF
}

type syncBuffer = testutil.SyncBuffer

// waitFor polls cond until it holds; after 30s (a bound for a hang, not a
// timing claim) t fails.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func contains(t testing.TB, s, sub, what string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("%s: %q does not contain %q", what, s, sub)
	}
}
