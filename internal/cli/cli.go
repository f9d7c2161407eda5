// Package cli is pogo's command line: gunicorn's flags in, a running server
// out. Run takes the arguments and stdio and returns the exit code, so the
// whole CLI is testable in-process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pogoserver/pogo/internal/accesslog"
	"github.com/pogoserver/pogo/internal/config"
	"github.com/pogoserver/pogo/internal/cpython"
	"github.com/pogoserver/pogo/internal/logging"
	"github.com/pogoserver/pogo/internal/metrics"
	"github.com/pogoserver/pogo/internal/server"
	"github.com/pogoserver/pogo/internal/statsd"
	"github.com/pogoserver/pogo/internal/supervisor"
	"github.com/pogoserver/pogo/internal/wsgi"
)

// version is set at link time by the Makefile.
var version = "dev"

// certWatchInterval is how often a serving process looks whether its
// certificate files changed.
const certWatchInterval = time.Second

// Exit codes.
const (
	exitOK      = 0
	exitError   = 1 // could not start: bad config, port in use, ...
	exitUsage   = 2 // bad flags
	exitAppLoad = 4 // the app could not be imported (gunicorn's APP_LOAD_ERROR)
)

// Run runs pogo with args (without the program name) until ctx is done or
// a SIGTERM, SIGINT or SIGQUIT arrives, and returns the exit code. With
// --workers it is the master, and the workers are this program run again
// with the same args.
//
// Run catches signals before it does anything else, and a stop signal
// while pogo starts ends it cleanly at whatever stage it has reached:
// without waiting for the app's import, which goes on until the process
// exits, so the caller should exit when Run returns.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	sigs := catchSignals()
	// args may be os.Args, whose memory --name overwrites.
	args = slices.Clone(args)
	for i := range args {
		args[i] = strings.Clone(args[i])
	}
	defer signal.Stop(sigs)
	cfg, main, err := load(args, stderr)
	switch {
	case errors.Is(err, errHelp):
		usage(stdout)
		return exitOK
	case errors.Is(err, errVersion):
		fmt.Fprintf(stdout, "pogo %s (built with Python %s)\n", version, cpython.BuildVersion())
		return exitOK
	case err != nil:
		printError(stderr, err)
		var pe *cpython.Error
		if errors.As(err, &pe) {
			return exitError // the config file failed in Python
		}
		return exitUsage
	}
	if cfg.CGI {
		code, err := runCGI(&cfg, main, os.Stdin, stdout, stderr)
		if err != nil {
			printError(stderr, err)
		}
		return code
	}
	if cfg.Daemon && os.Getenv(envDaemon) == "" {
		if err := daemonize(args, &cfg); err != nil {
			printError(stderr, err)
			return exitError
		}
		return exitOK
	}
	code, err := run(ctx, sigs, args, &cfg, main, stdout, stderr)
	if err != nil {
		printError(stderr, err)
	}
	return code
}

// printError says why pogo stops: one line, then the traceback of a
// Python error if it has one.
func printError(stderr io.Writer, err error) {
	fmt.Fprintf(stderr, "pogo: error: %v\n", err)
	var pe *cpython.Error
	if errors.As(err, &pe) && pe.Traceback != "" {
		io.WriteString(stderr, pe.Traceback)
	}
}

func run(ctx context.Context, sigs <-chan os.Signal, args []string, cfg *config.Config, main *cpython.Main, stdout, stderr io.Writer) (int, error) {
	level, err := logging.ParseLevel(cfg.LogLevel)
	if err != nil {
		return exitUsage, err
	}
	errw, closeErr, err := logging.Open(cfg.ErrorLogFile)
	if err != nil {
		return exitError, err
	}
	defer closeErr()
	if cfg.ErrorLogFile == "" || cfg.ErrorLogFile == "-" {
		errw = stderr
	}
	var sd *statsd.Client
	if cfg.StatsdHost != "" {
		if sd, err = statsd.New(cfg.StatsdHost, cfg.StatsdPrefix, cfg.DogstatsdTags); err != nil {
			return exitUsage, fmt.Errorf("--statsd-host: %w", err)
		}
		defer sd.Close()
	}
	var handler slog.Handler = logging.NewHandler(errw, level)
	if sd != nil {
		handler = statsd.NewHandler(handler, sd)
	}
	log := slog.New(handler)

	worker, err := supervisor.Inherited()
	if err != nil {
		return exitError, err
	}
	master := worker == nil && (cfg.Workers > 0 || cfg.MaxRequests > 0 || cfg.MaxMemoryMB > 0 || cfg.Timeout > 0 || cfg.Reload || needsMaster(cfg))
	switch {
	case worker != nil:
		// A worker leaves HUP, TTIN and TTOU to its master, which may
		// share its process group.
		signal.Ignore(syscall.SIGHUP, syscall.SIGTTIN, syscall.SIGTTOU)
	case !master:
		// There are no workers to add or remove.
		signal.Ignore(syscall.SIGTTIN, syscall.SIGTTOU)
	}
	if worker == nil {
		for _, n := range cfg.Notes {
			log.Warn(n)
		}
		if len(cfg.NotApplied) > 0 {
			log.Warn("gunicorn settings pogo does not apply: " + strings.Join(cfg.NotApplied, "; "))
		}
		for _, l := range describeSite(cfg) {
			log.Info(l)
		}
	}
	if worker == nil && cfg.Debug && !cfg.DebugAllowRemote {
		if err := debugBinds(cfg.Binds); err != nil {
			return exitUsage, err
		}
	}
	if cfg.Umask >= 0 {
		syscall.Umask(cfg.Umask)
	}
	// Sockets from systemd's socket activation are for this process only.
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	if cfg.Debug && !slices.ContainsFunc(cfg.Env, func(kv string) bool { return strings.HasPrefix(kv, "FLASK_DEBUG=") }) {
		if _, set := os.LookupEnv("FLASK_DEBUG"); !set {
			// Flask then lets its exceptions through to the debug page,
			// as flask --debug run does to Werkzeug's debugger.
			cfg.Env = append(cfg.Env, "FLASK_DEBUG=1")
		}
	}
	for _, kv := range cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	if _, set := os.LookupEnv("GOMAXPROCS"); !set {
		runtime.GOMAXPROCS(goProcs(cfg, runtime.NumCPU()))
	}
	wd, err := os.Getwd()
	if err != nil {
		return exitError, err
	}
	if cfg.Chdir != "" {
		if err := os.Chdir(cfg.Chdir); err != nil {
			return exitError, fmt.Errorf("--chdir: %w", err)
		}
	}
	if cfg.ProcName != "" {
		role := "master"
		if worker != nil {
			role = "worker"
		}
		setProcName(cfg.ProcName, role, log)
	}
	if cfg.CaptureOutput {
		if f, ok := errw.(*logging.File); ok {
			if err := f.Capture(); err != nil {
				return exitError, fmt.Errorf("--capture-output: %w", err)
			}
		}
	}
	if cfg.CheckConfig || cfg.PrintConfig {
		return checkConfig(cfg, main, errw, stdout)
	}
	if master {
		if cfg.Preload {
			// Import once, and fail once: before any worker starts.
			var code int
			if main, _, code, err = startPython(cfg, main, errw, nil); err != nil {
				return code, err
			}
			log.Info("Loaded the app in the master (--preload)")
		}
		return runMaster(ctx, sigs, args, wd, cfg, main, sd, log, errw, stdout, stderr)
	}
	return serve(ctx, sigs, cfg, main, sd, worker, log, errw, stdout)
}

// serve runs the app in this process: on its own listeners, or as a
// worker on the master's.
// goProcs is the default GOMAXPROCS of a pogo process: how many threads
// run Go code at once. Python runs on its own threads (inside cgo calls,
// which hold no P), so even one P lets a process use a core for Go and
// one for Python, and a GIL allows no more Python than that.
//
// For cleartext HTTP/1.1 one P is also the fastest: each request hands a
// connection goroutine to Python and back, and with a second P every such
// hand-off wakes a thread on the other CPU. Measured on a 2-CPU machine,
// hello world, wrk on the same CPUs: 1 P 79-115k req/s, 2 Ps 58-81k, and
// 15-30% less CPU per request with one (the gap holds with --threads 1,
// so it is the Go scheduler, not the GIL). TLS and HTTP/2 do much more
// work in Go per request (x/net/http2: 12-14k req/s with 1 P, 18-20k with
// 2), so with a certificate each process gets its share of the CPUs.
// GOMAXPROCS in the environment (or --env) overrides either.
func goProcs(cfg *config.Config, cpus int) int {
	if len(cfg.CertFiles) == 0 {
		return 1
	}
	return max(1, cpus/max(1, cfg.Workers))
}

func serve(ctx context.Context, sigs <-chan os.Signal, cfg *config.Config, main *cpython.Main, sd *statsd.Client, worker *supervisor.Worker, log *slog.Logger, errw, stdout io.Writer) (int, error) {
	var gone <-chan struct{}
	if worker != nil {
		gone = worker.Gone()
	}
	st := &startup{ctx: ctx, sigs: sigs, gone: gone, log: log}
	var reopen []func() error
	if f, ok := errw.(*logging.File); ok {
		reopen = append(reopen, f.Reopen)
	}
	access, accessFile, err := openAccessLog(cfg, stdout)
	if err != nil {
		return exitUsage, err
	}
	if access != nil {
		defer access.Close()
	}
	if accessFile != nil {
		defer accessFile.Close()
		reopen = append(reopen, accessFile.Reopen)
	}

	if _, err := cpython.ProgramFor(cfg.Venv); err != nil {
		return exitError, err
	}
	tlsConfig, certStore, err := loadTLS(cfg)
	if err != nil {
		return exitError, err
	}
	if certStore != nil {
		certStore.Log = log
		wctx, stopWatch := context.WithCancel(context.Background())
		defer stopWatch()
		go certStore.Watch(wctx, certWatchInterval)
	}

	table, err := routes(cfg)
	if err != nil {
		return exitUsage, err
	}
	trusted, err := server.ParseTrusted(cfg.ForwardedAllowIPs)
	if err != nil {
		return exitUsage, err
	}
	if cfg.SecureSchemeHeaders != nil {
		trusted.SetSecureSchemeHeaders(cfg.SecureSchemeHeaders)
	}
	dirs, err := openStatic(cfg)
	if err != nil {
		return exitError, err
	}
	defer func() {
		for _, d := range dirs {
			d.Close()
		}
	}()

	// A stop that came while pogo read its flags ends it before it binds.
	if st.stopped() {
		return exitOK, nil
	}
	// Bind before importing the app, so a port in use fails fast.
	var ls []net.Listener
	var pcs []net.PacketConn // HTTP/3's
	if worker != nil {
		ls, pcs = worker.Listeners, worker.Packets
	} else if ls, err = server.Listen(cfg.Binds, cfg.Backlog); err != nil {
		return exitError, err
	} else if cfg.HTTP3 {
		if pcs, err = server.ListenPackets(ls); err != nil {
			for _, l := range ls {
				l.Close()
			}
			return exitError, err
		}
	}
	defer func() {
		for _, pc := range pcs {
			pc.Close()
		}
	}()
	if worker == nil && cfg.PidFile != "" {
		remove, err := writePidFile(cfg.PidFile)
		if err != nil {
			return exitError, err
		}
		defer remove()
	}
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()

	// Python starts and imports the app on its main thread, which takes
	// as long as the app's imports do: seconds for a big app, for ever for
	// one that hangs. A stop meanwhile does not wait for them.
	var (
		apps     []*cpython.App
		loadCode int
		loadErr  error
	)
	var h *hooks
	if worker != nil {
		if h, err = newHooks(cfg, main, log, os.Getppid()); err != nil {
			return exitError, err
		}
	}
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		main, apps, loadCode, loadErr = startPython(cfg, main, errw, &pythonWorker{worker, h, log})
	}()
	if st.wait(loaded) {
		return exitOK, nil
	}
	if loadErr != nil {
		return loadCode, loadErr
	}

	gwOpts := wsgi.Options{
		Threads:           cfg.Threads,
		MaxThreads:        cfg.MaxThreads,
		ThreadIdleTimeout: cfg.ThreadIdleTimeout,
		QueueSize:         cfg.QueueSize,
		SpoolMax:          cfg.SpoolMax,
		Software:          "pogo/" + version,
		Log:               log,
		Debug:             cfg.Debug,
		Timeout:           cfg.Timeout,
		Traceback: func(ident uint64) (tb string, err error) {
			main.Do(func(t *cpython.Thread) { tb, err = t.Traceback(ident) })
			return tb, err
		},
	}
	// os._exit in a request: a worker is replaced as after a timeout, a
	// lone process stops as on SIGTERM; either ends with the app's code.
	appExit := make(chan int, 1)
	gwOpts.OnAppExit = func(code int) {
		if worker != nil {
			log.Warn(fmt.Sprintf("Worker %d asks to be replaced: the app called os._exit(%d) in a request (answered 500)", worker.ID, code))
			worker.Retire()
		} else {
			log.Warn(fmt.Sprintf("The app called os._exit(%d) in a request (answered 500): stopping once the other requests are done", code))
		}
		appExit <- code
	}
	if worker != nil {
		gwOpts.OnTimeout = func() {
			log.Warn(fmt.Sprintf("Worker %d asks to be replaced: a request timed out and its thread runs on", worker.ID))
			worker.Retire()
			// Its Python thread may hold the GIL: no one waits for it.
			go h.call("worker_abort", thisWorker(worker.ID), true)
		}
	}
	gw, err := wsgi.New(apps, gwOpts)
	if err != nil {
		return exitError, err
	}
	// Workers always count: the master logs and sums their figures.
	var rec *metrics.Recorder
	if worker != nil || cfg.MetricsBind != "" || sd != nil {
		rec = new(metrics.Recorder)
		if sd != nil {
			rec.Observe = sd.Request
		}
	}
	snapshot := func() metrics.Snapshot {
		s := rec.Snapshot()
		gw.Metrics(&s)
		return s
	}
	var ready atomic.Bool
	if worker == nil && cfg.MetricsBind != "" {
		stop, err := serveMetrics(cfg.MetricsBind, func() (metrics.Snapshot, *metrics.Workers, bool) {
			return snapshot(), nil, ready.Load()
		}, log)
		if err != nil {
			return exitError, err
		}
		defer stop()
	}
	srv := server.New(server.Options{
		Gateway:               gw,
		Log:                   log,
		Access:                access,
		Metrics:               rec,
		Routes:                table,
		Static:                dirs,
		Trusted:               trusted,
		ProxyProtocol:         cfg.ProxyProtocol,
		GatewayTimeouts:       cfg.Timeout > 0,
		TLS:                   tlsConfig,
		HTTP3:                 cfg.HTTP3,
		HTTP3ZeroRTT:          cfg.HTTP3ZeroRTT,
		KeepAlive:             cfg.KeepAlive,
		HeaderTimeout:         cfg.HeaderTimeout,
		MaxConns:              cfg.MaxConnections,
		LimitRequestLine:      cfg.LimitRequestLine,
		LimitRequestFields:    cfg.LimitRequestFields,
		LimitRequestFieldSize: cfg.LimitRequestFieldSize,
		LimitRequestBody:      cfg.LimitRequestBody,
	})

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ls) }()
	h3Err := make(chan error, 1)
	go func() {
		if err := srv.ServeHTTP3(pcs); err != nil {
			h3Err <- err
		}
	}()
	var tick <-chan time.Time
	retireAt := uint64(0)
	maxMemory := 0 // MB, once this worker has checked what it uses loaded
	if worker != nil {
		if cpu, err := worker.Bind(); err != nil {
			log.Warn(fmt.Sprintf("Worker %d not bound to CPU %d: %v", worker.ID, cpu, err))
		}
		log.Info(fmt.Sprintf("Worker %d ready: Python %s, %s", worker.ID, cpython.Version(), threadsText(cfg)))
		worker.Ready()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		tick = t.C
		if cfg.MaxRequests > 0 {
			retireAt = uint64(cfg.MaxRequests + rand.IntN(cfg.MaxRequestsJitter+1))
		}
		if cfg.MaxMemoryMB > 0 {
			if mb, err := residentMB(); err != nil {
				log.Warn("--max-memory: cannot read this worker's memory", "err", err)
				maxMemory = 0
			} else if maxMemory = cfg.MaxMemoryMB; mb >= maxMemory {
				// Replacing it would start one just as big.
				log.Warn(fmt.Sprintf("Worker %d uses %d MB once loaded, over --max-memory %d MB: it will not be replaced for its memory", worker.ID, mb, maxMemory))
				maxMemory = 0
			}
		}
	} else {
		program, _ := cpython.ProgramFor(cfg.Venv) // checked above
		log.Info(banner(ls, tlsConfig != nil, threadsText(cfg), program))
		for _, pc := range pcs {
			log.Info("HTTP/3 (QUIC) on UDP " + pc.LocalAddr().String())
		}
	}
	ready.Store(true)

	fast := false
	exitCode := exitOK
	for n := 0; ; n++ {
		select {
		case err = <-serveErr:
		case err = <-h3Err:
			log.Error("HTTP/3 stopped: stopping", "err", err)
			err, exitCode = nil, exitError // stop gracefully, for the requests in flight
		case <-ctx.Done():
		case code := <-appExit:
			if worker != nil {
				continue // the master stops it once its replacement is ready
			}
			exitCode = code
		case <-gone:
			log.Warn("The master has gone away: stopping")
		case sig := <-sigs:
			if sig == syscall.SIGUSR1 {
				for _, f := range reopen {
					if err := f(); err != nil {
						log.Error("Cannot reopen a log file", "err", err)
					}
				}
				log.Info("Reopened the log files")
				continue
			}
			if sig == syscall.SIGHUP && worker == nil && certStore != nil {
				certStore.Report(certStore.Reload(), "SIGHUP")
				continue
			}
			stop, now := stops(sig, worker != nil)
			if !stop {
				continue
			}
			fast = now
			if worker != nil && (sig == syscall.SIGINT || sig == syscall.SIGQUIT) {
				h.call("worker_int", thisWorker(worker.ID), true)
			}
		case <-tick:
			served := gw.Requests()
			if retireAt > 0 && served >= retireAt {
				worker.Retire()
				retireAt = 0
			}
			if maxMemory > 0 && n%10 == 0 {
				if mb, err := residentMB(); err == nil && mb > maxMemory {
					log.Warn(fmt.Sprintf("Worker %d asks to be replaced: it uses %d MB, over --max-memory %d MB", worker.ID, mb, maxMemory))
					worker.Retire()
					maxMemory = 0
				}
			}
			if n%10 == 0 {
				worker.Report(ptr(snapshot()))
			}
			continue
		}
		break
	}
	ready.Store(false)
	if err == nil {
		wait := cfg.GracefulTimeout
		if fast {
			wait = 0
		} else {
			log.Info("Shutting down: waiting for in-flight requests", "graceful_timeout", wait.String())
		}
		if worker == nil {
			// Our sockets: no one else will serve what queues in them.
			// (A worker's are the master's, which closes their gates.)
			server.CloseGates(cfg.Binds, ls)
		}
		sctx, cancel := context.WithTimeout(context.Background(), wait)
		err = srv.Shutdown(sctx)
		cancel()
		<-serveErr
		if worker != nil {
			worker.Report(ptr(snapshot()))
		}
		if fast {
			// Requests still in Python are cut off with the process.
			return exitOK, nil
		}
		if errors.Is(err, context.DeadlineExceeded) {
			// Requests still running in Python would block the thread
			// pool and atexit: leave them to the process exit.
			return exitError, fmt.Errorf("requests still running after --graceful-timeout %v; exiting", cfg.GracefulTimeout)
		}
	}
	if !gw.Close() {
		// A timed-out request's thread may hold the GIL for good.
		log.Warn(fmt.Sprintf("%d timed-out requests still running: exiting without atexit", gw.Stuck()))
		return exitOK, nil
	}
	if worker != nil {
		h.call("worker_exit", thisWorker(worker.ID), true)
	}
	main.Do(func(t *cpython.Thread) { t.Finalize() })
	if err != nil {
		return exitError, err
	}
	log.Info("Shutdown complete")
	return exitCode, nil
}

// debugBinds refuses --debug on a bind that another machine can reach:
// its clients would see the app's tracebacks, locals and environ.
func debugBinds(binds []string) error {
	for _, b := range binds {
		local, err := server.Loopback(b)
		if err != nil {
			return err
		}
		if !local {
			return fmt.Errorf("--debug shows tracebacks to every client, and %s is reachable from other machines: bind a loopback address (127.0.0.1), or add --debug-allow-remote", b)
		}
	}
	return nil
}

// logHandler is pogo's handler under log, if it is one.
func logHandler(log *slog.Logger) (*logging.Handler, bool) {
	switch h := log.Handler().(type) {
	case *logging.Handler:
		return h, true
	case *statsd.Handler:
		lh, ok := h.Handler.(*logging.Handler)
		return lh, ok
	}
	return nil, false
}

// startInterpreter starts Python (program's installation or venv) on
// its own main thread.
func startInterpreter(program string, errw io.Writer) (*cpython.Main, error) {
	keys, reserved := wsgi.EnvKeys()
	return cpython.StartMain(cpython.Options{
		Program:     program,
		Argv:        append([]string{"pogo"}, os.Args[1:]...),
		EnvKeys:     keys,
		EnvReserved: reserved,
		Errors:      errw,
	})
}

// pythonWorker is the worker whose Python startPython starts, and its
// hooks.
type pythonWorker struct {
	w     *supervisor.Worker // nil: not a worker
	hooks *hooks
	log   *slog.Logger // whose handler follows the app's log format
}

// startPython starts the interpreter, unless main is one already started
// (to read the config file), and loads the apps on its main thread, with
// a worker's post_fork and post_worker_init hooks before and after; an
// error comes with the exit code it calls for.
func startPython(cfg *config.Config, main *cpython.Main, errw io.Writer, pw *pythonWorker) (*cpython.Main, []*cpython.App, int, error) {
	var err error
	if main == nil {
		program, err := cpython.ProgramFor(cfg.Venv)
		if err != nil {
			return nil, nil, exitError, err
		}
		if main, err = startInterpreter(program, errw); err != nil {
			return nil, nil, exitError, err
		}
	} else {
		cpython.SetErrors(errw)
		// Python read the environment before --env was applied.
		env := map[string]string{}
		for _, kv := range cfg.Env {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		main.Do(func(t *cpython.Thread) { err = t.SetEnviron(env) })
		if err != nil {
			return nil, nil, exitError, err
		}
	}
	var apps []*cpython.App
	main.Do(func(t *cpython.Thread) {
		cwd, _ := os.Getwd()
		if err = t.AddPaths(append(cfg.PythonPath, cwd)); err != nil {
			err = fmt.Errorf("cannot load app: %w", err)
			return
		}
		var format, dateFmt string
		format, dateFmt, err = t.ConfigureLogging(cfg.LogLevel, cfg.LogConfig, cfg.LogConfigJSON, cfg.LogConfigDict)
		if err != nil {
			err = fmt.Errorf("cannot configure logging: %w", err)
		} else if format != "" && pw != nil && pw.log != nil {
			// pogo's own lines as the app's config formats gunicorn's.
			if h, ok := logHandler(pw.log); ok {
				if ferr := h.SetFormat(format, dateFmt); ferr != nil {
					pw.log.Warn("The log format of gunicorn.error is not used for pogo's log", "err", ferr)
				}
			}
		}
	})
	if err != nil {
		return nil, nil, exitAppLoad, err
	}
	var w *supervisor.Worker
	if pw != nil && pw.w != nil {
		w = pw.w
		if err := pw.hooks.call("post_fork", thisWorker(w.ID), true); err != nil {
			return nil, nil, exitError, err
		}
	}
	mode := cpython.Threaded
	switch {
	case cfg.CGI:
		mode = cpython.RunOnce
	case w != nil:
		mode = cpython.Multiprocess
	}
	main.Do(func(t *cpython.Thread) { apps, err = loadApps(t, cfg, mode) })
	if err != nil && cfg.Debug && cfg.Reload && w != nil {
		// Development: until an edit reloads the workers, every request
		// gets the page of why the app did not import, where there would
		// be no worker to answer, or the code from before the edit.
		logLoadError(pw.log, err)
		main.Do(func(t *cpython.Thread) { apps, err = loadFailed(t, cfg, mode) })
	}
	if err != nil {
		return nil, nil, exitAppLoad, err
	}
	if w != nil {
		if err := pw.hooks.call("post_worker_init", thisWorker(w.ID), true); err != nil {
			return nil, nil, exitError, err
		}
	}
	return main, apps, exitOK, nil
}

// reloadDirs are where --reload looks for .py files: the app's working
// directory and --pythonpath.
func reloadDirs(cfg *config.Config) []string {
	if !cfg.Reload {
		return nil
	}
	wd, _ := os.Getwd()
	dirs := []string{wd}
	for _, d := range cfg.PythonPath {
		if a, err := filepath.Abs(d); err == nil {
			dirs = append(dirs, a)
		}
	}
	return dirs
}

// writePidFile writes this process's pid to path and returns a function
// that removes the file if it still holds that pid.
func writePidFile(path string) (func(), error) {
	pid := strconv.Itoa(os.Getpid()) + "\n"
	if err := os.WriteFile(path, []byte(pid), 0o644); err != nil {
		return nil, fmt.Errorf("--pid: %w", err)
	}
	return func() {
		if b, err := os.ReadFile(path); err == nil && string(b) == pid {
			os.Remove(path)
		}
	}, nil
}

// runMaster binds the listeners and runs the workers under a supervisor.
// The workers are this program with the same arguments, started in the
// directory pogo was started in (wd).
func runMaster(ctx context.Context, sigs <-chan os.Signal, args []string, wd string, cfg *config.Config, main *cpython.Main, sd *statsd.Client, log *slog.Logger, errw, stdout, stderr io.Writer) (int, error) {
	exe, err := os.Executable()
	if err != nil {
		return exitError, err
	}
	// A worker would fail on these too, once per restart: fail here, once.
	if _, err := cpython.ProgramFor(cfg.Venv); err != nil {
		return exitError, err
	}
	if _, _, err := loadTLS(cfg); err != nil {
		return exitError, err
	}
	cred, err := credential(cfg)
	if err != nil {
		return exitUsage, err
	}
	chownLogs(cfg, cred)
	workers := max(cfg.Workers, 1)
	h, err := newHooks(cfg, main, log, os.Getpid())
	if err != nil {
		return exitError, err
	}
	// As gunicorn's arbiter: the number of workers is set, then on_starting
	// runs before it binds, and an exception in either stops it.
	if err := h.call("nworkers_changed", nil, false, workers, nil); err != nil {
		return exitError, err
	}
	if err := h.call("on_starting", nil, false); err != nil {
		return exitError, err
	}
	slots, err := server.NewSlots(cfg.Binds, cfg.Backlog, cfg.HTTP3)
	if err != nil {
		return exitError, err
	}
	defer slots.Close()
	// The first slot's sockets now: a port in use fails here, and the
	// banner shows the ports that binds with port 0 got.
	first, err := slots.Open()
	if err != nil {
		return exitError, err
	}
	sockets := func() ([]*os.File, error) {
		if f := first; f != nil {
			first = nil
			return f, nil
		}
		return slots.Open()
	}
	if cfg.PidFile != "" {
		remove, err := writePidFile(cfg.PidFile)
		if err != nil {
			return exitError, err
		}
		defer remove()
	}
	log.Info(fmt.Sprintf("pogo %s master, listening on %s, %d workers, pid %d",
		version, strings.Join(urls(slots.Addrs(), len(cfg.CertFiles) > 0), " "), workers, os.Getpid()))
	h.set("address", urls(slots.Addrs(), len(cfg.CertFiles) > 0))
	if err := h.call("when_ready", nil, false); err != nil {
		return exitError, err
	}
	defer h.call("on_exit", nil, false)
	var reopen func()
	if f, ok := errw.(*logging.File); ok {
		reopen = func() {
			if err := f.Reopen(); err != nil {
				log.Error("Cannot reopen the error log", "err", err)
			}
		}
	}
	type published struct {
		s     metrics.Snapshot
		w     metrics.Workers
		ready bool
	}
	var latest atomic.Pointer[published]
	lastRunning := -1 // workers, last sent to StatsD
	latest.Store(&published{})
	if cfg.MetricsBind != "" {
		stop, err := serveMetrics(cfg.MetricsBind, func() (metrics.Snapshot, *metrics.Workers, bool) {
			p := latest.Load()
			return p.s, &p.w, p.ready
		}, log)
		if err != nil {
			return exitError, err
		}
		defer stop()
	}
	err = supervisor.Run(ctx, supervisor.Options{
		Publish: func(s metrics.Snapshot, w metrics.Workers, ready bool) {
			latest.Store(&published{s, w, ready})
			if w.Running != lastRunning {
				lastRunning = w.Running
				sd.Gauge("gunicorn.workers", w.Running)
			}
		},
		Signals:         sigs,
		Workers:         workers,
		Exe:             exe,
		Args:            args,
		Dir:             wd,
		CPUAffinity:     supervisor.Affinity(cfg.CPUAffinity),
		Sockets:         sockets,
		CloseGates:      slots.CloseGates,
		Stdout:          stdout,
		Stderr:          stderr,
		GracefulTimeout: cfg.GracefulTimeout,
		Log:             log,
		Reopen:          reopen,
		Reload:          cfg.Reload,
		ReloadDirs:      reloadDirs(cfg),
		ReloadFiles:     cfg.ReloadExtraFiles,
		Credential:      cred,
		Hooks: supervisor.Hooks{
			PreFork:   func(id int) { h.call("pre_fork", workerArg(id, 0), false) },
			ChildExit: func(id, pid int) { h.call("child_exit", workerArg(id, pid), false) },
			WorkersChanged: func(n, old int) {
				h.set("workers", n)
				h.call("nworkers_changed", nil, false, n, old)
			},
			Reloading: func() { h.call("on_reload", nil, false) },
		},
	})
	var be *supervisor.BootError
	switch {
	case errors.As(err, &be):
		// The worker has said why on stderr.
		return be.Code, nil
	case err != nil:
		return exitError, err
	}
	log.Info("Shutdown complete")
	return exitOK, nil
}

// threadsText says how many Python threads run, for the start-up log.
func threadsText(cfg *config.Config) string {
	if cfg.Threads > 0 {
		return fmt.Sprintf("%d threads", cfg.Threads)
	}
	return fmt.Sprintf("threads adapted up to %d", orDefault(cfg.MaxThreads, wsgi.DefaultMaxThreads))
}

func orDefault(n, d int) int {
	if n == 0 {
		return d
	}
	return n
}

func banner(ls []net.Listener, https bool, threads, exe string) string {
	if exe == "" {
		exe = "built-in prefix"
	}
	return fmt.Sprintf("pogo %s, Python %s (%s), listening on %s, %s, pid %d",
		version, cpython.Version(), exe, strings.Join(urls(listenerAddrs(ls), https), " "), threads, os.Getpid())
}

func listenerAddrs(ls []net.Listener) []net.Addr {
	var out []net.Addr
	for _, l := range ls {
		out = append(out, l.Addr())
	}
	return out
}

// urls gives listening addresses as URLs.
func urls(addrs []net.Addr, https bool) []string {
	var out []string
	for _, a := range addrs {
		switch {
		case a.Network() == "unix":
			out = append(out, "unix:"+a.String())
		case https:
			out = append(out, "https://"+a.String())
		default:
			out = append(out, "http://"+a.String())
		}
	}
	return out
}

// openAccessLog returns the access logger, and the file under it when it
// writes to one.
func openAccessLog(cfg *config.Config, stdout io.Writer) (*accesslog.Logger, *logging.File, error) {
	if cfg.AccessLogFile == "" {
		return nil, nil, nil
	}
	format := cfg.AccessLogFormat
	if format == "" {
		format = accesslog.DefaultFormat
	}
	var w io.Writer = stdout
	var f *logging.File
	if cfg.AccessLogFile != "-" {
		var err error
		if f, err = logging.OpenFile(cfg.AccessLogFile); err != nil {
			return nil, nil, fmt.Errorf("--access-logfile: %w", err)
		}
		w = f
	}
	l, err := accesslog.New(w, format)
	if err != nil {
		if f != nil {
			f.Close()
		}
		return nil, nil, fmt.Errorf("--access-logformat: %w", err)
	}
	return l, f, nil
}

func ptr[T any](v T) *T { return &v }

// residentMB is this process's resident memory in MiB (/proc/self/statm).
func residentMB() (int, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, fmt.Errorf("/proc/self/statm: %q", b)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/self/statm: %w", err)
	}
	return int(pages * int64(os.Getpagesize()) >> 20), nil
}
