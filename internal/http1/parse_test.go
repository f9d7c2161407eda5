package http1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"testing"
)

type headCase struct {
	name   string
	raw    string // a whole request: head and body
	status int    // 0: valid
	// For valid cases.
	method, target string
	minor          int
	length         int64 // ContentLength
	chunked        bool
	keepAlive      bool
	body           string // the decoded body
	// eof: the client half-closes after raw (over sockets; the parser
	// sees the end of raw anyway).
	eof bool
}

// headCases is the conformance table: valid requests with what they parse
// to, and invalid ones (including request smuggling vectors) with the
// status they get. Fuzz seeds come from it too.
var headCases = []headCase{
	// Valid.
	{name: "simple GET", raw: "GET / HTTP/1.1\r\nHost: a\r\n\r\n", method: "GET", target: "/", minor: 1, length: -1, keepAlive: true},
	{name: "HTTP/1.0 closes", raw: "GET /x HTTP/1.0\r\n\r\n", method: "GET", target: "/x", minor: 0, length: -1},
	{name: "HTTP/1.0 keep-alive", raw: "GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", method: "GET", target: "/x", length: -1, keepAlive: true},
	{name: "Connection: close", raw: "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", method: "GET", target: "/", minor: 1, length: -1},
	{name: "HTTP/1.2 is 1.1", raw: "GET / HTTP/1.2\r\nHost: a\r\n\r\n", method: "GET", target: "/", minor: 1, length: -1, keepAlive: true},
	{name: "query and escapes", raw: "GET /a%20b?x=1&y=%2F HTTP/1.1\r\nHost: a\r\n\r\n", method: "GET", target: "/a%20b?x=1&y=%2F", minor: 1, length: -1, keepAlive: true},
	{name: "absolute-form", raw: "GET http://a/p?q HTTP/1.1\r\nHost: a\r\n\r\n", method: "GET", target: "http://a/p?q", minor: 1, length: -1, keepAlive: true},
	{name: "absolute-form authority over an empty Host (found by fuzzing)", raw: "0 http://0 HTTP/1.0\nHost:\n\n", method: "0", target: "http://0", minor: 0, length: -1},
	{name: "asterisk-form", raw: "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", method: "OPTIONS", target: "*", minor: 1, length: -1, keepAlive: true},
	{name: "leading empty line", raw: "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", method: "GET", target: "/", minor: 1, length: -1, keepAlive: true},
	{name: "bare LF line ends", raw: "GET / HTTP/1.1\nHost: a\n\n", method: "GET", target: "/", minor: 1, length: -1, keepAlive: true},
	{name: "OWS around value", raw: "GET / HTTP/1.1\r\nHost: a\r\nX-A: \t v v \t\r\n\r\n", method: "GET", target: "/", minor: 1, length: -1, keepAlive: true},
	{name: "empty value", raw: "GET / HTTP/1.1\r\nHost: a\r\nX-A:\r\n\r\n", method: "GET", target: "/", minor: 1, length: -1, keepAlive: true},
	{name: "obs-text in value", raw: "GET / HTTP/1.1\r\nHost: a\r\nX-A: caf\xe9\r\n\r\n", method: "GET", target: "/", minor: 1, length: -1, keepAlive: true},
	{name: "Content-Length body", raw: "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", method: "POST", target: "/p", minor: 1, length: 5, keepAlive: true, body: "hello"},
	{name: "same Content-Length twice", raw: "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", method: "POST", target: "/p", minor: 1, length: 3, keepAlive: true, body: "abc"},
	{name: "chunked", raw: "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", method: "POST", target: "/p", minor: 1, length: -1, chunked: true, keepAlive: true, body: "hello world"},
	{name: "chunked case-insensitive", raw: "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChUnKeD\r\n\r\n0\r\n\r\n", method: "POST", target: "/p", minor: 1, length: -1, chunked: true, keepAlive: true},
	{name: "BWS before a chunk extension", raw: "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 ;a=b\r\nhello\r\n0\t;c\r\n\r\n", method: "POST", target: "/p", minor: 1, length: -1, chunked: true, keepAlive: true, body: "hello"},
	{name: "chunk extensions and trailers", raw: "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b;c=\"d e\" ; f\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\nY-T: 2\r\n\r\n", method: "POST", target: "/p", minor: 1, length: -1, chunked: true, keepAlive: true, body: "abc0123456789"},

	{name: "Expect 100-continue", raw: "POST /p HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx", method: "POST", target: "/p", minor: 1, length: 1, keepAlive: true, body: "x"},
	{name: "one Content-Type", raw: "POST /p HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 1\r\n\r\nx", method: "POST", target: "/p", minor: 1, length: 1, keepAlive: true, body: "x"},
	{name: "IPv6 host", raw: "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", method: "GET", target: "/", minor: 1, length: -1, keepAlive: true},
	{name: "extension method", raw: "PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n", method: "PURGE", target: "/x", minor: 1, length: -1, keepAlive: true},

	// Request line.
	{name: "no version", raw: "GET /\r\n\r\n", status: 400},
	{name: "lower-case version", raw: "GET / http/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "two spaces", raw: "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "trailing space", raw: "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", status: 400},
	{name: "tab separator", raw: "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "absolute-form with an empty host (found by fuzzing)", raw: "0 http:/// HTTP/1.0\nHost:0\n\n", status: 400},
	{name: "absolute-form with only a port", raw: "GET http://:80/ HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "method not a token", raw: "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "NUL in target", raw: "GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "DEL in target", raw: "GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "HTTP/2.0", raw: "GET / HTTP/2.0\r\nHost: a\r\n\r\n", status: 505},
	{name: "HTTP/0.9 version", raw: "GET / HTTP/0.9\r\n\r\n", status: 505},
	{name: "HTTP/1.10", raw: "GET / HTTP/1.10\r\nHost: a\r\n\r\n", status: 400},
	{name: "relative target", raw: "GET x HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "asterisk with GET", raw: "GET * HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "authority-form", raw: "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", status: 501},
	{name: "bare CR in request line", raw: "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "request line too long", raw: "GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: a\r\n\r\n", status: 414},

	// Header fields.
	{name: "obs-fold", raw: "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\n\r\n", status: 400},
	{name: "space before colon", raw: "GET / HTTP/1.1\r\nHost: a\r\nX-A : 1\r\n\r\n", status: 400},
	{name: "space before colon on Transfer-Encoding", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", status: 400},
	{name: "no colon", raw: "GET / HTTP/1.1\r\nHost: a\r\nX-A\r\n\r\n", status: 400},
	{name: "empty name", raw: "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", status: 400},
	{name: "NUL in value", raw: "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n", status: 400},
	{name: "bare CR in value", raw: "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n", status: 400},
	{name: "control char in value", raw: "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x01b\r\n\r\n", status: 400},
	{name: "non-token name", raw: "GET / HTTP/1.1\r\nHost: a\r\nX\"A: 1\r\n\r\n", status: 400},
	{name: "field too long", raw: "GET / HTTP/1.1\r\nHost: a\r\nX-A: " + strings.Repeat("b", 9000) + "\r\n\r\n", status: 431},
	{name: "too many fields", raw: "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-A: 1\r\n", 100) + "\r\n", status: 431},

	// Host.
	{name: "no Host in 1.1", raw: "GET / HTTP/1.1\r\n\r\n", status: 400},
	{name: "two Hosts", raw: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status: 400},
	{name: "Host with a slash", raw: "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", status: 400},
	{name: "two Content-Types", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 1\r\nContent-Type: application/json\r\n\r\nx", status: 400},
	{name: "two identical Content-Types", raw: "POST / HTTP/1.1\r\nHost: a\r\ncontent-type: text/plain\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nx", status: 400},
	{name: "Host with a space", raw: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", status: 400},

	// Body framing: the smuggling vectors.
	{name: "Content-Length and Transfer-Encoding", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400},
	{name: "Transfer-Encoding and Content-Length", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", status: 400},
	{name: "differing Content-Length", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", status: 400},
	{name: "Content-Length list", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc", status: 400},
	{name: "signed Content-Length", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", status: 400},
	{name: "negative Content-Length", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", status: 400},
	{name: "hex Content-Length", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\nabc", status: 400},
	{name: "empty Content-Length", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", status: 400},
	{name: "huge Content-Length", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", status: 400},
	{name: "xchunked", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", status: 400},
	{name: "chunked, identity", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", status: 400},
	{name: "gzip, chunked", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", status: 501},
	{name: "chunked, chunked", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", status: 400},
	{name: "two Transfer-Encoding fields", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400},
	{name: "Transfer-Encoding in 1.0", raw: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400},
	{name: "Transfer-Encoding with a vertical tab", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n", status: 400},
	{name: "Transfer-Encoding with obs-fold", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", status: 400},
	{name: "Transfer-Encoding empty", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", status: 400},
	{name: "unknown expectation", raw: "POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 0\r\n\r\n", status: 417},

	// Chunked bodies.
	{name: "chunk size overflow", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", status: 400},
	{name: "chunk size not hex", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", status: 400},
	{name: "chunk size with sign", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", status: 400},
	{name: "chunk size with 0x", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "empty chunk size", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", status: 400},
	{name: "bad chunk extension", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "chunk extension with bad quote", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"b\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "chunk extension garbage", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "space after the last chunk size", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0 \r\n\r\n", status: 400},
	{name: "space after a chunk size", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "tab after a chunk size", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\t\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "space after a chunk extension", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b \r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "space after a chunk extension name", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a \r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "chunk data too long", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", status: 400},
	{name: "bare CR in chunk size", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\rx\r\nab\r\n0\r\n\r\n", status: 400},
	{name: "chunk size line with bare LF", raw: "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n0\r\n\r\n", status: 400},
	{name: "chunk data with bare LF", raw: "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\n0\r\n\r\n", status: 400},
	{name: "last chunk with bare LF", raw: "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\n\n", status: 400},
	{name: "last chunk without the final CRLF", raw: "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n", status: 400, eof: true},
	{name: "last chunk with a trailer, no final CRLF", raw: "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n", status: 400, eof: true},
	{name: "chunk data cut off", raw: "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", status: 400, eof: true},
	{name: "chunked body cut off after a chunk", raw: "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", status: 400, eof: true},
	{name: "bad trailer", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX T: 1\r\n\r\n", status: 400},
	{name: "folded trailer", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n 2\r\n\r\n", status: 400},
}

// parseAll parses the head of raw and reads its body, as a connection would.
func parseAll(raw []byte, req *Request) (body []byte, rest []byte, err error) {
	n, err := ParseHead(raw, req, &Limits{})
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReaderSize(bytes.NewReader(raw[n:]), 4096)
	var r io.Reader = io.LimitReader(br, max(req.ContentLength, 0))
	if req.Chunked {
		r = NewChunkedReader(br, &Limits{})
	}
	body, err = io.ReadAll(r)
	if err != nil {
		return nil, nil, err
	}
	rest, _ = io.ReadAll(br)
	return body, rest, nil
}

func TestConformance(t *testing.T) {
	for _, tc := range headCases {
		t.Run(tc.name, func(t *testing.T) {
			var req Request
			body, rest, err := parseAll([]byte(tc.raw), &req)
			if tc.status != 0 {
				var e *Error
				if !errors.As(err, &e) || e.Status != tc.status {
					t.Fatalf("got error %v, want status %d", err, tc.status)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if string(req.Method) != tc.method || string(req.Target) != tc.target || req.Minor != tc.minor ||
				req.ContentLength != tc.length || req.Chunked != tc.chunked || req.KeepAlive != tc.keepAlive {
				t.Errorf("got %s %s 1.%d length=%d chunked=%v keepalive=%v", req.Method, req.Target, req.Minor,
					req.ContentLength, req.Chunked, req.KeepAlive)
			}
			if string(body) != tc.body {
				t.Errorf("body %q, want %q", body, tc.body)
			}
			if len(rest) != 0 {
				t.Errorf("%d bytes left after the request: %q", len(rest), rest)
			}
		})
	}
}

// TestPartialHead: after an error the request holds only what parsed: a
// request line of the right shape, and whole header fields before the
// refused one.
func TestPartialHead(t *testing.T) {
	for _, tc := range headCases {
		if tc.status == 0 {
			continue
		}
		var req Request
		if _, err := ParseHead([]byte(tc.raw), &req, &Limits{}); err == nil {
			continue // a body error
		}
		line, _, _ := strings.Cut(strings.TrimLeft(tc.raw, "\r\n"), "\n")
		switch {
		case req.Method == nil && req.Target != nil:
			t.Errorf("%s: a target without a method", tc.name)
		case req.Method != nil && !strings.HasPrefix(line, fmt.Sprintf("%s %s HTTP/%d.", req.Method, req.Target, req.Major)):
			t.Errorf("%s: request line %q parsed as %s %s %d.%d", tc.name, line, req.Method, req.Target, req.Major, req.Minor)
		}
		for _, h := range req.Headers {
			if !strings.Contains(tc.raw, "\n"+string(h.Name)+":") {
				t.Errorf("%s: header %q not in the request", tc.name, h.Name)
			}
		}
	}
	// The shape is enough for a refused request line to be kept.
	for raw, want := range map[string]string{
		"GET / HTTP/2.0\r\nHost: a\r\n\r\n":                                            "GET / 2.0",
		"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n":                                    "CONNECT a:443 1.1",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n": "POST / 1.1",
		"GET  / HTTP/1.1\r\n\r\n":                                                      " ",
		"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n":                         " ",
		"GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\n":                          " ",
	} {
		var req Request
		ParseHead([]byte(raw), &req, &Limits{})
		got := " "
		if req.Method != nil {
			got = fmt.Sprintf("%s %s %d.%d", req.Method, req.Target, req.Major, req.Minor)
		}
		if got != want {
			t.Errorf("%.40q: %q, want %q", raw, got, want)
		}
	}
}

// TestIncomplete: every strict prefix of a valid head asks for more.
func TestIncomplete(t *testing.T) {
	raw := "GET /p HTTP/1.1\r\nHost: a\r\nX-Long: " + strings.Repeat("v", 100) + "\r\n\r\n"
	var req Request
	for i := range len(raw) - 1 {
		if _, err := ParseHead([]byte(raw[:i]), &req, &Limits{}); err != ErrIncomplete {
			t.Fatalf("prefix %d: %v, want ErrIncomplete", i, err)
		}
	}
	if n, err := ParseHead([]byte(raw), &req, &Limits{}); err != nil || n != len(raw) {
		t.Fatalf("whole head: %d %v", n, err)
	}
	// A line already over its limit fails before it ends.
	long := "GET /" + strings.Repeat("a", 200)
	if _, err := ParseHead([]byte(long), &req, &Limits{RequestLine: 100}); err != errLineTooLong {
		t.Errorf("long partial request line: %v", err)
	}
}

// TestDifferential: for every valid case, what the parser makes of the
// bytes equals what net/http makes of them.
func TestDifferential(t *testing.T) {
	for _, tc := range headCases {
		if tc.status != 0 {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			// RFC 9112 section 2.2: a server SHOULD ignore empty lines
			// before the request line; net/http does not.
			// BWS before a chunk extension is allowed (RFC 9112
			// section 7.1.1); net/http takes "5 " for a bad size.
			mustAccept := !strings.HasPrefix(tc.raw, "\r\n") && !strings.Contains(tc.raw, " ;")
			compareWithNetHTTP(t, []byte(tc.raw), mustAccept)
		})
	}
}

// compareWithNetHTTP checks our parse of raw against net/http's. If
// mustAccept, net/http must accept what we accept.
func compareWithNetHTTP(t *testing.T, raw []byte, mustAccept bool) {
	var req Request
	body, _, err := parseAll(raw, &req)
	if err != nil {
		return
	}
	hr, herr := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if herr != nil {
		if mustAccept {
			t.Fatalf("net/http rejects what we accept: %v", herr)
		}
		return
	}
	hbody, herr := io.ReadAll(hr.Body)
	if herr != nil {
		if mustAccept {
			t.Fatalf("net/http body: %v", herr)
		}
		return
	}
	if string(req.Method) != hr.Method || string(req.Target) != hr.RequestURI {
		t.Errorf("request line: ours %s %s, net/http %s %s", req.Method, req.Target, hr.Method, hr.RequestURI)
	}
	if hr.ProtoMajor != 1 || (req.Minor != hr.ProtoMinor && !(req.Minor == 1 && hr.ProtoMinor > 1)) {
		t.Errorf("version: ours 1.%d, net/http %s", req.Minor, hr.Proto)
	}
	if string(body) != string(hbody) {
		t.Errorf("body: ours %q, net/http %q", body, hbody)
	}
	if want := !hr.Close; req.KeepAlive != want {
		t.Errorf("keep-alive: ours %v, net/http %v", req.KeepAlive, want)
	}
	// Headers: net/http moves Host out and drops Transfer-Encoding from
	// the map; everything else must match value for value.
	ours := map[string][]string{}
	for _, h := range req.Headers {
		k := textproto.CanonicalMIMEHeaderKey(string(h.Name))
		if k == "Host" || k == "Transfer-Encoding" {
			continue
		}
		ours[k] = append(ours[k], string(h.Value))
	}
	theirs := map[string][]string{}
	for k, vs := range hr.Header {
		if k == "Transfer-Encoding" {
			continue
		}
		theirs[k] = vs
	}
	if k := "Content-Length"; len(ours[k]) > 1 {
		ours[k] = ours[k][:1] // net/http folds identical duplicates
	}
	for k, vs := range ours {
		if !slices.Equal(vs, theirs[k]) {
			t.Errorf("header %s: ours %q, net/http %q", k, vs, theirs[k])
		}
	}
	for k := range theirs {
		if _, ok := ours[k]; !ok {
			t.Errorf("header %s only in net/http", k)
		}
	}
	if req.Host != nil && string(req.Host) != hr.Host {
		t.Errorf("host: ours %q, net/http %q", req.Host, hr.Host)
	}
}

func FuzzParseHead(f *testing.F) {
	for _, tc := range headCases {
		f.Add([]byte(tc.raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var req Request
		n, err := ParseHead(raw, &req, &Limits{})
		if err != nil {
			var e *Error
			if err != ErrIncomplete && !errors.As(err, &e) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if n <= 0 || n > len(raw) {
			t.Fatalf("consumed %d of %d", n, len(raw))
		}
		// Parsing the consumed bytes again gives the same head.
		var again Request
		if m, err := ParseHead(raw[:n], &again, &Limits{}); err != nil || m != n ||
			string(again.Target) != string(req.Target) || len(again.Headers) != len(req.Headers) {
			t.Fatalf("reparse: %d %v", m, err)
		}
		compareWithNetHTTP(t, raw, false)
	})
}

func FuzzChunked(f *testing.F) {
	for _, tc := range headCases {
		if i := strings.Index(tc.raw, "chunked\r\n\r\n"); i >= 0 {
			f.Add([]byte(tc.raw[i+len("chunked\r\n\r\n"):]))
		}
	}
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(data), 64)
		body, err := io.ReadAll(NewChunkedReader(br, &Limits{}))
		if err != nil {
			// Truncated input too: a status, never a bare io error.
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		// The decoder stops exactly at the end of the body: re-encoding
		// what it read must fit in the bytes it consumed.
		rest, _ := io.ReadAll(br)
		consumed := len(data) - len(rest)
		if len(body) > consumed {
			t.Fatalf("decoded %d bytes from %d", len(body), consumed)
		}
		if !bytes.HasSuffix(data[:consumed], []byte("\n")) {
			t.Fatalf("stopped inside a line: %q", data[:consumed])
		}
	})
}

// BenchmarkParseHead: a browser-like GET with 10 headers, parsed into a
// reused Request, must not allocate.
func BenchmarkParseHead(b *testing.B) {
	raw := []byte("GET /search?q=pogo&lang=en HTTP/1.1\r\n" +
		"Host: example.com\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0\r\n" +
		"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
		"Accept-Language: en-US,en;q=0.5\r\n" +
		"Accept-Encoding: gzip, deflate, br\r\n" +
		"Connection: keep-alive\r\n" +
		"Cookie: session=abc123; theme=dark\r\n" +
		"Upgrade-Insecure-Requests: 1\r\n" +
		"Cache-Control: max-age=0\r\n" +
		"Referer: https://example.com/\r\n\r\n")
	var req Request
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := ParseHead(raw, &req, &Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseHeadAllocs(t *testing.T) {
	raw := []byte("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n")
	req := Request{Headers: make([]Header, 0, 16)}
	if n := testing.AllocsPerRun(100, func() { ParseHead(raw, &req, &Limits{}) }); n != 0 {
		t.Errorf("%v allocations per parse, want 0", n)
	}
}
