package metrics

import (
	"bufio"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRecorderAndEncoding(t *testing.T) {
	var r Recorder
	for _, tc := range []struct {
		status int
		d      time.Duration
	}{
		{200, 500 * time.Microsecond}, // first bucket
		{204, time.Millisecond},       // on the bound: still the first
		{404, 3 * time.Millisecond},   // 0.005
		{503, 2 * time.Second},        // 2.5
		{0, time.Minute},              // +Inf, no status
	} {
		r.Start()
		r.Done(tc.status, tc.d)
	}
	r.Start() // one still in flight
	s := r.Snapshot()
	s.Busy, s.Queued, s.Threads, s.Blocked, s.Limit = 1, 2, 8, 1, 8
	s.Python = Python{DirectCalls: 1, PoolCalls: 4, Started: 8, Ended: 2, GILNanos: 7, QueueNanos: 9}
	s.Python.QueueBuckets[3], s.Python.Decisions[1] = 4, 6
	want := [6]uint64{1, 0, 2, 0, 1, 1}
	if s.Requests != want {
		t.Errorf("Requests = %v, want %v", s.Requests, want)
	}
	if s.Buckets[0] != 2 || s.Buckets[2] != 1 || s.Buckets[10] != 1 || s.Buckets[len(Bounds)] != 1 || s.Total() != 5 {
		t.Errorf("Buckets = %v (total %d)", s.Buckets, s.Total())
	}
	if s.InFlight != 1 {
		t.Errorf("InFlight = %d, want 1", s.InFlight)
	}
	got, err := Decode(s.Encode())
	if err != nil || got != s {
		t.Errorf("Decode(Encode(s)) = %+v, %v; want %+v", got, err, s)
	}
	if _, err := Decode("1 2 3"); err == nil {
		t.Error("Decode of a short line did not fail")
	}
	sum := s
	sum.Add(&s)
	c := sum.Counters()
	if c.Total() != 10 || c.InFlight != 0 || c.Threads != 0 || c.Limit != 0 || sum.Threads != 16 ||
		c.Python.PoolCalls != 8 || c.Python.QueueBuckets[3] != 8 || c.Python.Decisions[1] != 12 {
		t.Errorf("Add/Counters: total %d, in flight %d, threads %d/%d, limit %d, python %+v",
			c.Total(), c.InFlight, c.Threads, sum.Threads, c.Limit, c.Python)
	}
}

// TestWrite checks the exposition format line by line: every sample has
// its TYPE, histogram buckets are cumulative and end with +Inf = _count.
func TestWrite(t *testing.T) {
	s := Snapshot{Requests: [6]uint64{1, 0, 7, 0, 2, 0}, SumNanos: 1.5e9, InFlight: 3, Threads: 4, Blocked: 2, Limit: 6}
	s.Buckets[0], s.Buckets[3], s.Buckets[len(Bounds)] = 5, 4, 1
	s.Python = Python{DirectCalls: 9, PoolCalls: 11, Started: 5, Ended: 1, GILNanos: 2.5e8, QueueNanos: 1e6}
	s.Python.QueueBuckets[0], s.Python.QueueBuckets[4] = 19, 1
	s.Python.Decisions = [len(Decisions)]uint64{3, 2, 1, 0}
	var b strings.Builder
	if err := Write(&b, &s, &Workers{Running: 2, Wanted: 2, Started: 5, Restarts: 3, Died: 1, Each: []Worker{{4, 10}, {5, 12}}}); err != nil {
		t.Fatal(err)
	}
	samples := map[string]string{}
	typed := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			typed[strings.Fields(rest)[0]] = true
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("bad line %q", line)
		}
		if _, err := strconv.ParseFloat(value, 64); err != nil {
			t.Errorf("line %q: value not a number", line)
		}
		base, _, _ := strings.Cut(name, "{")
		base = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(base, "_bucket"), "_sum"), "_count")
		if !typed[base] {
			t.Errorf("sample %q before its # TYPE", line)
		}
		samples[name] = value
	}
	for name, want := range map[string]string{
		`pogo_requests_total{class="none"}`:                "1",
		`pogo_requests_total{class="2xx"}`:                 "7",
		`pogo_request_duration_seconds_bucket{le="0.001"}`: "5",
		`pogo_request_duration_seconds_bucket{le="0.01"}`:  "9",
		`pogo_request_duration_seconds_bucket{le="+Inf"}`:  "10",
		`pogo_request_duration_seconds_count`:              "10",
		`pogo_request_duration_seconds_sum`:                "1.5",
		`pogo_requests_in_flight`:                          "3",
		`pogo_python_threads`:                              "4",
		`pogo_python_threads_blocked`:                      "2",
		`pogo_python_threads_limit`:                        "6",
		`pogo_python_threads_started_total`:                "5",
		`pogo_python_threads_ended_total`:                  "1",
		`pogo_python_calls_total{path="direct"}`:           "9",
		`pogo_python_calls_total{path="pool"}`:             "11",
		`pogo_gil_wait_seconds_total`:                      "0.25",
		`pogo_queue_wait_seconds_bucket{le="0.0001"}`:      "19",
		`pogo_queue_wait_seconds_bucket{le="0.001"}`:       "19",
		`pogo_queue_wait_seconds_bucket{le="0.0025"}`:      "20",
		`pogo_queue_wait_seconds_count`:                    "20",
		`pogo_queue_wait_seconds_sum`:                      "0.001",
		`pogo_adaptive_decisions_total{kind="grow"}`:       "3",
		`pogo_adaptive_decisions_total{kind="pool"}`:       "1",
		`pogo_adaptive_decisions_total{kind="direct"}`:     "0",
		`pogo_workers`:               "2",
		`pogo_worker_restarts_total`: "3",
		`pogo_worker_deaths_total`:   "1",
	} {
		if samples[name] != want {
			t.Errorf("%s = %q, want %s", name, samples[name], want)
		}
	}
}
