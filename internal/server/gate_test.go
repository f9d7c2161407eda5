package server_test

import (
	"net"
	"testing"
	"time"

	"github.com/pogoserver/pogo/internal/server"
)

// TestGate: a listening socket whose gate is closed takes no new
// connections (the SYN is dropped, the dial times out), but the ones the
// kernel had queued before are still there to accept, and answer.
func TestGate(t *testing.T) {
	t.Parallel()
	ls, err := server.Listen([]string{"127.0.0.1:0"}, 16)
	if err != nil {
		t.Fatal(err)
	}
	l := ls[0]
	defer l.Close()
	addr := l.Addr().String()
	var early []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("ping"))
		early = append(early, c)
	}

	server.CloseGates([]string{"127.0.0.1:0"}, ls)
	if c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond); err == nil {
		c.Close()
		t.Error("a new connection got through the closed gate")
	}
	for range early {
		c, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 4)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(b); err != nil || string(b) != "ping" {
			t.Errorf("queued connection: read %q, %v", b, err)
		}
		c.Close()
	}
}
