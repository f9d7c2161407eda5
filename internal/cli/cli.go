// Package cli is pogo's command line: gunicorn's flags in, a running server
// out. Run takes the arguments and stdio and returns the exit code, so the
// whole CLI is testable in-process.
package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/pogoserver/pogo/internal/accesslog"
	"github.com/pogoserver/pogo/internal/config"
	"github.com/pogoserver/pogo/internal/cpython"
	"github.com/pogoserver/pogo/internal/logging"
	"github.com/pogoserver/pogo/internal/server"
	"github.com/pogoserver/pogo/internal/wsgi"
)

// version is set at link time by the Makefile.
var version = "dev"

// Exit codes.
const (
	exitOK      = 0
	exitError   = 1 // could not start: bad config, port in use, ...
	exitUsage   = 2 // bad flags
	exitAppLoad = 4 // the app could not be imported (gunicorn's APP_LOAD_ERROR)
)

// Run runs pogo with args (without the program name) until ctx is done or
// a SIGTERM/SIGINT arrives, and returns the exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parse(args)
	switch {
	case errors.Is(err, errHelp):
		usage(stdout)
		return exitOK
	case errors.Is(err, errVersion):
		fmt.Fprintf(stdout, "pogo %s (built with Python %s)\n", version, cpython.BuildVersion())
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "pogo: error: %v\n", err)
		return exitUsage
	}
	code, err := run(ctx, &cfg, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "pogo: error: %v\n", err)
		var pe *cpython.Error
		if errors.As(err, &pe) && pe.Traceback != "" {
			io.WriteString(stderr, pe.Traceback)
		}
	}
	return code
}

func run(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) (int, error) {
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
	log := slog.New(logging.NewHandler(errw, level))

	access, err := openAccessLog(cfg, stdout)
	if err != nil {
		return exitUsage, err
	}
	if access != nil {
		defer access.Close()
	}

	for _, kv := range cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	if cfg.Chdir != "" {
		if err := os.Chdir(cfg.Chdir); err != nil {
			return exitError, fmt.Errorf("--chdir: %w", err)
		}
	}
	program, err := cpython.ProgramFor(cfg.Venv)
	if err != nil {
		return exitError, err
	}
	var tlsConfig *tls.Config
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return exitError, fmt.Errorf("loading TLS certificate: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	}

	// Bind before importing the app, so a port in use fails fast.
	ls, err := server.Listen(cfg.Binds, cfg.Backlog)
	if err != nil {
		return exitError, err
	}
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()

	main, err := cpython.StartMain(cpython.Options{
		Program: program,
		Argv:    append([]string{"pogo"}, os.Args[1:]...),
		EnvKeys: wsgi.EnvKeys(),
		Errors:  errw,
	})
	if err != nil {
		return exitError, err
	}
	var app *cpython.App
	main.Do(func(t *cpython.Thread) {
		cwd, _ := os.Getwd()
		if err = t.AddPaths(append(cfg.PythonPath, cwd)); err != nil {
			return
		}
		app, err = t.Load(cfg.App, false)
	})
	if err != nil {
		return exitAppLoad, fmt.Errorf("cannot load app %q: %w", cfg.App, err)
	}

	threads := cfg.Threads
	if threads == 0 {
		threads = config.DefaultThreads
	}
	gw, err := wsgi.New(app, wsgi.Options{
		Threads:   threads,
		QueueSize: cfg.QueueSize,
		Software:  "pogo/" + version,
		Log:       log,
	})
	if err != nil {
		return exitError, err
	}
	srv := server.New(server.Options{
		Gateway:               gw,
		Log:                   log,
		Access:                access,
		TLS:                   tlsConfig,
		KeepAlive:             cfg.KeepAlive,
		HeaderTimeout:         cfg.HeaderTimeout,
		MaxConns:              cfg.MaxConnections,
		LimitRequestLine:      cfg.LimitRequestLine,
		LimitRequestFields:    cfg.LimitRequestFields,
		LimitRequestFieldSize: cfg.LimitRequestFieldSize,
		LimitRequestBody:      cfg.LimitRequestBody,
	})

	// Catch signals before the banner says we are up.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log.Info(banner(ls, tlsConfig != nil, threads))
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ls) }()
	select {
	case err = <-serveErr:
	case <-ctx.Done():
		log.Info("Shutting down: waiting for in-flight requests", "graceful_timeout", cfg.GracefulTimeout.String())
		sctx, cancel := context.WithTimeout(context.Background(), cfg.GracefulTimeout)
		err = srv.Shutdown(sctx)
		cancel()
		<-serveErr
		if errors.Is(err, context.DeadlineExceeded) {
			// Requests still running in Python would block the thread
			// pool and atexit: leave them to the process exit.
			return exitError, fmt.Errorf("requests still running after --graceful-timeout %v; exiting", cfg.GracefulTimeout)
		}
	}
	gw.Close()
	main.Do(func(t *cpython.Thread) { t.Finalize() })
	if err != nil {
		return exitError, err
	}
	log.Info("Shutdown complete")
	return exitOK, nil
}

func banner(ls []net.Listener, https bool, threads int) string {
	var addrs []string
	for _, l := range ls {
		a := l.Addr()
		switch {
		case a.Network() == "unix":
			addrs = append(addrs, "unix:"+a.String())
		case https:
			addrs = append(addrs, "https://"+a.String())
		default:
			addrs = append(addrs, "http://"+a.String())
		}
	}
	exe := cpython.DefaultProgram
	if exe == "" {
		exe = "built-in prefix"
	}
	return fmt.Sprintf("pogo %s, Python %s (%s), listening on %s, %d threads, pid %d",
		version, cpython.Version(), exe, strings.Join(addrs, " "), threads, os.Getpid())
}

func openAccessLog(cfg *config.Config, stdout io.Writer) (*accesslog.Logger, error) {
	if cfg.AccessLogFile == "" {
		return nil, nil
	}
	format := cfg.AccessLogFormat
	if format == "" {
		format = accesslog.DefaultFormat
	}
	var w io.Writer = stdout
	if cfg.AccessLogFile != "-" {
		f, err := os.OpenFile(cfg.AccessLogFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("--access-logfile: %w", err)
		}
		w = f
	}
	l, err := accesslog.New(w, format)
	if err != nil {
		return nil, fmt.Errorf("--access-logformat: %w", err)
	}
	return l, nil
}
