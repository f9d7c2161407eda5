package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/pogoserver/pogo/internal/config"
	"github.com/pogoserver/pogo/internal/cpython"
)

// This file makes pogo a drop-in for gunicorn: its config file (-c, or
// ./gunicorn.conf.py), GUNICORN_CMD_ARGS, $PORT and $WEB_CONCURRENCY, and
// every option and setting gunicorn documents, each either applied or
// named in the warning pogo logs at start, with what pogo does instead.

// notApplied is the set function of a gunicorn option pogo accepts and
// does not apply: it records the setting and what pogo does instead.
func notApplied(setting, instead string) func(*config.Config, string) error {
	return func(c *config.Config, _ string) error {
		note := setting + ": " + instead
		if !slices.Contains(c.NotApplied, note) {
			c.NotApplied = append(c.NotApplied, note)
		}
		return nil
	}
}

func boolFlag(dst func(*config.Config) *bool) func(*config.Config, string) error {
	return func(c *config.Config, _ string) error { *dst(c) = true; return nil }
}

// workerClasses are gunicorn's worker classes (-k) by the names users
// give them, and what pogo says to those it does not run.
var workerClasses = map[string]string{
	"sync":    "",
	"gthread": "",
}

const concurrencyAdvice = "pogo serves WSGI with its own concurrency (Python threads adapted to the app, up to --max-threads, with all socket I/O in Go): drop -k, or give --threads N for a fixed number"

// workerClass normalises a -k value: gunicorn takes "sync",
// "egg:gunicorn#sync" and "gunicorn.workers.sync.SyncWorker" alike.
func workerClass(v string) string {
	v = strings.TrimPrefix(v, "egg:gunicorn#")
	switch v {
	case "gunicorn.workers.sync.SyncWorker":
		return "sync"
	case "gunicorn.workers.gthread.ThreadWorker":
		return "gthread"
	}
	return v
}

func setWorkerClass(c *config.Config, v string) error {
	k := workerClass(v)
	if _, ok := workerClasses[k]; !ok {
		return fmt.Errorf("%s is not a WSGI worker pogo runs: %s", v, concurrencyAdvice)
	}
	c.WorkerClass = k
	return nil
}

// applyWorkerClass maps -k to threads as gunicorn does: sync runs one
// request at a time per worker, and becomes gthread with --threads N;
// gthread without --threads has gunicorn's one thread.
func applyWorkerClass(c *config.Config) error {
	if c.WorkerClass != "" && c.Threads == 0 {
		c.Threads = 1
	}
	return nil
}

// gunicornFlags are gunicorn's command-line options that pogo has no flag
// of its own for. Those it applies say so in their help.
var gunicornFlags = []flag{
	{[]string{"-c", "--config"}, "CONFIG", "gunicorn config file (Python) or python:MODULE; default ./gunicorn.conf.py if present",
		strFlag(func(c *config.Config) *string { return &c.ConfigFile })},
	{[]string{"-k", "--worker-class"}, "CLASS", "gunicorn worker class: sync (one thread per worker unless --threads) or gthread; others are refused",
		setWorkerClass},
	{[]string{"--preload"}, "", "import the app in the master first, so an app that cannot load fails before any worker starts",
		boolFlag(func(c *config.Config) *bool { return &c.Preload })},
	{[]string{"--check-config"}, "", "read the configuration and load the app, then exit (0 if both are good)",
		boolFlag(func(c *config.Config) *bool { return &c.CheckConfig })},
	{[]string{"--print-config"}, "", "print the resolved configuration, then check it as --check-config",
		boolFlag(func(c *config.Config) *bool { return &c.PrintConfig })},
	{[]string{"-n", "--name"}, "NAME", "process name (comm, as ps -o comm and top show it) of the master and workers",
		strFlag(func(c *config.Config) *string { return &c.ProcName })},
	{[]string{"--capture-output"}, "", "send stdout and stderr to the --error-logfile file",
		boolFlag(func(c *config.Config) *bool { return &c.CaptureOutput })},
	{[]string{"--log-config"}, "FILE", "configure the app's Python logging from FILE (logging.config.fileConfig)",
		strFlag(func(c *config.Config) *string { return &c.LogConfig })},
	{[]string{"--log-config-json"}, "FILE", "configure the app's Python logging from a JSON file (logging.config.dictConfig)",
		strFlag(func(c *config.Config) *string { return &c.LogConfigJSON })},
	{[]string{"--paste-global"}, "NAME=VALUE", "a variable of the --paste file (repeatable)",
		func(c *config.Config, v string) error {
			k, val, ok := strings.Cut(v, "=")
			if !ok || k == "" {
				return fmt.Errorf("%q: want NAME=VALUE", v)
			}
			if c.PasteVars == nil {
				c.PasteVars = map[string]string{}
			}
			c.PasteVars[k] = val
			return nil
		}},
	{[]string{"--reload-engine"}, "ENGINE", "accepted: pogo's --reload watches files its own way",
		func(c *config.Config, v string) error {
			switch v {
			case "auto", "poll", "inotify":
				return notApplied("reload_engine", "pogo's --reload polls the app's files in the master, whatever engine is named")(c, v)
			}
			return fmt.Errorf("%q is not auto, poll or inotify", v)
		}},
	{[]string{"--spew"}, "", "refused: pogo does not trace every line the app runs",
		func(*config.Config, string) error {
			return errors.New("pogo does not trace every line the app runs (it would slow every request and print its data): run the app under a debugger instead")
		}},
	{[]string{"-D", "--daemon"}, "", "detach from the terminal and run in the background (give --pid and --error-logfile to find it)",
		boolFlag(func(c *config.Config) *bool { return &c.Daemon })},
	{[]string{"-u", "--user"}, "USER", "run the workers as USER (a name or uid); the master stays who started it",
		strFlag(func(c *config.Config) *string { return &c.User })},
	{[]string{"-g", "--group"}, "GROUP", "run the workers with group GROUP (a name or gid; default USER's)",
		strFlag(func(c *config.Config) *string { return &c.Group })},
	{[]string{"--initgroups"}, "", "give the workers USER's supplementary groups too",
		boolFlag(func(c *config.Config) *bool { return &c.InitGroups })},
	{[]string{"--worker-tmp-dir"}, "DIR", "accepted: pogo's workers need no heartbeat files",
		notApplied("worker_tmp_dir", "pogo's workers report to the master over a pipe and write no heartbeat files")},
	{[]string{"--statsd-host"}, "HOST:PORT", "send gunicorn's metrics (gunicorn.requests, gunicorn.request.duration, ...) to this StatsD server (or unix:PATH)",
		strFlag(func(c *config.Config) *string { return &c.StatsdHost })},
	{[]string{"--statsd-prefix"}, "PREFIX", "prefix of the StatsD metric names",
		strFlag(func(c *config.Config) *string { return &c.StatsdPrefix })},
	{[]string{"--dogstatsd-tags"}, "TAGS", "DogStatsD tags for the StatsD metrics (a:b,c)",
		strFlag(func(c *config.Config) *string { return &c.DogstatsdTags })},
	{[]string{"--enable-backlog-metric"}, "", "accepted, not applied",
		notApplied("enable_backlog_metric", "pogo reports its own queue (pogo_queue_length on --metrics-bind)")},
	{[]string{"--log-syslog"}, "", "accepted, not applied",
		notApplied("syslog", "pogo logs to --error-logfile (stderr by default, which journald and Docker collect), not to syslog")},
	{[]string{"--log-syslog-to"}, "ADDRESS", "accepted, not applied",
		notApplied("syslog_addr", "pogo logs to --error-logfile (stderr by default, which journald and Docker collect), not to syslog")},
	{[]string{"--log-syslog-prefix"}, "PREFIX", "accepted, not applied",
		notApplied("syslog_prefix", "pogo logs to --error-logfile, not to syslog")},
	{[]string{"--log-syslog-facility"}, "FACILITY", "accepted, not applied",
		notApplied("syslog_facility", "pogo logs to --error-logfile, not to syslog")},
	{[]string{"--disable-redirect-access-to-syslog"}, "", "accepted, not applied",
		notApplied("disable_redirect_access_to_syslog", "pogo never sends the access log to syslog")},
	{[]string{"-R", "--enable-stdio-inheritance"}, "", "with --daemon, keep stdout and stderr (pogo's workers always share them)",
		boolFlag(func(c *config.Config) *bool { return &c.KeepStdio })},
	{[]string{"--logger-class"}, "CLASS", "accepted, not applied",
		notApplied("logger_class", "pogo's log is written in Go; --log-config and logconfig_dict configure the app's Python logging")},
	{[]string{"--reuse-port"}, "", "accepted, not applied",
		notApplied("reuse_port", "pogo's workers share the master's sockets, so it needs no SO_REUSEPORT")},
	{[]string{"--no-sendfile"}, "", "accepted, not applied",
		notApplied("sendfile", "pogo decides when to use sendfile (never with TLS or HTTP/2)")},
	{[]string{"--proxy-allow-from"}, "IPS", "accepted: --proxy-protocol trusts the --forwarded-allow-ips peers",
		notApplied("proxy_allow_ips", "pogo reads PROXY headers from the --forwarded-allow-ips peers")},
	{[]string{"--protocol"}, "PROTOCOL", "http only; uwsgi is refused",
		func(c *config.Config, v string) error {
			if v != "http" {
				return fmt.Errorf("pogo speaks HTTP/1.1 and HTTP/2, not %s: put it behind the proxy over HTTP", v)
			}
			return nil
		}},
	{[]string{"--uwsgi-allow-from"}, "IPS", "accepted, not applied",
		notApplied("uwsgi_allow_ips", "pogo does not speak the uwsgi protocol")},
	{[]string{"--ca-certs"}, "FILE", "CA certificates (PEM) to verify client certificates with (see --cert-reqs)",
		strFlag(func(c *config.Config) *string { return &c.CACerts })},
	{[]string{"--cert-reqs"}, "N", "client certificates: 0 none (default), 1 verified if sent, 2 required and verified",
		func(c *config.Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 2 {
				return fmt.Errorf("%q is not 0, 1 or 2", v)
			}
			c.CertReqs = n
			return nil
		}},
	{[]string{"--ciphers"}, "CIPHERS", "OpenSSL cipher list for TLS 1.2; Go's suites among them are offered",
		strFlag(func(c *config.Config) *string { return &c.Ciphers })},
	{[]string{"--ssl-version"}, "VERSION", "lowest TLS version offered: TLSv1_2 (default) or TLSv1_3; older ones are not offered",
		strFlag(func(c *config.Config) *string { return &c.SSLVersion })},
	{[]string{"--do-handshake-on-connect"}, "", "accepted, not applied",
		notApplied("do_handshake_on_connect", "pogo completes the TLS handshake on the connection's first read")},
	{[]string{"--suppress-ragged-eofs"}, "", "accepted: pogo treats a TLS close without close_notify as end of input",
		notApplied("suppress_ragged_eofs", "pogo treats a TLS connection closed without close_notify as closed")},
	{[]string{"--casefold-http-method"}, "", "accepted, not applied",
		notApplied("casefold_http_method", "pogo passes the method as sent; methods are case-sensitive (RFC 9110)")},
	{[]string{"--permit-obsolete-folding"}, "", "accepted, not applied",
		notApplied("permit_obsolete_folding", "pogo refuses folded header lines with 400 (RFC 9112)")},
	{[]string{"--permit-unconventional-http-method"}, "", "accepted, not applied",
		notApplied("permit_unconventional_http_method", "pogo accepts any method that is an RFC 9110 token")},
	{[]string{"--permit-unconventional-http-version"}, "", "accepted, not applied",
		notApplied("permit_unconventional_http_version", "pogo answers HTTP/1.0 and HTTP/1.1 (and HTTP/2), and 505 to others")},
	{[]string{"--strip-header-spaces"}, "", "accepted, not applied",
		notApplied("strip_header_spaces", "pogo refuses whitespace before a header's colon with 400 (RFC 9112)")},
	{[]string{"--forwarder-headers"}, "HEADERS", "accepted, not applied",
		notApplied("forwarder_headers", "pogo takes SCRIPT_NAME from --root-path and --mount, never from a header")},
	{[]string{"--header-map"}, "BEHAVIOUR", "drop (pogo's way); refuse and dangerous are not applied",
		func(c *config.Config, v string) error {
			if v == "drop" {
				return nil
			}
			return notApplied("header_map", "pogo drops header fields whose names hold an underscore, as gunicorn's drop does")(c, v)
		}},
	{[]string{"--http-parser"}, "PARSER", "accepted: pogo's parser is its own, in Go",
		notApplied("http_parser", "pogo parses HTTP in Go, its own way")},
	{[]string{"--http-protocols"}, "PROTOCOLS", "accepted: pogo serves HTTP/1.1 and HTTP/2 (h2 over TLS, h2c with prior knowledge)",
		notApplied("http_protocols", "pogo serves HTTP/1.1 and HTTP/2 on every bind (h2 by ALPN, h2c by prior knowledge)")},
	{[]string{"--http2-cleartext"}, "MODE", "accepted, not applied",
		notApplied("http2_cleartext", "pogo serves h2c with prior knowledge on every cleartext bind")},
	{[]string{"--http2-initial-window-size"}, "BYTES", "accepted, not applied",
		notApplied("http2_initial_window_size", "pogo's HTTP/2 uses its own window sizes")},
	{[]string{"--http2-max-concurrent-streams"}, "N", "accepted, not applied",
		notApplied("http2_max_concurrent_streams", "pogo's HTTP/2 allows its own number of streams")},
	{[]string{"--http2-max-frame-size"}, "BYTES", "accepted, not applied",
		notApplied("http2_max_frame_size", "pogo's HTTP/2 uses its own frame size")},
	{[]string{"--http2-max-header-list-size"}, "BYTES", "accepted, not applied",
		notApplied("http2_max_header_list_size", "pogo's HTTP/2 bounds headers by --limit-request-field_size")},
	{[]string{"--asgi-loop"}, "LOOP", "accepted, not applied",
		notApplied("asgi_loop", "pogo serves WSGI, not ASGI")},
	{[]string{"--asgi-lifespan"}, "MODE", "accepted, not applied",
		notApplied("asgi_lifespan", "pogo serves WSGI, not ASGI")},
	{[]string{"--asgi-disconnect-grace-period"}, "SECONDS", "accepted, not applied",
		notApplied("asgi_disconnect_grace_period", "pogo serves WSGI, not ASGI")},
	{[]string{"--dirty-app"}, "APP", "refused: pogo has no dirty arbiters",
		func(*config.Config, string) error {
			return errors.New("pogo has no dirty arbiters: run that app as its own service")
		}},
	{[]string{"--dirty-workers"}, "N", "accepted, not applied",
		notApplied("dirty_workers", "pogo has no dirty arbiters")},
	{[]string{"--dirty-timeout"}, "SECONDS", "accepted, not applied",
		notApplied("dirty_timeout", "pogo has no dirty arbiters")},
	{[]string{"--dirty-threads"}, "N", "accepted, not applied",
		notApplied("dirty_threads", "pogo has no dirty arbiters")},
	{[]string{"--dirty-graceful-timeout"}, "SECONDS", "accepted, not applied",
		notApplied("dirty_graceful_timeout", "pogo has no dirty arbiters")},
	{[]string{"--control-socket"}, "PATH", "accepted, not applied",
		notApplied("control_socket", "pogo is controlled by signals (HUP, TERM, TTIN, TTOU, USR1) and serves its state on --metrics-bind")},
	{[]string{"--control-socket-mode"}, "MODE", "accepted, not applied",
		notApplied("control_socket_mode", "pogo has no control socket")},
	{[]string{"--no-control-socket"}, "", "accepted: pogo has no control socket",
		func(*config.Config, string) error { return nil }},
}

// configOnly are the settings of a config file with no command-line
// option: they apply through these flags.
var (
	wsgiAppFlag = flag{names: []string{"wsgi_app"}, arg: "SPEC",
		set: func(c *config.Config, v string) error { c.App = v; return nil }}
	logConfigDictFlag = flag{names: []string{"logconfig_dict"}, arg: "DICT",
		set: func(c *config.Config, v string) error {
			if v != "{}" {
				c.LogConfigDict = v
			}
			return nil
		}}
	tmpUploadDirFlag = flag{names: []string{"tmp_upload_dir"}, arg: "DIR",
		set: notApplied("tmp_upload_dir", "pogo spools request bodies in $TMPDIR (see --spool-max)")}
	secureSchemeFlag = flag{names: []string{"secure_scheme_headers"}, arg: "DICT",
		set: func(c *config.Config, v string) error {
			var m map[string]any
			if err := json.Unmarshal([]byte(v), &m); err != nil {
				return fmt.Errorf("%s: want a dict of header names to values", v)
			}
			c.SecureSchemeHeaders = map[string]string{}
			for k, x := range m {
				s, ok := x.(string)
				if !ok {
					return fmt.Errorf("%s: the value for %s is not a string", v, k)
				}
				c.SecureSchemeHeaders[k] = s
			}
			return nil
		}}
	sslContextFlag = flag{names: []string{"ssl_context"}, arg: "HOOK",
		set: notApplied("ssl_context", "pogo's TLS is Go's, configured by --certfile and --keyfile")}
	ignoredFlag = flag{names: []string{"default_proc_name"}, arg: "NAME",
		set: func(*config.Config, string) error { return nil }}
)

// gunicornSettings maps each setting gunicorn documents to the flag that
// applies it (a pogo flag, a gunicorn one of gunicornFlags, or a
// config-only one).
var gunicornSettings = map[string]*flag{
	"access_log_format":                  byName["--access-logformat"],
	"accesslog":                          byName["--access-logfile"],
	"asgi_disconnect_grace_period":       byName["--asgi-disconnect-grace-period"],
	"asgi_lifespan":                      byName["--asgi-lifespan"],
	"asgi_loop":                          byName["--asgi-loop"],
	"backlog":                            byName["--backlog"],
	"bind":                               byName["-b"],
	"ca_certs":                           byName["--ca-certs"],
	"capture_output":                     byName["--capture-output"],
	"casefold_http_method":               byName["--casefold-http-method"],
	"cert_reqs":                          byName["--cert-reqs"],
	"certfile":                           byName["--certfile"],
	"chdir":                              byName["--chdir"],
	"check_config":                       byName["--check-config"],
	"ciphers":                            byName["--ciphers"],
	"config":                             &ignoredFlag, // the file being read
	"control_socket":                     byName["--control-socket"],
	"control_socket_disable":             byName["--no-control-socket"],
	"control_socket_mode":                byName["--control-socket-mode"],
	"daemon":                             byName["-D"],
	"default_proc_name":                  &ignoredFlag,
	"dirty_apps":                         byName["--dirty-app"],
	"dirty_graceful_timeout":             byName["--dirty-graceful-timeout"],
	"dirty_threads":                      byName["--dirty-threads"],
	"dirty_timeout":                      byName["--dirty-timeout"],
	"dirty_workers":                      byName["--dirty-workers"],
	"disable_redirect_access_to_syslog":  byName["--disable-redirect-access-to-syslog"],
	"do_handshake_on_connect":            byName["--do-handshake-on-connect"],
	"dogstatsd_tags":                     byName["--dogstatsd-tags"],
	"enable_backlog_metric":              byName["--enable-backlog-metric"],
	"enable_stdio_inheritance":           byName["-R"],
	"errorlog":                           byName["--error-logfile"],
	"forwarded_allow_ips":                byName["--forwarded-allow-ips"],
	"forwarder_headers":                  byName["--forwarder-headers"],
	"graceful_timeout":                   byName["--graceful-timeout"],
	"group":                              byName["-g"],
	"header_map":                         byName["--header-map"],
	"http2_cleartext":                    byName["--http2-cleartext"],
	"http2_initial_window_size":          byName["--http2-initial-window-size"],
	"http2_max_concurrent_streams":       byName["--http2-max-concurrent-streams"],
	"http2_max_frame_size":               byName["--http2-max-frame-size"],
	"http2_max_header_list_size":         byName["--http2-max-header-list-size"],
	"http_parser":                        byName["--http-parser"],
	"http_protocols":                     byName["--http-protocols"],
	"initgroups":                         byName["--initgroups"],
	"keepalive":                          byName["--keep-alive"],
	"keyfile":                            byName["--keyfile"],
	"limit_request_field_size":           byName["--limit-request-field_size"],
	"limit_request_fields":               byName["--limit-request-fields"],
	"limit_request_line":                 byName["--limit-request-line"],
	"logconfig":                          byName["--log-config"],
	"logconfig_dict":                     &logConfigDictFlag,
	"logconfig_json":                     byName["--log-config-json"],
	"logger_class":                       byName["--logger-class"],
	"loglevel":                           byName["--log-level"],
	"max_requests":                       byName["--max-requests"],
	"max_requests_jitter":                byName["--max-requests-jitter"],
	"paste":                              byName["--paste"],
	"permit_obsolete_folding":            byName["--permit-obsolete-folding"],
	"permit_unconventional_http_method":  byName["--permit-unconventional-http-method"],
	"permit_unconventional_http_version": byName["--permit-unconventional-http-version"],
	"pidfile":                            byName["-p"],
	"preload_app":                        byName["--preload"],
	"print_config":                       byName["--print-config"],
	"proc_name":                          byName["-n"],
	"protocol":                           byName["--protocol"],
	"proxy_allow_ips":                    byName["--proxy-allow-from"],
	"proxy_protocol":                     byName["--proxy-protocol"],
	"pythonpath":                         byName["--pythonpath"],
	"raw_env":                            byName["-e"],
	"raw_paste_global_conf":              byName["--paste-global"],
	"reload":                             byName["--reload"],
	"reload_engine":                      byName["--reload-engine"],
	"reload_extra_files":                 byName["--reload-extra-file"],
	"reuse_port":                         byName["--reuse-port"],
	"root_path":                          byName["--root-path"],
	"secure_scheme_headers":              &secureSchemeFlag,
	"sendfile":                           byName["--no-sendfile"],
	"spew":                               byName["--spew"],
	"ssl_context":                        &sslContextFlag,
	"ssl_version":                        byName["--ssl-version"],
	"statsd_host":                        byName["--statsd-host"],
	"statsd_prefix":                      byName["--statsd-prefix"],
	"strip_header_spaces":                byName["--strip-header-spaces"],
	"suppress_ragged_eofs":               byName["--suppress-ragged-eofs"],
	"syslog":                             byName["--log-syslog"],
	"syslog_addr":                        byName["--log-syslog-to"],
	"syslog_facility":                    byName["--log-syslog-facility"],
	"syslog_prefix":                      byName["--log-syslog-prefix"],
	"threads":                            byName["--threads"],
	"timeout":                            byName["-t"],
	"tmp_upload_dir":                     &tmpUploadDirFlag,
	"umask":                              byName["-m"],
	"user":                               byName["-u"],
	"uwsgi_allow_ips":                    byName["--uwsgi-allow-from"],
	"worker_class":                       byName["-k"],
	"worker_connections":                 byName["--worker-connections"],
	"worker_tmp_dir":                     byName["--worker-tmp-dir"],
	"workers":                            byName["-w"],
	"wsgi_app":                           &wsgiAppFlag,
}

// gunicornHooks are the server hooks a config file may define.
var gunicornHooks = []string{
	"on_starting", "on_reload", "when_ready", "pre_fork", "post_fork",
	"post_worker_init", "worker_int", "worker_abort", "pre_exec",
	"pre_request", "post_request", "child_exit", "worker_exit",
	"nworkers_changed", "on_exit",
	"on_dirty_starting", "dirty_post_fork", "dirty_worker_init", "dirty_worker_exit",
}

// repeatable flags add each value given (a config file's list gives one
// per element); of the others the last value given counts, and a config
// file's list is joined by commas.
var repeatable = map[string]bool{"-b": true, "--certfile": true, "--keyfile": true, "-e": true, "--reload-extra-file": true, "--paste-global": true, "--dirty-app": true,
	"--mount": true, "--vhost": true, "--static": true, "--pythonpath": true, "hook": true}

// settingOpts turns the value of a config file's setting (JSON) into the
// options that apply it.
func settingOpts(file, name string, f *flag, raw json.RawMessage) ([]opt, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	label := name
	bad := func() ([]opt, error) {
		return nil, fmt.Errorf("%s: %s = %s: not a value pogo can use", file, name, raw)
	}
	scalar := func(v any) (string, bool) {
		switch v := v.(type) {
		case string:
			return v, true
		case json.Number:
			return v.String(), true
		case bool:
			return strconv.FormatBool(v), true
		case map[string]any:
			if s, ok := v["callable"].(string); ok { // a class, e.g. worker_class
				return s, true
			}
		}
		return "", false
	}
	if f == &logConfigDictFlag || f == &secureSchemeFlag {
		if _, ok := v.(map[string]any); !ok {
			return bad()
		}
		return []opt{{f, label, string(raw)}}, nil
	}
	if s, ok := v.(string); ok && name == "proxy_protocol" && proxyModes[s] {
		return []opt{{f, label, s}}, nil // gunicorn 26: off, v1, v2, auto
	}
	if f.arg == "" { // a switch: set by a true value
		on := false
		switch v := v.(type) {
		case bool:
			on = v
		case json.Number:
			on = v.String() != "0"
		case string:
			b, err := strconv.ParseBool(strings.ToLower(v))
			if err != nil && !slices.Contains([]string{"yes", "on", "y", "no", "off", "n"}, strings.ToLower(v)) {
				return bad()
			}
			on = b || slices.Contains([]string{"yes", "on", "y"}, strings.ToLower(v))
		case nil:
		default:
			return bad()
		}
		if name == "sendfile" || name == "suppress_ragged_eofs" {
			on = !on // --no-sendfile; suppress_ragged_eofs is on by default
		}
		if !on {
			return nil, nil
		}
		return []opt{{f, label, ""}}, nil
	}
	switch v := v.(type) {
	case nil:
		return nil, nil
	case []any:
		var vals []string
		for _, x := range v {
			s, ok := scalar(x)
			if !ok {
				return bad()
			}
			vals = append(vals, s)
		}
		if len(vals) == 0 {
			return nil, nil
		}
		if !repeatable[f.names[0]] {
			vals = []string{strings.Join(vals, ",")}
		}
		var opts []opt
		for _, s := range vals {
			opts = append(opts, opt{f, label, s})
		}
		return opts, nil
	default:
		s, ok := scalar(v)
		if !ok {
			return bad()
		}
		if name == "umask" || name == "cert_reqs" || name == "ssl_version" {
			s = strings.TrimSuffix(s, ".0")
		}
		return []opt{{f, label, s}}, nil
	}
}

// configLocation is the config file to read: the highest source's -c,
// else ./gunicorn.conf.py if there is one, else "".
func configLocation(sources []source) string {
	for i := len(sources) - 1; i >= 0; i-- {
		if v, ok := sources[i].last("-c"); ok {
			return v
		}
	}
	if _, err := os.Stat("gunicorn.conf.py"); err == nil {
		return "gunicorn.conf.py"
	}
	return ""
}

// readConfigFile executes a gunicorn config file in the Python that will
// serve the app (started here) and returns its settings as a source.
func readConfigFile(main *cpython.Main, location string) (source, error) {
	names := make([]string, 0, len(gunicornSettings)+len(gunicornHooks))
	for n := range gunicornSettings {
		names = append(names, n)
	}
	names = append(names, gunicornHooks...)
	sort.Strings(names)
	var settings map[string]json.RawMessage
	var err error
	main.Do(func(t *cpython.Thread) {
		cwd, _ := os.Getwd()
		if err = t.AddPaths([]string{cwd}); err == nil {
			settings, err = t.ReadConfig(location, names, gunicornHooks)
		}
	})
	s := source{name: location}
	if err != nil {
		var pe *cpython.Error
		if errors.As(err, &pe) {
			pe.Message = "cannot read config file " + location + ": " + pe.Message
			return s, pe
		}
		return s, fmt.Errorf("cannot read config file %s: %w", location, err)
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if slices.Contains(gunicornHooks, k) {
			s.opts = append(s.opts, opt{&hookFlag, k, k})
			continue
		}
		opts, err := settingOpts(location, k, gunicornSettings[k], settings[k])
		if err != nil {
			return s, err
		}
		s.opts = append(s.opts, opts...)
	}
	return s, nil
}

// hookFlag records a hook the config file defines.
var hookFlag = flag{names: []string{"hook"}, arg: "NAME",
	set: func(c *config.Config, v string) error {
		if why, ok := unsupportedHooks[v]; ok {
			return notApplied(v, why)(c, v)
		}
		if !slices.Contains(c.Hooks, v) {
			c.Hooks = append(c.Hooks, v)
		}
		return nil
	}}

// load builds the Config as gunicorn does, lowest precedence first: its
// defaults ($PORT, $WEB_CONCURRENCY), the config file,
// GUNICORN_CMD_ARGS, POGO_CMD_ARGS, then the command line args. A config
// file is executed by the Python that serves the app, started here and
// returned (nil if there is no config file).
func load(args []string, stderr io.Writer) (config.Config, *cpython.Main, error) {
	cl, err := scan("command line", args)
	if err != nil {
		return config.Config{}, nil, err
	}
	sources := []source{}
	for _, env := range []string{"GUNICORN_CMD_ARGS", "POGO_CMD_ARGS"} {
		words, err := shellWords(os.Getenv(env))
		if err != nil {
			return config.Config{}, nil, fmt.Errorf("$%s: %v", env, err)
		}
		s, err := scan("$"+env, words)
		if errors.Is(err, errHelp) || errors.Is(err, errVersion) {
			err = fmt.Errorf("$%s: -h and -v belong on the command line", env)
		}
		if err != nil {
			return config.Config{}, nil, err
		}
		sources = append(sources, s)
	}
	sources = append(sources, cl)
	var main *cpython.Main
	if location := configLocation(sources); location != "" {
		venv := ""
		for _, s := range sources {
			if v, ok := s.last("--venv"); ok {
				venv = v
			}
		}
		program, err := cpython.ProgramFor(venv)
		if err != nil {
			return config.Config{}, nil, err
		}
		if main, err = startInterpreter(program, stderr); err != nil {
			return config.Config{}, nil, err
		}
		file, err := readConfigFile(main, location)
		if err != nil {
			return config.Config{}, main, err
		}
		sources = append([]source{file}, sources...)
	}
	c, err := parseSources(os.Getenv, sources)
	if main != nil {
		c.ConfigFile = configLocation(sources[1:])
	}
	return c, main, err
}

// shellWords splits s as a POSIX shell would (gunicorn's shlex.split of
// GUNICORN_CMD_ARGS): whitespace separates words, quotes and backslashes
// keep them together.
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case ch == '\\':
			inWord = true
			if i+1 < len(s) {
				i++
				w.WriteByte(s[i])
			}
		case ch == '\'':
			inWord = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("no closing quotation")
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case ch == '"':
			inWord = true
			for i++; ; i++ {
				if i >= len(s) {
					return nil, errors.New("no closing quotation")
				}
				if s[i] == '"' {
					break
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\\\"$`", s[i+1]) >= 0 {
					i++
				}
				w.WriteByte(s[i])
			}
		default:
			inWord = true
			w.WriteByte(ch)
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// checkConfig is --check-config and --print-config: the configuration is
// read (and printed), the app loaded, and pogo exits, 0 if both are good.
func checkConfig(cfg *config.Config, main *cpython.Main, errw, stdout io.Writer) (int, error) {
	if cfg.PrintConfig {
		printConfig(stdout, cfg)
	}
	if _, _, code, err := startPython(cfg, main, errw, nil); err != nil {
		return code, err
	}
	return exitOK, nil
}

// printConfig writes each field of cfg as "Name = value", in order.
func printConfig(w io.Writer, cfg *config.Config) {
	v := reflect.ValueOf(*cfg)
	for i := 0; i < v.NumField(); i++ {
		fmt.Fprintf(w, "%-22s = %v\n", v.Type().Field(i).Name, v.Field(i).Interface())
	}
}

// setProcName names this process as gunicorn's proc_name does: its comm
// (what ps -o comm, top and pkill see; Linux keeps 15 bytes) is name,
// and its command line (ps aux, ps -f) becomes "pogo: ROLE [name]", as
// far as the original command line's room allows.
func setProcName(name, role string, log *slog.Logger) {
	comm := name
	if len(comm) > 15 {
		comm = comm[:15]
	}
	if err := os.WriteFile("/proc/self/comm", []byte(comm), 0); err != nil {
		log.Warn("--name: cannot set the process name", "err", err)
	}
	if err := setCmdline(fmt.Sprintf("pogo: %s [%s]", role, name)); err != nil {
		log.Debug("--name: cannot set the process title", "err", err)
	}
}

// setCmdline overwrites the memory of this process's argv strings (the
// kernel's arg_start..arg_end, what /proc/PID/cmdline shows) with title,
// through /proc/self/mem. Go's os.Args point into that memory, so they
// are copied first.
func setCmdline(title string) error {
	for i := range os.Args {
		os.Args[i] = strings.Clone(os.Args[i])
	}
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return err
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return errors.New("/proc/self/stat: no comm")
	}
	f := strings.Fields(string(stat[i+1:])) // from field 3, state
	if len(f) < 47 {
		return errors.New("/proc/self/stat: no arg_start and arg_end")
	}
	start, err1 := strconv.ParseInt(f[45], 10, 64) // field 48
	end, err2 := strconv.ParseInt(f[46], 10, 64)   // field 49
	if err1 != nil || err2 != nil || end <= start {
		return errors.New("/proc/self/stat: bad arg_start, arg_end")
	}
	buf := make([]byte, end-start) // NUL-padded: one argument
	copy(buf[:len(buf)-1], title)
	mem, err := os.OpenFile("/proc/self/mem", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer mem.Close()
	_, err = mem.WriteAt(buf, start)
	return err
}
