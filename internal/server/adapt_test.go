package server_test

// The thread model (docs/internals.md, "Threads"): without a fixed
// Threads the gateway adapts how many requests run in Python at once to
// what the app does. These tests judge what the app saw (its own counts
// of requests inside it) and the gateway's figures, never how fast.

import (
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pogoserver/pogo/internal/wsgi"
)

// getAll runs n requests for path at once, each on its own connection,
// and returns the bodies. Every request must succeed.
func getAll(t *testing.T, url string, n int, path func(i int) string) []string {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n}}
	defer client.CloseIdleConnections()
	bodies := make([]string, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(url + path(i))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			var b strings.Builder
			if _, err := fmt.Fprint(&b, readAll(resp)); err != nil {
				errs <- err
				return
			}
			if resp.StatusCode != 200 {
				errs <- fmt.Errorf("%s: status %d: %s", path(i), resp.StatusCode, b.String())
				return
			}
			bodies[i] = b.String()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return bodies
}

func readAll(resp *http.Response) string {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// TestAdaptiveWaiters: with default options, 300 requests that wait in
// the app (with the GIL released) are all in Python at once: each waits
// until all 300 are in, and would give up after a minute.
func TestAdaptiveWaiters(t *testing.T) {
	s := start(t, "adapt_app:app", withThreads(0))
	const n = 300
	key := strconv.FormatInt(time.Now().UnixNano(), 36) // one gathering per run
	for i, b := range getAll(t, s.URL, n, func(int) string { return "/gather?" + strconv.Itoa(n) + "&" + key }) {
		if b != strconv.Itoa(n) {
			t.Fatalf("request %d saw %s requests in the app at once, want %d", i, b, n)
		}
	}
	st := s.GW.Stats()
	if st.Threads > wsgi.DefaultMaxThreads {
		t.Errorf("%d Python threads, want at most %d", st.Threads, wsgi.DefaultMaxThreads)
	}
	if st.Decisions["grow"] == 0 || st.Decisions["pool"] == 0 {
		t.Errorf("decisions %v: want the limit grown and requests moved to the pool", st.Decisions)
	}
}

// TestAdaptiveCPUBound: an app that holds the GIL for all of its time,
// under 64 connections, runs about one request per CPU at once, not 64.
func TestAdaptiveCPUBound(t *testing.T) {
	s := start(t, "adapt_app:app", withThreads(0))
	const conns, each = 64, 8
	var mu sync.Mutex
	most, mostLimit := 0, 0
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		// Sample the gateway's figures while the load runs, after every
		// request that ends (in getAll below, from the app's side: a
		// request in the app is counted before it ends).
		defer close(sampled)
		for {
			select {
			case <-done:
				return
			default:
			}
			st := s.GW.Stats()
			mu.Lock()
			most, mostLimit = max(most, st.Busy), max(mostLimit, st.Limit)
			mu.Unlock()
			runtime.Gosched()
		}
	}()
	getAll(t, s.URL, conns, func(i int) string { return "/cpu?2" }) // warm: the controller learns
	for range each {
		getAll(t, s.URL, conns, func(i int) string { return "/cpu?2" })
	}
	close(done)
	<-sampled
	bound := 2 * runtime.NumCPU()
	if most > bound || mostLimit > bound {
		t.Errorf("CPU-bound app: up to %d requests in Python at once (limit up to %d), want at most %d (%d CPUs)",
			most, mostLimit, bound, runtime.NumCPU())
	}
	if st := s.GW.Stats(); st.Threads > bound+4 {
		t.Errorf("%d Python threads for a CPU-bound app, want at most %d", st.Threads, bound+4)
	}
}

// TestThreadLocalPerThread: threading.local data persists for the life of
// each OS thread that runs Python, whichever path a request takes: every
// request adds one to its thread's count, so the highest count of each
// thread sums to the number of requests only if no thread state was ever
// made anew. And the threads that ever ran Python are within the limit.
func TestThreadLocalPerThread(t *testing.T) {
	for _, threads := range []int{0, 3} {
		t.Run(fmt.Sprintf("threads=%d", threads), func(t *testing.T) {
			s := start(t, "adapt_app:app", withThreads(threads))
			const conns, rounds = 16, 25
			key := strconv.FormatInt(time.Now().UnixNano(), 36) // counts of this run only
			highest := map[string]int{}
			for range rounds {
				for _, b := range getAll(t, s.URL, conns, func(int) string { return "/local?" + key }) {
					ident, count, _ := strings.Cut(b, " ")
					n, err := strconv.Atoi(count)
					if err != nil {
						t.Fatalf("bad answer %q", b)
					}
					highest[ident] = max(highest[ident], n)
				}
			}
			total := 0
			for _, n := range highest {
				total += n
			}
			if total != conns*rounds {
				t.Errorf("threads' counts sum to %d over %d threads, want %d: a thread's threading.local was lost", total, len(highest), conns*rounds)
			}
			limit := threads
			if limit == 0 {
				limit = wsgi.DefaultMaxThreads
			}
			if len(highest) > limit {
				t.Errorf("%d OS threads ran Python, want at most %d", len(highest), limit)
			}
			if threads > 0 {
				if st := s.GW.Stats(); st.Threads != threads {
					t.Errorf("%d Python threads with Threads %d", st.Threads, threads)
				}
			}
		})
	}
}

// TestFixedThreadsLimit: a fixed Threads is a hard limit, whatever the
// app does.
func TestFixedThreadsLimit(t *testing.T) {
	s := start(t, "adapt_app:app", withThreads(3))
	get(t, s.URL+"/reset")
	getAll(t, s.URL, 20, func(int) string { return "/sleep?0.05" })
	_, body := get(t, s.URL+"/peak")
	if peak, _, _ := strings.Cut(body, " "); peak != "3" {
		t.Errorf("peak of requests in the app at once = %s, want 3", peak)
	}
}

// TestPoolShrinks: pool threads idle past ThreadIdleTimeout end, and their
// thread state is cleared: what they kept in threading.local is released.
func TestPoolShrinks(t *testing.T) {
	s := start(t, "adapt_app:app", withThreads(0), func(st *setup) { st.gw.ThreadIdleTimeout = 100 * time.Millisecond })
	_, before := get(t, s.URL+"/released")
	// Requests that wait run on pool threads (but for the first few,
	// which may run on one of Go's threads); each thread keeps an object
	// and says which thread it is.
	threads := map[string]bool{}
	for _, ident := range getAll(t, s.URL, 40, func(int) string { return "/keep?0.3" }) {
		threads[ident] = true
	}
	started := s.GW.Stats().Started
	if started == 0 {
		t.Fatalf("no pool thread started: %+v", s.GW.Stats())
	}
	waitFor(t, "the idle pool threads to end", func() bool { return s.GW.Stats().Pool == 0 })
	st := s.GW.Stats()
	if st.Ended != started {
		t.Errorf("%d pool threads ended of %d started", st.Ended, started)
	}
	_, after := get(t, s.URL+"/released")
	was, _ := strconv.Atoi(before)
	now, _ := strconv.Atoi(after)
	// Every thread that kept an object has ended and released it, but
	// for Go's threads, which live on.
	if released := now - was; released <= 0 || len(threads)-released > st.Direct {
		t.Errorf("%d of the objects kept by %d threads released; %d of Go's threads run Python", released, len(threads), st.Direct)
	}
}

// TestSlowClientIsNotAWait: a direct call blocked in its writes on a
// client that does not read gives the direct path's slot to the next
// request, but its path is not moved to the pool: the client is slow,
// not the app. (Counted as a wait, a 100 KiB echo under wrk went to a
// pool of one thread and back tens of times in 8 s, with 100-800 ms
// responses.)
func TestSlowClientIsNotAWait(t *testing.T) {
	s := start(t, "adapt_app:app", withThreads(0))
	get(t, s.URL+"/stream?1") // learnt: a path that runs
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// 64 MiB, far more than the sockets' buffers: never read.
	if err := conn.(*net.TCPConn).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("GET /stream?1024 HTTP/1.1\r\nHost: test\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stream's call to start", func() bool { return s.GW.Stats().Busy > 0 })
	ended := s.GW.Stats().Calls
	// Another path's request gets a Python thread while the stream's
	// call is blocked: the controller has looked at the stream's call.
	if code, body := get(t, s.URL+"/peak"); code != 200 {
		t.Fatalf("/peak beside a blocked stream: %d %s", code, body)
	}
	if st := s.GW.Stats(); st.Calls != ended+1 {
		t.Fatalf("the stream's call ended before its client read: %+v", st)
	}
	if s.GW.Waits(&wsgi.Request{Method: "GET", RequestURI: "/stream?1"}) {
		t.Errorf("the path of a call blocked on its client is predicted to wait (decisions %v)", s.GW.Stats().Decisions)
	}
	if n := s.GW.Stats().Decisions["pool"]; n != 0 {
		t.Errorf("%d paths moved to the pool, want none", n)
	}
}

// TestLongCallsAreNotReadEachTick: the controller reads what a thread is
// blocked in from /proc (a few µs) only for the calls it decides
// something for, not for every long call at every tick. (Read for each of
// 500 server-sent-event streams, 50k reads a second took the core from
// the requests beside them: hello went from 70k to 3k req/s.)
func TestLongCallsAreNotReadEachTick(t *testing.T) {
	s := start(t, "adapt_app:app", withThreads(0))
	const n = 64
	key := strconv.FormatInt(time.Now().UnixNano(), 36) // one gathering per run
	gather := fmt.Sprintf("/gather?%d&%s", n+1, key)
	done := make(chan struct{})
	go func() {
		defer close(done)
		getAll(t, s.URL, n, func(int) string { return gather })
	}()
	waitFor(t, "the long calls to be in the app", func() bool {
		_, in := get(t, s.URL+"/gathered?"+key)
		return in == strconv.Itoa(n)
	})
	// Past their first look (20 ms), at which each is read once.
	first := s.GW.Stats().Ticks + 5
	waitFor(t, "their first look", func() bool { return s.GW.Stats().Ticks >= first })
	st0 := s.GW.Stats()
	waitFor(t, "30 ticks", func() bool { return s.GW.Stats().Ticks >= st0.Ticks+30 })
	st := s.GW.Stats()
	reads, ticks := st.StateReads-st0.StateReads, st.Ticks-st0.Ticks+1
	if reads >= uint64(ticks)*n/4 {
		t.Errorf("%d threads' states read in %d ticks with %d long calls in the app", reads, ticks, n)
	}
	if code, body := get(t, s.URL+gather); code != 200 {
		t.Fatalf("the last of the long calls: %d %s", code, body)
	}
	<-done
}
