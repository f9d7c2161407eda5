package cli_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pogoserver/pogo/internal/testutil"
)

// TestFaultsCostOneRequest: under load from 8 other clients, each way an
// app can fail costs only its own request: MemoryError, RecursionError,
// an iterator that raises after its first chunk, a client gone in the
// middle of a slow generator (whose close() still runs), an endless loop
// (with --timeout), os._exit. The others are all answered, and a worker
// that cannot go on is replaced. A segfault in C ends its worker: the
// log has the Python stack of the faulting thread, only requests on that
// worker are lost, and a new worker serves. Both with the adaptive thread
// model (where a path's first calls run directly on Go's threads) and with
// a fixed pool.
func TestFaultsCostOneRequest(t *testing.T) {
	t.Parallel()
	for _, threads := range []string{"", "4"} {
		t.Run("threads="+threads, func(t *testing.T) {
			t.Parallel()
			args := []string{"-b", "127.0.0.1:0", "-w", "2", "--timeout", "2", "faults_app:app"}
			if threads != "" {
				args = append([]string{"--threads", threads}, args...)
			}
			s := startWorkers(t, 2, pogo(args...))
			url := s.url(t)
			load := testutil.StartLoad(s.hostPort(t), "/", 8)
			// Each fault waits for this many more answers to the others.
			goOn := func(what string) {
				t.Helper()
				want := load.Snapshot().OK + 100
				load.Await(t, timeout, "answers after "+what, func(r *testutil.LoadResult) bool { return r.OK >= want })
			}
			fresh := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}

			for _, fault := range []string{"memory", "recursion"} {
				if code, _ := get(t, fresh, url+"/"+fault); code != 500 {
					t.Errorf("/%s: %d, want 500", fault, code)
				}
				goOn(fault)
			}
			for _, want := range []string{"MemoryError", "RecursionError: maximum recursion depth exceeded"} {
				if !strings.Contains(s.stderr.String(), want) {
					t.Errorf("the log has no %q", want)
				}
			}

			// The iterator raises after the first chunk: the response is
			// cut off (no last chunk), never completed.
			resp, err := fresh.Get(url + "/iter_raise")
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "first chunk\n" || err == nil {
				t.Errorf("/iter_raise: %d %q, %v; want 200, the first chunk, then a read error", resp.StatusCode, body, err)
			}
			s.waitLog(t, "RuntimeError: the iterator failed after its first chunk", 1)
			goOn("iter_raise")

			// The client goes away in the middle of a slow generator.
			key := strconv.FormatInt(time.Now().UnixNano(), 36)
			c, err := net.Dial("tcp", s.hostPort(t))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(c, "GET /slowgen?%s HTTP/1.1\r\nHost: x\r\n\r\n", key)
			br := bufio.NewReader(c)
			for line := ""; !strings.HasPrefix(line, "chunk 1"); {
				if line, err = br.ReadString('\n'); err != nil {
					t.Fatalf("/slowgen: %v", err)
				}
			}
			c.Close()
			s.waitLog(t, "faults_app: closed "+key, 1)
			goOn("slowgen")

			// An endless loop: a 504 after --timeout; os._exit in a
			// request: a 500 for it. Either way its worker is replaced
			// (the n-th replacement) once the others are served.
			replaced := func(path string, status int, why string, n int) {
				t.Helper()
				if code, _ := get(t, fresh, url+path); code != status {
					t.Errorf("%s: %d, want %d", path, code, status)
				}
				s.waitLog(t, why, 1)
				s.waitLog(t, "ready: Python", 2+n)
				s.waitLog(t, ") stopped", n)
				goOn(path)
			}
			replaced("/loop", 504, "asks to be replaced: a request timed out", 1)
			replaced("/exit?3", 500, "the app called os._exit(3) in a request (answered 500)", 2)
			if r := load.Snapshot(); len(r.Failures) > 0 {
				noFailures(t, r)
			}

			// A segfault ends its worker; only its requests are lost.
			failed := len(load.Snapshot().Failures)
			if _, err := fresh.Get(url + "/segv"); err == nil {
				t.Error("/segv answered")
			}
			s.waitLog(t, "killed by signal segmentation fault", 1)
			s.waitLog(t, "ready: Python", 5)
			goOn("segv")
			r := load.Stop()
			logs := s.stderr.String()
			for _, want := range []string{"Fatal Python error: Segmentation fault", `faults_app.py", line`} {
				if !strings.Contains(logs, want) {
					t.Errorf("the log has no %q", want)
				}
			}
			m := regexp.MustCompile(`\(pid (\d+)\) died exit="killed by signal segmentation fault"`).FindStringSubmatch(logs)
			if m == nil {
				t.Fatal("the log does not say which worker died")
			}
			for _, f := range r.Failures[failed:] {
				if f.Dial || (f.PID != "" && f.PID != m[1]) {
					t.Errorf("failed request not on the worker that died: %s", f)
				}
			}
			t.Logf("faults under load: %d ok, %d failed (all on the segfaulting worker)", r.OK, len(r.Failures))
		})
	}
}

// TestFaultsWithoutWorkers: without --workers, os._exit in a request ends
// the process with its code once the other requests are done; a segfault
// ends it at once, with the Python stack in the log.
func TestFaultsWithoutWorkers(t *testing.T) {
	t.Parallel()
	t.Run("os._exit", func(t *testing.T) {
		t.Parallel()
		s := start(t, pogo("-b", "127.0.0.1:0", "faults_app:app"))
		load := testutil.StartLoad(s.hostPort(t), "/", 4)
		load.Await(t, timeout, "100 answers", func(r *testutil.LoadResult) bool { return r.OK >= 100 })
		if code, _ := get(t, client, s.url(t)+"/exit?7"); code != 500 {
			t.Errorf("/exit: %d, want 500", code)
		}
		if code := s.wait(t); code != 7 {
			t.Errorf("exit code %d, want 7", code)
		}
		s.stopOnce.Do(func() {})
		r := load.Stop()
		for _, f := range r.Failures {
			if !f.Dial {
				t.Errorf("request sent but not answered: %s", f)
			}
		}
		for _, want := range []string{"The app called os._exit(7) in a request (answered 500)", "SystemExit: 7", "Shutdown complete"} {
			if !strings.Contains(s.stderr.String(), want) {
				t.Errorf("the log has no %q", want)
			}
		}
	})
	t.Run("segfault", func(t *testing.T) {
		t.Parallel()
		s := start(t, pogo("-b", "127.0.0.1:0", "faults_app:app"))
		if _, err := client.Get(s.url(t) + "/segv"); err == nil {
			t.Error("/segv answered")
		}
		if code := s.wait(t); code != -1 || !s.cmd.ProcessState.Sys().(interface{ Signaled() bool }).Signaled() {
			t.Errorf("exit code %d, want death by SIGSEGV", code)
		}
		s.stopOnce.Do(func() {})
		for _, want := range []string{"Fatal Python error: Segmentation fault", "in string_at", `faults_app.py", line`} {
			if !strings.Contains(s.stderr.String(), want) {
				t.Errorf("the log has no %q", want)
			}
		}
	})
}
