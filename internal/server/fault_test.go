package server_test

import (
	"runtime"
	"strings"
	"testing"
)

// TestGoNilDereferenceStillPanics: pogo's handler for fatal signals sits
// in front of Go's (cpython/fault.c), and hands Go the faults of Go code:
// a nil dereference is still a panic that can be recovered, on any thread,
// also after requests have run on it.
func TestGoNilDereferenceStillPanics(t *testing.T) {
	s := start(t, "pid_app:app")
	for range 20 {
		get(t, s.URL+"/") // direct threads get their thread states
	}
	for i := range 2 * runtime.GOMAXPROCS(0) {
		done := make(chan any)
		go func() {
			defer func() { done <- recover() }()
			var p *[64]int
			p[i%64]++
		}()
		r := <-done
		if err, ok := r.(runtime.Error); !ok || !strings.Contains(err.Error(), "nil pointer dereference") {
			t.Fatalf("recovered %v, want a nil pointer dereference", r)
		}
	}
}
