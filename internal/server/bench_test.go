package server_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/pogoserver/pogo/internal/server"
)

// BenchmarkHello is one keep-alive request after another through the
// whole server: engine, gateway, CPython and back, over loopback. Its
// allocations are the server's (the client reuses its buffers); its time
// is for comparing changes on one machine, not a figure to quote (see
// bench/ for those).
func BenchmarkHello(b *testing.B) {
	// The default, adapted: a CPU-bound request runs directly.
	b.Run("plain", func(b *testing.B) { hello(b, withThreads(0)) })
	// A fixed thread: every request is handed to the pool.
	b.Run("pool", func(b *testing.B) { hello(b, withThreads(1)) })
	// The CLI's default: proxy headers from loopback peers are applied,
	// so each request is checked for them.
	b.Run("trusted-loopback", func(b *testing.B) {
		hello(b, withThreads(0), func(st *setup) { st.srv.Trusted, _ = server.ParseTrusted("127.0.0.1,::1") })
	})
}

// TestHelloAllocs: the Go side of a request allocates nothing, on either
// path, with the CLI's default proxy settings too.
func TestHelloAllocs(t *testing.T) {
	if instrumented {
		t.Skip("allocation counts under -race or -asan are the instrumentation's")
	}
	for _, threads := range []int{0, 1} {
		res := testing.Benchmark(func(b *testing.B) {
			hello(b, withThreads(threads), func(st *setup) { st.srv.Trusted, _ = server.ParseTrusted("127.0.0.1,::1") })
		})
		if a := res.AllocsPerOp(); a != 0 {
			t.Errorf("threads %d: %d allocations per request (%s), want 0", threads, a, res.MemString())
		}
	}
}

func hello(b *testing.B, opts ...func(*setup)) {
	s := start(b, "pid_app:app", opts...)
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
