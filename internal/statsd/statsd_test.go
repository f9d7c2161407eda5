package statsd

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

func listen(t *testing.T) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// read returns the next datagram.
func read(t *testing.T, pc net.PacketConn) string {
	t.Helper()
	buf := make([]byte, 65536)
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestGunicornNames(t *testing.T) {
	pc := listen(t)
	c, err := New(pc.LocalAddr().String(), "shop..", "env:prod")
	if err != nil {
		t.Fatal(err)
	}
	c.Request(404, 1500*time.Microsecond)
	c.Gauge("gunicorn.workers", 3)
	c.Flush()
	want := "shop.gunicorn.request.duration:1.500|ms|#env:prod\n" +
		"shop.gunicorn.requests:1|c|#env:prod\n" +
		"shop.gunicorn.request.status.404:1|c|#env:prod\n" +
		"shop.gunicorn.workers:3|g|#env:prod"
	if got := read(t, pc); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	c.Close()
}

// TestPackets: lines go in datagrams of at most maxPacket bytes, never
// split, and Close sends what is left.
func TestPackets(t *testing.T) {
	pc := listen(t)
	c, err := New(pc.LocalAddr().String(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	for i := 0; i < n; i++ {
		c.Incr("gunicorn.requests")
	}
	c.Close()
	lines := 0
	for lines < n {
		p := read(t, pc)
		if len(p) > maxPacket {
			t.Fatalf("a %d-byte packet", len(p))
		}
		for _, l := range strings.Split(p, "\n") {
			if l != "gunicorn.requests:1|c" {
				t.Fatalf("line %q", l)
			}
			lines++
		}
	}
}

func TestNil(t *testing.T) {
	var c *Client
	c.Request(200, time.Second)
	c.Incr("x")
	c.Gauge("x", 1)
	c.Flush()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBadAddress(t *testing.T) {
	if _, err := New("localhost", "", ""); err == nil {
		t.Error("no error for an address without a port")
	}
}

func TestHandlerCountsLevels(t *testing.T) {
	pc := listen(t)
	c, err := New(pc.LocalAddr().String(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	log := slog.New(NewHandler(slog.NewTextHandler(&out, nil), c)).With("k", "v")
	log.Info("not counted")
	log.Warn("w")
	log.Error("e")
	log.Log(context.Background(), slog.LevelError+4, "c")
	c.Flush()
	if got, want := read(t, pc), "gunicorn.log.warning:1|c\ngunicorn.log.error:1|c\ngunicorn.log.critical:1|c"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if strings.Count(out.String(), "k=v") != 4 {
		t.Errorf("records not passed on: %s", out.String())
	}
	c.Close()
}
