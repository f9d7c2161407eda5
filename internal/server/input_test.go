package server_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pogoserver/pogo/internal/wsgi"
)

type inputResult struct {
	Len           int     `json:"len"`
	SHA256        string  `json:"sha256"`
	Pieces        int     `json:"pieces"`
	LinesOK       bool    `json:"lines_ok"`
	ContentLength *string `json:"content_length"`
	Terminated    bool    `json:"terminated"`
	Head          string  `json:"head"`
}

// withSpool sets the gateway's SpoolMax (0: bodies past the prefetch
// stream to the app).
func withSpool(n int64) func(*setup) { return func(s *setup) { s.gw.SpoolMax = n } }

// lines makes a body of n newline-terminated lines of varying length.
func lines(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "line %d %s\n", i, strings.Repeat("x", i%50))
	}
	return b.String()
}

func chunked(body string, size int) string {
	var b strings.Builder
	for len(body) > 0 {
		n := min(size, len(body))
		fmt.Fprintf(&b, "%x;ext=1\r\n%s\r\n", n, body[:n])
		body = body[n:]
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}

// TestInput reads bodies every way wsgi.input allows, for small bodies
// (read in Go before dispatch) and large ones (streamed to the app), with
// Content-Length and chunked framing.
func TestInput(t *testing.T) {
	for _, spool := range []int64{0, 1 << 20} {
		t.Run(fmt.Sprintf("spool=%d", spool), func(t *testing.T) { testInput(t, spool) })
	}
}

func testInput(t *testing.T, spool int64) {
	s := start(t, "input_app:app", withSpool(spool))
	bodies := map[string]string{
		"empty": "",
		"small": lines(20),
		"noeol": "no newline at the end",
		"large": lines(20000), // over wsgi.DefaultPrefetch: streamed from the socket
	}
	if len(bodies["large"]) <= wsgi.DefaultPrefetch {
		t.Fatalf("the large body (%d bytes) would be prefetched", len(bodies["large"]))
	}
	modes := []string{"read", "readn", "readline", "readline5", "readlines", "iter", "read_past"}
	for name, body := range bodies {
		for _, mode := range modes {
			for _, framing := range []string{"length", "chunked"} {
				t.Run(name+"/"+mode+"/"+framing, func(t *testing.T) {
					c := dial(t, s.Addr)
					req := "POST /" + mode + " HTTP/1.1\r\nHost: x\r\n"
					if framing == "length" {
						req += fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
					} else {
						req += "Transfer-Encoding: chunked\r\n\r\n" + chunked(body, 1000)
					}
					// A second request on the same connection proves the
					// app never read past the body.
					c.send(req + "GET /none HTTP/1.1\r\nHost: x\r\n\r\n")
					resp, out := c.response("POST")
					if resp.StatusCode != 200 {
						t.Fatalf("status %d: %s", resp.StatusCode, out)
					}
					var r inputResult
					if err := json.Unmarshal([]byte(out), &r); err != nil {
						t.Fatal(err)
					}
					sum := sha256.Sum256([]byte(body))
					if r.Len != len(body) || r.SHA256 != hex.EncodeToString(sum[:]) {
						t.Errorf("got %d bytes (%s), want %d", r.Len, r.Head, len(body))
					}
					if !r.LinesOK {
						t.Errorf("a line was split")
					}
					if resp2, out2 := c.response("GET"); resp2.StatusCode != 200 || !strings.Contains(out2, `"len": 0`) {
						t.Errorf("next request: %d %s", resp2.StatusCode, out2)
					}
				})
			}
		}
	}
}

// TestInputContentLength: a chunked body read whole before the call
// (prefetched, or spooled) is given a CONTENT_LENGTH whatever its size,
// so apps that trust it (Django) see the body; one streamed to the app
// (--spool-max 0, or longer than it) has none and is marked terminated.
func TestInputContentLength(t *testing.T) {
	large := lines(20000) // over wsgi.DefaultPrefetch
	n := strconv.Itoa(len(large))
	for _, tc := range []struct {
		name  string
		spool int64
		req   string
		want  *string
		body  string
	}{
		{"length", 0, "Content-Length: 5\r\n\r\nhello", ptr("5"), "hello"},
		{"small chunked", 0, "Transfer-Encoding: chunked\r\n\r\n" + chunked("hello", 2), ptr("5"), "hello"},
		{"large chunked, streamed", 0, "Transfer-Encoding: chunked\r\n\r\n" + chunked(large, 4096), nil, large},
		{"large chunked, spooled", 1 << 20, "Transfer-Encoding: chunked\r\n\r\n" + chunked(large, 4096), &n, large},
		{"large chunked, over the spool", int64(len(large) - 1), "Transfer-Encoding: chunked\r\n\r\n" + chunked(large, 4096), nil, large},
		{"large length, spooled", 1 << 20, "Content-Length: " + n + "\r\n\r\n" + large, &n, large},
		{"large length, streamed", 0, "Content-Length: " + n + "\r\n\r\n" + large, &n, large},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, "input_app:app", withSpool(tc.spool))
			c := dial(t, s.Addr)
			c.send("POST /read HTTP/1.1\r\nHost: x\r\n" + tc.req)
			_, out := c.response("POST")
			var r inputResult
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if (r.ContentLength == nil) != (tc.want == nil) || (r.ContentLength != nil && *r.ContentLength != *tc.want) {
				t.Errorf("CONTENT_LENGTH %v, want %v", deref(r.ContentLength), deref(tc.want))
			}
			// pogo's wsgi.input ends at the body's end whatever the
			// framing: terminated, which apps need to read a body
			// without a CONTENT_LENGTH.
			if !r.Terminated {
				t.Error("wsgi.input_terminated is not true")
			}
			if want := len(tc.body); r.Len != want {
				t.Errorf("read %d bytes, want %d", r.Len, want)
			}
		})
	}
}

// TestChunkedCutOff: a chunked body whose client half-closes after the
// last chunk's "0\r\n", before the closing CRLF, is answered 400 however
// the body reaches the app: read before the call, spooled, or streamed to
// an app that fails on the read error or even swallows it and answers
// 200 (the gateway answers instead: nothing was sent yet).
func TestChunkedCutOff(t *testing.T) {
	prefetch := func(n int) func(*setup) { return func(s *setup) { s.gw.Prefetch = n } }
	for _, tc := range []struct {
		name string
		path string
		opts []func(*setup)
	}{
		{"prefetched", "/read", nil},
		{"spooled", "/read", []func(*setup){prefetch(4), withSpool(1 << 20)}},
		{"streamed", "/read", []func(*setup){prefetch(4), withSpool(0)}},
		{"streamed, error swallowed", "/read_catch", []func(*setup){prefetch(4), withSpool(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, "input_app:app", tc.opts...)
			c := dial(t, s.Addr)
			c.send("POST " + tc.path + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"5\r\nhello\r\n6\r\n world\r\n0\r\n")
			if err := c.c.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			resp, out := c.response("POST")
			if resp.StatusCode != 400 {
				t.Errorf("status %d %q, want 400", resp.StatusCode, out)
			}
		})
	}
}

// spoolFiles lists this process's open files in dir that are unlinked
// spool files.
func spoolFiles(t *testing.T, dir string) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var open []string
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		// Unlinked: the spool file loses its name before the body goes in.
		if err == nil && strings.HasPrefix(target, filepath.Join(dir, "pogo-body-")) && strings.HasSuffix(target, " (deleted)") {
			open = append(open, target)
		}
	}
	return open
}

// TestSpoolSlowUpload: a 10 MB upload that trickles in is spooled in Go
// before the app is called, so with a single Python thread other
// requests are served while it arrives; the app then reads all of it,
// and the spool file, unlinked from the start, is closed afterwards.
func TestSpoolSlowUpload(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	s := start(t, "input_app:app", withThreads(1), withSpool(64<<20))
	body := strings.Repeat("0123456789abcdef", 10<<20/16)
	for _, framing := range []string{"length", "chunked"} {
		t.Run(framing, func(t *testing.T) {
			up := dial(t, s.Addr)
			head := "POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
			wire := body
			if framing == "chunked" {
				head = "POST /read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
				wire = chunked(body, 64<<10)
			}
			up.send(head + wire[:1<<20])
			waitFor(t, "the spool file", func() bool { return len(spoolFiles(t, dir)) == 1 })
			if names, _ := os.ReadDir(dir); len(names) != 0 {
				t.Errorf("spool file has a name: %v", names)
			}
			// The upload is a tenth in: the one Python thread is free.
			for i := range 10 {
				if code, out := get(t, s.URL+"/none"); code != 200 || !strings.Contains(out, `"len": 0`) {
					t.Fatalf("request %d during the upload: %d %s", i, code, out)
				}
			}
			if st := s.GW.Stats(); st.Busy != 0 || st.Calls < 10 {
				t.Errorf("during the upload: %d requests in Python, %d served; want 0 and at least 10", st.Busy, st.Calls)
			}
			for rest := wire[1<<20:]; len(rest) > 0; rest = rest[min(len(rest), 1<<20):] {
				up.send(rest[:min(len(rest), 1<<20)])
			}
			resp, out := up.response("POST")
			var r inputResult
			if err := json.Unmarshal([]byte(out), &r); err != nil || resp.StatusCode != 200 {
				t.Fatalf("%d %v: %s", resp.StatusCode, err, out)
			}
			sum := sha256.Sum256([]byte(body))
			if r.Len != len(body) || r.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("the app read %d bytes, want %d (all)", r.Len, len(body))
			}
			if r.ContentLength == nil || *r.ContentLength != strconv.Itoa(len(body)) {
				t.Errorf("CONTENT_LENGTH %v, want %d", deref(r.ContentLength), len(body))
			}
			// The response has been written: the spool is closed.
			waitFor(t, "the spool file to close", func() bool { return len(spoolFiles(t, dir)) == 0 })
		})
	}
}

func ptr(s string) *string { return &s }

func deref(p *string) string {
	if p == nil {
		return "<unset>"
	}
	return *p
}

// TestSpoolExpectContinue: with spooling, a request that expects 100
// Continue gets it from Go, which then reads the body before the call.
func TestSpoolExpectContinue(t *testing.T) {
	s := start(t, "input_app:app", withSpool(64<<20))
	body := lines(20000) // over the prefetch: spooled
	c := dial(t, s.Addr)
	c.send("POST /read HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	if line, err := c.br.ReadString('\n'); err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("before the body: %q, %v; want 100 Continue", line, err)
	}
	if line, _ := c.br.ReadString('\n'); line != "\r\n" {
		t.Fatalf("100 Continue followed by %q", line)
	}
	c.send(body)
	resp, out := c.response("POST")
	var r inputResult
	if err := json.Unmarshal([]byte(out), &r); err != nil || resp.StatusCode != 200 || r.Len != len(body) {
		t.Fatalf("%d %v: %s; want all %d bytes", resp.StatusCode, err, out, len(body))
	}
}
