package wsgi

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/pogoserver/pogo/internal/cpython"
	"github.com/pogoserver/pogo/internal/metrics"
)

// The adaptive thread model (docs/internals.md, "Threads"), without a
// fixed Threads:
//
//   - A request whose path has not been seen to wait (hello world,
//     templates, JSON: CPU all of its time in the app) runs directly on
//     the connection's goroutine, one at a time: no hand-off at all, no
//     GIL hand-offs between such requests, and no call ever holds one of
//     Go's Ps while it waits (routes.go predicts by path).
//   - A request whose path waits with the GIL released (on a database, an
//     API, time.sleep), or runs long, runs on the pool's threads, which
//     hold none of Go's Ps; a controller grows their limit while requests
//     queue for them and the busy threads are blocked on I/O, and lowers
//     it when they run or wait for the GIL.
//
// What tells them apart is measured. For a sample of calls C reports the
// thread's CPU time in the app, the time it was preempted and the time it
// handed off to Go; a call whose CPU time is under half of the rest ("a
// waiter") waited. Calls still running long after they started are looked
// at as they run, through their thread's CPU clock, and what the pool's
// busy threads are blocked in is read from /proc.

const (
	tick = 10 * time.Millisecond
	// sampleEvery is how often a call measures its CPU time (syscalls
	// of about 1.2 µs) when there are many. A power of two.
	sampleEvery = 16
	// A call running for longer than firstLook is looked at while it
	// runs (server-sent events, long polling, a slow API), and judged by
	// the CPU it used in the next lookAgain.
	firstLook = 20 * time.Millisecond
	lookAgain = 50 * time.Millisecond
	// holdMax is how long a direct call that runs (rather than waits)
	// keeps the direct path's slot (longWaits).
	holdMax = 100 * time.Millisecond
	// threadSample is how many busy pool threads the controller looks at
	// each tick (a few µs each).
	threadSample = 8
	// While the calls of paths that wait start more often than
	// shareAbove a second, the paths that run go to the pool as well,
	// until they start less often than shareBelow. Each such call takes
	// the GIL at least twice (to start, and after its wait); against
	// thousands of takes a second the one direct thread, which takes it
	// as one of a crowd of pool threads, gets it last (a Flask route's
	// p99 went from 20 ms alone to 110-190 ms beside /io10 at 7-9k req/s;
	// on the pool, in turn with the others, 50 ms). Server-sent events
	// (a few hundred a second) stay below.
	shareAbove = 2000
	shareBelow = 1000
)

// stats are the gateway's running totals, added to by every call.
type stats struct {
	seq       atomic.Uint64     // calls started
	mask      atomic.Uint64     // a call measures its CPU time if seq&mask == 0
	calls     atomic.Uint64     // calls ended
	direct    atomic.Uint64     // of which ran directly
	waitCalls atomic.Uint64     // calls started of paths predicted to wait
	sampled   atomic.Uint64     // calls that measured their CPU time
	waiters   atomic.Uint64     // of which waited most of their time
	cpu       atomic.Int64      // ns, over sampled calls
	preempted atomic.Int64      // ns, over sampled calls
	wall      atomic.Int64      // ns in the app less preempted, over sampled calls
	waitWall  atomic.Int64      // the same, over the waiters
	allWall   atomic.Int64      // ns in the app, all calls
	gil       atomic.Int64      // ns waited for the GIL, all calls
	queue     metrics.Histogram // waits for admission or a pool thread, all calls
	clock     atomic.Int64      // the current tick
	decision  [len(metrics.Decisions)]atomic.Uint64
}

// end counts a call that has ended, directly or on the pool. It reports
// whether the call was measured, and if so whether its path should go to
// the pool: it was a waiter, or ran long. contended: pool calls were in
// Python during the direct call.
func (s *stats) end(tm *cpython.Timing, direct, contended bool) (measured, waits bool) {
	s.calls.Add(1)
	if direct {
		s.direct.Add(1)
	}
	s.allWall.Add(int64(tm.Wall))
	s.gil.Add(int64(tm.GIL))
	s.queue.Observe(metrics.QueueBounds[:], tm.Queue)
	if tm.CPU < 0 {
		return false, false
	}
	// The time a preempted thread had no CPU is not waiting: another
	// thread ran (on a busy machine, often the request's own connection
	// goroutine). Nor is the time handed off to Go: a write that waits
	// for a P, or the GC. (A call that waits on a slow client for long
	// shows as a long wait instead.)
	ran := max(tm.Wall-tm.Preempted-tm.Handoff, tm.CPU)
	s.sampled.Add(1)
	s.cpu.Add(int64(tm.CPU))
	s.preempted.Add(int64(tm.Preempted))
	s.wall.Add(int64(ran))
	// A call that ran long is no more for the direct path than one that
	// waited: the next calls of its path would queue behind it.
	long := ran > firstLook
	blocked := ran - tm.CPU
	if blocked <= tm.CPU {
		return true, long
	}
	if direct && contended && blocked <= 4*tm.CPU && blocked <= time.Millisecond {
		// A pool thread that wanted the GIL took it from the call for a
		// while (CPython's switch interval): a wait of the pool's, not
		// of this path. Counted as one, it sent a path that only runs
		// to the pool, whose calls then took the GIL from the next
		// direct ones: under -w 2, Flask /json flipped back and forth
		// ten times in 30 s, with 160-480 ms stalls.
		return true, long
	}
	s.waiters.Add(1)
	s.waitWall.Add(int64(ran))
	return true, true
}

// flipped counts a path moved to the pool (toPool) or back.
func (s *stats) flipped(toPool bool) {
	if toPool {
		s.decision[decPool].Add(1)
	} else {
		s.decision[decDirect].Add(1)
	}
}

// Decisions the controller counts, as metrics.Decisions names them.
const (
	decGrow = iota
	decShrink
	decPool
	decDirect
)

// sample is what the controller sees at a tick.
type sample struct {
	dt        time.Duration
	calls     uint64         // calls that ended since the last tick
	sampled   uint64         // of which measured their time
	waiters   uint64         // of which were waiters
	cpu       time.Duration  // the measured calls' CPU time
	preempted time.Duration  // and their time preempted
	wall      time.Duration  // their time in the app, less preempted
	waitWall  time.Duration  // the same, of the waiters
	running   int            // requests in Python now
	queued    int            // requests waiting for admission now
	longWait  int            // long calls running now that have waited since the last look
	threads   cpython.Sample // what some busy pool threads are doing now
}

// controller adapts the pool's limit; owned by the control goroutine.
type controller struct {
	base, max int // the least and the most the limit may be
	limit     int
	demand    float64 // cores of CPU the calls wanted (ran or were preempted)
	io        float64 // share of busy pool threads waiting on I/O (or the app)
	client    float64 // share waiting on the client's socket (or a busy Go)
	waitRate  float64 // calls of paths that wait started a second
}

func newController(max int) controller {
	return controller{base: 1, max: max, limit: 1}
}

// decide updates the controller from s and returns the new limit and the
// decisions taken.
func (c *controller) decide(s sample) (limit int, kinds []int) {
	if s.sampled > 0 {
		d := float64(s.cpu+s.preempted) * float64(s.calls) / float64(s.sampled) / float64(max(s.dt, 1))
		c.demand = 0.7*c.demand + 0.3*d
	} else if s.running == 0 {
		c.demand *= 0.7
	}
	t := s.threads
	if busy := t.Running + t.GIL + t.Futex + t.IO + t.Client; busy > 0 {
		// A thread blocked on a lock or condition waits for the app (a
		// queue, an event: long polling), unless it may be the GIL: the
		// GIL's word not yet known and the calls want the CPU.
		io := t.IO
		if t.GILKnown || c.demand < 0.5 {
			io += t.Futex
		}
		// A look at one or two threads says less than one at eight.
		w := 0.3 * float64(min(busy, threadSample)) / threadSample
		c.io = (1-w)*c.io + w*float64(io)/float64(busy)
		c.client = (1-w)*c.client + w*float64(t.Client)/float64(busy)
	} else if s.running == 0 {
		c.io *= 0.7
		c.client *= 0.7
	}
	floor := min(c.max, c.base+s.longWait) // long waits hold their slots: the others need room
	switch {
	case s.queued > 0 && c.io >= 0.25 && c.limit < c.max:
		// Requests queue and the threads wait on I/O: more threads
		// overlap more of it.
		c.limit = min(c.max, max(2*c.limit, s.running+s.queued))
		kinds = append(kinds, decGrow)
	case c.io+c.client < 0.1 && c.limit > floor:
		// The threads run or wait for the GIL: fewer at once. (Threads
		// waiting on a client are no reason for more, nor for fewer.)
		c.limit = max(floor, c.limit/2)
		kinds = append(kinds, decShrink)
	case c.limit < floor:
		c.limit = floor
		kinds = append(kinds, decGrow)
	}
	return c.limit, kinds
}

// control runs the controller every tick.
func (g *Gateway) control() {
	defer close(g.stopped)
	t := time.NewTicker(tick)
	defer t.Stop()
	last := time.Now()
	var prev struct {
		calls, sampled, waiters, waitCalls uint64
		cpu, preempted, wall, waitWall     int64
	}
	st := &g.stats
	for {
		select {
		case <-g.done:
			return
		case now := <-t.C:
			clock := st.clock.Add(1)
			calls, sampled, waiters := st.calls.Load(), st.sampled.Load(), st.waiters.Load()
			cpu, preempted, wall, waitWall := st.cpu.Load(), st.preempted.Load(), st.wall.Load(), st.waitWall.Load()
			limit, running, queued := g.adm.load()
			s := sample{
				dt:        now.Sub(last),
				calls:     calls - prev.calls,
				sampled:   sampled - prev.sampled,
				waiters:   waiters - prev.waiters,
				cpu:       time.Duration(cpu - prev.cpu),
				preempted: time.Duration(preempted - prev.preempted),
				wall:      time.Duration(wall - prev.wall),
				waitWall:  time.Duration(waitWall - prev.waitWall),
				running:   running,
				queued:    queued,
				longWait:  g.longWaits(clock),
			}
			if running > 0 {
				s.threads = g.pool.Sample(threadSample)
			}
			last = now
			prev.calls, prev.sampled, prev.waiters = calls, sampled, waiters
			prev.cpu, prev.preempted, prev.wall, prev.waitWall = cpu, preempted, wall, waitWall
			newLimit, kinds := g.ctl.decide(s)
			wc := st.waitCalls.Load()
			g.ctl.waitRate = 0.7*g.ctl.waitRate + 0.3*float64(wc-prev.waitCalls)/s.dt.Seconds()
			prev.waitCalls = wc
			switch shared := g.shared.Load(); {
			case !shared && g.ctl.waitRate > shareAbove:
				g.shared.Store(true)
				kinds = append(kinds, decPool)
			case shared && g.ctl.waitRate < shareBelow:
				g.shared.Store(false)
				kinds = append(kinds, decDirect)
			}
			if debugAdapt && (s.calls > 0 || len(kinds) > 0) {
				fmt.Fprintf(os.Stderr, "adapt: %+v demand=%.2f io=%.2f -> limit %d %v\n", s, g.ctl.demand, g.ctl.io, newLimit, kinds)
			}
			for _, k := range kinds {
				st.decision[k].Add(1)
			}
			if newLimit != limit {
				g.adm.setLimit(newLimit)
			}
			// Measure every call's time when there are few, one in
			// sampleEvery when there are many.
			if s.calls > 4*sampleEvery {
				st.mask.Store(sampleEvery - 1)
			} else {
				st.mask.Store(0)
			}
		}
	}
}

var debugAdapt = os.Getenv("POGO_DEBUG_ADAPT") != ""

// longWaits looks at the calls running for longer than firstLook: how
// many of them used under a tenth of the CPU between the controller's
// last two looks, lookAgain apart.
func (g *Gateway) longWaits(clock int64) int {
	const first, again, hold = int64(firstLook / tick), int64(lookAgain / tick), int64(holdMax / tick)
	waiting := 0
	g.allMu.Lock()
	all := g.all
	g.allMu.Unlock()
	for _, c := range all {
		seq := c.seq.Load()
		if seq == 0 || clock-c.began.Load() < first {
			continue
		}
		// A direct call this long that waits (a stream, long polling)
		// gives its slot to the next request. One that runs, or wants
		// to and was preempted, or waits for the GIL, keeps it for a
		// while: another call beside it would only contend with it for
		// the GIL. But not past holdMax, or the direct path's requests
		// would wait behind a call that never ends.
		//
		// A call handed off to Go (writing to a client that reads
		// slowly, reading a body) gives its slot back too, but its
		// path is not one that waits: the client is slow, not the app.
		//
		// Waits reads the thread's state from /proc: only for a call it
		// decides something for, a direct one holding its slot or at its
		// first look. (Read for every long call, 500 server-sent-event
		// streams made 50k reads a second, and hello beside them got 3k
		// req/s instead of 70k.)
		onClient, handed := c.cc.HandedOff()
		first, slot := c.look.seq != seq, c.slot.Load()
		waits := !onClient && (slot == slotHeld || first && slot != slotNone) && c.cc.Waits(g.pool)
		if slot == slotHeld && (clock-c.began.Load() >= hold || waits || onClient) &&
			c.slot.CompareAndSwap(slotHeld, slotGiven) {
			g.direct.release()
		}
		if first {
			// The first look: where its CPU time stands. A direct call
			// this long that waits would hold up the direct path's next
			// requests: those waiting go to the pool, and its path's
			// next calls run on the pool. (One that runs, or is
			// preempted, or waits for the GIL, is judged at the next
			// look: the pool would only add to the contention.)
			if waits {
				g.direct.divert()
				if g.routes.waited(int(c.route.Load())) {
					g.stats.flipped(true)
				}
			}
			if cpu, ok := c.cc.CPUTime(); ok && c.seq.Load() == seq {
				c.look = look{seq: seq, tick: clock, cpu: cpu}
			}
			continue
		}
		if clock-c.look.tick >= again {
			cpu, ok := c.cc.CPUTime()
			if !ok || c.seq.Load() != seq {
				continue
			}
			elapsed := time.Duration(clock-c.look.tick) * tick
			// (A call that waits for the GIL uses no CPU either: not
			// while the calls want a core.)
			c.look.waiting = 10*(cpu-c.look.cpu) < elapsed && g.ctl.demand < 0.5
			c.look.tick, c.look.cpu = clock, cpu
			// Long in the app, waiting or not: its path's next calls go
			// to the pool. (Not for the time it waited on its client.)
			if time.Duration(clock-c.began.Load())*tick-handed > firstLook && g.routes.waited(int(c.route.Load())) {
				g.stats.flipped(true)
			}
		}
		if c.look.waiting {
			waiting++
		}
	}
	return waiting
}

// The states of a call's direct slot (call.slot).
const (
	slotNone  = iota // not on the direct path, or ended
	slotHeld         // running directly, holding the slot
	slotGiven        // running directly, its slot given back by longWaits
)

// look is the controller's view of a long call; owned by the control
// goroutine.
type look struct {
	seq     uint64 // the call looked at
	tick    int64  // when
	cpu     time.Duration
	waiting bool // it used under a tenth of the CPU between the last two looks
}
