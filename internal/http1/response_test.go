package http1

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// boundHandler declares a Content-Length of 5 and gives more or less body
// than that, by the path: /write writes 10 bytes in two Writes, /file sends
// 10 bytes of a file, /short sends a 3-byte file, /ok answers "ok".
type boundHandler struct{ file string }

func (h boundHandler) ServeHTTP1(w *ResponseWriter, req *Request, body io.Reader, _ *ConnInfo) {
	if string(req.Target) == "/ok" {
		w.WriteHeader(200, "OK", nil, 2, false)
		io.WriteString(w, "ok")
		return
	}
	w.WriteHeader(200, "OK", nil, 5, false)
	switch string(req.Target) {
	case "/write":
		io.WriteString(w, "abc")
		io.WriteString(w, "defghij")
	case "/file", "/short":
		f, err := os.Open(h.file)
		if err != nil {
			panic(err)
		}
		defer f.Close()
		n := int64(10)
		if string(req.Target) == "/short" {
			n = 3
		}
		if err := w.SendFile(f, 0, n); err != nil {
			panic(err)
		}
	}
}

// TestBodyBoundByContentLength: the engine never sends more body than the
// Content-Length it declared, whatever the handler gives, so the next
// response on the connection is where the client looks for it; a body
// short of it ends with the connection.
func TestBodyBoundByContentLength(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, []byte("abcdefghij"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, &Server{IdleTimeout: 5 * time.Second, Handler: boundHandler{file}})
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(5 * time.Second))
		return c, bufio.NewReader(c)
	}
	read := func(br *bufio.Reader) (string, error) {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	for _, path := range []string{"/write", "/file"} {
		c, br := dial()
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
		if got, err := read(br); got != "abcde" || err != nil {
			t.Errorf("%s: %q %v, want \"abcde\"", path, got, err)
		}
		if got, err := read(br); got != "ok" || err != nil {
			t.Errorf("%s: the next response: %q %v", path, got, err)
		}
	}
	c, br := dial()
	io.WriteString(c, "GET /short HTTP/1.1\r\nHost: x\r\n\r\n")
	if got, err := read(br); got != "abc" || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("/short: %q %v, want \"abc\" and the connection closed", got, err)
	}
}
