package server_test

// TestFrameworks is a differential test: real Flask and Django apps answer
// the requests of testdata/frameworks/requests.json once through pogo and
// once through the stdlib's wsgiref server, the reference implementation of
// PEP 3333, and the two answers must agree. Both servers are real because
// the point is what a framework sees of pogo's environ and what a client
// sees of pogo's framing, which a fake of either side would hide.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestFrameworks(t *testing.T) {
	reqs := loadFrameworkRequests(t, "../../testdata/frameworks/requests.json")
	for _, app := range []struct {
		name   string
		module string // what must import for the app to load
		spec   string
		// traceback is true when the framework writes the traceback of an
		// unhandled exception to wsgi.errors. Django does not: with
		// DEBUG=False its default LOGGING sends django.request errors only
		// to mail_admins, so the traceback of /error is logged nowhere, by
		// pogo or by any other server.
		traceback bool
	}{
		{name: "flask", module: "flask", spec: "flask_app:app", traceback: true},
		{name: "django", module: "django", spec: "djangoapp.wsgi:application"},
	} {
		t.Run(app.name, func(t *testing.T) {
			python := frameworkPython(t, app.module)
			ref := startWsgiref(t, python, app.spec)
			s := start(t, app.spec)
			var dials atomic.Int32
			pogo, reference := frameworkClient(&dials), frameworkClient(nil)
			t.Cleanup(pogo.CloseIdleConnections)

			for _, r := range reqs {
				if r.App != "both" && r.App != app.name {
					continue
				}
				t.Run(r.Name, func(t *testing.T) {
					errorsBefore := len(pyErrors.String())
					want := r.do(t, reference, ref)
					got := r.do(t, pogo, s.URL)
					got.compare(t, want)

					if r.Method == "HEAD" {
						// net/http never reads a body for HEAD: look at
						// the bytes on the wire.
						c := dial(t, s.Addr)
						c.send("HEAD " + r.Path + " HTTP/1.1\r\nHost: pogo.test\r\nConnection: close\r\n\r\n")
						resp, _ := c.response("HEAD")
						if resp.StatusCode != want.status {
							t.Errorf("raw HEAD: status %d, want %d", resp.StatusCode, want.status)
						}
						if rest := c.rest(); rest != "" {
							t.Errorf("raw HEAD: pogo sent a body: %q", rest)
						}
						// HEAD announces the length GET would send.
						g := dial(t, s.Addr)
						g.send("GET " + r.Path + " HTTP/1.1\r\nHost: pogo.test\r\n\r\n")
						gresp, _ := g.response("GET")
						if hl, gl := resp.Header.Get("Content-Length"), gresp.Header.Get("Content-Length"); gl != "" && hl != gl {
							t.Errorf("raw HEAD: Content-Length %q, GET has %q", hl, gl)
						}
					}

					if r.Path == "/error" {
						// The framework catches the exception, logs it to
						// wsgi.errors (pogo's error log: pyErrors here)
						// and answers 500 itself.
						logs := pyErrors.String()[errorsBefore:] + s.Logs()
						if app.traceback {
							contains(t, logs, "Traceback (most recent call last)", "error log")
							contains(t, logs, "RuntimeError: intentional failure for differential test", "error log")
						}
						// The app failed, the server did not.
						after := frameworkRequest{Method: "GET", Path: "/query?after=error"}
						if a := after.do(t, pogo, s.URL); a.status != 200 {
							t.Errorf("GET %s after /error: status %d: %s", after.Path, a.status, a.body)
						}
					}
				})
			}
			// Every answer, the 500s included, left the connection open.
			if n := dials.Load(); n != 1 {
				t.Errorf("pogo: %d connections for one client, want 1 kept alive", n)
			}
		})
	}
}

// frameworkRequest is one entry of requests.json.
type frameworkRequest struct {
	Name    string        `json:"name"`
	App     string        `json:"app"` // "flask", "django" or "both"
	Method  string        `json:"method"`
	Path    string        `json:"path"` // request-target, sent as is
	Headers orderedHeader `json:"headers"`
	Body    string        `json:"body"`
	BodyB64 []byte        `json:"body_b64"` // for binary bodies
}

// orderedHeader keeps a JSON object's fields in the order written. (net/http
// then sends them sorted by name, keeping the order of a name's values.)
type orderedHeader [][2]string

func (h *orderedHeader) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("headers: want an object, got %s", b)
	}
	for dec.More() {
		var name, value string
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name = tok.(string)
		if err := dec.Decode(&value); err != nil {
			return fmt.Errorf("headers: %s: %w", name, err)
		}
		*h = append(*h, [2]string{name, value})
	}
	return nil
}

func loadFrameworkRequests(t *testing.T, path string) []frameworkRequest {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var reqs []frameworkRequest
	if err := json.Unmarshal(b, &reqs); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return reqs
}

// frameworkPython returns the venv's python if it can import module; if it
// cannot, the test is skipped, or fails when POGO_REQUIRE_FRAMEWORKS=1 (CI).
func frameworkPython(t *testing.T, module string) string {
	t.Helper()
	skip := t.Skipf
	if os.Getenv("POGO_REQUIRE_FRAMEWORKS") == "1" {
		skip = t.Fatalf
	}
	venv := os.Getenv("VIRTUAL_ENV")
	if venv == "" {
		skip("VIRTUAL_ENV is not set: point it at a virtualenv with requirements-test.txt installed to test %s", module)
	}
	python := filepath.Join(venv, "bin", "python")
	if out, err := exec.Command(python, "-c", "import "+module).CombinedOutput(); err != nil {
		out = bytes.TrimSpace(out)
		skip("%s cannot import %s (install requirements-test.txt into %s): %v: %s", python, module, venv, err, out[bytes.LastIndexByte(out, '\n')+1:])
	}
	return python
}

// startWsgiref runs spec under wsgiref_serve.py until the test ends and
// returns its URL.
func startWsgiref(t *testing.T, python, spec string) string {
	t.Helper()
	cmd := exec.Command(python, "../../testdata/frameworks/wsgiref_serve.py", spec)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("wsgiref stderr:\n%s", stderr.String())
		}
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
	}()
	var port int
	select {
	case s := <-line:
		if _, err := fmt.Sscanf(s, "PORT %d\n", &port); err != nil {
			t.Fatalf("wsgiref_serve.py %s: first line %q: %v\n%s", spec, s, err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("wsgiref_serve.py %s: no PORT line after 30s\n%s", spec, stderr.String())
	}
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

// frameworkClient sends requests as written: no redirects followed, no
// Accept-Encoding added. With dials nil it closes every connection, as
// wsgiref (HTTP/1.0) does anyway; else it keeps connections alive and
// counts the ones it opens in dials.
func frameworkClient(dials *atomic.Int32) *http.Client {
	tr := &http.Transport{DisableCompression: true, DisableKeepAlives: dials == nil}
	if dials != nil {
		var d net.Dialer
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		}
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Timeout: 10 * time.Second,
	}
}

// answer is the part of a response that must not depend on the server.
type answer struct {
	status int
	header map[string][]string // lower-case name -> trimmed values, sorted
	body   []byte
}

// framing headers belong to the server, not the app: wsgiref and pogo may
// frame the same response differently.
var framing = []string{"date", "server", "connection", "content-length", "transfer-encoding", "keep-alive"}

func (r frameworkRequest) do(t *testing.T, c *http.Client, base string) answer {
	t.Helper()
	body := []byte(r.Body)
	if r.BodyB64 != nil {
		body = r.BodyB64
	}
	var rd io.Reader
	if len(body) > 0 {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), r.Method, base+r.Path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if got := req.URL.RequestURI(); got != r.Path {
		t.Fatalf("net/http would send %q for %q", got, r.Path)
	}
	for _, f := range r.Headers {
		if strings.EqualFold(f[0], "Host") {
			req.Host = f[1]
			continue
		}
		req.Header.Add(f[0], f[1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", r.Method, base, r.Path, err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: map[string][]string{}}
	if a.body, err = io.ReadAll(resp.Body); err != nil {
		t.Fatalf("%s %s%s: reading body: %v", r.Method, base, r.Path, err)
	}
	for name, values := range resp.Header {
		name = strings.ToLower(name)
		if slices.Contains(framing, name) {
			continue
		}
		for _, v := range values {
			a.header[name] = append(a.header[name], strings.TrimSpace(v))
		}
		slices.Sort(a.header[name])
	}
	return a
}

// compare reports how a (pogo's answer) differs from want (wsgiref's).
func (a answer) compare(t *testing.T, want answer) {
	t.Helper()
	if a.status != want.status {
		t.Errorf("status %d, wsgiref %d", a.status, want.status)
	}
	for name, w := range want.header {
		if g := a.header[name]; !slices.Equal(g, w) {
			t.Errorf("header %s: %q, wsgiref %q", name, g, w)
		}
	}
	for name, g := range a.header {
		if _, ok := want.header[name]; !ok {
			t.Errorf("header %s: %q, wsgiref does not send it", name, g)
		}
	}
	if !bytes.Equal(a.body, want.body) {
		t.Errorf("body:\n%s\nwsgiref:\n%s", a.body, want.body)
	}
}
