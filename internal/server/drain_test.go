package server

import (
	"context"
	"net"
	"testing"
	"time"
)

// TestDrain: drain returns once what waits in the accept queue has been
// accepted, and not before.
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
	const later = 200 * time.Millisecond
	go func() {
		time.Sleep(later)
		for range 3 {
			if c, err := l.Accept(); err == nil {
				defer c.Close()
			}
		}
	}()
	began := time.Now()
	drain(context.Background(), ls)
	if took := time.Since(began); took < later || took > drainTime {
		t.Errorf("drain returned after %v; want once the queue was accepted, after %v", took, later)
	}
}
