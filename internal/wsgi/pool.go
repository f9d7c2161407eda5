package wsgi

import (
	"sync"
	"time"
)

// stallAfter is how long queued requests wait while no Python thread takes
// one before another thread is woken. Threads that are running Python keep
// taking requests back to back; only when they are all stuck (sleeping,
// waiting on I/O with the GIL released, or running a long request) does an
// extra thread join, so the GIL is not passed back and forth for nothing.
const stallAfter = 500 * time.Microsecond

// pool hands queued requests to Python threads. It prefers the thread that
// was active most recently (a LIFO of idle threads), lets a thread drain the
// queue before it sleeps, and wakes another thread only when the queue
// stops moving.
type pool struct {
	mu       sync.Mutex
	queue    []*call // ring buffer of waiting requests; guarded by mu
	head, n  int
	idle     []*worker // parked threads, most recently active last; guarded by mu
	awake    int       // threads not parked; guarded by mu
	taken    uint64    // requests taken so far; guarded by mu
	closed   bool
	armed    bool   // the stall timer is set; guarded by mu
	seen     uint64 // taken when the stall timer was set; guarded by mu
	timer    *time.Timer
	capacity int
}

type worker struct {
	wake chan struct{} // pool -> worker, capacity 1
}

func newPool(queueSize int) *pool {
	p := &pool{queue: make([]*call, queueSize), capacity: queueSize}
	p.timer = time.AfterFunc(time.Hour, p.checkStall)
	p.timer.Stop()
	return p
}

// submit queues c; false if the queue is full.
func (p *pool) submit(c *call) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == p.capacity || p.closed {
		return false
	}
	p.queue[(p.head+p.n)%p.capacity] = c
	p.n++
	if p.awake == 0 {
		p.wakeOne()
	} else {
		p.arm()
	}
	return true
}

// next blocks until there is a request for w, or returns nil once the pool
// is closed and drained.
func (p *pool) next(w *worker) *call {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if p.n > 0 {
			c := p.queue[p.head]
			p.queue[p.head] = nil
			p.head = (p.head + 1) % p.capacity
			p.n--
			p.taken++
			return c
		}
		if p.closed {
			return nil
		}
		p.idle = append(p.idle, w)
		p.awake--
		p.mu.Unlock()
		<-w.wake
		p.mu.Lock()
	}
}

// join registers a new thread as awake; it parks on its first next.
func (p *pool) join() {
	p.mu.Lock()
	p.awake++
	p.mu.Unlock()
}

// wakeOne wakes the most recently parked thread. p.mu is held.
func (p *pool) wakeOne() {
	if len(p.idle) == 0 {
		return
	}
	w := p.idle[len(p.idle)-1]
	p.idle = p.idle[:len(p.idle)-1]
	p.awake++
	w.wake <- struct{}{}
}

// arm starts the stall timer if it is not running. p.mu is held.
func (p *pool) arm() {
	if p.armed || len(p.idle) == 0 {
		return
	}
	p.armed = true
	p.seen = p.taken
	p.timer.Reset(stallAfter)
}

func (p *pool) checkStall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = false
	if p.n == 0 {
		return
	}
	if p.taken == p.seen {
		p.wakeOne()
	}
	p.arm()
}

// close wakes every thread; they exit once the queue is empty.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for len(p.idle) > 0 {
		p.wakeOne()
	}
	p.timer.Stop()
}
