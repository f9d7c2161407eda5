package server_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestResponseFraming checks how each kind of response reaches the wire.
func TestResponseFraming(t *testing.T) {
	s := start(t, "response_app:app")
	tests := []struct {
		name, method, path, proto string
		status                    int
		body                      string
		contentLength             int64 // -1: none
		chunked                   bool
		closes                    bool
		header                    map[string]string
		noHeader                  []string
	}{
		{name: "list gets Content-Length", method: "GET", path: "/list", status: 200, body: "hello world", contentLength: 11},
		{name: "tuple", method: "GET", path: "/tuple", status: 201, body: "made", contentLength: 4},
		{name: "generator is chunked on 1.1", method: "GET", path: "/gen", status: 200, body: "part0;part1;part2;", contentLength: -1, chunked: true},
		{name: "generator with app Content-Length", method: "GET", path: "/gen_cl", status: 200, body: "abcdef", contentLength: 6},
		{name: "generator close-delimited on 1.0", method: "GET", path: "/gen", proto: "HTTP/1.0", status: 200, body: "part0;part1;part2;", contentLength: -1, closes: true},
		{name: "empty generator", method: "GET", path: "/empty_gen", status: 200, body: "", contentLength: 0},
		{name: "write then list", method: "GET", path: "/write", status: 200, body: "written;returned", contentLength: -1, chunked: true},
		{name: "HEAD of list keeps Content-Length", method: "HEAD", path: "/list", status: 200, body: "", contentLength: 11},
		{name: "HEAD of generator counts the body", method: "HEAD", path: "/gen", status: 200, body: "", contentLength: 18},
		{name: "HEAD keeps the app's Content-Length", method: "HEAD", path: "/head_aware", status: 200, body: "", contentLength: 11},
		{name: "GET of the same", method: "GET", path: "/head_aware", status: 200, body: "hello world", contentLength: 11},
		{name: "204 has no body", method: "GET", path: "/204", status: 204, body: "", contentLength: -1},
		{name: "304 has no body", method: "GET", path: "/304", status: 304, body: "", contentLength: -1, header: map[string]string{"Etag": `"x"`}},
		{name: "Connection: close from the app", method: "GET", path: "/conn_close", status: 200, body: "bye", contentLength: 3, closes: true},
		{name: "hop-by-hop headers dropped", method: "GET", path: "/hop", status: 200, body: "hop", contentLength: 3,
			header: map[string]string{"X-Ok": "1"}, noHeader: []string{"Keep-Alive"}},
		{name: "file-like without fileno is iterated", method: "GET", path: "/filelike", status: 200, body: strings.Repeat("x", 10000), contentLength: -1, chunked: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proto := tt.proto
			if proto == "" {
				proto = "HTTP/1.1"
			}
			c := dial(t, s.Addr)
			c.send(tt.method + " " + tt.path + " " + proto + "\r\nHost: x\r\n\r\n")
			resp, body := c.response(tt.method)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tt.status, body)
			}
			if body != tt.body {
				t.Errorf("body %q, want %q", body, tt.body)
			}
			if tt.contentLength >= 0 && resp.Header.Get("Content-Length") != itoa(tt.contentLength) {
				t.Errorf("Content-Length %q, want %d", resp.Header.Get("Content-Length"), tt.contentLength)
			}
			if tt.contentLength < 0 && resp.Header.Get("Content-Length") != "" {
				t.Errorf("unexpected Content-Length %q", resp.Header.Get("Content-Length"))
			}
			if got := len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked"; got != tt.chunked {
				t.Errorf("chunked = %v, want %v", got, tt.chunked)
			}
			if resp.Header.Get("Content-Type") == "" && tt.status != 204 && tt.status != 304 {
				t.Errorf("no Content-Type")
			}
			for k, v := range tt.header {
				if resp.Header.Get(k) != v {
					t.Errorf("header %s = %q, want %q", k, resp.Header.Get(k), v)
				}
			}
			for _, k := range tt.noHeader {
				if resp.Header.Get(k) != "" {
					t.Errorf("header %s present: %q", k, resp.Header.Get(k))
				}
			}
			if tt.closes != c.closed(200*time.Millisecond) {
				t.Errorf("connection closed = %v, want %v", !tt.closes, tt.closes)
			}
		})
	}
}

// TestStartResponseValidation: invalid status or headers never reach the
// wire; the client gets a 500 and the log says why.
// TestBufferedSizes: buffered responses around the gateway's 16 KiB
// scratch buffer, where head and body each land in it or in C memory,
// arrive whole, over HTTP/1.1 and with HEAD.
func TestBufferedSizes(t *testing.T) {
	s := start(t, "response_app:app")
	c := dial(t, s.Addr)
	for _, q := range []string{"0", "1", "100", "16000", "16300&pad=10", "16300&pad=200", "16384", "16385", "20000&pad=16000", "100000"} {
		for _, method := range []string{"GET", "HEAD"} {
			c.send(method + " /sized?" + q + " HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, body := c.response(method)
			n, _ := strconv.Atoi(strings.Split(q, "&")[0])
			want := make([]byte, n)
			for i := range want {
				want[i] = byte(i % 251)
			}
			if method == "HEAD" {
				want = nil
			}
			pad := 0
			if _, p, ok := strings.Cut(q, "&pad="); ok {
				pad, _ = strconv.Atoi(p)
			}
			if resp.StatusCode != 200 || resp.ContentLength != int64(n) || body != string(want) || len(resp.Header.Get("X-Pad")) != pad {
				t.Errorf("%s ?%s: %d, Content-Length %d, %d body bytes (right: %v), X-Pad %d bytes; want %d bytes",
					method, q, resp.StatusCode, resp.ContentLength, len(body), body == string(want), len(resp.Header.Get("X-Pad")), n)
			}
		}
	}
}

// TestKeptObjects: an app that keeps start_response, write and wsgi.input
// finds them ended in a later request (pogo reuses those objects only when
// nothing else holds them), and later requests get working ones; keyword
// arguments to start_response work, unknown ones are an error.
func TestKeptObjects(t *testing.T) {
	s := start(t, "keep_app:app", withThreads(1))
	c := dial(t, s.Addr)
	post := func(body string) string {
		c.send(fmt.Sprintf("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
		_, got := c.response("POST")
		return got
	}
	get := func(path string) (int, string) {
		c.send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, got := c.response("GET")
		return resp.StatusCode, got
	}
	for _, b := range []string{"a", "bb"} { // the second reuses the first's objects
		if got := post(b); got != "echo:"+b {
			t.Errorf("POST %q: %q", b, got)
		}
	}
	if code, got := get("/keep"); code != 200 || got != "kept" {
		t.Errorf("/keep: %d %q", code, got)
	}
	if code, got := get("/old"); code != 200 || got != "start_response:ended write:ended input:ended" {
		t.Errorf("/old: %d %q", code, got)
	}
	if got := post("ccc"); got != "echo:ccc" {
		t.Errorf("POST after /keep: %q", got)
	}
	if code, got := get("/kw"); code != 201 || got != "kw" {
		t.Errorf("/kw: %d %q", code, got)
	}
	if code, _ := get("/kw_bad"); code != 500 {
		t.Errorf("/kw_bad: %d, want 500", code)
	}
	waitFor(t, "the TypeError in the log", func() bool {
		return strings.Contains(s.Logs(), "unexpected keyword argument 'nope'")
	})
}

func TestStartResponseValidation(t *testing.T) {
	s := start(t, "response_app:app")
	for _, path := range []string{"/bad_header_latin1", "/bad_header_crlf", "/bad_header_name", "/bad_status",
		"/bad_headers_type", "/twice", "/no_start", "/str_body", "/exc_before"} {
		t.Run(path, func(t *testing.T) {
			c := dial(t, s.Addr)
			c.send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, body := c.response("GET")
			if resp.StatusCode != 500 {
				t.Fatalf("status %d, want 500", resp.StatusCode)
			}
			if strings.Contains(body, "never") || resp.Header.Get("Set-Cookie") != "" || resp.Header.Get("X-Evil") != "" {
				t.Errorf("app output leaked: %v %q", resp.Header, body)
			}
			// The connection stays usable.
			c.send("GET /list HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp, body := c.response("GET"); resp.StatusCode != 200 || body != "hello world" {
				t.Errorf("next request: %d %q", resp.StatusCode, body)
			}
			waitFor(t, "the error in the log", func() bool {
				return strings.Contains(s.Logs(), "Error handling request GET "+path)
			})
		})
	}
	logs := s.Logs()
	for _, want := range []string{"Traceback (most recent call last)", "RuntimeError: boom before headers",
		"not latin-1", "invalid character in header", "invalid header name", "invalid status",
		"called twice", "before calling start_response", "must be bytes"} {
		contains(t, logs, want, "error log")
	}
}

// TestErrorAfterHeaders: the client sees a truncated response, never a
// corrupt one, and the server goes on serving.
func TestErrorAfterHeaders(t *testing.T) {
	s := start(t, "response_app:app")
	for _, path := range []string{"/exc_after", "/exc_info_after"} {
		c := dial(t, s.Addr)
		c.send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
		raw := c.rest() // the server closes the connection
		if !strings.HasPrefix(raw, "HTTP/1.1 200 OK\r\n") {
			t.Fatalf("%s: response %q", path, raw)
		}
		if strings.HasSuffix(raw, "0\r\n\r\n") {
			t.Errorf("%s: chunked body was terminated: %q", path, raw)
		}
		if strings.Contains(raw, "unreachable") || strings.Contains(raw, "500") {
			t.Errorf("%s: error leaked into the response: %q", path, raw)
		}
	}
	if code, body := get(t, s.URL+"/list"); code != 200 || body != "hello world" {
		t.Errorf("after errors: %d %q", code, body)
	}
	logs := s.Logs()
	contains(t, logs, "RuntimeError: boom after headers", "log")
	contains(t, logs, "ValueError: too late to handle", "log")
}

// TestExcInfoBeforeHeaders: start_response with exc_info replaces headers
// not yet sent.
func TestExcInfoBeforeHeaders(t *testing.T) {
	s := start(t, "response_app:app")
	code, body := get(t, s.URL+"/exc_info_before")
	if code != 500 || body != "custom error page" {
		t.Errorf("got %d %q", code, body)
	}
}

func TestWsgiErrors(t *testing.T) {
	s := start(t, "response_app:app")
	if code, _ := get(t, s.URL+"/errors"); code != 200 {
		t.Fatal(code)
	}
	contains(t, pyErrors.String(), "wsgi.errors line one\nline two\nline three\n", "wsgi.errors output")
}

func TestFileWrapperSendfile(t *testing.T) {
	s := start(t, "response_app:app")
	data := make([]byte, 300<<10)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "blob.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		route string
		want  []byte
	}{{"/file", data}, {"/file_offset", data[10:]}} {
		resp, err := http.Get(s.URL + tc.route + "?" + path)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(buf.Bytes(), tc.want) {
			t.Errorf("%s: status %d, %d bytes, want %d", tc.route, resp.StatusCode, buf.Len(), len(tc.want))
		}
		if resp.ContentLength != int64(len(tc.want)) {
			t.Errorf("%s: Content-Length %d, want %d", tc.route, resp.ContentLength, len(tc.want))
		}
	}
	// HEAD: the length without the body.
	c := dial(t, s.Addr)
	c.send("HEAD /file?" + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := c.response("HEAD")
	if resp.Header.Get("Content-Length") != itoa(int64(len(data))) || body != "" {
		t.Errorf("HEAD: Content-Length %q body %d bytes", resp.Header.Get("Content-Length"), len(body))
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
