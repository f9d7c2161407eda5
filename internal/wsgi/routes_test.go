package wsgi

import (
	"testing"
	"time"

	"github.com/pogoserver/pogo/internal/cpython"
)

// A path is predicted from its calls with hysteresis: a few calls that
// happen to be blocked do not move it, a run of waits does, and so does a
// long wait seen while it runs.
func TestRoutesPrediction(t *testing.T) {
	var r routes
	const i = 7
	observe := func(waited bool, n int) (flips int) {
		for range n {
			if r.observe(i, waited) {
				flips++
			}
		}
		return flips
	}
	if !r.direct(i) {
		t.Fatal("a new path is not direct")
	}
	// Three blocked calls in a row (with one threshold at half, they
	// moved the path), and then half of the calls blocked, two by two:
	// neither is a path that waits.
	if observe(true, 3) != 0 {
		t.Fatal("three blocked calls moved the path")
	}
	for range 100 {
		if observe(false, 2)+observe(true, 2) != 0 {
			t.Fatal("a path with half of its calls blocked changed its prediction")
		}
	}
	if f := observe(false, 20); f != 0 || !r.direct(i) {
		t.Fatalf("after calls that ran: %d flips, direct %v", f, r.direct(i))
	}
	if f := observe(true, 4); f != 0 {
		t.Fatal("four waits from none moved the path")
	}
	if f := observe(true, 1); f != 1 || r.pooled[i].Load() != true {
		t.Fatal("the fifth wait in a row did not move the path to the pool")
	}
	if f := observe(true, 20); f != 0 {
		t.Fatal("more waits moved a path already on the pool")
	}
	// Back only once the score has come down to toDirect.
	if f := observe(false, 4); f != 0 || !r.pooled[i].Load() {
		t.Fatal("four calls that ran brought the path back")
	}
	if f := observe(false, 1); f != 1 || r.pooled[i].Load() {
		t.Fatal("the fifth call that ran did not bring the path back")
	}
	if !r.waited(i) || !r.pooled[i].Load() {
		t.Fatal("a long wait seen while running did not move the path at once")
	}
	if r.waited(i) {
		t.Fatal("waited flipped a path already on the pool")
	}
}

// What a measured call says about its path.
func TestCallVerdict(t *testing.T) {
	us := time.Microsecond
	for _, tc := range []struct {
		name              string
		tm                cpython.Timing
		direct, contended bool
		waits             bool
	}{
		{"ran", cpython.Timing{Wall: 120 * us, CPU: 110 * us}, true, false, false},
		{"preempted, not waiting", cpython.Timing{Wall: 400 * us, CPU: 100 * us, Preempted: 300 * us}, true, false, false},
		{"handed off to Go, not waiting", cpython.Timing{Wall: 300 * us, CPU: 100 * us, Handoff: 200 * us}, true, false, false},
		{"waited", cpython.Timing{Wall: 300 * us, CPU: 100 * us}, true, false, true},
		{"blocked beside pool calls: the GIL", cpython.Timing{Wall: 300 * us, CPU: 100 * us}, true, true, false},
		{"blocked beside pool calls, most of the call", cpython.Timing{Wall: 600 * us, CPU: 100 * us}, true, true, true},
		{"blocked beside pool calls, over a ms", cpython.Timing{Wall: 1600 * us, CPU: 500 * us}, true, true, true},
		{"a pool call blocked", cpython.Timing{Wall: 300 * us, CPU: 100 * us}, false, true, true},
		{"ran long", cpython.Timing{Wall: 30 * time.Millisecond, CPU: 30 * time.Millisecond}, true, false, true},
		{"preempted long", cpython.Timing{Wall: 30 * time.Millisecond, CPU: 5 * time.Millisecond, Preempted: 25 * time.Millisecond}, true, false, false},
		{"not measured", cpython.Timing{Wall: 300 * us, CPU: -1, Preempted: -1}, true, false, false},
	} {
		var s stats
		measured, waits := s.end(&tc.tm, tc.direct, tc.contended)
		if measured != (tc.tm.CPU >= 0) || waits != tc.waits {
			t.Errorf("%s: measured %v, waits %v; want waits %v", tc.name, measured, waits, tc.waits)
		}
	}
}
