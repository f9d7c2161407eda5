package cli_test

// The gunicorn corpus (testdata/gunicorn/corpus): real gunicorn command
// lines and config files from public projects, each run by pogo as the
// project runs gunicorn, against a stub app, and asked for GET /.
//
// What a case cannot have here is simulated, never the command:
// - its network: each case runs in its own network namespace (binds such
//   as 0.0.0.0:80 or [::]:5000 then never collide), with a driver (this
//   test binary, TestMain) that starts it, fetches / from every address
//   its banner lists, and stops it with SIGTERM;
// - its file system: absolute paths under the project's directories
//   (/etc, /opt, /app, /var, /run, /tmp/..., ...) in the command, the
//   environment and the config files are moved under a temporary root;
// - its code: the app the command names is a stub module (on PYTHONPATH)
//   answering "corpus stub"; a case's "-- stub:PATH --" sections add
//   modules its config file imports;
// - the shell: the command line is run by /bin/sh, with gunicorn a
//   function that execs pogo, so quoting and ${VAR:-default} expand as in
//   the project's script, with the case's env: lines.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/pogoserver/pogo/internal/cpython"
)

type corpusCase struct {
	name, source, cmd string
	env               []string
	refuse            bool
	files             map[string]string // as the case names them
}

func readCorpus(t *testing.T) []corpusCase {
	t.Helper()
	dir := filepath.Join(rootDir, "testdata", "gunicorn", "corpus")
	paths, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(paths)
	var cases []corpusCase
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		c := corpusCase{name: strings.TrimSuffix(filepath.Base(p), ".txt"), files: map[string]string{}}
		section := ""
		for _, line := range strings.SplitAfter(string(b), "\n") {
			if strings.HasPrefix(line, "-- ") && strings.HasSuffix(strings.TrimRight(line, "\n"), " --") {
				section = strings.TrimSuffix(strings.TrimPrefix(strings.TrimRight(line, "\n"), "-- "), " --")
				c.files[section] = ""
				continue
			}
			if section != "" {
				c.files[section] += line
				continue
			}
			k, v, _ := strings.Cut(strings.TrimRight(line, "\n"), ": ")
			switch k {
			case "source":
				c.source = v
			case "cmd":
				c.cmd = v
			case "env":
				c.env = append(c.env, v)
			case "expect":
				c.refuse = v == "refuse"
			}
		}
		if c.source == "" || !strings.HasPrefix(c.cmd, "gunicorn") {
			t.Fatalf("%s: no source: or cmd: gunicorn ... line", p)
		}
		cases = append(cases, c)
	}
	return cases
}

// deployPath matches an absolute path in a project's directories, after
// a quote, space, =, :, ( or , (or unix://).
var deployPath = regexp.MustCompile(`(^|[\s"'=:(,]|unix://)(/(?:etc|opt|app|src|srv|usr/src|var|run|openedx|code|home|data|tmp/[^\s"',)]+)(?:/[^\s"',)]*)?)`)

// dirOption matches a directory given to --chdir, --pythonpath or their
// settings.
var dirOption = regexp.MustCompile(`(?:chdir|pythonpath|_CHDIR)\W{1,4}(/[^\s"',)]+)`)

// rehome moves the deployment paths of s under root.
func rehome(s, root string) string {
	return deployPath.ReplaceAllString(s, "${1}"+root+"${2}")
}

// corpusResult is what the driver reports.
type corpusResult struct {
	Addrs  []string
	Status map[string]string // address -> "200 corpus stub" or the error
	Exit   int
	Stderr string
	Err    string
}

func TestGunicornCorpus(t *testing.T) {
	cases := readCorpus(t)
	if len(cases) < 15 {
		t.Fatalf("%d cases, want at least 15", len(cases))
	}
	if err := netnsProbe(); err != nil {
		t.Skipf("no network namespace for the cases (%v): they bind fixed ports", err)
	}
	// The cases' workers may run as another user (user = "nobody"): a
	// copy of pogo anyone may run, and directories anyone may enter.
	shared := t.TempDir()
	os.Chmod(filepath.Dir(shared), 0o755)
	os.Chmod(shared, 0o755)
	exe := filepath.Join(shared, "pogo")
	b, err := os.ReadFile(pogoExe())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := filepath.Join(shared, c.name)
			work := filepath.Join(root, "work") // the command's working directory
			stubs := filepath.Join(root, "stubs")
			os.MkdirAll(work, 0o755)
			for name, data := range c.files {
				if stub, ok := strings.CutPrefix(name, "stub:"); ok {
					writeFile(t, filepath.Join(stubs, stub), data)
					continue
				}
				path := filepath.Join(work, name)
				if filepath.IsAbs(name) {
					path = filepath.Join(root, name)
				}
				writeFile(t, path, rehome(data, root))
			}
			env := []string{"PYTHONPATH=" + stubs}
			if strings.Contains(c.cmd, "--paste") {
				// The project's environment has PasteDeploy: the test venv.
				env = append(env, "VIRTUAL_ENV="+frameworkVenv(t, "paste.deploy"))
			}
			if regexp.MustCompile(`(?m)^user = "nobody"`).MatchString(allFiles(c)) && !nobodyRuns(t, exe) {
				t.Skipf("its workers run as nobody, who cannot load this Python (%s): its directories are private", cpython.DefaultProgram)
			}
			for _, kv := range c.env {
				env = append(env, rehome(kv, root))
			}
			cmd := rehome(c.cmd, root)
			for name := range c.files {
				// A file at / (/gunicorn_conf.py) is the case's too.
				if filepath.Dir(name) == "/" {
					cmd = strings.ReplaceAll(cmd, name, root+name)
					for i := range env {
						env[i] = strings.ReplaceAll(env[i], name, root+name)
					}
				}
			}
			// The directories of the paths it names exist, and those it
			// names as directories, as the project's image has them.
			all := cmd + " " + strings.Join(env, " ") + " " + rehome(allFiles(c), root)
			for _, m := range deployPath.FindAllStringSubmatch(all, -1) {
				if strings.HasPrefix(m[2], root+"/") {
					os.MkdirAll(filepath.Dir(m[2]), 0o755)
				}
			}
			for _, m := range dirOption.FindAllStringSubmatch(all, -1) {
				if strings.HasPrefix(m[1], root+"/") {
					os.MkdirAll(m[1], 0o755)
				}
			}
			chmodTree(t, root)

			// First the spec of the app pogo would load, to stub it.
			probe := driverCmd(exe, cmd+" --print-config", work, env, false)
			out, err := probe.CombinedOutput()
			if err != nil {
				t.Logf("probe: %v", err)
			}
			spec := ""
			for _, l := range strings.Split(string(out), "\n") {
				if v, ok := strings.CutPrefix(l, "App                    = "); ok {
					spec = v
				}
			}
			if !c.refuse {
				if spec == "" {
					t.Fatalf("pogo --print-config names no app for %q; output:\n%s", cmd, out)
				}
				stubApp(t, stubs, spec, root)
				chmodTree(t, root)
			}

			r := runDriver(t, driverCmd(exe, cmd, work, env, true))
			if c.refuse {
				if r.Exit != 2 || strings.Count(r.Stderr, "\n") != 1 || !strings.Contains(r.Stderr, "is not a WSGI worker pogo runs") {
					t.Errorf("want the one-line refusal of its worker class and exit 2; exit %d, stderr:\n%s", r.Exit, r.Stderr)
				}
				return
			}
			if r.Err != "" {
				t.Fatalf("%s (source %s)\nstderr:\n%s", r.Err, c.source, r.Stderr)
			}
			for _, a := range r.Addrs {
				if got := r.Status[a]; got != "200 corpus stub" {
					t.Errorf("GET %s/: %s", a, got)
				}
			}
			if r.Exit != 0 {
				t.Errorf("exit %d after SIGTERM, want 0", r.Exit)
			}
			if t.Failed() {
				t.Logf("source %s\nstderr:\n%s", c.source, r.Stderr)
			}
		})
	}
}

func allFiles(c corpusCase) string {
	var b strings.Builder
	for name, data := range c.files {
		b.WriteString(" " + name + " " + data)
	}
	return b.String()
}

func chmodTree(t *testing.T, root string) {
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.IsDir() {
			os.Chmod(p, 0o777) // the workers may run as another user
		} else if err == nil {
			os.Chmod(p, 0o666)
		}
		return nil
	})
}

// stubApp writes the module (and its packages) that spec names, with an
// app answering "corpus stub"; for a PasteDeploy spec, the modules its
// call: entries name.
func stubApp(t *testing.T, stubs, spec, root string) {
	t.Helper()
	const app = "def _stub(environ, start_response):\n" +
		"    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '11')])\n" +
		"    return [b'corpus stub']\n"
	var targets [][2]string // module, expr
	if js, ok := strings.CutPrefix(spec, "paste:"); ok {
		var p struct{ Path string }
		json.Unmarshal([]byte(js), &p)
		ini, err := os.ReadFile(p.Path)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`call:([\w.]+):(\w+)`).FindAllStringSubmatch(string(ini), -1) {
			targets = append(targets, [2]string{m[1], m[2] + "()"})
		}
	} else {
		mod, expr, ok := strings.Cut(spec, ":")
		if !ok {
			expr = "application"
		}
		targets = append(targets, [2]string{mod, expr})
	}
	for _, tg := range targets {
		parts := strings.Split(tg[0], ".")
		for i := 1; i < len(parts); i++ {
			pkg := filepath.Join(append([]string{stubs}, parts[:i]...)...)
			if _, err := os.Stat(filepath.Join(pkg, "__init__.py")); err != nil {
				writeFile(t, filepath.Join(pkg, "__init__.py"), "")
			}
		}
		file := filepath.Join(append([]string{stubs}, parts...)...) + ".py"
		name, call := strings.CutSuffix(regexp.MustCompile(`\(.*\)$`).ReplaceAllString(tg[1], "()"), "()")
		code := app
		if call {
			code += fmt.Sprintf("def %s(*args, **kwargs):\n    return _stub\n", name)
		} else {
			code += fmt.Sprintf("%s = _stub\n", name)
		}
		old, _ := os.ReadFile(file)
		writeFile(t, file, string(old)+code)
	}
}

// driverCmd runs the driver in new user and network namespaces: it runs
// cmd with /bin/sh in dir, gunicorn being pogo (exe). serve says to
// fetch from the server and stop it; else the driver only relays the
// output (for --print-config).
func driverCmd(exe, cmd, dir string, env []string, serve bool) *exec.Cmd {
	c := exec.Command(os.Args[0])
	c.Env = append(os.Environ(), "POGO_CORPUS_DRIVER=1", "POGO_CORPUS_CMD="+cmd, "POGO_CORPUS_DIR="+dir,
		"POGO_CORPUS_ROOT="+filepath.Dir(dir), "POGO_CORPUS_EXE="+exe)
	if serve {
		c.Env = append(c.Env, "POGO_CORPUS_SERVE=1")
	}
	for _, kv := range env {
		c.Env = append(c.Env, "POGO_CORPUS_ENV_"+kv)
	}
	c.SysProcAttr = netnsAttr()
	return c
}

func runDriver(t *testing.T, cmd *exec.Cmd) corpusResult {
	t.Helper()
	out, err := cmd.Output()
	var r corpusResult
	if jerr := json.Unmarshal(out, &r); jerr != nil {
		t.Fatalf("driver: %v %v; output %q", err, jerr, out)
	}
	return r
}

func netnsAttr() *syscall.SysProcAttr {
	if os.Getuid() == 0 {
		return &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	}
	return &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
}

// netnsProbe checks that a process can get a network namespace here.
func netnsProbe() error {
	c := exec.Command("/bin/true")
	c.SysProcAttr = netnsAttr()
	return c.Run()
}

// corpusDriver is TestMain's POGO_CORPUS_DRIVER mode, in the case's
// network namespace; it prints a corpusResult as JSON.
func corpusDriver() int {
	r := corpusResult{Status: map[string]string{}, Exit: -1}
	defer func() { json.NewEncoder(os.Stdout).Encode(r) }()
	if err := loopbackUp(); err != nil {
		r.Err = "bringing up lo: " + err.Error()
		return 0
	}
	// The test's environment (ASAN_OPTIONS and all) but what a case's
	// deployment would set itself, then the case's.
	env := []string{"POGO_TEST_AS_MAIN=1"}
	var own []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "POGO_CORPUS_ENV_"):
			own = append(own, strings.TrimPrefix(kv, "POGO_CORPUS_ENV_"))
		case strings.HasPrefix(k, "POGO_"), k == "VIRTUAL_ENV", k == "PYTHONPATH", k == "GUNICORN_CMD_ARGS",
			k == "PORT", k == "WEB_CONCURRENCY", k == "FORWARDED_ALLOW_IPS":
		default:
			env = append(env, kv)
		}
	}
	env = append(env, own...)
	script := `gunicorn() { exec "$POGO_CORPUS_EXE" "$@"; }; eval "$POGO_CORPUS_CMD"`
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Dir = os.Getenv("POGO_CORPUS_DIR")
	cmd.Env = append(env, "POGO_CORPUS_EXE="+os.Getenv("POGO_CORPUS_EXE"), "POGO_CORPUS_CMD="+os.Getenv("POGO_CORPUS_CMD"))
	if os.Getenv("POGO_CORPUS_SERVE") == "" {
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "corpus driver:", err)
		}
		os.Exit(0)
	}
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = io.Discard, stderr
	if err := cmd.Start(); err != nil {
		r.Err = err.Error()
		return 0
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
			r.Exit = cmd.ProcessState.ExitCode()
		case <-time.After(timeout):
			cmd.Process.Kill()
			<-exited
			r.Err += fmt.Sprintf("; did not exit within %v of SIGTERM", timeout)
		}
		r.Stderr = stderr.String()
	}()
	deadline := time.Now().Add(timeout)
	root := os.Getenv("POGO_CORPUS_ROOT")
	for r.Addrs == nil {
		logs := stderr.String()
		// Or the error log file the case names (--log-file=...).
		filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() && strings.HasSuffix(p, ".log") {
				b, _ := os.ReadFile(p)
				logs += string(b)
			}
			return nil
		})
		sc := bufio.NewScanner(strings.NewReader(logs))
		for sc.Scan() {
			if _, rest, ok := strings.Cut(sc.Text(), "listening on "); ok {
				list, _, _ := strings.Cut(rest, ", ")
				r.Addrs = strings.Fields(list)
			}
		}
		select {
		case <-exited:
			if r.Addrs == nil {
				r.Err = "exited before listening"
				return 0
			}
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.Err = "no listening line after " + timeout.String()
			return 0
		}
	}
	for _, a := range r.Addrs {
		r.Status[a] = fetchStub(a)
	}
	return 0
}

// fetchStub GETs / at a banner address (http://HOST:PORT, unix:PATH).
func fetchStub(addr string) string {
	tr := &http.Transport{}
	url := addr + "/"
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		}
		url = "http://unix/"
	} else {
		// 0.0.0.0 and [::] are reached on loopback.
		url = strings.Replace(strings.Replace(url, "//0.0.0.0:", "//127.0.0.1:", 1), "//[::]:", "//[::1]:", 1)
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: timeout}).Get(url)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, b)
}

// loopbackUp sets IFF_UP on lo (a new network namespace has it down).
func loopbackUp() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	var ifr struct {
		name  [16]byte
		flags uint16
		_     [22]byte
	}
	copy(ifr.name[:], "lo")
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCGIFFLAGS, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return e
	}
	ifr.flags |= syscall.IFF_UP | syscall.IFF_RUNNING
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCSIFFLAGS, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return e
	}
	return nil
}

// nobodyRuns says whether exe, and the Python it embeds, can be run by
// user nobody (65534): not when the Python lives in a private directory,
// as pyenv's under /root does.
func nobodyRuns(t *testing.T, exe string) bool {
	t.Helper()
	if os.Getuid() != 0 {
		return false
	}
	cmd := exec.Command(exe, "--version")
	cmd.Env = append(os.Environ(), "POGO_TEST_AS_MAIN=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Logf("%s --version as nobody: %v: %s", exe, err, out)
		return false
	}
	return true
}
