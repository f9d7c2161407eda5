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
	Busy     int64 // Python threads running a request
	Threads  int64 // Python threads
}

// Add adds o to s: counters and gauges alike (gauges of different
// processes add up too).
func (s *Snapshot) Add(o *Snapshot) {
	for i := range s.Requests {
		s.Requests[i] += o.Requests[i]
	}
	for i := range s.Buckets {
		s.Buckets[i] += o.Buckets[i]
	}
	s.SumNanos += o.SumNanos
	s.InFlight += o.InFlight
	s.Queued += o.Queued
	s.Busy += o.Busy
	s.Threads += o.Threads
}

// Counters returns s with its gauges zeroed: what a process that has
// exited still contributes to the totals.
func (s Snapshot) Counters() Snapshot {
	s.InFlight, s.Queued, s.Busy, s.Threads = 0, 0, 0, 0
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
	put := func(v int64) {
		if len(b) > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendInt(b, v, 10)
	}
	for _, v := range s.Requests {
		put(int64(v))
	}
	for _, v := range s.Buckets {
		put(int64(v))
	}
	put(int64(s.SumNanos))
	put(s.InFlight)
	put(s.Queued)
	put(s.Busy)
	put(s.Threads)
	return string(b)
}

// Decode parses what Encode wrote.
func Decode(text string) (Snapshot, error) {
	var s Snapshot
	f := strings.Fields(text)
	want := len(s.Requests) + len(s.Buckets) + 5
	if len(f) != want {
		return s, fmt.Errorf("metrics: %d fields, want %d", len(f), want)
	}
	n := make([]int64, len(f))
	for i, v := range f {
		var err error
		if n[i], err = strconv.ParseInt(v, 10, 64); err != nil {
			return s, fmt.Errorf("metrics: field %d: %w", i, err)
		}
	}
	for i := range s.Requests {
		s.Requests[i], n = uint64(n[0]), n[1:]
	}
	for i := range s.Buckets {
		s.Buckets[i], n = uint64(n[0]), n[1:]
	}
	s.SumNanos = uint64(n[0])
	s.InFlight, s.Queued, s.Busy, s.Threads = n[1], n[2], n[3], n[4]
	return s, nil
}

// Recorder counts requests in one process. Its methods are safe for
// concurrent use and do not allocate.
type Recorder struct {
	requests [6]atomic.Uint64
	buckets  [len(Bounds) + 1]atomic.Uint64
	sum      atomic.Uint64
	inFlight atomic.Int64
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
	secs := d.Seconds()
	i := 0
	for i < len(Bounds) && secs > Bounds[i] {
		i++
	}
	r.buckets[i].Add(1)
	r.sum.Add(uint64(d))
}

// Snapshot returns the counts; the caller fills in the thread gauges.
func (r *Recorder) Snapshot() Snapshot {
	var s Snapshot
	for i := range s.Requests {
		s.Requests[i] = r.requests[i].Load()
	}
	for i := range s.Buckets {
		s.Buckets[i] = r.buckets[i].Load()
	}
	s.SumNanos = r.sum.Load()
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
	metric("pogo_request_duration_seconds", "histogram", "Time from the request head to the end of the response.")
	var cum uint64
	for i, v := range s.Buckets {
		cum += v
		le := "+Inf"
		if i < len(Bounds) {
			le = strconv.FormatFloat(Bounds[i], 'g', -1, 64)
		}
		fmt.Fprintf(&b, "pogo_request_duration_seconds_bucket{le=%q} %d\n", le, cum)
	}
	fmt.Fprintf(&b, "pogo_request_duration_seconds_sum %g\n", float64(s.SumNanos)/1e9)
	fmt.Fprintf(&b, "pogo_request_duration_seconds_count %d\n", cum)
	single("pogo_requests_in_flight", "gauge", "Requests being served.", s.InFlight)
	single("pogo_queue_depth", "gauge", "Requests waiting for a Python thread.", s.Queued)
	single("pogo_python_threads_busy", "gauge", "Python threads running a request.", s.Busy)
	single("pogo_python_threads", "gauge", "Python threads (--threads, summed over the workers).", s.Threads)
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
