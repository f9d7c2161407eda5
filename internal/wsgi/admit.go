package wsgi

import (
	"sync"
	"sync/atomic"
	"time"
)

// admission bounds how many requests run in Python at once: a semaphore
// whose size the controller changes while it is in use. Waiters are
// served first come, first served, and at most max of them wait, counted
// in all with those of the admissions that share it; beyond that acquire
// fails at once (the caller answers 503).
type admission struct {
	mu      sync.Mutex
	limit   int           // requests allowed in Python; guarded by mu
	running int           // requests admitted; guarded by mu
	max     int           // most waiters; immutable
	head    *waiter       // FIFO of waiters; guarded by mu
	tail    *waiter       // guarded by mu
	queued  atomic.Int64  // len of the FIFO, readable without mu
	all     *atomic.Int64 // waiters of every admission sharing the bound
}

// waiter is a request waiting for admission, owned by its goroutine.
type waiter struct {
	next     *waiter
	ready    chan struct{} // cap 1: a slot has been handed over, or the wait diverted
	diverted bool          // set before ready: no slot, run elsewhere
}

func newWaiter() waiter { return waiter{ready: make(chan struct{}, 1)} }

// newAdmission makes an admission; all, if not nil, counts its waiters
// together with another's.
func newAdmission(limit, max int, all *atomic.Int64) *admission {
	a := &admission{limit: limit, max: max, all: all}
	if all == nil {
		a.all = new(atomic.Int64)
	}
	return a
}

// acquire takes a slot, waiting behind earlier waiters. It returns false
// if the queue is full or the wait was diverted (w.diverted), and how
// long it waited.
func (a *admission) acquire(w *waiter) (ok bool, waited time.Duration) {
	a.mu.Lock()
	if a.running < a.limit && a.head == nil {
		a.running++
		a.mu.Unlock()
		return true, 0
	}
	if int(a.all.Load()) >= a.max {
		a.mu.Unlock()
		return false, 0
	}
	start := time.Now()
	w.next, w.diverted = nil, false
	if a.tail != nil {
		a.tail.next = w
	} else {
		a.head = w
	}
	a.tail = w
	a.queued.Add(1)
	a.all.Add(1)
	a.mu.Unlock()
	<-w.ready
	return !w.diverted, time.Since(start)
}

// divert sends every waiter away without a slot.
func (a *admission) divert() {
	a.mu.Lock()
	var gone *waiter
	for a.head != nil {
		w := a.pop()
		w.next = gone
		gone = w
	}
	a.mu.Unlock()
	signal(gone, true)
}

// release gives the slot back: to the first waiter, unless the limit has
// dropped below what runs.
func (a *admission) release() {
	a.mu.Lock()
	if a.head != nil && a.running <= a.limit {
		w := a.pop()
		a.mu.Unlock()
		w.ready <- struct{}{} // the slot passes to w: running is unchanged
		return
	}
	a.running--
	a.mu.Unlock()
}

// setLimit changes the limit, admitting waiters it makes room for.
func (a *admission) setLimit(n int) {
	a.mu.Lock()
	a.limit = n
	var ready *waiter
	for a.head != nil && a.running < a.limit {
		w := a.pop()
		a.running++
		w.next = ready
		ready = w
	}
	a.mu.Unlock()
	signal(ready, false)
}

// signal ends the waits of a list of waiters taken off the FIFO: with a
// slot each, or diverted.
func signal(list *waiter, diverted bool) {
	for list != nil {
		w := list
		list = w.next
		w.diverted = diverted
		w.ready <- struct{}{}
	}
}

// pop removes the first waiter; mu held.
func (a *admission) pop() *waiter {
	w := a.head
	a.head = w.next
	if a.head == nil {
		a.tail = nil
	}
	a.queued.Add(-1)
	a.all.Add(-1)
	return w
}

// load returns the limit, the requests running and those waiting.
func (a *admission) load() (limit, running, queued int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.limit, a.running, int(a.queued.Load())
}
