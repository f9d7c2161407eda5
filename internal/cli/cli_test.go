package cli_test

// Python can be started only once per process, and exit codes, stdio and
// signals are process-level behaviour, so most tests here run the test
// binary itself as pogo (net/http/cgi's TestMain pattern) and look at what
// a user would see: the exit code, stderr, stdout and HTTP responses.
// Servers bind 127.0.0.1:0 and the tests read the real address from the
// banner. Flag errors never get as far as Python, so those run in-process.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pogoserver/pogo/internal/cli"
	"github.com/pogoserver/pogo/internal/cpython"
	"github.com/pogoserver/pogo/internal/testutil"
)

func TestMain(m *testing.M) {
	if os.Getenv("POGO_TEST_AS_MAIN") == "1" {
		os.Exit(cli.Run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	if os.Getenv("POGO_CORPUS_DRIVER") == "1" {
		os.Exit(corpusDriver())
	}
	os.Exit(m.Run())
}

// Directories the children run in or add to sys.path, absolute because
// children change directory.
var (
	rootDir = mustAbs("../..")
	appsDir = filepath.Join(rootDir, "testdata", "apps") // the children's working directory
	cliDir  = filepath.Join(rootDir, "testdata", "cli")
)

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		panic(err)
	}
	return a
}

// timeout bounds each child process and each wait for it.
const timeout = 20 * time.Second

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in the single stderr line
	}{
		{"unknown flag", []string{"--nope", "factory_app:create_app()"}, "unrecognized option --nope"},
		{"missing value", []string{"factory_app:create_app()", "--threads"}, "option --threads needs a value"},
		{"not an integer", []string{"--threads", "x", "factory_app:create_app()"}, `option --threads: "x" is not an integer`},
		{"not seconds", []string{"--keep-alive", "soon", "factory_app:create_app()"}, `option --keep-alive: "soon" is not a number of seconds`},
		{"no app", []string{"--threads", "2"}, "no application given"},
		{"two apps", []string{"a:app", "b:app"}, "unexpected arguments after the app: b:app"},
		{"certfile without keyfile", []string{"--certfile", "cert.pem", "factory_app:create_app()"}, "--certfile and --keyfile must be given together"},
		{"keyfile without certfile", []string{"--keyfile", "key.pem", "factory_app:create_app()"}, "--certfile and --keyfile must be given together"},
		{"negative threads", []string{"--threads", "-1", "factory_app:create_app()"}, "option --threads: must be >= 1, got -1"},
		{"zero threads", []string{"--threads", "0", "factory_app:create_app()"}, "option --threads: must be >= 1, got 0"},
		{"one max thread", []string{"--max-threads", "1", "factory_app:create_app()"}, "--max-threads must be >= 2, got 1"},
		{"negative max memory", []string{"--max-memory", "-5", "factory_app:create_app()"}, "--max-memory must be >= 0 (MB), got -5"},
		{"max memory not a number", []string{"--max-memory", "1G", "factory_app:create_app()"}, `option --max-memory: "1G" is not an integer`},
		{"bad env", []string{"-e", "FOO", "factory_app:create_app()"}, `--env "FOO": want KEY=VALUE`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := cli.Run(context.Background(), tt.args, &stdout, &stderr)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			oneLine(t, stderr.String(), tt.want)
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
		})
	}
}

func TestHelpAndVersion(t *testing.T) {
	tests := []struct {
		args []string
		want *regexp.Regexp // matches stdout
	}{
		{[]string{"--help"}, regexp.MustCompile(`(?s)^usage: pogo \[OPTIONS\] MODULE:CALLABLE\n.*--bind ADDRESS.*--certfile FILE.*`)},
		{[]string{"-h", "--nope"}, regexp.MustCompile(`(?s)^usage: pogo `)},
		{[]string{"--version"}, regexp.MustCompile(`^pogo \S+ \(built with Python 3\.\d+\)\n$`)},
		{[]string{"-v", "app:app"}, regexp.MustCompile(`^pogo \S+ \(built with Python 3\.\d+\)\n$`)},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := cli.Run(context.Background(), tt.args, &stdout, &stderr); code != 0 {
				t.Errorf("exit code %d, want 0", code)
			}
			if !tt.want.MatchString(stdout.String()) {
				t.Errorf("stdout = %q, want a match for %s", stdout.String(), tt.want)
			}
			if stderr.Len() != 0 {
				t.Errorf("stderr = %q, want nothing", stderr.String())
			}
		})
	}
}

func TestAppLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec      string
		want      string   // in the first stderr line
		traceback []string // in the traceback after it; nil: no traceback
	}{
		// Each app is found in the working directory: testdata/cli for
		// broken_app, else testdata/apps.
		{"no_such_module:app", `cannot load app "no_such_module:app": ModuleNotFoundError: No module named 'no_such_module'`,
			[]string{"Traceback (most recent call last):", "ModuleNotFoundError: No module named 'no_such_module'"}},
		{"broken_app:app", `cannot load app "broken_app:app": RuntimeError: broken_app fails at import`,
			[]string{"Traceback (most recent call last):", "broken_app.py", "RuntimeError: broken_app fails at import"}},
		{"factory_app:nope", `failed to find attribute 'nope' in 'factory_app'`, nil},
		{"factory_app:not_callable", "application object factory_app:not_callable must be callable", nil},
		{"factory_app:not_callable()", "factory_app:not_callable is not callable, so it cannot be a factory", nil},
		{"factory_app:1+", `failed to parse '1+' as an attribute name or function call`, nil},
		{"factory_app:create_app(x)", "factory arguments must be literals", nil},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			t.Parallel()
			cmd := pogo("-b", "127.0.0.1:0", tt.spec)
			if strings.HasPrefix(tt.spec, "broken_app:") {
				cmd.Dir = cliDir
			}
			r := run(t, cmd)
			if r.code != 4 {
				t.Errorf("exit code %d, want 4; stderr:\n%s", r.code, r.stderr)
			}
			if tt.traceback == nil {
				oneLine(t, r.stderr, tt.want)
				return
			}
			first, rest, _ := strings.Cut(r.stderr, "\n")
			if !strings.HasPrefix(first, "pogo: error: ") || !strings.Contains(first, tt.want) {
				t.Errorf("first stderr line = %q, want \"pogo: error: ...%s\"", first, tt.want)
			}
			if !strings.HasPrefix(rest, tt.traceback[0]) {
				t.Errorf("stderr after the first line = %q, want a traceback", rest)
			}
			for _, s := range tt.traceback[1:] {
				if !strings.Contains(rest, s) {
					t.Errorf("traceback does not contain %q:\n%s", s, rest)
				}
			}
			if strings.Contains(r.stderr, "listening on") {
				t.Errorf("a server started:\n%s", r.stderr)
			}
		})
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() }) // after the parallel subtests
	notVenv := t.TempDir()

	tests := []struct {
		name string
		args []string
		code int
		want string // in the single stderr line
	}{
		{"port in use", []string{"-b", busy.Addr().String()}, 1, "address already in use"},
		{"port in use by a later bind", []string{"-b", "127.0.0.1:0", "-b", busy.Addr().String()}, 1, "address already in use"},
		{"not a virtualenv", []string{"--venv", notVenv}, 1, "virtualenv " + notVenv + ": no pyvenv.cfg: not a virtualenv"},
		{"no such chdir", []string{"--chdir", filepath.Join(notVenv, "nope")}, 1, "--chdir: "},
		{"no such certfile", []string{"--certfile", filepath.Join(notVenv, "c.pem"), "--keyfile", filepath.Join(notVenv, "k.pem")}, 1, "loading TLS certificate "},
		{"bad log level", []string{"--log-level", "loud"}, 2, "loud"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, pogo(append(tt.args, "factory_app:create_app()")...))
			if r.code != tt.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", r.code, tt.code, r.stderr)
			}
			oneLine(t, r.stderr, tt.want)
		})
	}
}

func TestBanner(t *testing.T) {
	t.Parallel()
	r := run(t, pogo("--version"))
	if r.code != 0 {
		t.Fatalf("--version: exit code %d", r.code)
	}
	version := strings.Fields(r.stdout)[1]

	exe := cpython.DefaultProgram // linked in by the Makefile, as in pogo
	if exe == "" {
		exe = "built-in prefix"
	}

	s := start(t, pogo("-b", "127.0.0.1:0", "--threads", "3", "factory_app:create_app()"))
	get(t, client, s.url(t)) // the server is up, not just bound
	first, _, _ := strings.Cut(s.stderr.String(), "\n")
	for _, want := range []string{
		"[INFO] pogo " + version + ", ",
		"Python 3.",
		"(" + exe + ")",
		"listening on " + s.url(t) + ",",
		", 3 threads,",
		"pid " + strconv.Itoa(s.cmd.Process.Pid),
	} {
		if !strings.Contains(first, want) {
			t.Errorf("first stderr line %q does not contain %q", first, want)
		}
	}
}

func TestServe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		dir  string   // working directory; "" for testdata/apps
		env  []string // added to the environment
		args []string // after -b 127.0.0.1:0
		want string
	}{
		{name: "factory", args: []string{"factory_app:create_app('hey', punct='!')"}, want: "hey!"},
		{name: "factory defaults", args: []string{"factory_app:create_app()"}, want: "hello."},
		{name: "chdir", dir: rootDir, args: []string{"--chdir", "examples", "hello:app"}, want: "Hello, World!\n"},
		{name: "pythonpath keeps the working directory", args: []string{"--pythonpath", cliDir, "factory_app:create_app('cwd')"}, want: "cwd."},
		{name: "pythonpath", dir: rootDir, args: []string{"--pythonpath", "testdata/cli, testdata/apps", "factory_app:create_app('pp')"}, want: "pp."},
		{name: "env flag", args: []string{"--pythonpath", cliDir, "-e", "FOO=bar", "env_app:app"}, want: "bar"},
		{name: "env flag wins", env: []string{"FOO=outer"}, args: []string{"--pythonpath", cliDir, "--env=FOO=bar=baz", "env_app:app"}, want: "bar=baz"},
		{name: "environment", env: []string{"FOO=outer"}, args: []string{"--pythonpath", cliDir, "env_app:app"}, want: "outer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd := pogo(append([]string{"-b", "127.0.0.1:0"}, tt.args...)...)
			if tt.dir != "" {
				cmd.Dir = tt.dir
			}
			cmd.Env = append(cmd.Env, tt.env...)
			s := start(t, cmd)
			if code, body := get(t, client, s.url(t)); code != 200 || body != tt.want {
				t.Errorf("GET = %d %q, want 200 %q", code, body, tt.want)
			}
		})
	}
}

func TestMultipleBinds(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "pogo.sock")
	s := start(t, pogo("-b", "127.0.0.1:0", "-b", "unix:"+sock, "-b", "127.0.0.1:0", "factory_app:create_app('multi')"))
	if len(s.addrs) != 3 || s.addrs[1] != "unix:"+sock {
		t.Fatalf("banner addresses %q, want [http://... unix:%s http://...]", s.addrs, sock)
	}
	for _, a := range []string{s.addrs[0], s.addrs[2]} {
		if code, body := get(t, client, a+"/"); code != 200 || body != "multi." {
			t.Errorf("GET %s = %d %q, want 200 \"multi.\"", a, code, body)
		}
	}
	unix := &http.Client{Timeout: timeout, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	defer unix.CloseIdleConnections()
	if code, body := get(t, unix, "http://pogo/"); code != 200 || body != "multi." {
		t.Errorf("GET over %s = %d %q, want 200 \"multi.\"", sock, code, body)
	}
}

// TestAccessLog writes each access log format over a real request and
// parses the line back: the gunicorn default (which is Apache's combined),
// "combined" by name, gunicorn atoms with the request time in µs, and JSON.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	combined := regexp.MustCompile(`^127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET /greet\?x=1 HTTP/1\.1" 200 6 "-" "pogo-cli-test/1\.0"\n$`)
	atoms := regexp.MustCompile(`^GET /greet x=1 200 (\d+)us\n$`)
	tests := []struct {
		name  string
		flags []string
		check func(t *testing.T, line string)
	}{
		{"default", nil, func(t *testing.T, line string) {
			if !combined.MatchString(line) {
				t.Errorf("%q does not match %s", line, combined)
			}
		}},
		{"combined", []string{"--access-logformat", "combined"}, func(t *testing.T, line string) {
			if !combined.MatchString(line) {
				t.Errorf("%q does not match %s", line, combined)
			}
		}},
		{"atoms", []string{"--access-logformat", `%(m)s %(U)s %(q)s %(s)s %(D)sus`}, func(t *testing.T, line string) {
			m := atoms.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("%q does not match %s", line, atoms)
			}
			if us, _ := strconv.Atoi(m[1]); us <= 0 || us > 10_000_000 {
				t.Errorf("request time %dµs, want a positive figure under 10 s", us)
			}
		}},
		{"json", []string{"--access-logformat", "json"}, func(t *testing.T, line string) {
			var e struct {
				RemoteAddr string `json:"remote_addr"`
				Time       string
				Method     string
				URI        string
				Proto      string
				Status     int
				Bytes      int
				DurationUS int64  `json:"duration_us"`
				UserAgent  string `json:"user_agent"`
			}
			if err := json.Unmarshal([]byte(line), &e); err != nil || !strings.HasSuffix(line, "}\n") {
				t.Fatalf("%q is not one JSON object on a line: %v", line, err)
			}
			if _, err := time.Parse(time.RFC3339Nano, e.Time); err != nil {
				t.Errorf("time %q: %v", e.Time, err)
			}
			if e.RemoteAddr != "127.0.0.1" || e.Method != "GET" || e.URI != "/greet?x=1" || e.Proto != "HTTP/1.1" ||
				e.Status != 200 || e.Bytes != 6 || e.DurationUS <= 0 || e.UserAgent != "pogo-cli-test/1.0" {
				t.Errorf("parsed back %+v from %q", e, line)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"-b", "127.0.0.1:0", "--access-logfile", "-"}, tt.flags...)
			s := start(t, pogo(append(args, "factory_app:create_app()")...))
			req, err := http.NewRequest("GET", s.url(t)+"/greet?x=1", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("User-Agent", "pogo-cli-test/1.0")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()

			s.stop(t) // flushes the access log
			tt.check(t, s.stdout.String())
			if strings.Contains(s.stderr.String(), "/greet") {
				t.Errorf("the access log went to stderr:\n%s", s.stderr.String())
			}
		})
	}
}

func TestErrorLogFile(t *testing.T) {
	t.Parallel()
	logFile := filepath.Join(t.TempDir(), "error.log")
	s := launch(t, pogo("-b", "127.0.0.1:0", "--error-logfile", logFile, "factory_app:create_app()"))
	s.waitBanner(t, func() string {
		b, _ := os.ReadFile(logFile)
		return string(b)
	})
	get(t, client, s.url(t))
	s.stop(t)
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	for _, want := range []string{"[INFO] pogo ", "listening on " + s.url(t), "[INFO] Shutdown complete"} {
		if !strings.Contains(log, want) {
			t.Errorf("%s does not contain %q:\n%s", logFile, want, log)
		}
	}
	if stderr := s.stderr.String(); stderr != "" {
		t.Errorf("stderr = %q, want nothing: the log goes to the file", stderr)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile, roots := selfSigned(t, dir)
	s := start(t, pogo("-b", "127.0.0.1:0", "--certfile", certFile, "--keyfile", keyFile, "--pythonpath", cliDir, "scheme_app:app"))
	url := s.url(t)
	if !strings.HasPrefix(url, "https://127.0.0.1:") {
		t.Fatalf("banner address %q, want https://127.0.0.1:PORT", url)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	defer tr.CloseIdleConnections()
	https := &http.Client{Timeout: timeout, Transport: tr}
	if code, body := get(t, https, url+"/"); code != 200 || body != "https" {
		t.Errorf("GET %s = %d %q, want 200 \"https\"", url, code, body)
	}
	// Plain HTTP on the TLS port gets no WSGI response.
	if resp, err := client.Get("http://" + strings.TrimPrefix(url, "https://") + "/"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) == "http" || string(b) == "https" {
			t.Errorf("plain HTTP on the TLS port reached the app: %d %q", resp.StatusCode, b)
		}
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key to
// dir and returns the files and a pool trusting the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	c := testutil.SelfSigned(t)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(t, certFile, string(c.CertPEM))
	writeFile(t, keyFile, string(c.KeyPEM))
	return certFile, keyFile, c.Roots
}

func TestVenv(t *testing.T) {
	t.Parallel()
	python := cpython.DefaultProgram // the Python pogo is built with
	if python == "" {
		python = "python3"
	}
	venv := filepath.Join(t.TempDir(), "venv")
	if out, err := exec.Command(python, "-m", "venv", "--without-pip", venv).CombinedOutput(); err != nil {
		t.Fatalf("creating a virtualenv: %v\n%s", err, out)
	}
	out, err := exec.Command(filepath.Join(venv, "bin", "python"), "-c",
		`import sysconfig; print(sysconfig.get_paths()["purelib"])`).Output()
	if err != nil {
		t.Fatalf("finding site-packages: %v", err)
	}
	sitePackages := strings.TrimSpace(string(out))
	// pth_module is importable only through the venv's .pth file.
	pkgs := t.TempDir()
	writeFile(t, filepath.Join(pkgs, "pth_module.py"), "NAME = 'pth_module from the .pth dir'\n")
	writeFile(t, filepath.Join(sitePackages, "pogo_test.pth"), pkgs+"\n")

	tests := []struct {
		name string
		args []string
		env  []string
	}{
		{"--venv", []string{"--venv", venv}, nil},
		{"VIRTUAL_ENV", nil, []string{"VIRTUAL_ENV=" + venv}},
		{"--venv over VIRTUAL_ENV", []string{"--venv", venv}, []string{"VIRTUAL_ENV=" + t.TempDir()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd := pogo(append(tt.args, "-b", "127.0.0.1:0", "--pythonpath", cliDir, "venv_app:app")...)
			cmd.Env = append(cmd.Env, tt.env...)
			s := start(t, cmd)
			code, body := get(t, client, s.url(t))
			want := venv + "\npth_module from the .pth dir"
			if code != 200 || body != want {
				t.Errorf("GET = %d %q, want 200 %q (sys.prefix and pth_module.NAME)", code, body, want)
			}
		})
	}
	t.Run("without", func(t *testing.T) {
		t.Parallel()
		r := run(t, pogo("-b", "127.0.0.1:0", "--pythonpath", cliDir, "venv_app:app"))
		if r.code != 4 || !strings.Contains(r.stderr, "No module named 'pth_module'") {
			t.Errorf("exit code %d, stderr:\n%s\nwant 4 and No module named 'pth_module'", r.code, r.stderr)
		}
	})
}

func TestSIGTERMFinishesInFlightRequest(t *testing.T) {
	t.Parallel()
	s := start(t, pogo("-b", "127.0.0.1:0", "--threads", "2", "threads_app:app"))
	url := s.url(t)
	done := getAsync(client, url+"/?1") // the app sleeps 1s
	s.waitLog(t, "threads_app: in the app, sleeping 1 s", 1)
	s.terminate(t)
	select {
	case r := <-done:
		if r.err != nil || r.code != 200 || !regexp.MustCompile(`^\d+ 1 1$`).MatchString(r.body) {
			t.Errorf("in-flight request got %d %q, %v; want 200 \"IDENT 1 1\"", r.code, r.body, r.err)
		}
	case <-time.After(timeout):
		t.Fatal("the in-flight request did not finish")
	}
	if code := s.wait(t); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	for _, want := range []string{"Shutting down", "Shutdown complete"} {
		if !strings.Contains(s.stderr.String(), want) {
			t.Errorf("stderr does not contain %q:\n%s", want, s.stderr.String())
		}
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "http://"), time.Second); err == nil {
		t.Errorf("%s still accepts connections after exit", url)
	}
}

// pogoExe is the pogo the tests run: this test binary, or the installed
// command named by $POGO_TEST_BINARY (scripts/wheels.sh).
func pogoExe() string {
	if b := os.Getenv("POGO_TEST_BINARY"); b != "" {
		return b
	}
	return os.Args[0]
}

// pogo returns a command running pogoExe with args, in testdata/apps, in
// the test's environment without VIRTUAL_ENV or POGO_PYTHON.
func pogo(args ...string) *exec.Cmd {
	cmd := exec.Command(pogoExe(), args...)
	cmd.Dir = appsDir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VIRTUAL_ENV=") && !strings.HasPrefix(kv, "POGO_PYTHON=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "POGO_TEST_AS_MAIN=1")
	return cmd
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs cmd to completion, killing it after timeout.
func run(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(timeout, func() { cmd.Process.Kill() })
	err := cmd.Wait()
	if !timer.Stop() {
		t.Fatalf("pogo %q did not exit within %v; stderr:\n%s", cmd.Args[1:], timeout, stderr.String())
	}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return result{cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()}
}

// server is pogo running in the background until the test ends.
type server struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	exited         chan struct{} // closed when cmd has exited

	addrs []string // from the banner: http://HOST:PORT, https://..., unix:PATH

	termOnce sync.Once
	stopOnce sync.Once
}

// start starts cmd and waits for the banner on its stderr.
func start(t *testing.T, cmd *exec.Cmd) *server {
	t.Helper()
	s := launch(t, cmd)
	s.waitBanner(t, s.stderr.String)
	return s
}

// launch starts cmd, to be stopped with SIGTERM, and its exit code
// checked, when the test ends.
func launch(t *testing.T, cmd *exec.Cmd) *server {
	t.Helper()
	s := &server{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.stdout, s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() { // once, however many checks failed
			t.Logf("pogo %q stderr:\n%s", cmd.Args[1:], s.stderr.String())
		}
	})
	return s
}

// waitBanner waits for the "listening on" line in the log read by logs.
func (s *server) waitBanner(t *testing.T, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, line := range strings.Split(logs(), "\n") {
			if _, rest, ok := strings.Cut(line, "listening on "); ok {
				list, _, _ := strings.Cut(rest, ", ")
				s.addrs = strings.Fields(list)
				return
			}
		}
		select {
		case <-s.exited:
			t.Fatalf("pogo %q exited with %d before listening", s.cmd.Args[1:], s.cmd.ProcessState.ExitCode())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("pogo %q did not start listening within %v", s.cmd.Args[1:], timeout)
		}
	}
}

// url is the first TCP address in the banner, as a URL.
func (s *server) url(t *testing.T) string {
	t.Helper()
	for _, a := range s.addrs {
		if strings.HasPrefix(a, "http") {
			return a
		}
	}
	t.Fatalf("no http(s) address in the banner: %q", s.addrs)
	return ""
}

// terminate sends SIGTERM, once.
func (s *server) terminate(t *testing.T) {
	s.termOnce.Do(func() {
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !strings.Contains(err.Error(), "finished") {
			t.Error(err)
		}
	})
}

// wait waits for pogo to exit and returns its exit code.
func (s *server) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-s.exited:
		return s.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		s.cmd.Process.Kill()
		<-s.exited
		t.Errorf("pogo %q did not exit within %v of SIGTERM", s.cmd.Args[1:], timeout)
		return -1
	}
}

// stop sends SIGTERM and checks that pogo exits 0. Later calls do nothing.
func (s *server) stop(t *testing.T) {
	t.Helper()
	s.stopOnce.Do(func() {
		s.terminate(t)
		if code := s.wait(t); code != 0 {
			t.Errorf("pogo %q exited with %d after SIGTERM, want 0", s.cmd.Args[1:], code)
		}
	})
}

// answer is a response read whole, or the error that ended it.
type answer struct {
	code  int
	proto string
	body  string
	err   error
}

// getAsync GETs url with c on a goroutine of its own; the answer comes on
// the channel.
func getAsync(c *http.Client, url string) <-chan answer {
	done := make(chan answer, 1)
	go func() {
		resp, err := c.Get(url)
		if err != nil {
			done <- answer{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- answer{resp.StatusCode, resp.Proto, string(b), err}
	}()
	return done
}

// client is the HTTP client for plain TCP servers.
var client = &http.Client{Timeout: timeout}

// get fetches url with c and returns the status and body.
func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := roundTrip(t, c, req)
	return resp.StatusCode, body
}

// roundTrip sends req with c and returns the response and its body.
func roundTrip(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return resp, string(b)
}

// oneLine checks that stderr is exactly one "pogo: error:" line containing
// want.
func oneLine(t *testing.T, stderr, want string) {
	t.Helper()
	if !strings.HasPrefix(stderr, "pogo: error: ") || !strings.HasSuffix(stderr, "\n") ||
		strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, want) {
		t.Errorf("stderr = %q, want one line \"pogo: error: ...%s...\"", stderr, want)
	}
}

func writeFile(t *testing.T, name, data string) {
	t.Helper()
	testutil.WriteFile(t, name, data)
}

type syncBuffer = testutil.SyncBuffer
