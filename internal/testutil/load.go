package testutil

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Load is a load generator for tests of the process model: Conns
// keep-alive HTTP/1.1 connections, each sending GET Path as soon as the
// last response is in, as wrk does. Unlike net/http's client it never
// retries, so every request that does not get a complete 2xx response is
// counted as a failure, and it records which worker (the X-Pid response
// header) served each request.
type Load struct {
	stop chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	changed  *sync.Cond // on mu: a response or a failure was counted
	ok       int
	byPID    map[string]int
	bodies   map[string]int
	failures []Failure
}

// Failure is one request that did not get a 2xx response.
type Failure struct {
	Start, End time.Time
	// PID is the worker that last answered on this connection; "" if the
	// request was the connection's first.
	PID string
	// Dial is set when the connection could not be opened: no request
	// was sent.
	Dial   bool
	Status int // when a response came
	Err    error
}

func (f Failure) String() string {
	what := fmt.Sprintf("status %d", f.Status)
	if f.Err != nil {
		what = f.Err.Error()
	}
	return fmt.Sprintf("%s (worker %q, dial %v, at %s)", what, f.PID, f.Dial, f.Start.Format("15:04:05.000"))
}

// StartLoad starts conns connections to addr (HOST:PORT) requesting path.
func StartLoad(addr, path string, conns int) *Load {
	l := &Load{stop: make(chan struct{}), byPID: map[string]int{}, bodies: map[string]int{}}
	l.changed = sync.NewCond(&l.mu)
	for range conns {
		l.wg.Add(1)
		go l.run(addr, path)
	}
	return l
}

func (l *Load) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

func (l *Load) run(addr, path string) {
	defer l.wg.Done()
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"
	var c net.Conn
	var br *bufio.Reader
	pid := ""
	for !l.stopped() {
		start := time.Now()
		if c == nil {
			var err error
			if c, err = net.DialTimeout("tcp", addr, 5*time.Second); err != nil {
				l.fail(Failure{Start: start, End: time.Now(), Dial: true, Err: err})
				c = nil
				time.Sleep(10 * time.Millisecond)
				continue
			}
			br = bufio.NewReader(c)
			pid = ""
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		resp, body, err := roundTrip(c, br, req)
		if err != nil || resp.StatusCode/100 != 2 {
			f := Failure{Start: start, End: time.Now(), PID: pid, Err: err}
			if resp != nil {
				f.Status = resp.StatusCode
			}
			l.fail(f)
			c.Close()
			c = nil
			continue
		}
		pid = resp.Header.Get("X-Pid")
		l.mu.Lock()
		l.ok++
		l.byPID[pid]++
		l.bodies[body]++
		l.changed.Broadcast()
		l.mu.Unlock()
		if resp.Close {
			c.Close()
			c = nil
		}
	}
	if c != nil {
		c.Close()
	}
}

func roundTrip(c net.Conn, br *bufio.Reader, req string) (*http.Response, string, error) {
	if _, err := io.WriteString(c, req); err != nil {
		return nil, "", err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return resp, "", err
	}
	return resp, strings.TrimSpace(string(b)), nil
}

func (l *Load) fail(f Failure) {
	l.mu.Lock()
	l.failures = append(l.failures, f)
	l.changed.Broadcast()
	l.mu.Unlock()
}

// Await blocks until cond holds for what the Load has seen so far, checked
// after each response and failure: tests let load run for so many
// answers, never for so long. cond runs with the Load locked and must not
// keep r's maps. After limit (a bound for a hang, not a timing claim) t
// fails with what.
func (l *Load) Await(t testing.TB, limit time.Duration, what string, cond func(r *LoadResult) bool) {
	t.Helper()
	expired := false
	timer := time.AfterFunc(limit, func() {
		l.mu.Lock()
		expired = true
		l.changed.Broadcast()
		l.mu.Unlock()
	})
	defer timer.Stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		r := LoadResult{OK: l.ok, ByPID: l.byPID, Bodies: l.bodies, Failures: l.failures}
		if cond(&r) {
			return
		}
		if expired {
			t.Fatalf("load: no %s after %v (%d ok, %d failed)", what, limit, l.ok, len(l.failures))
		}
		l.changed.Wait()
	}
}

// LoadResult is what a Load saw.
type LoadResult struct {
	OK       int            // 2xx responses
	ByPID    map[string]int // 2xx responses by X-Pid
	Bodies   map[string]int // 2xx responses by body, trimmed
	Failures []Failure
}

// Snapshot returns what the Load has seen so far.
func (l *Load) Snapshot() LoadResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := LoadResult{OK: l.ok, ByPID: map[string]int{}, Bodies: map[string]int{}, Failures: append([]Failure(nil), l.failures...)}
	for k, v := range l.byPID {
		r.ByPID[k] = v
	}
	for k, v := range l.bodies {
		r.Bodies[k] = v
	}
	return r
}

// Stop stops the connections, once their current requests are done, and
// returns the result.
func (l *Load) Stop() LoadResult {
	close(l.stop)
	l.wg.Wait()
	return l.Snapshot()
}

// Dial connects to addr for the test: closed at its end, and with a
// deadline so that a server that never answers fails the test instead of
// hanging it.
func Dial(t testing.TB, addr string, deadline time.Duration) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(deadline))
	return c
}
