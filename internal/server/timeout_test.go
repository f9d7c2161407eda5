package server_test

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

	"github.com/pogoserver/pogo/internal/cpython"
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
	began := time.Now()
	if !slow.closed(3 * time.Second) {
		t.Fatal("slow client not disconnected by the header timeout")
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("slow client dropped after %v, want about 300ms", d)
	}

	idle := dial(t, s.Addr)
	idle.send("GET /list HTTP/1.1\r\nHost: x\r\n\r\n")
	idle.response("GET")
	began = time.Now()
	if !idle.closed(3 * time.Second) {
		t.Fatal("idle keep-alive connection not closed")
	}
	if d := time.Since(began); d < 200*time.Millisecond || d > 2*time.Second {
		t.Errorf("idle connection closed after %v, want about 300ms", d)
	}
}

// TestAppTimeout: a request that runs past wsgi.Options.Timeout gets a
// 504 from the transport, over HTTP/1.1 and HTTP/2, while its thread runs
// on; the thread's stack is logged, OnTimeout is called, and the other
// threads go on serving.
func TestAppTimeout(t *testing.T) {
	timedOut := make(chan struct{}, 4)
	s := start(t, "pid_app:app", withThreads(3), func(st *setup) {
		st.gw.Timeout = 500 * time.Millisecond
		st.gw.Traceback = func(ident uint64) (tb string, err error) {
			py.Do(func(th *cpython.Thread) { tb, err = th.Traceback(ident) })
			return tb, err
		}
		st.gw.OnTimeout = func() { timedOut <- struct{}{} }
		st.srv.GatewayTimeouts = true
	})
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	for _, c := range []struct {
		proto  string
		client *http.Client
	}{
		{"HTTP/1.1", &http.Client{Timeout: 10 * time.Second}},
		{"HTTP/2.0", &http.Client{Transport: tr, Timeout: 10 * time.Second}},
	} {
		began := time.Now()
		resp, err := c.client.Get(s.URL + "/?sleep=3")
		if err != nil {
			t.Fatalf("%s: %v, want a 504", c.proto, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(began)
		if resp.StatusCode != 504 || string(body) != "504 Gateway Timeout\n" || resp.Proto != c.proto {
			t.Errorf("%s: %s %d %q, want 504 \"504 Gateway Timeout\"", c.proto, resp.Proto, resp.StatusCode, body)
		}
		if took > 2500*time.Millisecond {
			t.Errorf("%s: the 504 came after %v, want about 500ms", c.proto, took)
		}
		select {
		case <-timedOut:
		case <-time.After(5 * time.Second):
			t.Errorf("%s: OnTimeout was not called", c.proto)
		}
		if code, _ := get(t, s.URL+"/"); code != 200 {
			t.Errorf("%s: another request meanwhile: %d", c.proto, code)
		}
	}
	logs := s.Logs()
	for _, want := range []string{"Request timed out after 500ms (--timeout): GET /?sleep=3; answered 504", "pid_app.py", "time.sleep(float("} {
		if n := strings.Count(logs, want); n < 2 {
			t.Errorf("the log has %q %d times, want 2 (one per protocol)", want, n)
		}
	}
}
