package server_test

import (
	"bytes"
	"io"
	"testing"
)

// BenchmarkHello is one keep-alive request after another through the
// whole server: engine, gateway, CPython and back, over loopback. Its
// allocations are the server's (the client reuses its buffers); its time
// is for comparing changes on one machine, not a figure to quote (see
// bench/ for those).
func BenchmarkHello(b *testing.B) {
	s := start(b, "pid_app:app", withThreads(1))
	c := dial(b, s.Addr)
	req := []byte("GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	buf := make([]byte, 4096)
	end := []byte("\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.c.Write(req); err != nil {
			b.Fatal(err)
		}
		// The body ends the response: "v1 PID\n" after the head.
		got := 0
		for {
			n, err := c.c.Read(buf[got:])
			if err != nil && err != io.EOF {
				b.Fatal(err)
			}
			got += n
			if i := bytes.Index(buf[:got], []byte("\r\n\r\n")); i >= 0 && bytes.HasSuffix(buf[i+4:got], end) {
				break
			}
			if n == 0 {
				b.Fatal("connection closed")
			}
		}
	}
}
