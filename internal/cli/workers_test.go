package cli_test

// The process model under load: each test runs pogo with --workers as a
// real master with real worker processes, drives it with testutil.Load
// (keep-alive connections that never retry, so every failed request is
// counted), and acts on it the way an operator does, with signals.

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
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
	load := testutil.StartLoad(s.hostPort(t), "/", 16)
	time.Sleep(time.Second)
	r := load.Stop()
	noFailures(t, r)
	pids := workerPIDs(s.stderr.String())
	for n, pid := range pids {
		got := r.ByPID[strconv.Itoa(pid)]
		if got < r.OK/4 {
			t.Errorf("worker %d served %d of %d requests, want at least a quarter", n, got, r.OK)
		}
	}
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
	time.Sleep(500 * time.Millisecond)
	pids := workerPIDs(s.stderr.String())
	victim := pids[1]
	killed := time.Now()
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// A replacement serves within a second: the kernel spreads new
	// connections over the workers' slots, so one of the first few
	// reaches it.
	fresh := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	var replaced time.Duration
	for replaced == 0 {
		if time.Since(killed) > timeout {
			t.Fatal("no replacement worker answered")
		}
		_, body := get(t, fresh, s.url(t)+"/")
		var pid int
		fmt.Sscanf(body, "v1 %d", &pid)
		if pid != victim && pid != pids[2] {
			replaced = time.Since(killed)
		}
	}
	time.Sleep(300 * time.Millisecond)
	r := load.Stop()
	if replaced > time.Second {
		t.Errorf("the replacement first answered %v after the kill, want within 1s", replaced)
	}
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
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(appsDir, "pid_app.py"))
	if err != nil {
		t.Fatal(err)
	}
	appFile := filepath.Join(dir, "hup_app.py")
	writeFile(t, appFile, string(src))
	cmd := pogo("-b", "127.0.0.1:0", "-w", "2", "--threads", "2", "--chdir", dir, "hup_app:app")
	cmd.Env = append(cmd.Env, "PYTHONDONTWRITEBYTECODE=1")
	s := startWorkers(t, 2, cmd)

	load := testutil.StartLoad(s.hostPort(t), "/", 8)
	time.Sleep(2 * time.Second)
	writeFile(t, appFile, strings.Replace(string(src), `VERSION = "v1"`, `VERSION = "v2"`, 1))
	s.signal(t, syscall.SIGHUP)
	s.waitLog(t, ") stopped", 2) // both old workers
	reloaded := load.Snapshot().Bodies
	time.Sleep(8 * time.Second)
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

func TestWorkersTERMUnderLoad(t *testing.T) {
	t.Parallel()
	s := startWorkers(t, 2, pogo("-b", "127.0.0.1:0", "-w", "2", "--threads", "4", "pid_app:app"))
	url := s.url(t)
	load := testutil.StartLoad(s.hostPort(t), "/", 8)
	slow := make(chan string, 1)
	go func() {
		code, body := get(t, client, url+"/?sleep=1")
		slow <- fmt.Sprint(code, " ", body)
	}()
	time.Sleep(500 * time.Millisecond)
	s.terminate(t)
	if code := s.wait(t); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	r := load.Stop()
	// Once the listeners are closed, new connections are refused; every
	// request that was sent got its answer.
	for _, f := range r.Failures {
		if !f.Dial {
			t.Errorf("request sent but not answered: %s", f)
		}
	}
	if got := <-slow; !strings.HasPrefix(got, "200 v1 ") {
		t.Errorf("in-flight request: %q, want 200", got)
	}
	t.Logf("SIGTERM under load: %d ok, %d refused", r.OK, len(r.Failures))
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
	time.Sleep(200 * time.Millisecond) // the workers got theirs
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
