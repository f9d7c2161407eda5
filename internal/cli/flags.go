package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pogoserver/pogo/internal/config"
	"github.com/pogoserver/pogo/internal/server"
	"github.com/pogoserver/pogo/internal/wsgi"
)

// flag is one command-line option. set receives the value ("" for
// switches).
type flag struct {
	names []string // "-b", "--bind"
	arg   string   // metavar; "" for switches
	help  string
	set   func(c *config.Config, v string) error
}

func intFlag(dst func(*config.Config) *int) func(*config.Config, string) error {
	return func(c *config.Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		*dst(c) = n
		return nil
	}
}

// secondsFlag takes whole or fractional seconds, as gunicorn's options do.
func secondsFlag(dst func(*config.Config) *time.Duration) func(*config.Config, string) error {
	return func(c *config.Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			return fmt.Errorf("%q is not a number of seconds", v)
		}
		*dst(c) = time.Duration(f * float64(time.Second))
		return nil
	}
}

func strFlag(dst func(*config.Config) *string) func(*config.Config, string) error {
	return func(c *config.Config, v string) error { *dst(c) = v; return nil }
}

var flags = []flag{
	{[]string{"-b", "--bind"}, "ADDRESS", "address to listen on: HOST:PORT, [::1]:PORT, unix:PATH, fd://N (repeatable; default 127.0.0.1:8000, or systemd's sockets)",
		func(c *config.Config, v string) error { c.Binds = append(c.Binds, v); return nil }},
	{[]string{"-w", "--workers"}, "N", "worker processes under a supervising master (default: none, this process serves)",
		func(c *config.Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return fmt.Errorf("%q is not a number of workers (1 or more)", v)
			}
			c.Workers = n
			return nil
		}},
	{[]string{"--max-requests"}, "N", "restart a worker after this many requests, 0 for never (default 0)",
		intFlag(func(c *config.Config) *int { return &c.MaxRequests })},
	{[]string{"--max-requests-jitter"}, "N", "add up to N to --max-requests per worker, so they do not restart together",
		intFlag(func(c *config.Config) *int { return &c.MaxRequestsJitter })},
	{[]string{"--max-memory"}, "MB", "replace a worker gracefully once its resident memory passes MB MiB, 0 for never (default 0)",
		intFlag(func(c *config.Config) *int { return &c.MaxMemoryMB })},
	{[]string{"--cpu-affinity"}, "", "with --workers: bind each worker to one CPU, round robin (uWSGI's --cpu-affinity 1); the default when the workers are as many as the CPUs",
		func(c *config.Config, _ string) error { c.CPUAffinity = "on"; return nil }},
	{[]string{"--no-cpu-affinity"}, "", "never bind workers to CPUs",
		func(c *config.Config, _ string) error { c.CPUAffinity = "off"; return nil }},
	{[]string{"--reload"}, "", "restart workers when a .py file under the app's directories changes (development)",
		func(c *config.Config, _ string) error { c.Reload = true; return nil }},
	{[]string{"--reload-extra-file"}, "FILE", "also restart workers when FILE changes (repeatable)",
		func(c *config.Config, v string) error { c.ReloadExtraFiles = append(c.ReloadExtraFiles, v); return nil }},
	{[]string{"--dev"}, "", "development: --reload, --debug, --access-logfile - and --log-level debug",
		func(c *config.Config, _ string) error {
			c.Reload, c.Debug, c.AccessLogFile, c.LogLevel = true, true, "-", "debug"
			return nil
		}},
	{[]string{"--debug"}, "", "answer an app's exception with a page of its traceback, locals and request (loopback binds only)",
		func(c *config.Config, _ string) error { c.Debug = true; return nil }},
	{[]string{"--debug-allow-remote"}, "", "allow --debug on binds other clients can reach: they see your tracebacks",
		func(c *config.Config, _ string) error { c.DebugAllowRemote = true; return nil }},
	{[]string{"--cgi"}, "", "serve one request from a CGI host (RFC 3875): the CGI environment and stdin in, the response on stdout",
		func(c *config.Config, _ string) error { c.CGI = true; return nil }},
	{[]string{"--metrics-bind"}, "ADDRESS", "serve /metrics (Prometheus), /healthz and /readyz on ADDRESS",
		strFlag(func(c *config.Config) *string { return &c.MetricsBind })},
	{[]string{"-p", "--pid"}, "FILE", "write the server's pid (the master's) to FILE",
		strFlag(func(c *config.Config) *string { return &c.PidFile })},
	{[]string{"-m", "--umask"}, "MASK", "umask for files pogo creates, unix sockets included, e.g. 0o007",
		func(c *config.Config, v string) error {
			n, err := strconv.ParseInt(strings.Replace(v, "0o", "0", 1), 0, 32)
			if err != nil || n < 0 || n > 0o777 {
				return fmt.Errorf("%q is not a umask (0 to 0o777)", v)
			}
			c.Umask = int(n)
			return nil
		}},
	{[]string{"-t", "--timeout"}, "SECONDS", "answer 504 for a request running longer, log its traceback and replace the worker (default 0: none)",
		secondsFlag(func(c *config.Config) *time.Duration { return &c.Timeout })},
	{[]string{"--paste", "--paster"}, "FILE", "load the app from a PasteDeploy config file (as pogo FILE.ini); NAME=VALUE arguments after it are its variables",
		strFlag(func(c *config.Config) *string { return &c.Paste })},
	{[]string{"--app-name"}, "NAME", "the app section of the config file to load (default main)",
		strFlag(func(c *config.Config) *string { return &c.PasteApp })},
	{[]string{"--server-name"}, "NAME", "the server section of the config file to read (default main)",
		strFlag(func(c *config.Config) *string { return &c.PasteServer })},
	{[]string{"--mount"}, "/PREFIX=APP", "serve the paths under /PREFIX with another app, MODULE:CALLABLE (repeatable; longest prefix wins)",
		routeFlag(func(c *config.Config) *[]config.Route { return &c.Mounts })},
	{[]string{"--vhost"}, "HOST=APP", "serve requests for HOST (or *.DOMAIN) with another app (repeatable)",
		routeFlag(func(c *config.Config) *[]config.Route { return &c.VirtualHosts })},
	{[]string{"--root-path"}, "PATH", "SCRIPT_NAME of the app, behind a proxy at that prefix",
		strFlag(func(c *config.Config) *string { return &c.RootPath })},
	{[]string{"--forwarded-allow-ips"}, "IPS", "peers (IPs, CIDRs, or *) whose X-Forwarded-* and Forwarded headers set the client address, scheme and host (default 127.0.0.1,::1)",
		strFlag(func(c *config.Config) *string { return &c.ForwardedAllowIPs })},
	{[]string{"--proxy-protocol"}, "", "read PROXY protocol v1/v2 headers from the --forwarded-allow-ips peers (gunicorn's optional off, v1, v2 or auto: any but off turns it on)",
		func(c *config.Config, v string) error {
			if v != "" && !proxyModes[v] {
				return fmt.Errorf("%q is not off, v1, v2 or auto", v)
			}
			c.ProxyProtocol = v != "off"
			return nil
		}},
	{[]string{"--static"}, "/PREFIX=DIR", "serve the files of DIR under /PREFIX from Go, before the app (repeatable)",
		routeFlag(func(c *config.Config) *[]config.Route { return &c.Static })},
	{[]string{"--static-max-age"}, "SECONDS", "send Cache-Control: public, max-age=SECONDS with static files",
		secondsFlag(func(c *config.Config) *time.Duration { return &c.StaticMaxAge })},
	{[]string{"--threads"}, "N", "a fixed number of Python threads: requests running the app at once (default: adapted to the app, up to --max-threads)",
		func(c *config.Config, v string) error {
			if err := intFlag(func(c *config.Config) *int { return &c.Threads })(c, v); err != nil {
				return err
			}
			if c.Threads < 1 {
				return fmt.Errorf("must be >= 1, got %d", c.Threads)
			}
			return nil
		}},
	{[]string{"--max-threads"}, "N", fmt.Sprintf("the most Python threads pogo adapts to without --threads (default %d)", wsgi.DefaultMaxThreads),
		intFlag(func(c *config.Config) *int { return &c.MaxThreads })},
	{[]string{"--thread-idle-timeout"}, "SECONDS", "end an adapted Python thread idle this long, with its threading.local data (default 30)",
		secondsFlag(func(c *config.Config) *time.Duration { return &c.ThreadIdleTimeout })},
	{[]string{"--spool-max"}, "BYTES", fmt.Sprintf("read request bodies up to BYTES before calling the app, past 256 KiB into a temporary file; longer ones stream to the app; 0: stream every body over 256 KiB (default %d)", config.DefaultSpoolMax),
		func(c *config.Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not an integer", v)
			}
			c.SpoolMax = n
			return nil
		}},
	{[]string{"--queue-size"}, "N", "requests waiting for a thread before clients get 503 (default 2048)",
		intFlag(func(c *config.Config) *int { return &c.QueueSize })},
	{[]string{"--backlog"}, "N", "listen backlog (default 2048)",
		intFlag(func(c *config.Config) *int { return &c.Backlog })},
	{[]string{"--worker-connections"}, "N", "most open client connections, 0 for no limit (default 10000)",
		intFlag(func(c *config.Config) *int { return &c.MaxConnections })},
	{[]string{"--chdir"}, "DIR", "change to DIR before loading the app",
		strFlag(func(c *config.Config) *string { return &c.Chdir })},
	{[]string{"--pythonpath"}, "DIRS", "comma-separated directories to put first on sys.path",
		func(c *config.Config, v string) error {
			for _, d := range strings.Split(v, ",") {
				if d = strings.TrimSpace(d); d != "" {
					c.PythonPath = append(c.PythonPath, d)
				}
			}
			return nil
		}},
	{[]string{"-e", "--env"}, "KEY=VALUE", "set an environment variable for the app (repeatable)",
		func(c *config.Config, v string) error { c.Env = append(c.Env, v); return nil }},
	{[]string{"--venv"}, "DIR", "virtualenv to run the app in (default $VIRTUAL_ENV)",
		strFlag(func(c *config.Config) *string { return &c.Venv })},
	{[]string{"--access-logfile"}, "FILE", "access log file, '-' for stdout (default: none)",
		strFlag(func(c *config.Config) *string { return &c.AccessLogFile })},
	{[]string{"--access-logformat"}, "FORMAT", "gunicorn access log format, or 'json' or 'combined'",
		strFlag(func(c *config.Config) *string { return &c.AccessLogFormat })},
	{[]string{"--error-logfile", "--log-file"}, "FILE", "error log file, '-' for stderr (default)",
		strFlag(func(c *config.Config) *string { return &c.ErrorLogFile })},
	{[]string{"--log-level"}, "LEVEL", "debug, info, warning, error or critical (default info)",
		strFlag(func(c *config.Config) *string { return &c.LogLevel })},
	{[]string{"--certfile"}, "FILE", "TLS certificate (PEM); serves HTTPS with --keyfile (repeatable, in pairs: chosen by SNI, the first by default; reloaded when the files change)",
		func(c *config.Config, v string) error { c.CertFiles = append(c.CertFiles, v); return nil }},
	{[]string{"--keyfile"}, "FILE", "TLS private key (PEM) of the --certfile before it",
		func(c *config.Config, v string) error { c.KeyFiles = append(c.KeyFiles, v); return nil }},
	{[]string{"--http3"}, "", "also serve HTTP/3 (QUIC) on the UDP port of each TLS bind; HTTP/1.1 and HTTP/2 responses say so in Alt-Svc",
		func(c *config.Config, v string) error { c.HTTP3 = true; return nil }},
	{[]string{"--http3-0rtt"}, "", "with --http3, accept 0-RTT early data (faster resumption; an attacker can replay it)",
		func(c *config.Config, v string) error { c.HTTP3, c.HTTP3ZeroRTT = true, true; return nil }},
	{[]string{"--ssl-min-version"}, "VERSION", "lowest TLS version offered: 1.2 (default) or 1.3",
		func(c *config.Config, v string) error {
			if n := strings.NewReplacer("TLSv", "", "_", ".").Replace(v); n == "1.2" || n == "1.3" {
				c.SSLMinVersion = n
				return nil
			}
			return fmt.Errorf("%q is not a TLS version pogo offers: 1.2 or 1.3", v)
		}},
	{[]string{"--keep-alive"}, "SECONDS", "idle keep-alive timeout, 0 disables keep-alive (default 2)",
		secondsFlag(func(c *config.Config) *time.Duration { return &c.KeepAlive })},
	{[]string{"--header-timeout"}, "SECONDS", "time allowed to send the request line and headers (default 10)",
		secondsFlag(func(c *config.Config) *time.Duration { return &c.HeaderTimeout })},
	{[]string{"--graceful-timeout"}, "SECONDS", "time in-flight requests get to finish on shutdown (default 30)",
		secondsFlag(func(c *config.Config) *time.Duration { return &c.GracefulTimeout })},
	{[]string{"--limit-request-line"}, "BYTES", "longest request line, 0 for unlimited (default 4094)",
		intFlag(func(c *config.Config) *int { return &c.LimitRequestLine })},
	{[]string{"--limit-request-fields"}, "N", "most header fields in a request (default 100)",
		intFlag(func(c *config.Config) *int { return &c.LimitRequestFields })},
	{[]string{"--limit-request-field_size", "--limit-request-field-size"}, "BYTES", "longest header field, 0 for unlimited (default 8190)",
		intFlag(func(c *config.Config) *int { return &c.LimitRequestFieldSize })},
	{[]string{"--limit-request-body"}, "BYTES", "largest request body, 0 for unlimited (default 0)",
		func(c *config.Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not an integer", v)
			}
			c.LimitRequestBody = n
			return nil
		}},
	{[]string{"-v", "--version"}, "", "print the version and exit", nil},
	{[]string{"-h", "--help"}, "", "show this help and exit", nil},
}

// proxyModes are the values of gunicorn's --proxy-protocol.
var proxyModes = map[string]bool{"off": true, "v1": true, "v2": true, "auto": true}

// routeFlag appends a KEY=VALUE flag to a list.
func routeFlag(dst func(*config.Config) *[]config.Route) func(*config.Config, string) error {
	return func(c *config.Config, v string) error {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" || val == "" {
			return fmt.Errorf("%q: want KEY=VALUE", v)
		}
		*dst(c) = append(*dst(c), config.Route{Key: k, Value: val})
		return nil
	}
}

var errHelp = errors.New("help requested")
var errVersion = errors.New("version requested")

// opt is one option as given: its flag, the name it was given by (for
// messages) and its value.
type opt struct {
	f    *flag
	name string
	val  string
}

// source is where options come from: the config file, an environment
// variable, the command line. Its name prefixes its error messages.
type source struct {
	name       string
	opts       []opt
	positional []string
}

var byName = func() map[string]*flag {
	m := map[string]*flag{}
	for _, fs := range [][]flag{flags, gunicornFlags} {
		for i := range fs {
			for _, n := range fs[i].names {
				m[n] = &fs[i]
			}
		}
	}
	return m
}()

// scan splits args (gunicorn style: options and the app spec in any
// order) into options and positional arguments, without applying them.
func scan(name string, args []string) (source, error) {
	s := source{name: name}
	fail := func(format string, a ...any) (source, error) {
		if name != "command line" {
			format = name + ": " + format
		}
		return s, fmt.Errorf(format, a...)
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			s.positional = append(s.positional, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			s.positional = append(s.positional, a)
			continue
		}
		name, val, hasVal := strings.Cut(a, "=")
		f := byName[name]
		if f == nil && !strings.HasPrefix(a, "--") && len(a) > 2 {
			// -b127.0.0.1:8000
			name, val, hasVal = a[:2], a[2:], true
			f = byName[name]
		}
		if f == nil {
			return fail("unrecognized option %s", name)
		}
		switch {
		case f.names[0] == "-h":
			return s, errHelp
		case f.names[0] == "-v":
			return s, errVersion
		}
		if f.arg == "" && f.names[0] == "--proxy-protocol" {
			// gunicorn 26 gives it an optional value.
			if !hasVal && i+1 < len(args) && proxyModes[args[i+1]] {
				i++
				val = args[i]
			}
		} else if f.arg == "" {
			if hasVal {
				return fail("option %s takes no value", name)
			}
		} else if !hasVal {
			if i+1 >= len(args) {
				return fail("option %s needs a value (%s)", name, f.arg)
			}
			i++
			val = args[i]
		}
		s.opts = append(s.opts, opt{f, name, val})
	}
	return s, nil
}

// last is the value of the last option of s given by one of names.
func (s source) last(names ...string) (string, bool) {
	for i := len(s.opts) - 1; i >= 0; i-- {
		for _, n := range names {
			if s.opts[i].f == byName[n] {
				return s.opts[i].val, true
			}
		}
	}
	return "", false
}

// parse reads the command line args alone into a Config starting from
// the defaults (no config file, no environment).
func parse(args []string) (config.Config, error) {
	cl, err := scan("command line", args)
	if err != nil {
		return config.Config{}, err
	}
	return parseSources(nil, []source{cl})
}

// parseSources builds the Config from sources, lowest precedence first:
// a flag given in a source replaces what lower ones gave for it (every
// -b of the command line replaces the config file's binds). Only the
// last source may name the app. env is os.Getenv, or nil for none.
func parseSources(env func(string) string, sources []source) (config.Config, error) {
	if env == nil {
		env = func(string) string { return "" }
	}
	c := config.Defaults()
	c.Binds = nil
	top := map[*flag]int{}  // the highest source giving each flag
	last := map[*flag]int{} // and its last occurrence there
	for i, s := range sources {
		for j, o := range s.opts {
			top[o.f] = i
			last[o.f] = j
		}
	}
	set := map[string]bool{} // flags given, by their first name
	for i, s := range sources {
		for j, o := range s.opts {
			if top[o.f] != i || !repeatable[o.f.names[0]] && last[o.f] != j {
				// As gunicorn's argparse: a higher source's value wins,
				// and of a single-valued option given twice, the last.
				continue
			}
			if err := o.f.set(&c, o.val); err != nil {
				if s.name != "command line" {
					return c, fmt.Errorf("%s: option %s: %v", s.name, o.name, err)
				}
				return c, fmt.Errorf("option %s: %v", o.name, err)
			}
			set[o.f.names[0]] = true
		}
		if i < len(sources)-1 && len(s.positional) > 0 {
			return c, fmt.Errorf("%s: unexpected arguments: %s", s.name, strings.Join(s.positional, " "))
		}
	}
	var positional []string
	if len(sources) > 0 {
		positional = sources[len(sources)-1].positional
	}
	if len(positional) > 0 {
		c.App = "" // the command line's app replaces wsgi_app
	}
	if c.Paste == "" && len(positional) > 0 && strings.HasSuffix(positional[0], ".ini") {
		c.Paste, positional = positional[0], positional[1:] // pogo development.ini
	} else if c.Paste == "" && len(positional) > 0 {
		c.App, positional = positional[0], positional[1:]
	}
	if c.Paste != "" {
		// As pserve: NAME=VALUE after the file are its variables.
		for len(positional) > 0 && strings.Contains(positional[0], "=") {
			k, v, _ := strings.Cut(positional[0], "=")
			if c.PasteVars == nil {
				c.PasteVars = map[string]string{}
			}
			c.PasteVars[k] = v
			positional = positional[1:]
		}
	}
	if len(positional) > 0 {
		return c, fmt.Errorf("unexpected arguments after the app: %s", strings.Join(positional, " "))
	}
	if c.Paste != "" {
		if err := applyPaste(&c, set); err != nil {
			return c, err
		}
	}
	if _, err := server.ParseTrusted(c.ForwardedAllowIPs); err != nil {
		return c, err
	}
	if err := applyWorkerClass(&c); err != nil {
		return c, err
	}
	_, _, notes, err := tlsOptions(&c)
	if err != nil {
		return c, err
	}
	c.NotApplied = append(c.NotApplied, notes...)
	if len(c.Binds) == 0 {
		c.Binds = activated()
	}
	if port := env("PORT"); len(c.Binds) == 0 && port != "" {
		c.Binds = []string{"0.0.0.0:" + port} // gunicorn's default under $PORT
	}
	if len(c.Binds) == 0 {
		c.Binds = config.Defaults().Binds
	}
	if n := env("WEB_CONCURRENCY"); !set["-w"] && n != "" {
		if err := byName["-w"].set(&c, n); err != nil {
			return c, fmt.Errorf("$WEB_CONCURRENCY: %v", err)
		}
	}
	return c, c.Validate()
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: pogo [OPTIONS] MODULE:CALLABLE\n       pogo [OPTIONS] CONFIG.ini [NAME=VALUE ...]\n\n")
	fmt.Fprintf(w, "Serve a Python WSGI application. MODULE:CALLABLE may also be MODULE:factory(args);\n")
	fmt.Fprintf(w, "CONFIG.ini is a PasteDeploy file (as for pserve), its [server:main] read for what no option sets.\n\noptions:\n")
	list := func(fs []flag) {
		for _, f := range fs {
			names := strings.Join(f.names, ", ")
			if f.arg != "" {
				names += " " + f.arg
			}
			fmt.Fprintf(w, "  %-38s %s\n", names, f.help)
		}
	}
	list(flags)
	fmt.Fprintf(w, "\ngunicorn's other options, accepted for a drop-in start (those pogo does not apply are named in a warning at start):\n")
	list(gunicornFlags)
}

// activated returns the sockets systemd passed (socket activation:
// LISTEN_PID is this process, LISTEN_FDS sockets from fd 3) as fd://N
// binds, or nil.
func activated() []string {
	pid, err1 := strconv.Atoi(os.Getenv("LISTEN_PID"))
	n, err2 := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err1 != nil || err2 != nil || pid != os.Getpid() || n <= 0 {
		return nil
	}
	var binds []string
	for fd := 3; fd < 3+n; fd++ {
		binds = append(binds, "fd://"+strconv.Itoa(fd))
	}
	return binds
}
