package cli_test

// Signals at every stage of start-up. Each test runs pogo on an app whose
// import waits for the test to let it go (testdata/apps/gate_app.py),
// signals pogo at one stage of its start-up, and checks what an operator
// would see: the exit code, that the pid file and the unix socket are
// gone, and that no pogo process is left.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A gate holds gate_app's imports where they are: the app connects to the
// gate's unix socket at import, says its pid, and waits until let go.
type gate struct {
	path string
	// marker is in the environment of every pogo process of the test,
	// and of no other process: how the test finds those left behind.
	marker   string
	arrivals chan *importer // imports held at the gate, as they come

	mu   sync.Mutex
	open bool // imports that come go on at once; guarded by mu
}

// An importer is a process whose import waits at the gate.
type importer struct {
	pid  int
	conn net.Conn
}

func newGate(t *testing.T, dir string) *gate {
	t.Helper()
	g := &gate{path: filepath.Join(dir, "gate"), arrivals: make(chan *importer, 64)}
	g.marker = "POGO_TEST_GATE=" + g.path
	l, err := net.Listen("unix", g.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.Close()
		g.openUp()
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go g.arrive(c)
		}
	}()
	return g
}

func (g *gate) arrive(c net.Conn) {
	line, err := bufio.NewReader(c).ReadString('\n')
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		c.Close()
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if i := (&importer{pid, c}); g.open {
		i.release()
	} else {
		g.arrivals <- i
	}
}

// next waits for the next import to reach the gate.
func (g *gate) next(t *testing.T) *importer {
	t.Helper()
	select {
	case i := <-g.arrivals:
		return i
	case <-time.After(timeout):
		t.Fatalf("no import reached the gate within %v", timeout)
		return nil
	}
}

// openUp lets the imports held at the gate go on, and every later one.
func (g *gate) openUp() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = true
	for {
		select {
		case i := <-g.arrivals:
			i.release()
		default:
			return
		}
	}
}

func (i *importer) release() {
	i.conn.Write([]byte{'\n'})
	i.conn.Close()
}

// waitExit waits for the importer's process to exit: its end of the gate
// closes with it.
func (i *importer) waitExit(t *testing.T) {
	t.Helper()
	i.conn.SetReadDeadline(time.Now().Add(timeout))
	if _, err := i.conn.Read(make([]byte, 1)); err == nil || os.IsTimeout(err) {
		t.Fatalf("pid %d is still importing after %v (%v)", i.pid, timeout, err)
	}
}

// left returns the live processes, other than this one, whose environment
// holds marker.
func left(marker string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !slices.Contains(strings.Split(string(env), "\x00"), marker) {
			continue
		}
		// The state follows the command name in parentheses; Z has exited.
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		s := string(stat)
		if i := strings.LastIndex(s, ") "); err == nil && i >= 0 && !strings.HasPrefix(s[i+2:], "Z") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// noneLeft checks that no process of the test is left, and kills those
// that are.
func noneLeft(t *testing.T, g *gate) {
	t.Helper()
	for _, pid := range left(g.marker) {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		t.Errorf("process %d left running: %q", pid, strings.ReplaceAll(string(cmdline), "\x00", " "))
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// waitExists waits for a file to exist at path.
func waitExists(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %v", path, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// shortTempDir is a temporary directory with a path short enough for unix
// sockets in it (t.TempDir's holds the test's name).
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pogo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// unixGet fetches / over the unix socket at path.
func unixGet(t *testing.T, path string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
	defer c.CloseIdleConnections()
	return get(t, c, "http://pogo/")
}

// gated returns a command running pogo with args on gate_app behind g,
// bound to a unix socket and writing a pid file in dir.
func gated(g *gate, dir string, args ...string) (cmd *exec.Cmd, sock, pidFile string) {
	sock, pidFile = filepath.Join(dir, "pogo.sock"), filepath.Join(dir, "pogo.pid")
	cmd = pogo(append(args, "-b", "unix:"+sock, "-p", pidFile, "gate_app:app")...)
	cmd.Env = append(cmd.Env, g.marker)
	// A process left behind holds pogo's stderr open: Wait does not wait
	// for it, and the test reports it instead.
	cmd.WaitDelay = time.Second
	return cmd, sock, pidFile
}

// startupStages are the moments TestSignalsDuringStartup signals pogo at:
// reach waits for one, in pogo with the given number of workers (0: none).
var startupStages = []struct {
	name        string
	workersOnly bool
	reach       func(t *testing.T, s *server, g *gate, pidFile string, workers int)
}{
	// The sockets are bound and the pid file written; no app has been
	// imported.
	{"bound", false, func(t *testing.T, s *server, g *gate, pidFile string, workers int) {
		waitExists(t, pidFile)
	}},
	// The app's import has begun: pogo's own, or the first worker's.
	{"importing", false, func(t *testing.T, s *server, g *gate, pidFile string, workers int) {
		g.next(t)
	}},
	// The first worker is ready, the second is importing.
	{"second_worker_importing", true, func(t *testing.T, s *server, g *gate, pidFile string, workers int) {
		g.next(t).release()
		g.next(t)
	}},
	// Serving.
	{"ready", false, func(t *testing.T, s *server, g *gate, pidFile string, workers int) {
		g.openUp()
		if workers == 0 {
			s.waitBanner(t, s.stderr.String)
		} else {
			s.waitLog(t, "] Worker ", workers)
		}
	}},
}

// TestSignalsDuringStartup: TERM, INT or HUP at any stage of start-up,
// with or without workers, ends in a clean exit. A master takes HUP as it
// always does, as a reload, and serves on until TERM; pogo without
// workers has nothing to reload and stops. The signal goes to pogo, or,
// with workers, to its whole process group too, as a terminal signals
// its foreground job and systemd (through the control group) every
// process of a service.
func TestSignalsDuringStartup(t *testing.T) {
	t.Parallel()
	type signalCase struct {
		workers int
		stage   int // in startupStages
		name    string
		sig     syscall.Signal
		group   bool
	}
	var cases []signalCase
	for _, workers := range []int{0, 2} {
		for stage := range startupStages {
			if startupStages[stage].workersOnly && workers == 0 {
				continue
			}
			for _, sig := range []struct {
				name string
				sig  syscall.Signal
			}{{"TERM", syscall.SIGTERM}, {"INT", syscall.SIGINT}, {"HUP", syscall.SIGHUP}} {
				cases = append(cases, signalCase{workers, stage, sig.name, sig.sig, false})
				// To the group too: TERM at every stage, as systemd stops a
				// service, and HUP before a worker is ready, which ends one
				// whose runtime has not started yet. (INT takes the same
				// paths as TERM.)
				if workers > 0 && (sig.sig == syscall.SIGTERM || sig.sig == syscall.SIGHUP && startupStages[stage].name != "ready") {
					cases = append(cases, signalCase{workers, stage, sig.name + "_to_group", sig.sig, true})
				}
			}
		}
	}
	for _, tc := range cases {
		stage := startupStages[tc.stage]
		t.Run(fmt.Sprintf("workers=%d/%s/%s", tc.workers, stage.name, tc.name), func(t *testing.T) {
			t.Parallel()
			dir := shortTempDir(t)
			g := newGate(t, dir)
			var args []string
			if tc.workers > 0 {
				args = []string{"-w", strconv.Itoa(tc.workers)}
			}
			cmd, sock, pidFile := gated(g, dir, args...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			s := launch(t, cmd)
			stage.reach(t, s, g, pidFile, tc.workers)
			if tc.group {
				if err := syscall.Kill(-cmd.Process.Pid, tc.sig); err != nil {
					t.Fatal(err)
				}
			} else {
				s.signal(t, tc.sig)
			}
			if tc.sig == syscall.SIGHUP && tc.workers > 0 {
				s.waitLog(t, "Reloading: replacing workers one by one", 1)
				g.openUp()
				if code, body := unixGet(t, sock); code != 200 || !strings.HasPrefix(body, "v1 ") {
					t.Errorf("after HUP: %d %q, want 200 from the app", code, body)
				}
				s.terminate(t)
			}

			if code := s.wait(t); code != 0 {
				t.Errorf("exit code %d, want 0", code)
			}
			noneLeft(t, g)
			for _, f := range []string{pidFile, sock} {
				if _, err := os.Stat(f); !os.IsNotExist(err) {
					t.Errorf("%s left after exit (%v)", f, err)
				}
			}
			// The master stops a worker that is not ready by closing its
			// link, never with a signal. (A signal to the group may reach
			// a worker whose runtime is still starting and end it: that
			// is allowed.)
			bad := []string{"did not stop in time"}
			if !tc.group {
				bad = append(bad, "killed by signal")
			}
			logs := s.stderr.String()
			for _, b := range bad {
				if strings.Contains(logs, b) {
					t.Errorf("a worker did not stop cleanly: the log says %q", b)
				}
			}
		})
	}
}

// TestBootingWorkerDiesWithItsMaster: a worker still importing the app
// when its master is killed outright, with no chance to stop it, sees its
// link to the master close and exits: it is not left an orphan.
func TestBootingWorkerDiesWithItsMaster(t *testing.T) {
	t.Parallel()
	dir := shortTempDir(t)
	g := newGate(t, dir)
	cmd, _, _ := gated(g, dir, "-w", "1")
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		for _, pid := range left(g.marker) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	w := g.next(t)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	w.waitExit(t)
	cmd.Wait()
	noneLeft(t, g)
	if want := "Shutting down before serving: the link to the master has closed"; !strings.Contains(stderr.String(), want) {
		t.Errorf("the worker's log does not say %q:\n%s", want, stderr.String())
	}
}
