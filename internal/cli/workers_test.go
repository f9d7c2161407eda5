package cli_test

// The process model under load: each test runs pogo with --workers as a
// real master with real worker processes, drives it with testutil.Load
// (keep-alive connections that never retry, so every failed request is
// counted), and acts on it the way an operator does, with signals.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pogoserver/pogo/internal/testutil"
)

// workerPIDs returns the pids of the workers that have logged "Worker N
// ready", by N.
func workerPIDs(logs string) map[int]int {
	pids := map[int]int{}
	for _, m := range readyLine.FindAllStringSubmatch(logs, -1) {
		pid, _ := strconv.Atoi(m[1])
		n, _ := strconv.Atoi(m[2])
		pids[n] = pid
	}
	return pids
}

var readyLine = regexp.MustCompile(`\[(\d+)\] \[INFO\] Worker (\d+) ready`)

// waitLog waits until the log has n lines containing substr.
func (s *server) waitLog(t *testing.T, substr string, n int) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for strings.Count(s.stderr.String(), substr) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the log does not have %d lines with %q after %v", n, substr, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

func (s *server) hostPort(t *testing.T) string {
	return strings.TrimPrefix(s.url(t), "http://")
}

// startWorkers starts pogo with args and waits for n workers to be ready.
func startWorkers(t *testing.T, n int, cmd *exec.Cmd) *server {
	t.Helper()
	s := start(t, cmd)
	s.waitLog(t, "] Worker ", n)
	return s
}

func noFailures(t *testing.T, r testutil.LoadResult) {
	t.Helper()
	for i, f := range r.Failures {
		if i == 10 {
			t.Errorf("... %d failures in all", len(r.Failures))
			break
		}
		t.Errorf("failed request: %s", f)
	}
	if r.OK == 0 {
		t.Error("no request succeeded")
	}
}

func TestWorkersShareTheLoad(t *testing.T) {
	t.Parallel()
	s := startWorkers(t, 2, pogo("-b", "127.0.0.1:0", "-w", "2", "--threads", "2", "pid_app:app"))
	// Each worker has its own socket in one SO_REUSEPORT group, and the
	// kernel hashes every connection to one of them; a keep-alive client's
	// requests follow its connection. With 64 connections each worker gets
	// some (all on one: once in 2^63 runs), so each serves a share of the
	// load; how even the shares are depends on how the CPUs are shared, and
	// is the bench's business, not this test's.
	load := testutil.StartLoad(s.hostPort(t), "/", 64)
	pids := workerPIDs(s.stderr.String())
	load.Await(t, timeout, "100 answers from each worker", func(r *testutil.LoadResult) bool {
		for _, pid := range pids {
			if r.ByPID[strconv.Itoa(pid)] < 100 {
				return false
			}
		}
		return true
	})
	r := load.Stop()
	noFailures(t, r)
	// The master's log gives each worker's count when it stops.
	s.stop(t)
	total := 0
	for _, m := range regexp.MustCompile(`worker \d+ \(pid \d+\) stopped requests=(\d+)`).FindAllStringSubmatch(s.stderr.String(), -1) {
		n, _ := strconv.Atoi(m[1])
		total += n
	}
	if total < r.OK {
		t.Errorf("the master logged %d requests for its workers; the client got %d answers", total, r.OK)
	}
}

func TestWorkerKilledUnderLoad(t *testing.T) {
	t.Parallel()
	s := startWorkers(t, 2, pogo("-b", "127.0.0.1:0", "-w", "2", "--threads", "2", "pid_app:app"))
	load := testutil.StartLoad(s.hostPort(t), "/", 16)
	pids := workerPIDs(s.stderr.String())
	victim := pids[1]
	load.Await(t, timeout, "answers from the victim", func(r *testutil.LoadResult) bool { return r.ByPID[strconv.Itoa(victim)] >= 20 })
	killed := time.Now()
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// A replacement serves: the kernel spreads new connections over the
	// workers' slots, so one of the first few reaches it. (How soon is
	// the bench's business.)
	fresh := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	var replacement int
	for replacement == 0 {
		if time.Since(killed) > timeout {
			t.Fatal("no replacement worker answered")
		}
		_, body := get(t, fresh, s.url(t)+"/")
		var pid int
		fmt.Sscanf(body, "v1 %d", &pid)
		if pid != victim && pid != pids[2] {
			replacement = pid
		}
	}
	replaced := time.Since(killed)
	// The load goes on. (Whether its reconnected connections reach the
	// replacement is up to the kernel's hash of them over the slots.)
	base := -1
	load.Await(t, timeout, "answers after the replacement", func(r *testutil.LoadResult) bool {
		if base < 0 {
			base = r.OK
		}
		return r.OK >= base+100
	})
	r := load.Stop()
	// Only requests on the killed worker's connections may fail, each
	// connection's last: it has at most one in flight and then is gone.
	// New connections wait in the slot's socket for the replacement.
	if len(r.Failures) > 16 {
		t.Errorf("%d requests failed, more than the 16 connections could have had in flight", len(r.Failures))
	}
	for _, f := range r.Failures {
		if f.Dial || (f.PID != "" && f.PID != strconv.Itoa(victim)) {
			t.Errorf("failed request not on the killed worker: %s", f)
		}
	}
	logs := s.stderr.String()
	if want := fmt.Sprintf("worker 1 (pid %d) died exit=\"killed by signal killed\"", victim); !strings.Contains(logs, want) {
		t.Errorf("the log does not say %q:\n%s", want, logs)
	}
	t.Logf("kill -9 under load: %d ok, %d failed, replacement answering after %v", r.OK, len(r.Failures), replaced)
}

func TestWorkersReloadOnHUP(t *testing.T) {
	t.Parallel()
	dir, appFile := copyApp(t, "pid_app.py", "hup_app.py")
	cmd := pogo("-b", "127.0.0.1:0", "-w", "2", "--threads", "2", "--chdir", dir, "hup_app:app")
	cmd.Env = append(cmd.Env, "PYTHONDONTWRITEBYTECODE=1")
	s := startWorkers(t, 2, cmd)

	load := testutil.StartLoad(s.hostPort(t), "/", 8)
	load.Await(t, timeout, "200 answers", func(r *testutil.LoadResult) bool { return r.OK >= 200 })
	setVersion(t, appFile, "v2")
	s.signal(t, syscall.SIGHUP)
	s.waitLog(t, ") stopped", 2) // both old workers
	reloaded := load.Snapshot().Bodies
	load.Await(t, timeout, "500 answers from the new code", func(r *testutil.LoadResult) bool {
		v2 := 0
		for body, n := range r.Bodies {
			if strings.HasPrefix(body, "v2 ") {
				v2 += n
			}
		}
		return v2 >= 500
	})
	r := load.Stop()
	noFailures(t, r)

	// After the reload only the new code answers.
	for body, n := range r.Bodies {
		if strings.HasPrefix(body, "v1 ") && n != reloaded[body] {
			t.Errorf("old code answered %d times after the reload (%q)", n-reloaded[body], body)
		}
	}
	v2 := 0
	for body, n := range r.Bodies {
		if strings.HasPrefix(body, "v2 ") {
			v2 += n
		}
	}
	if v2 == 0 {
		t.Errorf("the new code never answered: %v", r.Bodies)
	}
	t.Logf("SIGHUP under load: %d ok, %d failed; answers by body: %v", r.OK, len(r.Failures), r.Bodies)
}

func TestMaxRequestsRecyclesWorkers(t *testing.T) {
	t.Parallel()
	s := startWorkers(t, 2, pogo("-b", "127.0.0.1:0", "-w", "2", "--threads", "2",
		"--max-requests", "300", "--max-requests-jitter", "100", "pid_app:app"))
	load := testutil.StartLoad(s.hostPort(t), "/", 8)
	s.waitLog(t, "asks to be replaced", 4)
	s.waitLog(t, ") stopped", 4)
	r := load.Stop()
	noFailures(t, r)
	if len(r.ByPID) < 4 {
		t.Errorf("%d workers answered, want the 2 first and their replacements: %v", len(r.ByPID), r.ByPID)
	}
	t.Logf("--max-requests under load: %d ok, %d failed, by worker: %v", r.OK, len(r.Failures), r.ByPID)
}

// TestTERMUnderLoad: SIGTERM with load running, alone and with workers.
// The listening sockets stop taking connections but keep those the
// kernel has queued, which are then served: every connection that was
// opened gets its answers, and only new ones are refused.
func TestTERMUnderLoad(t *testing.T) {
	t.Parallel()
	for _, workers := range []int{0, 2} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			t.Parallel()
			args := []string{"-b", "127.0.0.1:0", "--threads", "4", "pid_app:app"}
			if workers > 0 {
				args = append([]string{"-w", strconv.Itoa(workers)}, args...)
			}
			s := startWorkers(t, workers, pogo(args...))
			url := s.url(t)
			load := testutil.StartLoad(s.hostPort(t), "/", 8)
			slow := make(chan string, 1)
			go func() {
				code, body := get(t, client, url+"/?sleep=1")
				slow <- fmt.Sprint(code, " ", body)
			}()
			s.waitLog(t, "pid_app: in the app, sleeping 1 s", 1)
			s.terminate(t)
			if code := s.wait(t); code != 0 {
				t.Errorf("exit code %d after SIGTERM, want 0", code)
			}
			r := load.Stop()
			for _, f := range r.Failures {
				if !f.Dial {
					t.Errorf("request sent but not answered: %s", f)
				}
			}
			if got := <-slow; !strings.HasPrefix(got, "200 v1 ") {
				t.Errorf("in-flight request: %q, want 200", got)
			}
			t.Logf("SIGTERM under load: %d ok, %d refused", r.OK, len(r.Failures))
		})
	}
}

func TestWorkerSignals(t *testing.T) {
	t.Parallel()
	access := filepath.Join(t.TempDir(), "access.log")
	s := startWorkers(t, 1, pogo("-b", "127.0.0.1:0", "-w", "1", "--access-logfile", access, "pid_app:app"))
	url := s.url(t)

	s.signal(t, syscall.SIGTTIN)
	s.waitLog(t, "] Worker ", 2)
	s.signal(t, syscall.SIGTTOU)
	s.waitLog(t, "worker 2 (pid", 1)
	s.waitLog(t, ") stopped", 1)

	// USR1 reopens the access log, after logrotate moved it.
	get(t, client, url+"/before")
	waitFile(t, access, "/before")
	if err := os.Rename(access, access+".1"); err != nil {
		t.Fatal(err)
	}
	s.signal(t, syscall.SIGUSR1)
	s.waitLog(t, "Reopening log files", 1)
	s.waitLog(t, "Reopened the log files", 1) // the worker got its USR1
	get(t, client, url+"/after")
	waitFile(t, access, "/after")

	// The last worker is kept.
	s.signal(t, syscall.SIGTTOU)
	s.waitLog(t, "Not removing the last worker", 1)
	if code, _ := get(t, client, url+"/still"); code != 200 {
		t.Errorf("after TTOU of the last worker: %d", code)
	}
}

// waitFile waits until the file at path contains substr.
func waitFile(t *testing.T, path, substr string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), substr) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not contain %q: %q", path, substr, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWorkersAppLoadError(t *testing.T) {
	t.Parallel()
	r := run(t, pogo("-b", "127.0.0.1:0", "-w", "3", "no_such_module:app"))
	if r.code != 4 {
		t.Errorf("exit code %d, want 4", r.code)
	}
	if n := strings.Count(r.stderr, "pogo: error: cannot load app"); n != 1 {
		t.Errorf("%d error lines, want 1 (the first worker's):\n%s", n, r.stderr)
	}
}

func TestTimeoutAnswers504AndReplacesTheWorker(t *testing.T) {
	t.Parallel()
	s := startWorkers(t, 2, pogo("-b", "127.0.0.1:0", "-w", "2", "--threads", "4", "--timeout", "2", "pid_app:app"))
	url := s.url(t)
	load := testutil.StartLoad(s.hostPort(t), "/", 8)

	began := time.Now()
	resp, err := client.Get(url + "/?sleep=60")
	if err != nil {
		t.Fatalf("stuck request: %v, want a 504", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(began)
	if resp.StatusCode != 504 || string(body) != "504 Gateway Timeout\n" || !resp.Close {
		t.Errorf("stuck request: %d %q (close %v), want 504 \"504 Gateway Timeout\" and Connection: close", resp.StatusCode, body, resp.Close)
	}
	if took < 2*time.Second {
		t.Errorf("the 504 came after %v, before --timeout 2", took)
	}

	// The stuck thread's stack is logged, and its worker replaced while
	// the other clients go on being served.
	s.waitLog(t, "Request timed out after 2s (--timeout): GET /?sleep=60; answered 504", 1)
	s.waitLog(t, "asks to be replaced", 1)
	s.waitLog(t, ") stopped", 1)
	s.waitLog(t, "] Worker ", 3)
	r := load.Stop()
	noFailures(t, r)
	logs := s.stderr.String()
	for _, want := range []string{"Stack of the thread running it", "pid_app.py", "time.sleep(secs)"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log does not contain %q", want)
		}
	}
	t.Logf("--timeout 2: 504 after %v; load: %d ok, %d failed", took.Round(time.Millisecond), r.OK, len(r.Failures))
}

func TestReload(t *testing.T) {
	t.Parallel()
	dir, appFile := copyApp(t, "pid_app.py", "dev_app.py")
	cmd := pogo("-b", "127.0.0.1:0", "--reload", "--chdir", dir, "dev_app:app")
	cmd.Env = append(cmd.Env, "PYTHONDONTWRITEBYTECODE=1")
	s := startWorkers(t, 1, cmd)
	fresh := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	version := func() string {
		_, body := get(t, fresh, s.url(t)+"/")
		v, _, _ := strings.Cut(body, " ")
		return v
	}
	waitVersion := func(want string) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for version() != want {
			if time.Now().After(deadline) {
				t.Fatalf("the app does not answer %s after an edit", want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if v := version(); v != "v1" {
		t.Fatalf("version %q, want v1", v)
	}
	setVersion(t, appFile, "v2")
	waitVersion("v2")
	s.waitLog(t, "dev_app.py changed", 1)

	// A broken edit: the new worker cannot boot, the running one serves on.
	writeFile(t, appFile, "this is not python\n")
	later(t, appFile)
	s.waitLog(t, "failed to boot; the running workers keep serving", 1)
	if v := version(); v != "v2" {
		t.Errorf("after a broken edit the app answers %q, want the running v2", v)
	}
	// Fixed again: served at the next reload.
	setVersion(t, appFile, "v3")
	waitVersion("v3")
}

func TestPidFileAndUmask(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pidFile, sock := filepath.Join(dir, "pogo.pid"), filepath.Join(dir, "pogo.sock")
	for _, workers := range []string{"0", "2"} {
		args := []string{"-b", "unix:" + sock, "-p", pidFile, "--umask", "0o077", "pid_app:app"}
		if workers != "0" {
			args = append([]string{"-w", workers}, args...)
		}
		s := start(t, pogo(args...))
		b, err := os.ReadFile(pidFile)
		if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(s.cmd.Process.Pid) {
			t.Errorf("-w %s: pid file %q (%v), want %d", workers, b, err, s.cmd.Process.Pid)
		}
		fi, err := os.Stat(sock)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o700 {
			t.Errorf("-w %s: socket mode %v, want 0700 with --umask 0o077", workers, perm)
		}
		s.stop(t)
		if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
			t.Errorf("-w %s: pid file left after exit (%v)", workers, err)
		}
	}
}

// TestInheritedSockets serves on a socket pogo did not open: fd://3, and
// systemd socket activation (LISTEN_PID set to pogo's pid by a shell that
// then execs it, as systemd does after fork).
func TestInheritedSockets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		env  string
	}{
		{"fd bind", []string{"-b", "fd://3"}, ""},
		{"fd bind, workers", []string{"-w", "2", "-b", "fd://3"}, ""},
		{"systemd", nil, "LISTEN_FDS=1"},
		{"systemd, workers", []string{"-w", "2"}, "LISTEN_FDS=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			f, err := l.(*net.TCPListener).File()
			l.Close()
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			args := append(tc.args, "pid_app:app")
			cmd := pogo(args...)
			if tc.env != "" {
				cmd.Args = append([]string{"sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`}, cmd.Args...)
				cmd.Path = "/bin/sh"
				cmd.Env = append(cmd.Env, tc.env)
			}
			cmd.ExtraFiles = []*os.File{f}
			s := start(t, cmd)
			addr := l.Addr().String()
			if got := s.url(t); got != "http://"+addr {
				t.Errorf("banner address %q, want http://%s", got, addr)
			}
			if code, body := get(t, client, "http://"+addr+"/"); code != 200 || !strings.HasPrefix(body, "v1 ") {
				t.Errorf("GET on the inherited socket: %d %q", code, body)
			}
			s.stop(t)
		})
	}
}

// metricsURL is the metrics address from the log.
func (s *server) metricsURL(t *testing.T) string {
	t.Helper()
	s.waitLog(t, "Metrics on ", 1)
	m := regexp.MustCompile(`Metrics on (http://\S+)`).FindStringSubmatch(s.stderr.String())
	return m[1]
}

// scrape fetches /metrics and returns its samples by name.
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	code, body := get(t, client, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(body, "\n") {
		if name, v, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(line, "#") {
			f, _ := strconv.ParseFloat(v, 64)
			out[name] = f
		}
	}
	return out
}

// waitMetric waits until sample name reaches at least want.
func waitMetric(t *testing.T, base, name string, want float64) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m := scrape(t, base)
		if m[name] >= want {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want >= %v", name, m[name], want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	for _, workers := range []int{0, 2} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			args := []string{"-b", "127.0.0.1:0", "--threads", "3", "--metrics-bind", "127.0.0.1:0", "pid_app:app"}
			if workers > 0 {
				args = append([]string{"-w", strconv.Itoa(workers)}, args...)
			}
			s := startWorkers(t, max(workers, 0), pogo(args...))
			base := s.metricsURL(t)
			if code, body := get(t, client, base+"/healthz"); code != 200 || body != "ok\n" {
				t.Errorf("/healthz: %d %q", code, body)
			}
			// Ready once a worker serves (at once without workers).
			deadline := time.Now().Add(timeout)
			for code, _ := get(t, client, base+"/readyz"); code != 200; code, _ = get(t, client, base+"/readyz") {
				if time.Now().After(deadline) {
					t.Fatalf("/readyz: %d, want 200 once serving", code)
				}
				time.Sleep(20 * time.Millisecond)
			}
			url := s.url(t)
			fresh := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
			for range 40 {
				get(t, fresh, url+"/")
			}
			m := waitMetric(t, base, `pogo_requests_total{class="2xx"}`, 40)
			if m[`pogo_request_duration_seconds_count`] < 40 || m[`pogo_request_duration_seconds_bucket{le="+Inf"}`] < 40 {
				t.Errorf("histogram count %v, want >= 40", m[`pogo_request_duration_seconds_count`])
			}
			if want := float64(3 * max(workers, 1)); m["pogo_python_threads"] != want || m["pogo_python_threads_limit"] != want {
				t.Errorf("pogo_python_threads = %v, limit %v, want %v", m["pogo_python_threads"], m["pogo_python_threads_limit"], want)
			}
			// --threads 3: every request runs on the pool, and its wait
			// for a thread is in the histogram.
			if m[`pogo_python_calls_total{path="pool"}`] < 40 || m[`pogo_queue_wait_seconds_count`] < 40 {
				t.Errorf("pool calls %v, queue waits counted %v; want >= 40", m[`pogo_python_calls_total{path="pool"}`], m[`pogo_queue_wait_seconds_count`])
			}
			if workers == 0 {
				if _, ok := m["pogo_workers"]; ok {
					t.Error("pogo_workers without a master")
				}
				return
			}
			if m["pogo_workers"] != 2 || m["pogo_worker_starts_total"] != 2 {
				t.Errorf("pogo_workers %v, starts %v; want 2, 2", m["pogo_workers"], m["pogo_worker_starts_total"])
			}
			// 40 new connections: the kernel gives each worker some.
			waitMetric(t, base, `pogo_worker_requests_total{worker="1"}`, 1)
			m = waitMetric(t, base, `pogo_worker_requests_total{worker="2"}`, 1)
			if sum := m[`pogo_worker_requests_total{worker="1"}`] + m[`pogo_worker_requests_total{worker="2"}`]; sum < 40 {
				t.Errorf("per-worker requests add up to %v, want >= 40", sum)
			}
			// A worker killed: the figures say so, and the counters of
			// the dead worker are kept.
			before := m[`pogo_requests_total{class="2xx"}`]
			syscall.Kill(workerPIDs(s.stderr.String())[1], syscall.SIGKILL)
			m = waitMetric(t, base, "pogo_worker_restarts_total", 1)
			if m["pogo_worker_deaths_total"] != 1 {
				t.Errorf("pogo_worker_deaths_total = %v, want 1", m["pogo_worker_deaths_total"])
			}
			if got := m[`pogo_requests_total{class="2xx"}`]; got < before {
				t.Errorf("2xx went down from %v to %v after a worker died", before, got)
			}
		})
	}
}

// TestCPUAffinity: with --cpu-affinity each worker slot is bound to one of
// the CPUs pogo may use, round robin, every thread of the worker (the Go
// runtime's first ones too), and a replacement keeps its slot's CPU.
func TestCPUAffinity(t *testing.T) {
	t.Parallel()
	cpus := ownCPUs(t)
	s := startWorkers(t, 3, pogo("-b", "127.0.0.1:0", "-w", "3", "--cpu-affinity", "pid_app:app"))
	check := func(n, pid int, want string) { t.Helper(); checkWorkerCPUs(t, n, pid, want) }
	pids := workerPIDs(s.stderr.String())
	for n := 1; n <= 3; n++ {
		check(n, pids[n], cpus[(n-1)%len(cpus)])
	}
	// Worker 2 dies; its replacement, worker 4, takes slot 2's CPU.
	if err := syscall.Kill(pids[2], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.waitLog(t, "] Worker ", 4)
	check(4, workerPIDs(s.stderr.String())[4], cpus[1%len(cpus)])
	// The master itself is not bound.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if got := allowedCPUs(t, string(b)); strings.Join(got, ",") != strings.Join(cpus, ",") {
		t.Errorf("the master may run on CPUs %v, want all of %v", got, cpus)
	}
}

// checkWorkerCPUs checks that every thread of worker n (pid) may run on
// the CPUs want ("0,1") and no others.
func checkWorkerCPUs(t *testing.T, n, pid int, want string) {
	t.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) < 2 {
		t.Fatalf("worker %d (pid %d): %d threads, %v", n, pid, len(tasks), err)
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, task.Name()))
		if err != nil {
			continue // the thread has exited
		}
		if got := strings.Join(allowedCPUs(t, string(b)), ","); got != want {
			t.Errorf("worker %d (pid %d) thread %s may run on CPUs %s, want %s", n, pid, task.Name(), got, want)
		}
	}
}

// TestCPUAffinityByDefault: with as many workers as the CPUs pogo may run
// on, each is bound to one of them unless --no-cpu-affinity; with more or
// fewer workers none is. (pogo is started under taskset with two CPUs.)
func TestCPUAffinityByDefault(t *testing.T) {
	t.Parallel()
	cpus := ownCPUs(t)
	if len(cpus) < 2 {
		t.Skip("one CPU: two workers cannot have one each")
	}
	taskset := needProgram(t, "taskset")
	two := cpus[0] + "," + cpus[1]
	for _, tc := range []struct {
		name  string
		args  []string
		bound bool
	}{
		{"as many workers as CPUs", []string{"-w", "2"}, true},
		{"as many, --no-cpu-affinity", []string{"-w", "2", "--no-cpu-affinity"}, false},
		{"more workers than CPUs", []string{"-w", "3"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := pogo(append(append([]string{"-b", "127.0.0.1:0"}, tc.args...), "pid_app:app")...)
			cmd.Args = append([]string{taskset, "-c", two}, cmd.Args...)
			cmd.Path = taskset
			n, _ := strconv.Atoi(tc.args[1])
			s := startWorkers(t, n, cmd)
			pids := workerPIDs(s.stderr.String())
			for w := 1; w <= n; w++ {
				want := two
				if tc.bound {
					want = cpus[w-1]
				}
				checkWorkerCPUs(t, w, pids[w], want)
			}
			if logged := strings.Contains(s.stderr.String(), "Workers bound one to each of the 2 CPUs"); logged != tc.bound {
				t.Errorf("the log says the workers are bound: %v, want %v", logged, tc.bound)
			}
		})
	}
}

// ownCPUs returns the CPUs the test may run on (skipping without /proc).
func ownCPUs(t *testing.T) []string {
	t.Helper()
	own, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	return allowedCPUs(t, string(own))
}

// allowedCPUs expands the Cpus_allowed_list of a /proc status file
// ("0-2,4") to the CPU numbers.
func allowedCPUs(t *testing.T, status string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(status, "Cpus_allowed_list:")
	if !ok {
		t.Fatalf("no Cpus_allowed_list in %q", status)
	}
	list, _, _ := strings.Cut(rest, "\n")
	var out []string
	for _, r := range strings.Split(strings.TrimSpace(list), ",") {
		lo, hi, found := strings.Cut(r, "-")
		if !found {
			hi = lo
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil {
			t.Fatalf("Cpus_allowed_list %q", list)
		}
		for c := a; c <= b; c++ {
			out = append(out, strconv.Itoa(c))
		}
	}
	return out
}

// copyApp copies testdata/apps/name into a new directory as as, for a
// test that edits the app: it returns the directory and the copy's path.
func copyApp(t *testing.T, name, as string) (dir, path string) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(appsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	path = filepath.Join(dir, as)
	writeFile(t, path, string(src))
	return dir, path
}

// setVersion writes pid_app.py to path with VERSION v, whatever path
// holds now.
func setVersion(t *testing.T, path, v string) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(appsDir, "pid_app.py"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, regexp.MustCompile(`VERSION = "[^"]*"`).ReplaceAllString(string(src), `VERSION = "`+v+`"`))
	later(t, path)
}

// later moves the file's mtime a few seconds past the newest edit this
// test made, so that every edit shows as one whatever the file system's
// time granularity, without waiting for the clock to move on.
func later(t *testing.T, path string) {
	t.Helper()
	edits.Lock()
	defer edits.Unlock()
	if now := time.Now(); edits.last.Before(now) {
		edits.last = now
	}
	edits.last = edits.last.Add(2 * time.Second)
	if err := os.Chtimes(path, edits.last, edits.last); err != nil {
		t.Fatal(err)
	}
}

var edits struct {
	sync.Mutex
	last time.Time
}

// TestAdaptiveMetrics: with the default thread model, what the adaptive
// pool does shows on --metrics-bind: requests that wait together grow it
// (threads started, pool calls, decisions), a CPU-bound path stays on the
// direct call with one request in Python at a time, and the threads end
// once idle.
func TestAdaptiveMetrics(t *testing.T) {
	t.Parallel()
	s := start(t, pogo("-b", "127.0.0.1:0", "--metrics-bind", "127.0.0.1:0", "--thread-idle-timeout", "0.2", "adapt_app:app"))
	base, url := s.metricsURL(t), s.url(t)
	// One at a time, calls that wait: their path is moved to the pool.
	// (Each is seen waiting when it ends; a few sightings flip a path.)
	for range 4 {
		if code, _ := get(t, client, url+"/sleep?0.03"); code != 200 {
			t.Fatalf("/sleep: %d", code)
		}
	}
	waitMetric(t, base, `pogo_adaptive_decisions_total{kind="pool"}`, 1)

	const n = 20
	key := strconv.FormatInt(time.Now().UnixNano(), 36)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fresh := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
			if code, body := get(t, fresh, fmt.Sprintf("%s/gather?%d&%s", url, n, key)); code != 200 || body != strconv.Itoa(n) {
				t.Errorf("/gather: %d %q, want 200 %q (all %d in the app at once)", code, body, strconv.Itoa(n), n)
			}
		}()
	}
	wg.Wait()
	// The path is learnt while its first calls run: each direct call the
	// controller sees running long gives its slot back and counts once
	// against the path, which flips after a few. Which of the 20 arrive
	// before it flips is up to the scheduler; that all are counted, that
	// most ran on the pool, and that each pool call had its own thread is
	// not.
	m := waitMetric(t, base, `pogo_requests_total{class="2xx"}`, n+4)
	pool, direct := m[`pogo_python_calls_total{path="pool"}`], m[`pogo_python_calls_total{path="direct"}`]
	started := m["pogo_python_threads_started_total"]
	if pool+direct != n+4 || pool < n/2 || started < pool-4 || m[`pogo_adaptive_decisions_total{kind="grow"}`] < 1 {
		t.Errorf("after 4 + %d waiting requests: calls pool %v direct %v, threads started %v, grown %v times",
			n, pool, direct, started, m[`pogo_adaptive_decisions_total{kind="grow"}`])
	}
	if m[`pogo_queue_wait_seconds_count`] < n {
		t.Errorf("queue waits counted %v, want >= %d", m[`pogo_queue_wait_seconds_count`], n)
	}

	// Idle: the pool's threads end, the gauge follows, and the limit
	// the waiting calls grew comes down.
	m = waitMetric(t, base, "pogo_python_threads_ended_total", started)
	if m["pogo_python_threads"] >= started {
		t.Errorf("%v Python threads after %v ended idle", m["pogo_python_threads"], m["pogo_python_threads_ended_total"])
	}
	for deadline := time.Now().Add(timeout); scrape(t, base)["pogo_python_threads_limit"] > 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the limit stays at %v idle", scrape(t, base)["pogo_python_threads_limit"])
		}
	}

	// 32 connections on a path that holds the GIL: the figures, scraped
	// while it runs, never show more requests in Python than the cores.
	done := make(chan struct{})
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 8 {
				if code, _ := get(t, client, url+"/cpu?2"); code != 200 {
					t.Errorf("/cpu: %d", code)
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	most := 0.0
	for scraping := true; scraping; {
		select {
		case <-done:
			scraping = false
		default:
		}
		most = max(most, scrape(t, base)["pogo_python_threads_busy"])
	}
	if bound := float64(2 * runtime.NumCPU()); most > bound {
		t.Errorf("CPU-bound path: up to %v requests in Python at once, want at most %v", most, bound)
	}
}
