package server_test

import (
	"strings"
	"testing"

	"github.com/pogoserver/pogo/internal/accesslog"
	"github.com/pogoserver/pogo/internal/metrics"
)

// TestRejectedLogged: request heads the HTTP/1.1 parser refuses reach the
// access log with their status and body bytes, one line per connection,
// with the request line if it parsed ("-" if not), and are counted in
// the metrics by status class.
func TestRejectedLogged(t *testing.T) {
	var lines syncBuffer
	access, err := accesslog.New(&lines, accesslog.DefaultFormat)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { access.Close() })
	rec := new(metrics.Recorder)
	s := start(t, "environ_app:app", func(st *setup) {
		st.srv.Access, st.srv.Metrics = access, rec
		st.srv.LimitRequestLine = 100
	})
	body := func(status string) string { return " " + itoa(int64(len(status)+1)) }
	for _, tc := range []struct {
		raw  string
		want string // the end of its log line, after the time
	}{
		{"POST /p HTTP/1.1\r\nHost: x\r\nUser-Agent: smuggler/1.0\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
			`"POST /p HTTP/1.1" 400` + body("400 Bad Request") + ` "-" "smuggler/1.0"`},
		{"GET /fold?q=1 HTTP/1.1\r\nHost: x\r\nReferer: http://r/\r\nX-A: 1\r\n 2\r\n\r\n",
			`"GET /fold?q=1 HTTP/1.1" 400` + body("400 Bad Request") + ` "http://r/" "-"`},
		{"GET /" + strings.Repeat("a", 200) + " HTTP/1.1\r\nHost: x\r\n\r\n",
			`"-" 414` + body("414 URI Too Long") + ` "-" "-"`},
		{"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
			`"-" 400` + body("400 Bad Request") + ` "-" "-"`},
		{"GET /\" HTTP/2.0\r\nHost: x\r\nUser-Agent: a\\\" \"b\r\n\r\n",
			`"GET /\" HTTP/2.0" 505` + body("505 HTTP Version Not Supported") + ` "-" "-"`},
		{"POST / HTTP/1.1\r\nHost: x\r\nUser-Agent: a\\\" \"b\r\nExpect: nothing\r\n\r\n",
			`"POST / HTTP/1.1" 417` + body("417 Expectation Failed") + ` "-" "a\\\" \"b"`},
	} {
		c := dial(t, s.Addr)
		c.send(tc.raw)
		c.rest() // the answer, then the close
		waitFor(t, "the access log line ending "+tc.want, func() bool {
			return strings.Contains(lines.String(), tc.want+"\n")
		})
	}
	log := lines.String()
	if n := strings.Count(log, "\n"); n != 6 {
		t.Errorf("%d lines, want 6:\n%s", n, log)
	}
	for _, line := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		if !strings.HasPrefix(line, "127.0.0.1 - - [") {
			t.Errorf("line %q does not start with the client address", line)
		}
	}
	// Counted before they are logged: final by now.
	if got := rec.Snapshot().Requests; got[4] != 5 || got[5] != 1 || got[0]+got[1]+got[2]+got[3] != 0 {
		t.Errorf("requests by class %v, want 5 4xx and 1 5xx", got)
	}
}
