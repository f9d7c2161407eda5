package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pogoserver/pogo/internal/metrics"
)

// TestConcurrency: 200 clients against a 10 ms app on 16 threads all
// succeed, at most 16 run the app at once, the OS threads that ran it stay
// few (Go reuses its threads), and each thread's threading.local keeps
// counting across requests.
func TestConcurrency(t *testing.T) {
	s := start(t, "threads_app:app", withThreads(16))
	const clients, perClient = 200, 5
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	var mu sync.Mutex
	counts := map[string][]int{} // thread ident -> local counts seen
	peak := 0                    // most requests in the app at once
	var wg sync.WaitGroup
	errs := make(chan error, clients*perClient)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perClient {
				resp, err := client.Get(s.URL + "/")
				if err != nil {
					errs <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("status %d: %s", resp.StatusCode, b)
					continue
				}
				var ident string
				var n, p int
				fmt.Sscanf(string(b), "%s %d %d", &ident, &n, &p)
				mu.Lock()
				counts[ident] = append(counts[ident], n)
				peak = max(peak, p)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if peak > 16 || peak < 8 {
		t.Errorf("%d requests ran the app at once, want 16 at most (and many)", peak)
	}
	if len(counts) > 32 {
		t.Errorf("%d OS threads ran the app, want a set bounded near 16", len(counts))
	}
	total := 0
	for ident, ns := range counts {
		total += len(ns)
		// threading.local survived: the counts on one thread are 1..k.
		seen := map[int]bool{}
		for _, n := range ns {
			seen[n] = true
		}
		for i := 1; i <= len(ns); i++ {
			if !seen[i] {
				t.Errorf("thread %s: counts %v are not 1..%d: threading.local was reset", ident, ns, len(ns))
				break
			}
		}
	}
	if total != clients*perClient {
		t.Errorf("%d successful requests, want %d", total, clients*perClient)
	}
}

// TestQueueFull: with one thread and a queue of one, extra requests get
// 503 with Retry-After at once instead of waiting without bound.
func TestQueueFull(t *testing.T) {
	s := start(t, "threads_app:app", withThreads(1), func(st *setup) { st.gw.QueueSize = 1 })
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(s.URL + "/?0.5")
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[200] < 1 || statuses[503] < 1 || statuses[200]+statuses[503] != 6 {
		t.Errorf("statuses %v: want some 200 and some 503", statuses)
	}
}

// TestSlowUploadHoldsNoThread: a client that sends its small body slowly
// does not take the only Python thread; another client is served meanwhile.
func TestSlowUploadHoldsNoThread(t *testing.T) {
	rec := new(metrics.Recorder)
	s := start(t, "input_app:app", withThreads(1), func(st *setup) { st.srv.Metrics = rec })
	slow := dial(t, s.Addr)
	slow.send("POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
	waitFor(t, "the slow upload to reach the server", func() bool { return rec.Snapshot().InFlight == 1 })
	// (If it held the thread, this would wait until the test times out.)
	if code, _ := get(t, s.URL+"/none"); code != 200 {
		t.Errorf("status %d", code)
	}
	slow.send("defghij")
	resp, body := slow.response("POST")
	if resp.StatusCode != 200 || !strings.Contains(body, `"len": 10`) {
		t.Errorf("slow upload: %d %s", resp.StatusCode, body)
	}
}

// TestExpectContinue: "100 Continue" is sent only when the app reads the body.
func TestExpectContinue(t *testing.T) {
	s := start(t, "input_app:app")

	c := dial(t, s.Addr)
	c.send("POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	line, err := c.br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("want 100 Continue, got %q %v", line, err)
	}
	c.br.ReadString('\n') // blank line after the interim response
	c.send("hello")
	resp, body := c.response("POST")
	if resp.StatusCode != 200 || !strings.Contains(body, `"len": 5`) {
		t.Errorf("got %d %s", resp.StatusCode, body)
	}

	// An app that does not read the body answers without 100 Continue.
	c = dial(t, s.Addr)
	c.send("POST /none HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	resp, _ = c.response("POST")
	if resp.StatusCode != 200 {
		t.Errorf("status %d, want the final 200 without 100 Continue", resp.StatusCode)
	}
}

// TestLimits: gunicorn's request limits and the body limit answer with the
// right status.
func TestLimits(t *testing.T) {
	s := start(t, "input_app:app", func(st *setup) {
		st.srv.LimitRequestLine = 100
		st.srv.LimitRequestFields = 5
		st.srv.LimitRequestFieldSize = 50
		st.srv.LimitRequestBody = 10
	})
	tests := []struct {
		name, req string
		status    int
	}{
		{"ok", "GET /none HTTP/1.1\r\nHost: x\r\n\r\n", 200},
		{"long line", "GET /" + strings.Repeat("a", 100) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
		{"many fields", "GET /none HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: 1\r\n", 6) + "\r\n", 431},
		{"long field", "GET /none HTTP/1.1\r\nHost: x\r\nX-Long: " + strings.Repeat("b", 60) + "\r\n\r\n", 431},
		{"huge header block", "GET /none HTTP/1.1\r\nHost: x\r\nX-Huge: " + strings.Repeat("c", 64<<10) + "\r\n\r\n", 431},
		{"large body", "POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world", 413},
		{"large chunked body", "POST /read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked("hello world", 3), 413},
		{"malformed request line", "GARBAGE\r\n\r\n", 400},
		{"bad chunk size", "POST /read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, s.Addr)
			c.send(tt.req)
			resp, body := c.response("GET")
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d (%s)", resp.StatusCode, tt.status, body)
			}
		})
	}
}

// TestPipelining: requests written back to back are answered in order.
func TestPipelining(t *testing.T) {
	s := start(t, "response_app:app")
	c := dial(t, s.Addr)
	c.send("GET /list HTTP/1.1\r\nHost: x\r\n\r\n" +
		"GET /gen HTTP/1.1\r\nHost: x\r\n\r\n" +
		"HEAD /list HTTP/1.1\r\nHost: x\r\n\r\n" +
		"GET /tuple HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, want := range []struct {
		method, body string
	}{{"GET", "hello world"}, {"GET", "part0;part1;part2;"}, {"HEAD", ""}, {"GET", "made"}} {
		_, body := c.response(want.method)
		if body != want.body {
			t.Errorf("got %q, want %q", body, want.body)
		}
	}
}

// TestKeepAlive: HTTP/1.1 stays open by default, HTTP/1.0 only when asked.
func TestKeepAlive(t *testing.T) {
	s := start(t, "response_app:app")
	for _, tc := range []struct {
		req    string
		closes bool
	}{
		{"GET /list HTTP/1.1\r\nHost: x\r\n\r\n", false},
		{"GET /list HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", true},
		{"GET /list HTTP/1.0\r\n\r\n", true},
		{"GET /list HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false},
	} {
		c := dial(t, s.Addr)
		c.send(tc.req)
		c.response("GET")
		if got := c.closed(200 * time.Millisecond); got != tc.closes {
			t.Errorf("%q: closed = %v, want %v", tc.req, got, tc.closes)
		}
	}
}

// TestCloseCalled: the response's close() is called after success, after
// an error in iteration, for HEAD, and when the client goes away.
func TestCloseCalled(t *testing.T) {
	s := start(t, "close_app:app")
	stats := func() map[string]int {
		_, body := get(t, s.URL+"/stats")
		m := map[string]int{}
		json.Unmarshal([]byte(body), &m)
		return m
	}
	// The app's module lives as long as the interpreter: count from
	// what earlier runs of the test left.
	before := stats()
	get(t, s.URL+"/ok?ok")
	get(t, s.URL+"/fail_first?fail_first")
	c := dial(t, s.Addr)
	c.send("GET /fail?fail HTTP/1.1\r\nHost: x\r\n\r\n")
	c.rest()
	c = dial(t, s.Addr)
	c.send("HEAD /ok?head HTTP/1.1\r\nHost: x\r\n\r\n")
	c.response("HEAD")
	c = dial(t, s.Addr)
	c.send("GET /slow?gone HTTP/1.1\r\nHost: x\r\n\r\n")
	c.br.ReadString('\n')
	c.c.Close() // the client goes away mid-response

	var m map[string]int
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("close() calls by response: %v, before the test %v", m, before)
		}
	})
	waitFor(t, "close() on every response", func() bool {
		m = stats()
		for _, name := range []string{"ok", "fail_first", "fail", "head", "gone"} {
			if m[name] != before[name]+1 {
				return false
			}
		}
		return true
	})
}

// TestCloseFailsAfterWholeBody: an iterable whose one chunk is all of its
// Content-Length is answered as a buffered response; close() failing
// after it leaves the response whole and the connection in use, with the
// traceback in the log, on both paths.
func TestCloseFailsAfterWholeBody(t *testing.T) {
	onBothPaths(t, "close_app:app", 2, func(t *testing.T, s *testServer, direct bool) {
		c := dial(t, s.Addr)
		// On one connection, at least twice, and in the adaptive model
		// until a call has run directly (onBothPaths).
		sent := 0
		for sent < 2 || direct && s.GW.Stats().DirectCalls == 0 && sent < 200 {
			c.send("GET /whole_close_fails?whole HTTP/1.1\r\nHost: x\r\n\r\n")
			sent++
			resp, body := c.response("GET")
			if resp.StatusCode != 200 || body != "chunk 0\n" {
				t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, body, "chunk 0\n")
			}
		}
		logs := s.Logs()
		if n := strings.Count(logs, "RuntimeError: close() failed after the whole body"); n != sent {
			t.Errorf("the close() error is logged %d times, want %d; log:\n%s", n, sent, logs)
		}
	})
}
