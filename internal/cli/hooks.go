package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/pogoserver/pogo/internal/config"
	"github.com/pogoserver/pogo/internal/cpython"
	"github.com/pogoserver/pogo/internal/wsgi"
)

// Where pogo calls the server hooks of a gunicorn config file, in the
// process gunicorn calls each in: the master runs on_starting,
// when_ready, pre_fork, child_exit, nworkers_changed, on_reload and
// on_exit in the Python it started to read the config file; a worker runs
// post_fork (before it imports the app), post_worker_init (after),
// worker_int, worker_abort, worker_exit, and pre_request and post_request
// around each request (the app is wrapped only if they are defined).

// processHooks are the hooks about processes: with any of them defined,
// pogo runs as a master with workers, as gunicorn always does.
var processHooks = []string{
	"on_starting", "on_reload", "when_ready", "pre_fork", "post_fork",
	"post_worker_init", "worker_int", "worker_abort", "child_exit",
	"worker_exit", "nworkers_changed", "on_exit",
}

// unsupportedHooks are the hooks pogo never calls, and why.
var unsupportedHooks = map[string]string{
	"pre_exec":          "pogo's master never re-executes itself (USR2): start the new version beside the old, then stop the old",
	"on_dirty_starting": "pogo has no dirty arbiters",
	"dirty_post_fork":   "pogo has no dirty arbiters",
	"dirty_worker_init": "pogo has no dirty arbiters",
	"dirty_worker_exit": "pogo has no dirty arbiters",
}

// needsMaster says whether cfg calls for a master beyond what --workers
// and the recycling flags do: process hooks, or workers run as another
// user.
func needsMaster(cfg *config.Config) bool {
	if cfg.User != "" || cfg.Group != "" {
		return true
	}
	for _, h := range cfg.Hooks {
		if slices.Contains(processHooks, h) {
			return true
		}
	}
	return false
}

// hooks calls a config file's hooks in this process's Python. A nil
// *hooks calls nothing.
type hooks struct {
	main    *cpython.Main
	log     *slog.Logger
	defined map[string]bool
	server  map[string]any // the attributes of the server object
}

// newHooks returns the hooks of cfg, or nil if it defines none this
// process calls.
func newHooks(cfg *config.Config, main *cpython.Main, log *slog.Logger, masterPid int) (*hooks, error) {
	if main == nil || len(cfg.Hooks) == 0 {
		return nil, nil
	}
	h := &hooks{main: main, log: log, defined: map[string]bool{}}
	for _, n := range cfg.Hooks {
		h.defined[n] = true
	}
	procName := cfg.ProcName
	if procName == "" {
		procName = "pogo"
	}
	h.server = map[string]any{
		"pid":       masterPid,
		"workers":   max(cfg.Workers, 1),
		"proc_name": procName,
		"address":   cfg.Binds,
	}
	names := make([]string, 0, len(gunicornSettings))
	for n := range gunicornSettings {
		names = append(names, n)
	}
	var err error
	main.Do(func(t *cpython.Thread) { err = t.SetSettings(hookSettings(cfg), names, cfg.LogLevel) })
	return h, err
}

// hookSettings are the values of server.cfg: cfg by gunicorn's names.
func hookSettings(cfg *config.Config) map[string]any {
	workerClass := cfg.WorkerClass
	if workerClass == "" {
		workerClass = "gthread"
	}
	threads := cfg.Threads
	if threads == 0 {
		threads = orDefault(cfg.MaxThreads, wsgi.DefaultMaxThreads)
	}
	return map[string]any{
		"access_log_format":        orString(cfg.AccessLogFormat, "%(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(s)s %(b)s \"%(f)s\" \"%(a)s\""),
		"accesslog":                nilIfEmpty(cfg.AccessLogFile),
		"backlog":                  cfg.Backlog,
		"bind":                     cfg.Binds,
		"capture_output":           cfg.CaptureOutput,
		"certfile":                 nilIfEmpty(first(cfg.CertFiles)),
		"chdir":                    cfg.Chdir,
		"config":                   cfg.ConfigFile,
		"daemon":                   false,
		"errorlog":                 orString(cfg.ErrorLogFile, "-"),
		"forwarded_allow_ips":      strings.Split(cfg.ForwardedAllowIPs, ","),
		"graceful_timeout":         int(cfg.GracefulTimeout.Seconds()),
		"keepalive":                int(cfg.KeepAlive.Seconds()),
		"keyfile":                  nilIfEmpty(first(cfg.KeyFiles)),
		"limit_request_field_size": cfg.LimitRequestFieldSize,
		"limit_request_fields":     cfg.LimitRequestFields,
		"limit_request_line":       cfg.LimitRequestLine,
		"loglevel":                 cfg.LogLevel,
		"max_requests":             cfg.MaxRequests,
		"max_requests_jitter":      cfg.MaxRequestsJitter,
		"pidfile":                  nilIfEmpty(cfg.PidFile),
		"preload_app":              cfg.Preload,
		"proc_name":                nilIfEmpty(cfg.ProcName),
		"proxy_protocol":           cfg.ProxyProtocol,
		"pythonpath":               nilIfEmpty(strings.Join(cfg.PythonPath, ",")),
		"raw_env":                  cfg.Env,
		"reload":                   cfg.Reload,
		"reload_extra_files":       cfg.ReloadExtraFiles,
		"root_path":                cfg.RootPath,
		"threads":                  threads,
		"timeout":                  int(cfg.Timeout.Seconds()),
		"umask":                    max(cfg.Umask, 0),
		"worker_class":             workerClass,
		"worker_connections":       cfg.MaxConnections,
		"workers":                  max(cfg.Workers, 1),
		"wsgi_app":                 nilIfEmpty(cfg.App),
	}
}

func orString(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// call calls hook with the server and, if worker is not nil, a worker
// (its age, pid, ppid); this says whether that worker is this process.
// A hook's changes to os.environ go to the processes pogo starts next.
// An exception is logged with its traceback and returned.
func (h *hooks) call(hook string, worker map[string]any, this bool, args ...any) error {
	if h == nil || !h.defined[hook] {
		return nil
	}
	arg := map[string]any{"server": h.server, "this_process": this}
	if worker != nil {
		arg["worker"] = worker
	}
	if args != nil {
		arg["args"] = args
	}
	var env map[string]*string
	var err error
	h.main.Do(func(t *cpython.Thread) { env, err = t.CallHook(hook, arg) })
	if err != nil {
		var pe *cpython.Error
		if errors.As(err, &pe) {
			h.log.Error(fmt.Sprintf("Hook %s raised %s", hook, pe.Message), "traceback", pe.Traceback)
		} else {
			h.log.Error("Hook "+hook+" failed", "err", err)
		}
		return fmt.Errorf("hook %s: %w", hook, err)
	}
	for k, v := range env {
		if v == nil {
			os.Unsetenv(k)
		} else {
			os.Setenv(k, *v)
		}
	}
	return nil
}

// set sets an attribute of the server object.
func (h *hooks) set(key string, v any) {
	if h != nil {
		h.server[key] = v
	}
}

// workerArg is a worker as the hooks' worker object shows it.
func workerArg(id, pid int) map[string]any {
	w := map[string]any{"age": id}
	if pid > 0 {
		w["pid"] = pid
		w["ppid"] = os.Getpid()
	}
	return w
}

// thisWorker is this worker process as its hooks' worker object shows it.
func thisWorker(id int) map[string]any {
	return map[string]any{"age": id, "pid": os.Getpid(), "ppid": os.Getppid()}
}
