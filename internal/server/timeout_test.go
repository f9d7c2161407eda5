package server_test

//lint:file-ignore SA1019 x/net/http2's Transport is the h2c client the tests speak to pogo with.

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/pogoserver/pogo/internal/accesslog"
	"github.com/pogoserver/pogo/internal/cpython"
	"github.com/pogoserver/pogo/internal/metrics"
)

// TestTimeouts: a client that never finishes its headers is dropped after
// the header timeout and holds no Python thread meanwhile; an idle
// keep-alive connection is closed after the keep-alive timeout.
func TestTimeouts(t *testing.T) {
	s := start(t, "response_app:app", withThreads(1), func(st *setup) {
		st.srv.HeaderTimeout = 300 * time.Millisecond
		st.srv.KeepAlive = 300 * time.Millisecond
	})

	slow := dial(t, s.Addr)
	slow.send("GET /list HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	if code, body := get(t, s.URL+"/list"); code != 200 || body != "hello world" {
		t.Errorf("other client: %d %q", code, body)
	}
	// (How soon is the bench's business; the bound is only for a hang.)
	if !slow.closed(30 * time.Second) {
		t.Fatal("slow client not disconnected by the header timeout")
	}

	idle := dial(t, s.Addr)
	idle.send("GET /list HTTP/1.1\r\nHost: x\r\n\r\n")
	idle.response("GET")
	// Kept alive after a response, then closed once idle.
	idle.send("GET /list HTTP/1.1\r\nHost: x\r\n\r\n")
	idle.response("GET")
	if !idle.closed(30 * time.Second) {
		t.Fatal("idle keep-alive connection not closed")
	}
}

// TestAppTimeout: a request that runs past wsgi.Options.Timeout gets a
// 504 from the transport, over HTTP/1.1 and HTTP/2, while its thread runs
// on; the thread's stack is logged, OnTimeout is called, the other
// threads go on serving, and the access log and the metrics record the
// 504 the client got.
func TestAppTimeout(t *testing.T) {
	timedOut := make(chan struct{}, 4)
	var accessLines syncBuffer
	access := accessLog(t, &accessLines, accesslog.DefaultFormat)
	rec := new(metrics.Recorder)
	s := start(t, "pid_app:app", withThreads(3), func(st *setup) {
		st.gw.Timeout = 500 * time.Millisecond
		st.gw.Traceback = func(ident uint64) (tb string, err error) {
			py.Do(func(th *cpython.Thread) { tb, err = th.Traceback(ident) })
			return tb, err
		}
		st.gw.OnTimeout = func() { timedOut <- struct{}{} }
		st.srv.GatewayTimeouts = true
		st.srv.Access = access
		st.srv.Metrics = rec
	})
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	for n, c := range []struct {
		proto  string
		client *http.Client
	}{
		{"HTTP/1.1", &http.Client{Timeout: 10 * time.Second}},
		{"HTTP/2.0", &http.Client{Transport: tr, Timeout: 10 * time.Second}},
	} {
		resp, err := c.client.Get(s.URL + "/?sleep=2")
		if err != nil {
			t.Fatalf("%s: %v, want a 504", c.proto, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 504 || string(body) != "504 Gateway Timeout\n" || resp.Proto != c.proto {
			t.Errorf("%s: %s %d %q, want 504 \"504 Gateway Timeout\"", c.proto, resp.Proto, resp.StatusCode, body)
		}
		<-timedOut // (the test's own timeout bounds the wait)
		if code, _ := get(t, s.URL+"/"); code != 200 {
			t.Errorf("%s: another request meanwhile: %d", c.proto, code)
		}
		// The line is written when the app's call returns.
		want := `"GET /?sleep=2 ` + c.proto + `" 504 20 `
		waitFor(t, "the access log line of the 504", func() bool {
			return strings.Contains(accessLines.String(), want) || strings.Count(accessLines.String(), "sleep=2") > n
		})
		contains(t, accessLines.String(), want, "access log")
	}
	if got := rec.Snapshot().Requests[5]; got != 2 {
		t.Errorf("metrics: %d 5xx requests, want 2 (the 504s)", got)
	}
	logs := s.Logs()
	for _, want := range []string{"Request timed out after 500ms (--timeout): GET /?sleep=2; answered 504", "pid_app.py", "time.sleep(secs)"} {
		if n := strings.Count(logs, want); n < 2 {
			t.Errorf("the log has %q %d times, want 2 (one per protocol)", want, n)
		}
	}
}
