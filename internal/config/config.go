// Package config holds pogo's configuration: one plain struct filled by the
// CLI (gunicorn's flag names), with documented zero values and Validate.
package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Config is the whole server configuration. The zero value of each field is
// documented; Defaults returns gunicorn's defaults where gunicorn has them.
type Config struct {
	// App is the WSGI app spec: MODULE:CALLABLE or MODULE:factory(args).
	// It serves the paths no mount takes on hosts no virtual host takes;
	// it may be empty when Mounts or VirtualHosts are given (nothing
	// else is then served: 404).
	App string
	// Paste, if set, is a PasteDeploy config file (pogo development.ini):
	// the app is PasteApp loaded from it by paste.deploy.loadapp with
	// PasteVars as global settings, its [server:PasteServer] section sets
	// what no flag sets, and its logging sections configure Python's
	// logging. App is then the spec the gateway loads it by.
	Paste                 string
	PasteApp, PasteServer string            // if "", "main"
	PasteVars             map[string]string // NAME=VALUE after the file
	// Notes are messages from reading the config (keys of a server
	// section pogo does not use), for the log at start.
	Notes []string
	// NotApplied lists the gunicorn settings given that pogo does not
	// apply, each with what pogo does instead ("reuse_port: ..."), for
	// one warning at start.
	NotApplied []string

	// ConfigFile is the gunicorn config file read (-c, or
	// ./gunicorn.conf.py): a path or python:MODULE. Empty: none.
	ConfigFile string
	// Hooks are the gunicorn server hooks the config file defines
	// (on_starting, post_fork, ...), by name.
	Hooks []string
	// WorkerClass is gunicorn's worker class: "" (pogo's own), "sync"
	// (one thread unless Threads says more) or "gthread".
	WorkerClass string
	// Preload imports the app in the master before the workers start,
	// so an app that cannot load fails once, before any worker.
	Preload bool
	// CheckConfig loads the config and the app, then exits; PrintConfig
	// also prints the resolved configuration first.
	CheckConfig, PrintConfig bool
	// ProcName, if set, names pogo's processes (their comm, as ps and
	// top show it): gunicorn's proc_name.
	ProcName string
	// CaptureOutput sends the processes' stdout and stderr to the error
	// log file (when there is one).
	CaptureOutput bool
	// LogConfig configures the app's Python logging as gunicorn's
	// logconfig settings do: a logging.config.fileConfig file
	// (LogConfig), a JSON file for dictConfig (LogConfigJSON), or a
	// dictConfig dict as JSON (LogConfigDict).
	LogConfig, LogConfigJSON, LogConfigDict string
	// Daemon detaches pogo from its terminal: it starts itself again in a
	// new session, with stdin, stdout and stderr on /dev/null (kept with
	// KeepStdio, gunicorn's enable_stdio_inheritance), and exits.
	Daemon, KeepStdio bool
	// User and Group, if set, are who the workers run as (a name or a
	// number): gunicorn's user and group. The master stays who started
	// it, to bind, write the pid file and supervise; they imply workers.
	User, Group string
	// InitGroups also gives the workers User's supplementary groups.
	InitGroups bool
	// StatsdHost, if set, is a StatsD server (HOST:PORT or unix:PATH)
	// that gets gunicorn's metrics, named with StatsdPrefix and tagged
	// with DogstatsdTags.
	StatsdHost, StatsdPrefix, DogstatsdTags string
	// Mounts serve the paths at and under a prefix with another app
	// (--mount /prefix=SPEC): SCRIPT_NAME is the prefix, PATH_INFO the
	// rest; the longest prefix wins, on whole segments.
	Mounts []Route
	// VirtualHosts serve every request for a Host (exact, or
	// *.example.com for its subdomains; port ignored) with an app
	// (--vhost HOST=SPEC).
	VirtualHosts []Route
	// RootPath, if set, is the SCRIPT_NAME of App, for an app behind a
	// proxy at that prefix; a path under it is cut to PATH_INFO.
	RootPath string
	// ForwardedAllowIPs lists the peers (IPs, CIDR prefixes, or "*")
	// whose proxy headers are believed: X-Forwarded-For, -Proto, -Host
	// and Forwarded set REMOTE_ADDR, wsgi.url_scheme and HTTP_HOST.
	// Defaults sets gunicorn's "127.0.0.1,::1" (or $FORWARDED_ALLOW_IPS);
	// "" trusts no one.
	ForwardedAllowIPs string
	// SecureSchemeHeaders, if not nil, replaces gunicorn's default
	// secure_scheme_headers (X-Forwarded-Protocol: ssl, X-Forwarded-Ssl:
	// on): headers from those peers whose value means https.
	// X-Forwarded-Proto and Forwarded are read whatever it says.
	SecureSchemeHeaders map[string]string
	// ProxyProtocol reads PROXY protocol v1/v2 headers from those peers.
	ProxyProtocol bool
	// Static directories are served by Go before the apps
	// (--static /prefix=DIR); files they lack go on to the apps.
	Static []Route
	// StaticMaxAge, if not negative, sends Cache-Control: public,
	// max-age with static files. Defaults sets -1 (none).
	StaticMaxAge time.Duration
	// Binds are the addresses to listen on: HOST:PORT, [::1]:PORT, :PORT,
	// HOST (port 8000), unix:PATH or fd://N (an inherited socket). If
	// empty, 127.0.0.1:8000 is used; under systemd socket activation
	// (LISTEN_FDS), the sockets it passed.
	Binds []string
	// Workers is the number of worker processes, each with its own
	// interpreter, under a master that supervises them. Zero means no
	// master: this process serves (one worker if MaxRequests, MaxMemoryMB
	// or Timeout is set).
	Workers int
	// MaxRequests recycles a worker after about this many requests, plus
	// up to MaxRequestsJitter more (chosen per worker). Zero: never.
	MaxRequests, MaxRequestsJitter int
	// MaxMemoryMB replaces a worker gracefully once its resident memory
	// passes this many MiB (uWSGI's reload-on-rss; implies a master, as
	// MaxRequests does). Zero: never.
	MaxMemoryMB int
	// Reload restarts the workers when a .py file under the app's
	// directories (the working directory and PythonPath) or one of
	// ReloadExtraFiles changes: for development. Implies a master.
	Reload           bool
	ReloadExtraFiles []string
	// Debug answers an exception before the response started with a
	// page of its traceback (frames, source lines, locals) and the
	// request, instead of a bare 500; with Reload, an app that fails to
	// import after an edit is a page of that error until the next edit.
	// Refused on a bind that is not loopback unless DebugAllowRemote.
	Debug, DebugAllowRemote bool
	// CGI serves exactly one request from the CGI/1.1 environment and
	// stdin, and writes the CGI response to stdout (RFC 3875).
	CGI bool
	// CPUAffinity binds each worker to one CPU, round robin: "on"
	// always, "off" never, "" when the workers are as many as the CPUs
	// pogo may run on (one each).
	CPUAffinity string
	// MetricsBind, if set, is an address (as in Binds) serving /metrics
	// (Prometheus), /healthz and /readyz; with workers, from the master.
	MetricsBind string
	// PidFile, if set, is where the server's pid (the master's, with
	// workers) is written at start; it is removed at exit.
	PidFile string
	// Umask, if not -1, is set before binding and loading the app, so it
	// also decides the mode of unix socket files. Defaults sets -1.
	Umask int
	// Timeout, if positive, bounds a request's time in the app: the client
	// gets 504, the stuck thread's traceback is logged and its worker is
	// replaced (so it implies a master, as MaxRequests does). Zero: none.
	Timeout time.Duration
	// Threads, if positive, is a fixed number of Python threads: at most
	// that many requests run the app at once. If zero, pogo adapts the
	// number to the app, up to MaxThreads.
	Threads int
	// MaxThreads is the most Python threads when Threads is zero. If
	// zero, wsgi.DefaultMaxThreads.
	MaxThreads int
	// ThreadIdleTimeout ends an adapted Python thread idle this long,
	// with its threading.local data. If zero, 30s.
	ThreadIdleTimeout time.Duration
	// QueueSize bounds the requests waiting for a Python thread; beyond it
	// clients get 503. If zero, 2048.
	QueueSize int
	// SpoolMax is the largest request body read before the app is called
	// (past 256 KiB into a temporary file); longer ones are streamed to
	// the app. Zero: bodies over 256 KiB are streamed. Defaults sets
	// DefaultSpoolMax.
	SpoolMax int64
	// Backlog is the listen(2) backlog. If zero, 2048.
	Backlog int
	// MaxConnections bounds open client connections; beyond it new ones
	// wait in the listen backlog. Zero means no limit. Defaults sets 10000.
	MaxConnections int

	// Chdir is the directory to change to before loading the app; "" = stay.
	Chdir string
	// PythonPath lists directories put first on sys.path.
	PythonPath []string
	// Env holds KEY=VALUE pairs set in the environment before Python starts.
	Env []string
	// Venv is a virtualenv to use; "" = $VIRTUAL_ENV if set, else none.
	Venv string

	// AccessLogFile is where access lines go: "-" = stdout, "" = nowhere.
	AccessLogFile string
	// AccessLogFormat is a gunicorn access_log_format, or "json" or
	// "combined". If empty, gunicorn's default.
	AccessLogFormat string
	// ErrorLogFile is the error log: "-" or "" = stderr.
	ErrorLogFile string
	// LogLevel is debug, info, warning, error or critical. If empty, info.
	LogLevel string

	// CertFiles and KeyFiles, in pairs, enable TLS on every bind: a
	// client gets the first certificate valid for the name it asks for
	// (SNI), else the first.
	CertFiles, KeyFiles []string
	// CACerts is a PEM file of the CAs that client certificates are
	// verified against; CertReqs is gunicorn's cert_reqs: 0 asks for no
	// client certificate, 1 verifies one if sent, 2 requires one.
	CACerts  string
	CertReqs int
	// HTTP3 serves HTTP/3 (QUIC) on the UDP port of each TLS bind;
	// HTTP3ZeroRTT accepts 0-RTT early data, which can be replayed.
	HTTP3, HTTP3ZeroRTT bool
	// SSLMinVersion is the lowest TLS version offered, 1.2 or 1.3; it
	// takes precedence over SSLVersion.
	SSLMinVersion string
	// SSLVersion is gunicorn's ssl_version; only TLSv1_2 and TLSv1_3
	// (or their numbers) change anything: the lowest version offered.
	SSLVersion string
	// Ciphers is an OpenSSL cipher list for TLS 1.2; the suites Go has
	// are used, in Go's order.
	Ciphers string

	// KeepAlive is how long an idle keep-alive connection is kept. Zero
	// disables keep-alive. Defaults sets gunicorn's 2s.
	KeepAlive time.Duration
	// HeaderTimeout bounds reading a request's line and headers (slow
	// clients). If zero, 10s.
	HeaderTimeout time.Duration

	// LimitRequestLine is the longest request line in bytes (414 beyond).
	// Zero means unlimited. Defaults sets gunicorn's 4094.
	LimitRequestLine int
	// LimitRequestFields is the most header fields a request may have
	// (431 beyond). Zero means 32768. Defaults sets gunicorn's 100.
	LimitRequestFields int
	// LimitRequestFieldSize is the longest header field in bytes (431
	// beyond). Zero means unlimited. Defaults sets gunicorn's 8190.
	LimitRequestFieldSize int
	// LimitRequestBody is the largest request body in bytes (413 beyond).
	// Zero means unlimited.
	LimitRequestBody int64

	// GracefulTimeout bounds how long in-flight requests may take to finish
	// on shutdown. If zero, 30s.
	GracefulTimeout time.Duration
}

// DefaultSpoolMax is SpoolMax's default: 64 MiB.
const DefaultSpoolMax = 64 << 20

// forwardedDefault is gunicorn's default for forwarded_allow_ips, which
// also reads it from the environment.
func forwardedDefault() string {
	if v, ok := os.LookupEnv("FORWARDED_ALLOW_IPS"); ok {
		return v
	}
	return "127.0.0.1,::1"
}

// Route is one KEY=VALUE of --mount, --vhost or --static.
type Route struct{ Key, Value string }

// Defaults returns a Config with gunicorn's defaults.
func Defaults() Config {
	return Config{
		Binds:                 []string{"127.0.0.1:8000"},
		Umask:                 -1,
		SpoolMax:              DefaultSpoolMax,
		StaticMaxAge:          -1,
		ForwardedAllowIPs:     forwardedDefault(),
		Backlog:               2048,
		MaxConnections:        10000,
		AccessLogFormat:       "",
		LogLevel:              "info",
		KeepAlive:             2 * time.Second,
		HeaderTimeout:         10 * time.Second,
		LimitRequestLine:      4094,
		LimitRequestFields:    100,
		LimitRequestFieldSize: 8190,
		GracefulTimeout:       30 * time.Second,
	}
}

// Validate reports the first invalid field by its flag name.
func (c *Config) Validate() error {
	switch {
	case c.App == "":
		return errors.New("no application given: want MODULE:CALLABLE")
	case c.Workers < 0:
		return fmt.Errorf("--workers must be >= 1, got %d", c.Workers)
	case c.MaxRequests < 0:
		return fmt.Errorf("--max-requests must be >= 0, got %d", c.MaxRequests)
	case c.MaxRequestsJitter < 0:
		return fmt.Errorf("--max-requests-jitter must be >= 0, got %d", c.MaxRequestsJitter)
	case c.MaxMemoryMB < 0:
		return fmt.Errorf("--max-memory must be >= 0 (MB), got %d", c.MaxMemoryMB)
	case c.Threads < 0:
		return fmt.Errorf("--threads must be >= 1, got %d", c.Threads)
	case c.MaxThreads < 0 || c.MaxThreads == 1:
		return fmt.Errorf("--max-threads must be >= 2, got %d", c.MaxThreads)
	case c.ThreadIdleTimeout < 0:
		return fmt.Errorf("--thread-idle-timeout must be >= 0, got %v", c.ThreadIdleTimeout)
	case c.SpoolMax < 0:
		return fmt.Errorf("--spool-max must be >= 0, got %d", c.SpoolMax)
	case c.QueueSize < 0:
		return fmt.Errorf("--queue-size must be >= 0, got %d", c.QueueSize)
	case c.MaxConnections < 0:
		return fmt.Errorf("--worker-connections must be >= 0, got %d", c.MaxConnections)
	case c.Backlog < 0:
		return fmt.Errorf("--backlog must be >= 0, got %d", c.Backlog)
	case c.LimitRequestLine < 0:
		return fmt.Errorf("--limit-request-line must be >= 0, got %d", c.LimitRequestLine)
	case c.LimitRequestFields < 0:
		return fmt.Errorf("--limit-request-fields must be >= 0, got %d", c.LimitRequestFields)
	case c.LimitRequestFieldSize < 0:
		return fmt.Errorf("--limit-request-field_size must be >= 0, got %d", c.LimitRequestFieldSize)
	case c.LimitRequestBody < 0:
		return fmt.Errorf("--limit-request-body must be >= 0, got %d", c.LimitRequestBody)
	case c.Timeout < 0:
		return fmt.Errorf("--timeout must be >= 0, got %v", c.Timeout)
	case c.KeepAlive < 0:
		return fmt.Errorf("--keep-alive must be >= 0, got %v", c.KeepAlive)
	case len(c.CertFiles) != len(c.KeyFiles):
		return errors.New("--certfile and --keyfile must be given together, in pairs")
	case (c.HTTP3 || c.HTTP3ZeroRTT) && len(c.CertFiles) == 0:
		return errors.New("--http3 needs TLS: --certfile and --keyfile")
	}
	if c.App == "" && len(c.Mounts) == 0 && len(c.VirtualHosts) == 0 {
		return errors.New("no application given: usage: pogo [OPTIONS] MODULE:CALLABLE")
	}
	for _, r := range c.Mounts {
		if !strings.HasPrefix(r.Key, "/") || r.Value == "" {
			return fmt.Errorf("--mount %s=%s: want /PREFIX=MODULE:CALLABLE", r.Key, r.Value)
		}
	}
	for _, r := range c.VirtualHosts {
		if r.Key == "" || r.Value == "" {
			return fmt.Errorf("--vhost %s=%s: want HOST=MODULE:CALLABLE", r.Key, r.Value)
		}
	}
	for _, r := range c.Static {
		if !strings.HasPrefix(r.Key, "/") || r.Value == "" {
			return fmt.Errorf("--static %s=%s: want /PREFIX=DIRECTORY", r.Key, r.Value)
		}
	}
	if c.RootPath != "" && !strings.HasPrefix(c.RootPath, "/") {
		return fmt.Errorf("--root-path %q must start with /", c.RootPath)
	}
	for _, kv := range c.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("--env %q: want KEY=VALUE", kv)
		}
	}
	for _, b := range c.Binds {
		if b == "" || b == "unix:" {
			return fmt.Errorf("--bind %q: empty address", b)
		}
	}
	return nil
}
