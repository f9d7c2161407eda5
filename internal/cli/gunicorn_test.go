package cli_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// gunicornDir writes files (name -> contents) into a new directory for a
// pogo child to run in, and returns it.
func gunicornDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		writeFile(t, filepath.Join(dir, name), data)
	}
	return dir
}

// inDir is pogo(args...) run in dir, with GUNICORN_CMD_ARGS and
// POGO_CMD_ARGS from env (nil for neither).
func inDir(dir string, env []string, args ...string) *exec.Cmd {
	cmd := pogo(args...)
	cmd.Dir = dir
	var kept []string
	for _, kv := range cmd.Env {
		if !strings.HasPrefix(kv, "GUNICORN_CMD_ARGS=") && !strings.HasPrefix(kv, "POGO_CMD_ARGS=") &&
			!strings.HasPrefix(kv, "PORT=") && !strings.HasPrefix(kv, "WEB_CONCURRENCY=") {
			kept = append(kept, kv)
		}
	}
	cmd.Env = append(kept, env...)
	return cmd
}

// warnings are the WARNING lines of a log.
func warnings(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "[WARNING]") {
			out = append(out, l)
		}
	}
	return out
}

const envConf = `
import os
bind = "127.0.0.1:0"
workers = 2
worker_class = "gthread"
threads = 2
pythonpath = %q
wsgi_app = "env_app:app"
raw_env = ["FOO=from-config"]
reuse_port = True
syslog = True
worker_tmp_dir = "/dev/shm"
`

// TestConfigFile: a gunicorn config file, found as ./gunicorn.conf.py or
// given by -c (a path or python:MODULE), sets what it names; the
// command line and the environment override it a setting at a time, and
// the settings pogo does not apply are named in one warning.
func TestConfigFile(t *testing.T) {
	conf := strings.Replace(envConf, "%q", `"`+cliDir+`"`, 1)
	tests := []struct {
		name  string
		files map[string]string
		env   []string
		args  []string
		want  string
	}{
		{"default file", map[string]string{"gunicorn.conf.py": conf}, nil, nil, "from-config"},
		{"-c file", map[string]string{"prod.py": conf}, nil, []string{"-c", "prod.py"}, "from-config"},
		{"-c python:module", map[string]string{"settings_mod.py": conf}, nil, []string{"--config=python:settings_mod"}, "from-config"},
		{"-c in GUNICORN_CMD_ARGS", map[string]string{"prod.py": conf}, []string{"GUNICORN_CMD_ARGS=-c prod.py"}, nil, "from-config"},
		{"command line wins", map[string]string{"gunicorn.conf.py": conf}, nil, []string{"-e", "FOO=from-cli"}, "from-cli"},
		{"GUNICORN_CMD_ARGS wins over the file", map[string]string{"gunicorn.conf.py": conf},
			[]string{"GUNICORN_CMD_ARGS=-e 'FOO=from gunicorn env'"}, nil, "from gunicorn env"},
		{"POGO_CMD_ARGS wins over GUNICORN_CMD_ARGS", map[string]string{"gunicorn.conf.py": conf},
			[]string{"GUNICORN_CMD_ARGS=-e FOO=g", "POGO_CMD_ARGS=--env FOO=p"}, nil, "p"},
		{"command line wins over both", map[string]string{"gunicorn.conf.py": conf},
			[]string{"GUNICORN_CMD_ARGS=-e FOO=g", "POGO_CMD_ARGS=--env FOO=p"}, []string{"-e", "FOO=c"}, "c"},
		{"the app on the command line wins", map[string]string{"gunicorn.conf.py": strings.Replace(conf, "env_app:app", "no_such:app", 1)},
			nil, []string{"env_app:app"}, "from-config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := gunicornDir(t, tt.files)
			s := start(t, inDir(dir, tt.env, tt.args...))
			if _, body := get(t, client, s.url(t)+"/"); body != tt.want {
				t.Errorf("the app sees FOO=%q, want %q", body, tt.want)
			}
			s.stop(t)
			log := s.stderr.String()
			if !strings.Contains(log, "2 workers") || !strings.Contains(log, "Worker 1 ready: Python") || !strings.Contains(log, ", 2 threads") {
				t.Errorf("want 2 workers of 2 threads from the config file; log:\n%s", log)
			}
			var masterWarnings []string
			for _, w := range warnings(log) {
				if strings.Contains(w, "gunicorn settings pogo does not apply") {
					masterWarnings = append(masterWarnings, w)
				}
			}
			if len(masterWarnings) != 1 {
				t.Fatalf("want one warning of the settings not applied, got %q", masterWarnings)
			}
			for _, name := range []string{"reuse_port: ", "syslog: ", "worker_tmp_dir: "} {
				if !strings.Contains(masterWarnings[0], name) {
					t.Errorf("the warning does not name %s: %s", name, masterWarnings[0])
				}
			}
		})
	}
}

// TestGunicornEnvironment: $PORT is the default bind on all interfaces,
// $WEB_CONCURRENCY the default number of workers, as in gunicorn.
func TestGunicornEnvironment(t *testing.T) {
	r := run(t, inDir(appsDir, []string{"PORT=8765", "WEB_CONCURRENCY=3"}, "--print-config", "pid_app:app"))
	if r.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"Binds                  = [0.0.0.0:8765]", "Workers                = 3"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--print-config lacks %q:\n%s", want, r.stdout)
		}
	}
	r = run(t, inDir(appsDir, []string{"PORT=8765", "WEB_CONCURRENCY=3"}, "--print-config", "-b", "127.0.0.1:9", "-w", "1", "pid_app:app"))
	if !strings.Contains(r.stdout, "Binds                  = [127.0.0.1:9]") || !strings.Contains(r.stdout, "Workers                = 1") {
		t.Errorf("-b and -w do not win over $PORT and $WEB_CONCURRENCY:\n%s", r.stdout)
	}
}

// TestConfigFileErrors: a config file that fails or holds a bad value
// stops pogo with one line (and the traceback of a Python error).
func TestConfigFileErrors(t *testing.T) {
	tests := []struct {
		name, conf string
		args       []string
		code       int
		want       string
		traceback  string
	}{
		{"raises", "x = 1\n1/0\n", nil, 1, "cannot read config file gunicorn.conf.py: ZeroDivisionError: division by zero", "gunicorn.conf.py\", line 2"},
		{"missing -c", "", []string{"-c", "nope.py"}, 1, "cannot read config file nope.py: 'nope.py' doesn't exist", ""},
		{"bad number", "workers = 'many'\n", nil, 2, `gunicorn.conf.py: option workers: "many" is not a number of workers`, ""},
		{"bad type", "bind = {'a': 1}\n", nil, 2, "gunicorn.conf.py: bind = {\"a\": 1}: not a value pogo can use", ""},
		{"gevent", "worker_class = 'gevent'\n", nil, 2, "gevent is not a WSGI worker pogo runs: pogo serves WSGI with its own concurrency", ""},
		{"uvicorn on the command line", "", []string{"-k", "uvicorn.workers.UvicornWorker"}, 2, "uvicorn.workers.UvicornWorker is not a WSGI worker pogo runs", ""},
		{"spew", "spew = True\n", nil, 2, "option spew: pogo does not trace every line", ""},
		{"hook not callable", "post_fork = 3\n", nil, 1, "post_fork = 3: a hook must be callable", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{}
			if tt.conf != "" {
				files["gunicorn.conf.py"] = tt.conf
			}
			dir := gunicornDir(t, files)
			r := run(t, inDir(dir, nil, append(tt.args, "--pythonpath", appsDir, "pid_app:app")...))
			if r.code != tt.code {
				t.Errorf("exit %d, want %d", r.code, tt.code)
			}
			if tt.traceback == "" {
				oneLine(t, r.stderr, tt.want)
				return
			}
			first, rest, _ := strings.Cut(r.stderr, "\n")
			if !strings.Contains(first, tt.want) || !strings.Contains(rest, tt.traceback) {
				t.Errorf("stderr = %q, want a line with %q and a traceback with %q", r.stderr, tt.want, tt.traceback)
			}
		})
	}
}

// TestPreload: --preload imports the app in the master, so an app that
// cannot load fails once, with exit 4, before any worker starts.
func TestPreload(t *testing.T) {
	r := run(t, pogo("--preload", "-w", "2", "--pythonpath", cliDir, "-b", "127.0.0.1:0", "broken_app:app"))
	if r.code != 4 {
		t.Errorf("exit %d, want 4", r.code)
	}
	if strings.Contains(r.stderr, "Worker") || strings.Count(r.stderr, "RuntimeError: broken_app fails at import") != 2 {
		t.Errorf("want the master's one error and traceback, no worker; stderr:\n%s", r.stderr)
	}
	s := start(t, pogo("--preload", "-w", "2", "-b", "127.0.0.1:0", "pid_app:app"))
	if code, _ := get(t, client, s.url(t)+"/"); code != 200 {
		t.Errorf("status %d with --preload", code)
	}
}

// TestCheckConfig: --check-config loads the config and the app and exits
// 0, or 4 for an app that cannot load; --print-config prints first.
func TestCheckConfig(t *testing.T) {
	if r := run(t, pogo("--check-config", "-w", "3", "pid_app:app")); r.code != 0 || strings.Contains(r.stderr, "listening") {
		t.Errorf("--check-config: exit %d, want 0 without serving; stderr:\n%s", r.code, r.stderr)
	}
	if r := run(t, pogo("--check-config", "--pythonpath", cliDir, "broken_app:app")); r.code != 4 {
		t.Errorf("--check-config of a broken app: exit %d, want 4", r.code)
	}
	r := run(t, pogo("--print-config", "-w", "3", "pid_app:app"))
	if r.code != 0 || !strings.Contains(r.stdout, "Workers                = 3") || !strings.Contains(r.stdout, "App                    = pid_app:app") {
		t.Errorf("--print-config: exit %d, stdout:\n%s", r.code, r.stdout)
	}
}

// TestProcName: -n names the master's and the workers' processes.
func TestProcName(t *testing.T) {
	s := start(t, pogo("-n", "myshop-web-frontend", "-w", "1", "-b", "127.0.0.1:0", "pid_app:app"))
	_, body := get(t, client, s.url(t)+"/")
	pids := []string{strings.TrimSpace(strings.Fields(body)[1]), strconv.Itoa(s.cmd.Process.Pid)}
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + pid + "/comm")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(b)); got != "myshop-web-fron" {
			t.Errorf("pid %s is named %q, want myshop-web-fron (15 bytes of -n)", pid, got)
		}
		cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline")
		role := "worker"
		if pid == pids[1] {
			role = "master"
		}
		// As much of the title as the original command line has room for.
		title := "pogo: " + role + " [myshop-web-frontend]"
		if got := strings.TrimRight(string(cmdline), "\x00"); got == "" || !strings.HasPrefix(title, got) || len(got) < 20 {
			t.Errorf("pid %s's command line is %q, want %q", pid, got, title)
		}
	}
}

// TestLoggingSettings: capture_output sends what the app prints to the
// error log file, and logconfig_dict configures the app's logging.
func TestLoggingSettings(t *testing.T) {
	dir := t.TempDir()
	conf := `
bind = "127.0.0.1:0"
errorlog = "error.log"
capture_output = True
logconfig_dict = {
    "handlers": {"f": {"class": "logging.FileHandler", "filename": "app.log", "formatter": "plain"}},
    "formatters": {"plain": {"format": "APP %(levelname)s %(message)s"}},
    "loggers": {"shop": {"handlers": ["f"], "level": "INFO"}},
}
`
	app := `
import logging, sys
log = logging.getLogger("shop")
def app(environ, start_response):
    print("printed by the app")
    sys.stdout.flush()
    log.info("logged by the app")
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]
`
	writeFile(t, filepath.Join(dir, "gunicorn.conf.py"), conf)
	writeFile(t, filepath.Join(dir, "shop.py"), app)
	s := launch(t, inDir(dir, nil, "shop:app"))
	errLog := func() string { b, _ := os.ReadFile(filepath.Join(dir, "error.log")); return string(b) }
	s.waitBanner(t, errLog)
	if code, _ := get(t, client, s.url(t)+"/"); code != 200 {
		t.Fatalf("status %d", code)
	}
	s.stop(t)
	if !strings.Contains(errLog(), "printed by the app") {
		t.Errorf("error.log lacks the app's print:\n%s", errLog())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "app.log")); !strings.Contains(string(b), "APP INFO logged by the app") {
		t.Errorf("app.log = %q, want the app's log record as logconfig_dict formats it", b)
	}
}

// TestStatsD: --statsd-host gets gunicorn's metric names, with the
// prefix: the workers gauge from the master, and per request the count,
// the duration and the status.
func TestStatsD(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s := startWorkers(t, 1, pogo("--statsd-host", pc.LocalAddr().String(), "--statsd-prefix", "shop", "-w", "1", "-b", "127.0.0.1:0", "pid_app:app"))
	if code, _ := get(t, client, s.url(t)+"/"); code != 200 {
		t.Fatalf("status %d", code)
	}
	want := map[string]bool{"shop.gunicorn.workers:1|g": false, "shop.gunicorn.requests:1|c": false,
		"shop.gunicorn.request.status.200:1|c": false, "shop.gunicorn.request.duration:": false}
	buf := make([]byte, 65536)
	for missing := len(want); missing > 0; {
		pc.SetReadDeadline(time.Now().Add(timeout))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("still missing %v: %v", want, err)
		}
		for _, line := range strings.Split(string(buf[:n]), "\n") {
			for w, seen := range want {
				if !seen && (line == w || strings.HasSuffix(w, ":") && strings.HasPrefix(line, w) && strings.HasSuffix(line, "|ms")) {
					want[w] = true
					missing--
				}
			}
		}
	}
}

// TestUserGroup: -u and -g run the workers as that user and group (the
// master stays root, as in gunicorn); without root they are refused in
// one line.
func TestUserGroup(t *testing.T) {
	if os.Getuid() != 0 {
		r := run(t, pogo("-u", "0", "-b", "127.0.0.1:0", "pid_app:app"))
		if r.code != 2 {
			t.Errorf("exit %d, want 2", r.code)
		}
		oneLine(t, r.stderr, "only root can start workers as another user")
		return
	}
	// A user who cannot run pogo: a one-line reason, exit 1, no retries.
	r := run(t, pogo("-u", "65534", "-b", "127.0.0.1:0", "pid_app:app"))
	if r.code != 1 || strings.Count(r.stderr, "cannot start a worker") != 1 || !strings.Contains(r.stderr, "permission denied") {
		t.Errorf("workers as a user who cannot run pogo: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	// The test binary lives in a directory only root may enter: run a
	// copy that nobody may run.
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	exe := filepath.Join(dir, "pogo")
	b, err := os.ReadFile(pogoExe())
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, exe, string(b))
	os.Chmod(exe, 0o755)
	args, uid := []string{"-u", "65534", "-g", "65534"}, "65534"
	if !nobodyRuns(t, exe) {
		// This Python is private to root (pyenv under /root): switch the
		// group only, which root keeps the right to read.
		args, uid = []string{"-g", "65534"}, "0"
	}
	cmd := pogo(append(args, "-b", "127.0.0.1:0", "pid_app:app")...)
	cmd.Path, cmd.Args[0] = exe, exe
	s := startWorkers(t, 1, cmd)
	_, body := get(t, client, s.url(t)+"/")
	status, err := os.ReadFile("/proc/" + strings.Fields(body)[1] + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Uid:\t" + strings.Repeat(uid+"\t", 3) + uid, "Gid:\t65534\t65534\t65534\t65534", "Groups:\t \n"} {
		if !strings.Contains(string(status), want) {
			t.Errorf("the worker's status lacks %q:\n%s", want, status)
		}
	}
}

// TestDaemon: -D returns at once with 0 and leaves pogo serving in the
// background, in its own session, until SIGTERM.
func TestDaemon(t *testing.T) {
	dir := t.TempDir()
	pidFile, errLog := filepath.Join(dir, "pogo.pid"), filepath.Join(dir, "error.log")
	r := run(t, pogo("-D", "-p", pidFile, "--error-logfile", errLog, "-b", "127.0.0.1:0", "pid_app:app"))
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("-D: exit %d, stderr %q", r.code, r.stderr)
	}
	waitFile(t, pidFile, "\n")
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	proc, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Kill()
	s := &server{cmd: &exec.Cmd{Args: []string{"pogo", "-D"}}, exited: make(chan struct{})}
	s.waitBanner(t, func() string { b, _ := os.ReadFile(errLog); return string(b) })
	if code, _ := get(t, client, s.url(t)+"/"); code != 200 {
		t.Errorf("the daemon answers %d", code)
	}
	// /proc/PID/stat: "pid (comm) state ppid pgrp session ..."
	stat, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	_, rest, _ := strings.Cut(string(stat), ") ")
	if f := strings.Fields(rest); len(f) < 4 || f[3] != strconv.Itoa(pid) {
		t.Errorf("the daemon's stat is %q, want it leading its own session", stat)
	}
	proc.Signal(syscall.SIGTERM)
	waitFile(t, errLog, "Shutdown complete")
}

// TestGunicornErrorLogger: an app logging to gunicorn's error logger (as
// Flask's docs have it) writes to pogo's log; when the app's logging
// config formats that logger, pogo's own lines take the same format.
func TestGunicornErrorLogger(t *testing.T) {
	app := `
import logging
log = logging.getLogger("gunicorn.error")
def app(environ, start_response):
    log.info("from the app")
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]
`
	conf := `
bind = "127.0.0.1:0"
logconfig_dict = {
    "formatters": {"plain": {"format": "%(levelname)s|%(name)s|%(message)s"}},
    "handlers": {"err": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
    "loggers": {"gunicorn.error": {"handlers": ["err"], "level": "INFO", "propagate": False}},
}
`
	for _, tt := range []struct {
		name, conf, line, banner string
	}{
		{"pogo's format", "bind = '127.0.0.1:0'\n", "] [INFO] from the app", "] [INFO] pogo "},
		{"the config's format", conf, "INFO|gunicorn.error|from the app", "INFO|gunicorn.error|pogo "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := gunicornDir(t, map[string]string{"gunicorn.conf.py": tt.conf, "logging_app.py": app})
			s := launch(t, inDir(dir, nil, "logging_app:app"))
			s.waitBanner(t, s.stderr.String)
			if code, _ := get(t, client, s.url(t)+"/"); code != 200 {
				t.Fatalf("status %d", code)
			}
			s.waitLog(t, tt.line, 1)
			if !strings.Contains(s.stderr.String(), tt.banner) {
				t.Errorf("no banner line with %q:\n%s", tt.banner, s.stderr.String())
			}
		})
	}
}
