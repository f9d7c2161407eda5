package server_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
	Head          string  `json:"head"`
}

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
	s := start(t, "input_app:app")
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

// TestInputContentLength: a chunked body small enough to be read whole is
// given a CONTENT_LENGTH, so apps that trust it (Django) see the body.
func TestInputContentLength(t *testing.T) {
	s := start(t, "input_app:app")
	for _, tc := range []struct {
		name, req string
		want      *string
	}{
		{"length", "Content-Length: 5\r\n\r\nhello", ptr("5")},
		{"small chunked", "Transfer-Encoding: chunked\r\n\r\n" + chunked("hello", 2), ptr("5")},
		{"large chunked", "Transfer-Encoding: chunked\r\n\r\n" + chunked(lines(20000), 4096), nil}, // over wsgi.DefaultPrefetch
	} {
		c := dial(t, s.Addr)
		c.send("POST /read HTTP/1.1\r\nHost: x\r\n" + tc.req)
		_, out := c.response("POST")
		var r inputResult
		json.Unmarshal([]byte(out), &r)
		if (r.ContentLength == nil) != (tc.want == nil) || (r.ContentLength != nil && *r.ContentLength != *tc.want) {
			t.Errorf("%s: CONTENT_LENGTH %v, want %v", tc.name, deref(r.ContentLength), deref(tc.want))
		}
	}
}

func ptr(s string) *string { return &s }

func deref(p *string) string {
	if p == nil {
		return "<unset>"
	}
	return *p
}
