package wsgi

import (
	"strings"
	"sync/atomic"
)

// routes predicts, by path, whether a request will wait in the app: the
// gateway runs the ones that do not directly on the connection's thread
// and the others on the pool (adapt.go). Most apps have routes that
// answer at once and a few that wait on a database or an API; the
// prediction keeps the first ones off the pool and the others off Go's Ps.
// Paths share a fixed table by hash: a collision only blurs a prediction.
type routes struct {
	score  [routeSlots]atomic.Int32  // 0: runs, scoreMax: waits; a moving average of what calls showed
	pooled [routeSlots]atomic.Bool   // the prediction: the path waits
	seen   [routeSlots]atomic.Uint32 // observations, saturating
	calls  atomic.Uint64             // predictions, for the probes
}

const (
	routeSlots = 1024
	scoreMax   = 1000
	// A path goes to the pool when its score reaches toPool (five calls
	// in a row that waited, from none), and comes back when it falls to
	// toDirect. A call of a path that only runs is now and then blocked
	// for a few hundred µs (the kernel's memory lock, a GIL switch): with
	// one threshold at half, three such calls in a row sent Flask /json
	// to the pool and back about once a second under -w 2, each time
	// with stalls of 100-500 ms.
	toPool   = scoreMax * 3 / 4
	toDirect = scoreMax / 4
	// A path predicted to wait is still run directly once in probeEvery
	// calls, so that it can show it no longer does.
	probeEvery = 128
	// A path is measured on every call until it has been seen this often.
	learnCalls = 8
)

// slot is the table entry of app's path (the request target up to '?').
func slot(app int, target string) int {
	if i := strings.IndexByte(target, '?'); i >= 0 {
		target = target[:i]
	}
	h := uint32(2166136261) ^ uint32(app)
	for i := 0; i < len(target) && i < 256; i++ {
		h = (h ^ uint32(target[i])) * 16777619
	}
	return int(h % routeSlots)
}

// direct predicts whether a call of slot i should run directly.
func (r *routes) direct(i int) bool {
	if !r.pooled[i].Load() {
		return true
	}
	return r.calls.Add(1)%probeEvery == 0
}

// learning reports whether slot i is still being learnt: its calls are
// all measured.
func (r *routes) learning(i int) bool { return r.seen[i].Load() < learnCalls }

// observe records what a call of slot i showed: whether it waited (or ran
// too long to run directly). It reports whether the prediction changed.
func (r *routes) observe(i int, waited bool) (flipped bool) {
	old := r.score[i].Load()
	next := old * 3 / 4
	if waited {
		next += scoreMax / 4
	}
	r.score[i].Store(next) // racy with other calls of the path: a prediction
	if r.seen[i].Load() < learnCalls {
		r.seen[i].Add(1)
	}
	switch {
	case next >= toPool:
		return r.pooled[i].CompareAndSwap(false, true)
	case next <= toDirect:
		return r.pooled[i].CompareAndSwap(true, false)
	}
	return false
}

// waited records a call of slot i seen to wait, or to run, for long while
// it runs (adapt.go, longWaits): its path goes to the pool at once. It
// reports whether the prediction changed.
func (r *routes) waited(i int) (flipped bool) {
	r.score[i].Store(scoreMax)
	return r.pooled[i].CompareAndSwap(false, true)
}
