// Package metrics counts what pogo serves and writes it in the Prometheus
// text format (--metrics-bind). A Recorder counts in one process; with
// --workers each worker sends its Snapshot to the master over its link
// once a second and the master serves the sum, plus its own figures about
// the workers.
package metrics

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Bounds are the upper bounds of the latency histogram's buckets, in
// seconds; a last, implicit bucket is +Inf.
var Bounds = [...]float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// QueueBounds are those of the histogram of how long requests waited for
// a Python thread: most waits are far under a millisecond.
var QueueBounds = [...]float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Decisions names the thread model's adaptive decisions, in the order of
// Snapshot.Decisions: the pool's limit grown or shrunk, a path's requests
// moved to the pool or back to the direct call (docs/internals.md).
var Decisions = [...]string{"grow", "shrink", "pool", "direct"}

// Snapshot is a process's figures at one moment.
type Snapshot struct {
	// Requests counts finished requests by status class: index 1-5 for
	// 1xx-5xx, 0 for requests that ended without a status (the client
	// went away, the connection was cut).
	Requests [6]uint64
	// Buckets counts finished requests by duration (not cumulative):
	// Buckets[i] those of at most Bounds[i] and more than the bound
	// before; the last, those above every bound.
	Buckets [len(Bounds) + 1]uint64
	// SumNanos is the total duration of finished requests.
	SumNanos uint64

	InFlight int64 // requests being served
	Queued   int64 // requests waiting for a Python thread
	Busy     int64 // requests in Python
	Threads  int64 // Python threads
	Blocked  int64 // of the busy Python threads, those blocked with the GIL released (an estimate from a sample)
	Limit    int64 // requests allowed in Python at once

	Python Python // the Python threads' counters
}

// Python are the counters of the requests' time in Python.
type Python struct {
	DirectCalls, PoolCalls uint64 // requests run on the connection's thread, and on the pool
	Started, Ended         uint64 // pool threads started, and ended for being idle
	GILNanos               uint64 // time calls waited for the GIL
	// QueueBuckets and QueueNanos are the histogram of the time
	// requests waited for a Python thread, as Buckets with QueueBounds.
	QueueBuckets [len(QueueBounds) + 1]uint64
	QueueNanos   uint64
	Decisions    [len(Decisions)]uint64
}

// gauges returns pointers to s's gauges, counters to its counters: the
// order of Encode.
func (s *Snapshot) fields() (gauges []*int64, counters []*uint64) {
	gauges = []*int64{&s.InFlight, &s.Queued, &s.Busy, &s.Threads, &s.Blocked, &s.Limit}
	for i := range s.Requests {
		counters = append(counters, &s.Requests[i])
	}
	for i := range s.Buckets {
		counters = append(counters, &s.Buckets[i])
	}
	p := &s.Python
	counters = append(counters, &s.SumNanos, &p.DirectCalls, &p.PoolCalls, &p.Started, &p.Ended, &p.GILNanos, &p.QueueNanos)
	for i := range p.QueueBuckets {
		counters = append(counters, &p.QueueBuckets[i])
	}
	for i := range p.Decisions {
		counters = append(counters, &p.Decisions[i])
	}
	return gauges, counters
}

// Add adds o to s: counters and gauges alike (gauges of different
// processes add up too).
func (s *Snapshot) Add(o *Snapshot) {
	g, c := s.fields()
	og, oc := o.fields()
	for i := range g {
		*g[i] += *og[i]
	}
	for i := range c {
		*c[i] += *oc[i]
	}
}

// Counters returns s with its gauges zeroed: what a process that has
// exited still contributes to the totals.
func (s Snapshot) Counters() Snapshot {
	g, _ := s.fields()
	for _, v := range g {
		*v = 0
	}
	return s
}

// Total is the number of finished requests.
func (s *Snapshot) Total() uint64 {
	var n uint64
	for _, v := range s.Requests {
		n += v
	}
	return n
}

// Encode writes s as space-separated decimal numbers, for the link.
func (s *Snapshot) Encode() string {
	var b []byte
	g, c := s.fields()
	for _, v := range g {
		b = strconv.AppendInt(b, *v, 10)
		b = append(b, ' ')
	}
	for _, v := range c {
		b = strconv.AppendUint(b, *v, 10)
		b = append(b, ' ')
	}
	return string(b[:len(b)-1])
}

// Decode parses what Encode wrote.
func Decode(text string) (Snapshot, error) {
	var s Snapshot
	f := strings.Fields(text)
	g, c := s.fields()
	if len(f) != len(g)+len(c) {
		return s, fmt.Errorf("metrics: %d fields, want %d", len(f), len(g)+len(c))
	}
	for i, v := range f {
		var err error
		if i < len(g) {
			*g[i], err = strconv.ParseInt(v, 10, 64)
		} else {
			*c[i-len(g)], err = strconv.ParseUint(v, 10, 64)
		}
		if err != nil {
			return s, fmt.Errorf("metrics: field %d: %w", i, err)
		}
	}
	return s, nil
}

// Histogram counts durations into buckets by upper bounds in seconds
// (Bounds, QueueBounds), given on each call. Safe for concurrent use; the
// zero value is empty.
type Histogram struct {
	counts [len(QueueBounds) + 1]atomic.Uint64 // enough for either bounds
	sum    atomic.Uint64
}

// Observe counts d.
func (h *Histogram) Observe(bounds []float64, d time.Duration) {
	secs := d.Seconds()
	i := 0
	for i < len(bounds) && secs > bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(uint64(d))
}

// Read copies the counts into counts (len(bounds)+1 of them) and returns
// the sum of the durations in ns.
func (h *Histogram) Read(counts []uint64) (sum uint64) {
	for i := range counts {
		counts[i] = h.counts[i].Load()
	}
	return h.sum.Load()
}

// Recorder counts requests in one process. Its methods are safe for
// concurrent use and do not allocate.
type Recorder struct {
	requests [6]atomic.Uint64
	latency  Histogram
	inFlight atomic.Int64

	// Observe, if set before use, is also told of each finished request
	// (to send it to StatsD).
	Observe func(status int, d time.Duration)
}

// Start counts a request in flight; Done ends it.
func (r *Recorder) Start() { r.inFlight.Add(1) }

// Done counts a finished request with its status (0 if none was sent)
// and duration.
func (r *Recorder) Done(status int, d time.Duration) {
	r.inFlight.Add(-1)
	class := status / 100
	if class < 1 || class > 5 {
		class = 0
	}
	r.requests[class].Add(1)
	r.latency.Observe(Bounds[:], d)
	if r.Observe != nil {
		r.Observe(status, d)
	}
}

// Snapshot returns the counts; the caller fills in the thread gauges.
func (r *Recorder) Snapshot() Snapshot {
	var s Snapshot
	for i := range s.Requests {
		s.Requests[i] = r.requests[i].Load()
	}
	s.SumNanos = r.latency.Read(s.Buckets[:])
	s.InFlight = r.inFlight.Load()
	return s
}

// Workers are the master's figures about its workers.
type Workers struct {
	Running  int    // worker processes alive
	Wanted   int    // workers the master aims for (-w, TTIN, TTOU)
	Started  uint64 // workers started, replacements included
	Restarts uint64 // workers started in place of another
	Died     uint64 // workers that exited without being asked to
	// Each lists the running workers' own request counts, by worker
	// number: how evenly the kernel spreads the load.
	Each []Worker
}

// Worker is one worker's share.
type Worker struct {
	ID       int
	Requests uint64
}

// Write writes s, and w if not nil, in the Prometheus text format.
func Write(out io.Writer, s *Snapshot, w *Workers) error {
	var b strings.Builder
	metric := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	// single writes a metric that has one unlabelled value (an integer).
	single := func(name, typ, help string, v any) {
		metric(name, typ, help)
		fmt.Fprintf(&b, "%s %d\n", name, v)
	}
	metric("pogo_requests_total", "counter", "Finished requests by status class (\"none\": the response was cut off or never sent).")
	for i, v := range s.Requests {
		class := "none"
		if i > 0 {
			class = strconv.Itoa(i) + "xx"
		}
		fmt.Fprintf(&b, "pogo_requests_total{class=%q} %d\n", class, v)
	}
	histogram := func(name, help string, bounds []float64, counts []uint64, sum uint64) {
		metric(name, "histogram", help)
		var cum uint64
		for i, v := range counts {
			cum += v
			le := "+Inf"
			if i < len(bounds) {
				le = strconv.FormatFloat(bounds[i], 'g', -1, 64)
			}
			fmt.Fprintf(&b, "%s_bucket{le=%q} %d\n", name, le, cum)
		}
		fmt.Fprintf(&b, "%s_sum %g\n", name, float64(sum)/1e9)
		fmt.Fprintf(&b, "%s_count %d\n", name, cum)
	}
	histogram("pogo_request_duration_seconds", "Time from the request head to the end of the response.", Bounds[:], s.Buckets[:], s.SumNanos)
	single("pogo_requests_in_flight", "gauge", "Requests being served.", s.InFlight)
	single("pogo_queue_depth", "gauge", "Requests waiting for a Python thread.", s.Queued)
	single("pogo_python_threads_busy", "gauge", "Requests running in Python (on a CPU, waiting for the GIL, or blocked).", s.Busy)
	single("pogo_python_threads_blocked", "gauge", "Of the busy Python threads, those blocked with the GIL released (I/O, a lock, the client): an estimate from a sample.", s.Blocked)
	single("pogo_python_threads", "gauge", "OS threads that run Python for requests, summed over the workers.", s.Threads)
	single("pogo_python_threads_limit", "gauge", "Requests allowed in Python at once: --threads, or the adaptive limit.", s.Limit)
	p := &s.Python
	single("pogo_python_threads_started_total", "counter", "Pool threads started.", p.Started)
	single("pogo_python_threads_ended_total", "counter", "Pool threads ended after --thread-idle-timeout idle.", p.Ended)
	metric("pogo_python_calls_total", "counter", "Requests run in Python, by path: on the connection's thread (direct) or on the pool.")
	fmt.Fprintf(&b, "pogo_python_calls_total{path=\"direct\"} %d\npogo_python_calls_total{path=\"pool\"} %d\n", p.DirectCalls, p.PoolCalls)
	metric("pogo_gil_wait_seconds_total", "counter", "Time requests waited to take the GIL.")
	fmt.Fprintf(&b, "pogo_gil_wait_seconds_total %g\n", float64(p.GILNanos)/1e9)
	histogram("pogo_queue_wait_seconds", "Time requests waited for a Python thread.", QueueBounds[:], p.QueueBuckets[:], p.QueueNanos)
	metric("pogo_adaptive_decisions_total", "counter", "The adaptive thread model's decisions: the pool's limit grown or shrunk, a path's requests moved to the pool or back to the direct call.")
	for i, name := range Decisions {
		fmt.Fprintf(&b, "pogo_adaptive_decisions_total{kind=%q} %d\n", name, p.Decisions[i])
	}
	if w != nil {
		single("pogo_workers", "gauge", "Worker processes running.", w.Running)
		single("pogo_workers_wanted", "gauge", "Worker processes the master aims for.", w.Wanted)
		single("pogo_worker_starts_total", "counter", "Worker processes started, replacements included.", w.Started)
		single("pogo_worker_restarts_total", "counter", "Workers started to replace one (died, recycled, reloaded, timed out).", w.Restarts)
		single("pogo_worker_deaths_total", "counter", "Workers that exited without being asked to (crash, kill, os._exit).", w.Died)
		metric("pogo_worker_requests_total", "counter", "Finished requests of each running worker, by worker number.")
		for _, e := range w.Each {
			fmt.Fprintf(&b, "pogo_worker_requests_total{worker=\"%d\"} %d\n", e.ID, e.Requests)
		}
	}
	_, err := io.WriteString(out, b.String())
	return err
}
