package cli_test

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hooksConf defines every server hook; each appends a line to
// $HOOK_LOG: the hook, the pid it ran in, and what it was given.
const hooksConf = `
import os
bind = "127.0.0.1:0"
workers = 2
wsgi_app = "hooks_app:app"

def _log(name, **kw):
    fields = " ".join("%s=%s" % kv for kv in sorted(kw.items()))
    with open(os.environ["HOOK_LOG"], "a") as f:
        f.write("%s pid=%d %s\n" % (name, os.getpid(), fields))

def on_starting(server):
    _log("on_starting", server_pid=server.pid, workers=server.cfg.workers, bind=",".join(server.cfg.bind))
    server.log.info("hook on_starting says hello")
def when_ready(server):
    _log("when_ready", server_pid=server.pid, address=",".join(server.address))
def pre_fork(server, worker):
    os.environ["FROM_PRE_FORK"] = "age-%d" % worker.age
    _log("pre_fork", server_pid=server.pid, age=worker.age, worker_pid=worker.pid)
def post_fork(server, worker):
    _log("post_fork", server_pid=server.pid, age=worker.age, worker_pid=worker.pid, ppid=worker.ppid)
    worker.mark = "set in post_fork"
def post_worker_init(worker):
    _log("post_worker_init", age=worker.age, worker_pid=worker.pid, booted=worker.booted, mark=worker.mark.replace(" ", "_"))
def pre_request(worker, req):
    _log("pre_request", worker_pid=worker.pid, method=req.method, path=req.path, query=req.query,
         x_test=dict(req.headers).get("X-TEST"))
def post_request(worker, req, environ, resp):
    _log("post_request", worker_pid=worker.pid, path=req.path, status=resp.status_code, sent=resp.sent,
         environ_path=environ["PATH_INFO"])
def nworkers_changed(server, new_value, old_value):
    _log("nworkers_changed", new=new_value, old=old_value)
def on_reload(server):
    _log("on_reload", server_pid=server.pid)
def worker_int(worker):
    _log("worker_int", worker_pid=worker.pid)
def worker_abort(worker):
    _log("worker_abort", worker_pid=worker.pid)
def child_exit(server, worker):
    _log("child_exit", age=worker.age, worker_pid=worker.pid)
def worker_exit(server, worker):
    _log("worker_exit", age=worker.age, worker_pid=worker.pid)
def on_exit(server):
    _log("on_exit", server_pid=server.pid)
`

const hooksApp = `
import os, time
def app(environ, start_response):
    if environ.get("QUERY_STRING") == "sleep":
        time.sleep(60)
    body = os.environ.get("FROM_PRE_FORK", "<unset>").encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]
`

// hookEvent is one line of the hooks' log.
type hookEvent struct {
	name   string
	pid    int
	fields map[string]string
}

func readHookLog(t *testing.T, path string) []hookEvent {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var events []hookEvent
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		words := strings.Fields(sc.Text())
		ev := hookEvent{name: words[0], fields: map[string]string{}}
		for _, w := range words[1:] {
			k, v, _ := strings.Cut(w, "=")
			ev.fields[k] = v
		}
		ev.pid, _ = strconv.Atoi(ev.fields["pid"])
		events = append(events, ev)
	}
	return events
}

// waitHook waits for the n-th call of hook and returns the log so far.
func waitHook(t *testing.T, s *server, path, hook string, n int) []hookEvent {
	t.Helper()
	var events []hookEvent
	s.waitFor(t, "hook "+hook+" called "+strconv.Itoa(n)+" times", func() bool {
		events = readHookLog(t, path)
		return len(calls(events, hook)) >= n
	})
	return events
}

func calls(events []hookEvent, hook string) []hookEvent {
	var out []hookEvent
	for _, e := range events {
		if e.name == hook {
			out = append(out, e)
		}
	}
	return out
}

// TestHooks: each server hook of a config file is called where and when
// gunicorn calls it, with the objects real hooks use.
func TestHooks(t *testing.T) {
	dir := gunicornDir(t, map[string]string{"gunicorn.conf.py": hooksConf, "hooks_app.py": hooksApp})
	logPath := filepath.Join(dir, "hooks.log")
	s := startWorkers(t, 2, inDir(dir, []string{"HOOK_LOG=" + logPath}, "--timeout", "1"))
	master := strconv.Itoa(s.cmd.Process.Pid)
	waitHook(t, s, logPath, "post_worker_init", 2)

	req, _ := newRequest(s.url(t) + "/hello?x=1")
	req.Header.Set("X-Test", "yes")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if body != "age-1" && body != "age-2" {
		t.Errorf("the app sees FROM_PRE_FORK=%q, want what pre_fork set for its worker", body)
	}
	waitHook(t, s, logPath, "post_request", 1)
	// A request past --timeout: worker_abort in its worker, which is
	// replaced.
	if code, _ := get(t, client, s.url(t)+"/?sleep"); code != 504 {
		t.Errorf("status %d for a request past --timeout, want 504", code)
	}
	waitHook(t, s, logPath, "worker_abort", 1)
	s.waitLog(t, " ready: Python", 3)
	s.signal(t, syscall.SIGHUP)
	waitHook(t, s, logPath, "on_reload", 1)
	s.waitLog(t, " ready: Python", 5)
	s.signal(t, syscall.SIGTTIN)
	waitHook(t, s, logPath, "nworkers_changed", 2)
	s.waitLog(t, " ready: Python", 6)
	s.stop(t)
	events := readHookLog(t, logPath)

	workerPids := map[string]bool{}
	for _, e := range calls(events, "post_fork") {
		workerPids[e.fields["worker_pid"]] = true
		if e.fields["worker_pid"] != strconv.Itoa(e.pid) || e.fields["server_pid"] != master || e.fields["ppid"] != master {
			t.Errorf("post_fork ran in %d with %v, want in the worker, server.pid and ppid the master %s", e.pid, e.fields, master)
		}
	}
	inMaster := []string{"on_starting", "when_ready", "pre_fork", "nworkers_changed", "on_reload", "child_exit", "on_exit"}
	inWorker := []string{"post_fork", "post_worker_init", "pre_request", "post_request", "worker_abort", "worker_exit"}
	for _, h := range inMaster {
		if len(calls(events, h)) == 0 {
			t.Errorf("%s was not called", h)
		}
		for _, e := range calls(events, h) {
			if strconv.Itoa(e.pid) != master {
				t.Errorf("%s ran in pid %d, want the master %s", h, e.pid, master)
			}
		}
	}
	for _, h := range inWorker {
		if len(calls(events, h)) == 0 {
			t.Errorf("%s was not called", h)
		}
		for _, e := range calls(events, h) {
			if !workerPids[strconv.Itoa(e.pid)] {
				t.Errorf("%s ran in pid %d, not a worker (%v)", h, e.pid, workerPids)
			}
			if wp := e.fields["worker_pid"]; wp != strconv.Itoa(e.pid) {
				t.Errorf("%s: worker.pid %s in process %d", h, wp, e.pid)
			}
		}
	}
	if events[0].name != "nworkers_changed" || events[1].name != "on_starting" || calls(events, "when_ready")[0].fields["address"] != s.url(t) {
		t.Errorf("start: want nworkers_changed, on_starting, when_ready with the bound address; got %v", events[:3])
	}
	if e := events[len(events)-1]; e.name != "on_exit" {
		t.Errorf("the last hook is %s, want on_exit", e.name)
	}
	if e := calls(events, "on_starting")[0]; e.fields["workers"] != "2" || e.fields["bind"] != "127.0.0.1:0" {
		t.Errorf("on_starting: server.cfg gives %v", e.fields)
	}
	if !strings.Contains(s.stderr.String(), "[INFO] hook on_starting says hello") {
		t.Errorf("server.log.info does not reach the log")
	}
	for _, e := range calls(events, "pre_fork") {
		if e.fields["worker_pid"] != "None" {
			t.Errorf("pre_fork: worker.pid = %s before the worker exists", e.fields["worker_pid"])
		}
	}
	if e := calls(events, "post_worker_init")[0]; e.fields["booted"] != "True" || e.fields["mark"] != "set_in_post_fork" {
		t.Errorf("post_worker_init: %v, want the worker object post_fork had, booted", e.fields)
	}
	if e := calls(events, "pre_request")[0]; e.fields["method"] != "GET" || e.fields["path"] != "/hello" || e.fields["query"] != "x=1" || e.fields["x_test"] != "yes" {
		t.Errorf("pre_request: %v", e.fields)
	}
	if e := calls(events, "post_request")[0]; e.fields["status"] != "200" || e.fields["sent"] != "5" || e.fields["environ_path"] != "/hello" {
		t.Errorf("post_request: %v", e.fields)
	}
	if nc := calls(events, "nworkers_changed"); nc[0].fields["new"] != "2" || nc[0].fields["old"] != "None" || nc[1].fields["new"] != "3" || nc[1].fields["old"] != "2" {
		t.Errorf("nworkers_changed: %v", nc)
	}
	exited := map[string]bool{}
	for _, e := range calls(events, "worker_exit") {
		exited[e.fields["worker_pid"]] = true
	}
	for _, e := range calls(events, "child_exit") {
		if !workerPids[e.fields["worker_pid"]] {
			t.Errorf("child_exit for pid %s, not a worker", e.fields["worker_pid"])
		}
	}
	if n := len(calls(events, "child_exit")); n != len(workerPids) {
		t.Errorf("%d child_exit calls for %d workers", n, len(workerPids))
	}
}

// TestWorkerIntHook: SIGINT stops at once, and each worker calls
// worker_int first.
func TestWorkerIntHook(t *testing.T) {
	dir := gunicornDir(t, map[string]string{"gunicorn.conf.py": hooksConf, "hooks_app.py": hooksApp})
	logPath := filepath.Join(dir, "hooks.log")
	s := startWorkers(t, 2, inDir(dir, []string{"HOOK_LOG=" + logPath}))
	waitHook(t, s, logPath, "post_worker_init", 2)
	s.signal(t, syscall.SIGINT)
	if code := s.wait(t); code != 0 {
		t.Errorf("exit %d after SIGINT", code)
	}
	if n := len(calls(readHookLog(t, logPath), "worker_int")); n != 2 {
		t.Errorf("worker_int called %d times, want once per worker", n)
	}
}

// TestHookErrors: an exception in on_starting stops pogo with its
// traceback; one in pre_request is the request's 500.
func TestHookErrors(t *testing.T) {
	conf := "bind = '127.0.0.1:0'\ndef on_starting(server):\n    raise ValueError('no database')\n"
	dir := gunicornDir(t, map[string]string{"gunicorn.conf.py": conf})
	r := run(t, inDir(dir, nil, "--pythonpath", appsDir, "pid_app:app"))
	if r.code != 1 || !strings.Contains(r.stderr, "Hook on_starting raised ValueError: no database") || !strings.Contains(r.stderr, "gunicorn.conf.py\", line 3, in on_starting") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}

	conf = "bind = '127.0.0.1:0'\ndef pre_request(worker, req):\n    if req.path == '/bad':\n        raise ValueError('refused')\n"
	dir = gunicornDir(t, map[string]string{"gunicorn.conf.py": conf})
	s := start(t, inDir(dir, nil, "--pythonpath", appsDir, "pid_app:app"))
	if code, _ := get(t, client, s.url(t)+"/bad"); code != 500 {
		t.Errorf("pre_request raised: status %d, want 500", code)
	}
	if code, _ := get(t, client, s.url(t)+"/good"); code != 200 {
		t.Errorf("after it: status %d, want 200", code)
	}
	if log := s.stderr.String(); !strings.Contains(log, "ValueError: refused") {
		t.Errorf("no traceback of pre_request's exception in the log:\n%s", log)
	}
}

// waitFor waits until cond holds, or fails the test saying what.
func (s *server) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		select {
		case <-s.exited:
			t.Fatalf("pogo exited before %s", what)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %v", what, timeout)
		}
	}
}

func newRequest(url string) (*http.Request, error) { return http.NewRequest("GET", url, nil) }

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
