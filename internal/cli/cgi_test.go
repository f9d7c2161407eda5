package cli_test

// pogo --cgi: one request from the CGI environment and stdin, the
// response on stdout. First run directly, as a CGI host would, to see
// each part of the contract; then under a real CGI host, lighttpd's
// mod_cgi, each answer compared with pogo serving the same app over HTTP.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cgi runs pogo --cgi args with the CGI meta-variables env and stdin.
func cgi(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	cmd := pogo(append([]string{"--cgi", "--chdir", cliDir}, args...)...)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader(stdin)
	return run(t, cmd)
}

// cgiResponse splits a CGI response into its header lines and body,
// checking that every line of the head ends in CRLF.
func cgiResponse(t *testing.T, out string) (head map[string]string, body string) {
	t.Helper()
	h, body, ok := strings.Cut(out, "\r\n\r\n")
	if !ok {
		t.Fatalf("no blank line ends the CGI head: %q", out)
	}
	head = map[string]string{}
	for _, line := range strings.Split(h, "\r\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok || strings.ContainsAny(line, "\n") {
			t.Fatalf("CGI header line %q", line)
		}
		head[k] = v
	}
	return head, body
}

var cgiGET = []string{"REQUEST_METHOD=GET", "GATEWAY_INTERFACE=CGI/1.1", "SERVER_NAME=localhost",
	"SERVER_PORT=80", "SERVER_PROTOCOL=HTTP/1.1", "SERVER_SOFTWARE=test-host/1", "SCRIPT_NAME=/app.cgi"}

func TestCGI(t *testing.T) {
	t.Parallel()

	t.Run("not under a CGI host", func(t *testing.T) {
		r := cgi(t, nil, "", "cgi_app:app")
		if r.code != 2 || r.stdout != "" {
			t.Errorf("exit %d, stdout %q; want 2 and nothing", r.code, r.stdout)
		}
		oneLine(t, r.stderr, "REQUEST_METHOD is not set")
	})

	t.Run("environ", func(t *testing.T) {
		r := cgi(t, append(cgiGET, "PATH_INFO=/mode"), "", "cgi_app:app")
		head, body := cgiResponse(t, r.stdout)
		var got map[string]any
		if err := json.Unmarshal([]byte(body), &got); err != nil || r.code != 0 || head["Status"] != "200 OK" {
			t.Fatalf("exit %d, %q: %v", r.code, r.stdout, err)
		}
		want := map[string]any{"wsgi.run_once": true, "wsgi.multithread": false, "wsgi.multiprocess": true,
			"wsgi.version": []any{1.0, 0.0}, "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_SOFTWARE": "test-host/1"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("environ %v, want %v", got, want)
		}
		if r.stderr != "" {
			t.Errorf("stderr %q, want nothing for a request served", r.stderr)
		}
	})

	t.Run("body", func(t *testing.T) {
		env := append(cgiGET[1:], "REQUEST_METHOD=POST", "PATH_INFO=/echo", "QUERY_STRING=a=1&b=%20",
			"CONTENT_TYPE=text/plain", "CONTENT_LENGTH=11", "HTTP_X_TEST=yes", "HTTPS=on")
		r := cgi(t, env, "hello world and more", "cgi_app:app")
		_, body := cgiResponse(t, r.stdout)
		want := `{"body": "hello world", "content_length": "11", "content_type": "text/plain", "method": "POST", "path_info": "/echo", "query": "a=1&b=%20", "scheme": "https", "script_name": "/app.cgi", "x_test": "yes"}` + "\n"
		if r.code != 0 || body != want {
			t.Errorf("exit %d, body %s\nwant %s", r.code, body, want)
		}
	})

	t.Run("short stdin", func(t *testing.T) {
		// The host promised 100 bytes and gave 3: the app has those, and
		// pogo does not wait for the rest.
		env := append(cgiGET[1:], "REQUEST_METHOD=POST", "PATH_INFO=/echo", "CONTENT_LENGTH=100")
		r := cgi(t, env, "abc", "cgi_app:app")
		_, body := cgiResponse(t, r.stdout)
		if r.code != 0 || !strings.Contains(body, `"body": "abc"`) || !strings.Contains(body, `"content_length": "3"`) {
			t.Errorf("exit %d, body %s; want the 3 bytes that came", r.code, body)
		}
		if !strings.Contains(r.stderr, "ended after 3 of its 100 bytes") {
			t.Errorf("stderr %q does not say the body was short", r.stderr)
		}
	})

	for _, c := range []struct {
		name, path string
		code       int // pogo's exit code
		status     string
		body       string
		stderr     []string
	}{
		{"streamed, write() and close()", "/stream", 0, "200 OK", "written first\none\ntwo\nthree\n", []string{"cgi_app: close() called"}},
		{"exc_info", "/exc_info", 0, "503 Service Unavailable", "replaced\n", nil},
		// A whole 500, the traceback on stderr only.
		{"app error", "/error", 0, "500 Internal Server Error", "500 Internal Server Error\n",
			[]string{"Traceback (most recent call last)", "cgi_app.py", "RuntimeError: cgi_app: failing on purpose"}},
		// The response as far as it went, and exit 1.
		{"error after the headers", "/late-error", 1, "200 OK", "partial\n", []string{"RuntimeError: cgi_app: failing after the headers"}},
		// What the app prints goes to the host's error log, not into
		// the response.
		{"print", "/print", 0, "200 OK", "not mixed with print\n", []string{"cgi_app: printed to stdout"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := cgi(t, append(cgiGET, "PATH_INFO="+c.path), "", "cgi_app:app")
			head, body := cgiResponse(t, r.stdout)
			if r.code != c.code || head["Status"] != c.status || body != c.body {
				t.Errorf("exit %d, %q; want %d, Status %s and %q", r.code, r.stdout, c.code, c.status, c.body)
			}
			if _, ok := head["Content-Length"]; ok && c.path == "/stream" {
				t.Errorf("a streamed response of unknown length has Content-Length: %q", r.stdout)
			}
			for _, want := range c.stderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr does not contain %q:\n%s", want, r.stderr)
				}
			}
			if strings.Contains(r.stdout, "Traceback") {
				t.Error("the traceback reached the response")
			}
		})
	}

	t.Run("unimportable app", func(t *testing.T) {
		r := cgi(t, append(cgiGET, "PATH_INFO=/"), "", "no_such_module:app")
		if r.code != 4 || r.stdout != "" || !strings.Contains(r.stderr, "pogo: error: cannot load app") {
			t.Errorf("exit %d, stdout %q, stderr %q; want 4 and the error on stderr", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("--debug", func(t *testing.T) {
		r := cgi(t, append(cgiGET, "PATH_INFO=/"), "", "--debug", "cgi_app:app")
		if r.code != 2 {
			t.Errorf("exit %d, want 2", r.code)
		}
		oneLine(t, r.stderr, "--debug-allow-remote")
	})
}

// needProgram returns the path of a program from Debian's packages that
// scripts/setup.sh installs, or skips the test without it (fails it in
// CI, POGO_REQUIRE_FRAMEWORKS=1).
func needProgram(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return filepath.Join(dir, name)
		}
	}
	if os.Getenv("POGO_REQUIRE_FRAMEWORKS") == "1" {
		t.Fatalf("needs %s (scripts/setup.sh installs it)", name)
	}
	t.Skipf("needs %s (scripts/setup.sh installs it)", name)
	return ""
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago,
// for a server that takes a port number only.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lighttpd starts lighttpd with mod_cgi on a new document root holding
// one CGI script per name in scripts ("app.cgi": pogo's arguments), each
// running pogo --cgi, and returns its base URL and its stderr, where the
// scripts' stderr goes.
func lighttpd(t *testing.T, scripts map[string][]string) (string, *syncBuffer) {
	t.Helper()
	exe := needProgram(t, "lighttpd")
	root := t.TempDir()
	for name, args := range scripts {
		quoted := []string{shellQuote(pogoExe()), "--cgi"}
		for _, a := range args {
			quoted = append(quoted, shellQuote(a))
		}
		writeFile(t, filepath.Join(root, name), "#!/bin/sh\nexport POGO_TEST_AS_MAIN=1\nexec "+strings.Join(quoted, " ")+"\n")
		if err := os.Chmod(filepath.Join(root, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The port is free when chosen; another process may take it before
	// lighttpd binds it, and then lighttpd exits and another is tried.
	for attempt := 1; ; attempt++ {
		addr, stderr, err := startLighttpd(t, exe, root, freePort(t))
		if err == nil {
			return "http://" + addr, stderr
		}
		if attempt == 5 || !strings.Contains(err.Error(), "in use") {
			t.Fatal(err)
		}
	}
}

// startLighttpd runs lighttpd on port until the test ends, once its log
// says it has started.
func startLighttpd(t *testing.T, exe, root string, port int) (string, *syncBuffer, error) {
	dir := t.TempDir()
	conf, errorLog := filepath.Join(dir, "lighttpd.conf"), filepath.Join(dir, "error.log")
	writeFile(t, conf, fmt.Sprintf(`server.document-root = %q
server.bind = "127.0.0.1"
server.port = %d
server.modules = ("mod_cgi")
server.errorlog = %q
server.stream-response-body = 2
cgi.assign = (".cgi" => "")
`, root, port, errorLog))
	cmd := exec.Command(exe, "-D", "-f", conf)
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		<-exited
		if t.Failed() {
			t.Logf("lighttpd's stderr:\n%s", stderr.String())
		}
	})
	deadline := time.Now().Add(timeout)
	for {
		log, _ := os.ReadFile(errorLog)
		if strings.Contains(string(log), "server started") {
			return fmt.Sprintf("127.0.0.1:%d", port), stderr, nil
		}
		select {
		case <-exited:
			return "", nil, fmt.Errorf("lighttpd exited: %s%s", stderr.String(), log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("lighttpd has not started after %v: %s%s", timeout, stderr.String(), log)
		}
	}
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// exchange is what the CGI host comparison looks at in a response.
type exchange struct {
	Status                int
	ContentType, Location string
	Body                  string
}

// noRedirects is client without following redirects.
var noRedirects = &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
	return http.ErrUseLastResponse
}}

func do(t *testing.T, method, url, ctype, body string, header ...string) exchange {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, b := roundTrip(t, noRedirects, req)
	return exchange{resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Location"), b}
}

// TestCGIHost runs apps under lighttpd's mod_cgi through pogo --cgi and
// compares each answer with pogo serving the same app over HTTP, mounted
// at the script's path so that SCRIPT_NAME and PATH_INFO agree.
func TestCGIHost(t *testing.T) {
	t.Parallel()
	venv := frameworkVenv(t, "flask", "pyramid", "paste.deploy")
	frameworks := filepath.Join(rootDir, "testdata", "frameworks")
	pyramid := filepath.Join(rootDir, "testdata", "pyramid")
	host, hostLog := lighttpd(t, map[string][]string{
		"app.cgi":     {"--chdir", cliDir, "cgi_app:app"},
		"flask.cgi":   {"--venv", venv, "--chdir", frameworks, "flask_app:app"},
		"pyramid.cgi": {"--venv", venv, "--chdir", pyramid, filepath.Join(pyramid, "development.ini"), "http_port=cgi"},
	})
	plain := start(t, pogo("-b", "127.0.0.1:0", "--chdir", cliDir, "--root-path", "/app.cgi", "cgi_app:app"))
	flask := start(t, pogo("-b", "127.0.0.1:0", "--venv", venv, "--chdir", frameworks, "--root-path", "/flask.cgi", "flask_app:app"))

	cases := []struct {
		name, method, path, ctype, body string
		header                          []string
		status                          int
		http                            *server
	}{
		{"GET with a query", "GET", "/app.cgi/echo?a=1&b=%20x&c", "", "", []string{"X-Test", "yes"}, 200, plain},
		{"POST with a body", "POST", "/app.cgi/echo", "application/x-www-form-urlencoded", "name=pogo&x=" + strings.Repeat("y", 70000), nil, 200, plain},
		{"streamed", "GET", "/app.cgi/stream", "", "", nil, 200, plain},
		{"error", "GET", "/app.cgi/error", "", "", nil, 500, plain},
		{"exc_info", "GET", "/app.cgi/exc_info", "", "", nil, 503, plain},
		{"not found", "GET", "/app.cgi/nothing", "", "", nil, 404, plain},
		{"Flask query", "GET", "/flask.cgi/query?a=1&a=2&b=%C3%A9", "", "", nil, 200, flask},
		{"Flask JSON", "POST", "/flask.cgi/json", "application/json", `{"a": 1, "b": [true, null], "c": 2.5}`, nil, 200, flask},
		{"Flask form", "POST", "/flask.cgi/form", "application/x-www-form-urlencoded", "x=1&y=two&x=3", nil, 200, flask},
		{"Flask streamed", "GET", "/flask.cgi/stream", "", "", nil, 200, flask},
		{"Flask error", "GET", "/flask.cgi/error", "", "", nil, 500, flask},
		{"Flask redirect", "GET", "/flask.cgi/redirect", "", "", nil, 302, flask},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			viaCGI := do(t, c.method, host+c.path, c.ctype, c.body, c.header...)
			// lighttpd sets CONTENT_LENGTH 0 for a request without a
			// body (RFC 3875 4.1.2 would have none), and pogo passes
			// the host's meta-variables on.
			viaCGI.Body = strings.Replace(viaCGI.Body, `"content_length": "0"`, `"content_length": null`, 1)
			viaHTTP := do(t, c.method, c.http.url(t)+c.path, c.ctype, c.body, c.header...)
			if viaCGI.Status != c.status {
				t.Errorf("through lighttpd: %d %q, want %d", viaCGI.Status, viaCGI.Body, c.status)
			}
			if viaCGI != viaHTTP {
				t.Errorf("through lighttpd: %+v\nover HTTP:       %+v", viaCGI, viaHTTP)
			}
		})
	}
	t.Run("PasteDeploy file", func(t *testing.T) {
		// development.ini's urlmap composite and filter pipeline, with
		// its [server:main] left to the CGI host.
		resp, body := roundTrip(t, client, mustRequest(t, "GET", host+"/pyramid.cgi/"))
		if resp.StatusCode != 200 || !strings.Contains(body, `"greeting": "hello from `+pyramid+`"`) || resp.Header.Get("X-Stamp") != "port-cgi" {
			t.Errorf("/: %d %s, X-Stamp %q", resp.StatusCode, body, resp.Header.Get("X-Stamp"))
		}
		if code, body := get(t, client, host+"/pyramid.cgi/admin/users"); code != 200 || body != "Admin SCRIPT_NAME=/pyramid.cgi/admin PATH_INFO=/users" {
			t.Errorf("/admin/users: %d %q", code, body)
		}
	})
	t.Run("each chunk as it comes", func(t *testing.T) {
		// The app yields its second chunk only once the client has read
		// the first: pogo --cgi flushed it to the host.
		flag := filepath.Join(t.TempDir(), "seen-first")
		resp, err := client.Get(host + "/app.cgi/until?" + flag)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		if line, err := br.ReadString('\n'); line != "first\n" || err != nil {
			t.Fatalf("first line %q, %v", line, err)
		}
		writeFile(t, flag, "")
		if rest, err := io.ReadAll(br); string(rest) != "second\n" || err != nil {
			t.Errorf("then %q, %v; want \"second\\n\"", rest, err)
		}
	})
	// The app's traceback went to the host's log, with the script's stderr.
	for _, want := range []string{"RuntimeError: cgi_app: failing on purpose", "RuntimeError: intentional failure for differential test"} {
		if !strings.Contains(hostLog.String(), want) {
			t.Errorf("lighttpd's log does not have %q", want)
		}
	}
	if strings.Contains(hostLog.String(), "pogo: error") {
		t.Errorf("pogo --cgi failed under lighttpd:\n%s", hostLog.String())
	}
}
