package server_test

//lint:file-ignore SA1019 x/net/http2's Transport is the h2c client the tests speak to pogo with.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// clenData is clen_app's body bytes: byte i is i % 251.
func clenData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// clenFile writes n of clenData's bytes to a file for clen_app's /file.
func clenFile(t *testing.T, n int) (string, []byte) {
	t.Helper()
	data := clenData(n)
	path := filepath.Join(t.TempDir(), "body.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data
}

// A clenCase is a request to clen_app and what must reach the client.
type clenCase struct {
	name, target string
	want         []byte // the body the client gets
	cl           int    // the Content-Length header the client gets
	short        bool   // the body is shorter than cl: the connection closes (HTTP/2: the stream is reset)
	warn         string // "yes" or "no": the response is logged as longer than its Content-Length; "" either
}

func clenCases(t *testing.T) []clenCase {
	const fileLen = 300 << 10
	path, file := clenFile(t, fileLen)
	p := url.QueryEscape(path)
	d := clenData
	return []clenCase{
		// Longer than Content-Length: exactly Content-Length bytes.
		{name: "file seek, Content-Length short of the end", target: "/file?path=" + p + "&seek=1000&cl=5000", want: file[1000:6000], cl: 5000, warn: "no"},
		{name: "file seek, large range", target: "/file?path=" + p + "&seek=10&cl=200000", want: file[10:200010], cl: 200000, warn: "no"},
		{name: "file, Content-Length 0", target: "/file?path=" + p + "&cl=0", want: nil, cl: 0, warn: "no"},
		{name: "BytesIO file_wrapper seek, short Content-Length", target: "/bytesio?n=10000&seek=100&cl=2500", want: d(10000)[100:2600], cl: 2500, warn: "no"},
		{name: "list longer", target: "/list?n=100&cl=60", want: d(60), cl: 60, warn: "yes"},
		{name: "large list longer", target: "/list?n=100000&cl=70000", want: d(70000), cl: 70000, warn: "yes"},
		{name: "generator longer", target: "/gen?n=10000&chunk=1000&cl=4500", want: d(4500), cl: 4500, warn: "yes"},
		{name: "generator, Content-Length at a chunk's end", target: "/gen?n=10000&chunk=1000&cl=5000", want: d(5000), cl: 5000},
		{name: "generator, one large chunk longer", target: "/gen?n=200000&chunk=200000&cl=100000", want: d(100000), cl: 100000, warn: "yes"},
		{name: "generator, one chunk of Content-Length", target: "/gen?n=3000&chunk=3000&cl=3000", want: d(3000), cl: 3000, warn: "no"},
		{name: "generator, one chunk longer", target: "/gen?n=3000&chunk=3000&cl=2000", want: d(2000), cl: 2000, warn: "yes"},
		{name: "write longer", target: "/write?n=10000&chunk=1000&cl=4500", want: d(4500), cl: 4500, warn: "yes"},
		{name: "write, one large chunk longer", target: "/write?n=200000&chunk=200000&cl=100000", want: d(100000), cl: 100000, warn: "yes"},
		{name: "generator, Content-Length 0", target: "/gen?n=100&cl=0", want: nil, cl: 0},

		// Shorter than Content-Length: the app's header, what there is,
		// then the end of the connection.
		{name: "file shorter", target: "/file?path=" + p + "&seek=1000&cl=" + strconv.Itoa(fileLen), want: file[1000:], cl: fileLen, short: true},
		{name: "BytesIO file_wrapper shorter", target: "/bytesio?n=1000&cl=2000", want: d(1000), cl: 2000, short: true},
		{name: "list shorter", target: "/list?n=100&cl=200", want: d(100), cl: 200, short: true},
		{name: "empty list", target: "/list?n=0&cl=10", want: nil, cl: 10, short: true},
		{name: "generator shorter", target: "/gen?n=1000&chunk=300&cl=2000", want: d(1000), cl: 2000, short: true},
		{name: "empty generator", target: "/gen?n=0&cl=10", want: nil, cl: 10, short: true},
		{name: "write shorter", target: "/write?n=1000&chunk=300&cl=2000", want: d(1000), cl: 2000, short: true},
	}
}

// overWarning is the log line of a response longer than its
// Content-Length.
func overWarning(target string) string {
	return "Response to GET " + target + " longer than its Content-Length"
}

func checkOverWarning(t *testing.T, logs string, tc clenCase) {
	t.Helper()
	n := strings.Count(logs, overWarning(tc.target))
	switch {
	case tc.warn == "yes" && n != 1:
		t.Errorf("logged %d times that the body is longer than Content-Length, want once", n)
	case tc.warn == "no" && n != 0:
		t.Errorf("logged %d times that the body is longer than Content-Length, want none", n)
	}
}

// TestContentLengthBoundHTTP1: a response never carries more body than
// the app's Content-Length, on every path from the app to the socket (the
// pool's threads and the direct path), so that a pipelined request's
// response starts where it should; a body shorter than its Content-Length
// keeps the app's header and ends with the connection.
func TestContentLengthBoundHTTP1(t *testing.T) {
	onBothPaths(t, "clen_app:app", 4, func(t *testing.T, s *testServer, _ bool) {
		for _, tc := range clenCases(t) {
			t.Run(tc.name, func(t *testing.T) {
				c := dial(t, s.Addr)
				if tc.short {
					// One request: the server closes the
					// connection, which a pipelined one it has not
					// read would reset.
					c.send("GET " + tc.target + " HTTP/1.1\r\nHost: x\r\n\r\n")
				} else {
					// Two requests at once: the second's response
					// must follow the first's Content-Length bytes.
					c.send("GET " + tc.target + " HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
				}
				resp, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != strconv.Itoa(tc.cl) {
					t.Fatalf("%d, Content-Length %q, want 200 and %d", resp.StatusCode, resp.Header.Get("Content-Length"), tc.cl)
				}
				body, err := io.ReadAll(resp.Body)
				if tc.short {
					if !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Errorf("reading the short body: %v, want the connection closed", err)
					}
					if !bytes.Equal(body, tc.want) {
						t.Errorf("got %d body bytes (right: %v), want the %d there are", len(body), bytes.HasPrefix(tc.want, body), len(tc.want))
					}
					if rest := c.rest(); rest != "" {
						t.Errorf("after the short body: %q, want the connection closed", rest[:min(len(rest), 100)])
					}
					return
				}
				if err != nil || !bytes.Equal(body, tc.want) {
					t.Fatalf("body: %d bytes (right: %v), %v; want %d", len(body), bytes.Equal(body, tc.want), err, len(tc.want))
				}
				resp, err = http.ReadResponse(c.br, &http.Request{Method: "GET"})
				if err != nil {
					t.Fatalf("the next response: %v", err)
				}
				next, err := io.ReadAll(resp.Body)
				if err != nil || resp.StatusCode != 200 || string(next) != "ok" {
					t.Fatalf("the next response: %d %q %v, want 200 \"ok\"", resp.StatusCode, next, err)
				}
				// The second response is written after the first's
				// Serve returned, and so after its log line.
				checkOverWarning(t, s.Logs(), tc)
			})
		}
	})
}

// TestContentLengthBoundHead: HEAD keeps the app's Content-Length, with
// no body and the connection open, whatever the body the app has.
func TestContentLengthBoundHead(t *testing.T) {
	s := start(t, "clen_app:app")
	path, _ := clenFile(t, 1000)
	c := dial(t, s.Addr)
	for _, target := range []string{"/list?n=0&cl=10", "/gen?n=100&cl=10", "/file?path=" + url.QueryEscape(path) + "&cl=5000", "/file?path=" + url.QueryEscape(path) + "&cl=10"} {
		c.send("HEAD " + target + " HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := c.response("HEAD")
		if resp.StatusCode != 200 || body != "" || resp.Header.Get("Content-Length") != strings.TrimPrefix(target[strings.LastIndex(target, "cl="):], "cl=") {
			t.Errorf("HEAD %s: %d, Content-Length %q, %d body bytes", target, resp.StatusCode, resp.Header.Get("Content-Length"), len(body))
		}
	}
	c.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := c.response("GET"); resp.StatusCode != 200 || body != "ok" {
		t.Errorf("after the HEADs: %d %q", resp.StatusCode, body)
	}
}

// TestContentLengthBoundHTTP2: the same over HTTP/2 (h2c): exactly
// Content-Length bytes and the stream ended normally, or for a short body
// the app's Content-Length and the stream reset.
func TestContentLengthBoundHTTP2(t *testing.T) {
	s := start(t, "clen_app:app")
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for _, tc := range clenCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			// (For a short body, what there is goes out before the reset.)
			resp, err := client.Get(s.URL + tc.target)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != strconv.Itoa(tc.cl) {
				t.Errorf("%d, Content-Length %q, want 200 and %d", resp.StatusCode, resp.Header.Get("Content-Length"), tc.cl)
			}
			if tc.short {
				var se http2.StreamError
				if !errors.As(err, &se) || (se.Code != http2.ErrCodeInternal && se.Code != http2.ErrCodeProtocol) {
					t.Errorf("reading the short body: %v, want the stream reset", err)
				}
				if !bytes.Equal(body, tc.want) {
					t.Errorf("got %d body bytes (right: %v), want the %d there are", len(body), bytes.HasPrefix(tc.want, body), len(tc.want))
				}
				return
			}
			if err != nil || !bytes.Equal(body, tc.want) {
				t.Fatalf("body: %d bytes (right: %v), %v; want %d", len(body), bytes.Equal(body, tc.want), err, len(tc.want))
			}
			// The next request on the connection is served.
			if code, got := h2Get(t, client, s.URL+"/ok"); code != 200 || got != "ok" {
				t.Errorf("the next request: %d %q", code, got)
			}
			// The stream ended when its Content-Length was sent, which
			// may be before the app's call returned and logged: unlike
			// HTTP/1.1's, the next request did not wait for it.
			if tc.warn == "yes" {
				waitFor(t, "the warning", func() bool { return strings.Contains(s.Logs(), overWarning(tc.target)) })
			}
			checkOverWarning(t, s.Logs(), tc)
		})
	}
}

func h2Get(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, body := fetch(t, client, url)
	if resp.Proto != "HTTP/2.0" {
		t.Fatalf("%s: %s, want HTTP/2.0", url, resp.Proto)
	}
	return resp.StatusCode, body
}
