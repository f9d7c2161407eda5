package server_test

import (
	"testing"
	"time"
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
