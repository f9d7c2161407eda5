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
	score [routeSlots]atomic.Int32  // 0: runs, scoreMax: waits; a moving average of what calls showed
	seen  [routeSlots]atomic.Uint32 // observations, saturating
	calls atomic.Uint64             // predictions, for the probes
}

const (
	routeSlots = 1024
	scoreMax   = 1000
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
	if r.score[i].Load() < scoreMax/2 {
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
	return (old < scoreMax/2) != (next < scoreMax/2)
}
