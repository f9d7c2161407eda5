package server

import (
	"context"
	"net"
	"testing"
	"time"
)

// TestDrain: drain returns once what waits in the accept queue has been
// accepted, and not before; or at its limit; or when its context ends.
func TestDrain(t *testing.T) {
	t.Parallel()
	ls, err := Listen([]string{"127.0.0.1:0"}, 16)
	if err != nil {
		t.Fatal(err)
	}
	l := ls[0]
	defer l.Close()
	for range 3 {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	control(l, func(fd uintptr) {
		if n, err := queued(fd); n != 3 || err != nil {
			t.Errorf("queued: %d, %v; want 3", n, err)
		}
	})
	// Accepted one at a time: drain has not returned while any waits, and
	// returns once none does.
	done := make(chan struct{})
	go func() { drain(context.Background(), ls, time.Hour); close(done) }()
	for n := 3; n > 0; n-- {
		select {
		case <-done:
			t.Fatalf("drain returned with %d connections in the accept queue", n)
		default:
		}
		c, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	<-done

	// A queue nobody accepts from: drain gives up at its limit, or when
	// its context ends.
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	drain(context.Background(), ls, 10*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	drain(ctx, ls, time.Hour)
}
