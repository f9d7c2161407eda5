package cli_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pogoserver/pogo/internal/cpython"
)

// frameworkVenv returns the project virtualenv the suite runs with
// (VIRTUAL_ENV) if its Python imports every module, else skips the test,
// or fails it when POGO_REQUIRE_FRAMEWORKS=1 (CI).
func frameworkVenv(t *testing.T, modules ...string) string {
	t.Helper()
	venv := os.Getenv("VIRTUAL_ENV")
	why := "VIRTUAL_ENV is not set"
	if venv != "" {
		cmd := exec.Command(filepath.Join(venv, "bin", "python"), "-c", "import "+strings.Join(modules, ", "))
		out, err := cmd.CombinedOutput()
		if err == nil {
			return venv
		}
		why = strings.TrimSpace(string(out))
	}
	if os.Getenv("POGO_REQUIRE_FRAMEWORKS") == "1" {
		t.Fatalf("needs %s in the project virtualenv: %s", strings.Join(modules, ", "), why)
	}
	t.Skipf("needs %s: %s", strings.Join(modules, ", "), why)
	return ""
}

// TestPasteDeploy serves a Pyramid project from its development.ini, as
// pserve would: a composite (egg:Paste#urlmap) of a filter pipeline
// around the Pyramid app and a second app; [DEFAULT], %(here)s and a
// variable from the command line; [server:main]'s listen and threads; the
// ini's logging sections.
func TestPasteDeploy(t *testing.T) {
	t.Parallel()
	venv := frameworkVenv(t, "pyramid", "paste.deploy", "paste.urlmap")
	dir := filepath.Join(rootDir, "testdata", "pyramid")
	for _, workers := range []string{"0", "2"} {
		t.Run("workers="+workers, func(t *testing.T) {
			// The file is found from where pogo starts, as gunicorn
			// --paste and pserve find it; the app's package from --chdir
			// (or from the working directory, which is on sys.path).
			var cmd *exec.Cmd
			if workers == "0" {
				cmd = pogo("--venv", venv, "--chdir", dir, filepath.Join(dir, "development.ini"), "http_port=0")
			} else {
				cmd = pogo("-w", workers, "--venv", venv, "development.ini", "http_port=0")
				cmd.Dir = dir
			}
			s := start(t, cmd)
			if workers != "0" {
				s.waitLog(t, "] Worker ", 2)
			}
			url := s.url(t)
			if !strings.HasPrefix(url, "http://127.0.0.1:") {
				t.Errorf("listening on %s, want [server:main]'s 127.0.0.1", url)
			}

			resp, err := client.Get(url + "/")
			if err != nil {
				t.Fatal(err)
			}
			var home struct{ Greeting, Script_name, Path_info string }
			json.NewDecoder(resp.Body).Decode(&home)
			resp.Body.Close()
			if home.Greeting != "hello from "+dir || resp.Header.Get("X-Stamp") != "port-0" {
				t.Errorf("/: %+v X-Stamp %q; want the greeting from [DEFAULT] and %%(here)s, and the filter's header", home, resp.Header.Get("X-Stamp"))
			}
			if code, body := get(t, client, url+"/items/apple"); code != 200 || !strings.Contains(body, `"url": "`+url+`/items/apple"`) {
				t.Errorf("/items/apple: %d %s", code, body)
			}
			resp, err = client.Get(url + "/admin/users")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "Admin SCRIPT_NAME=/admin PATH_INFO=/users" || resp.Header.Get("X-Stamp") != "" {
				t.Errorf("/admin/users: %q X-Stamp %q; want the urlmap's second app, outside the pipeline", b, resp.Header.Get("X-Stamp"))
			}
			if workers == "0" {
				s.waitLog(t, "myshop-log home served to 127.0.0.1", 1) // the ini's formatter
				logs := s.stderr.String()
				for _, want := range []string{", 3 threads,", "[server:main]: pogo does not use ident"} {
					if !strings.Contains(logs, want) {
						t.Errorf("the log lacks %q:\n%s", want, logs)
					}
				}
			}
		})
	}
}

// TestPasteDeployErrors: a missing server section named on the command
// line, and a config file without PasteDeploy installed, each give one
// line and a non-zero exit.
func TestPasteDeployErrors(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(rootDir, "testdata", "pyramid")
	ini := filepath.Join(dir, "development.ini")
	r := run(t, pogo("--server-name", "nope", ini, "http_port=0"))
	if r.code != 2 || !strings.Contains(r.stderr, "has no [server:nope] section") {
		t.Errorf("--server-name nope: exit %d, %q", r.code, r.stderr)
	}

	python := cpython.DefaultProgram
	if python == "" {
		python = "python3"
	}
	bare := filepath.Join(t.TempDir(), "venv")
	if out, err := exec.Command(python, "-m", "venv", "--without-pip", bare).CombinedOutput(); err != nil {
		t.Fatalf("creating a virtualenv: %v\n%s", err, out)
	}
	r = run(t, pogo("--venv", bare, "-b", "127.0.0.1:0", "--chdir", dir, ini, "http_port=0"))
	lines := strings.Count(strings.TrimSpace(r.stderr), "pogo: error:")
	if r.code != 4 || lines != 1 || !strings.Contains(r.stderr, "pip install PasteDeploy") {
		t.Errorf("without PasteDeploy: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if r := run(t, pogo("-b", "127.0.0.1:0", "app:app", "extra.ini")); r.code != 2 {
		t.Errorf("an app and a config file: exit %d", r.code)
	}
}

// TestMountsFlags: --mount, --vhost, --root-path and --static from the
// command line, end to end.
func TestMountsFlags(t *testing.T) {
	t.Parallel()
	static := t.TempDir()
	writeFile(t, filepath.Join(static, "logo.txt"), "LOGO")
	s := start(t, pogo("-b", "127.0.0.1:0", "--root-path", "/site",
		"--mount", "/api=named_app:make('api')", "--vhost", "admin.test=named_app:make('admin')",
		"--static", "/assets="+static, "--static-max-age", "60", "named_app:make('root')"))
	url := s.url(t)
	for _, c := range []struct{ host, path, want string }{
		{"", "/site/page", `"app": "root", "SCRIPT_NAME": "/site", "PATH_INFO": "/page"`},
		{"", "/api/v", `"app": "api", "SCRIPT_NAME": "/api", "PATH_INFO": "/v"`},
		{"admin.test", "/api/v", `"app": "admin", "SCRIPT_NAME": "", "PATH_INFO": "/api/v"`},
		{"", "/assets/logo.txt", "LOGO"},
	} {
		req, _ := http.NewRequest("GET", url+c.path, nil)
		if c.host != "" {
			req.Host = c.host
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), c.want) {
			t.Errorf("%s%s: %s, want %s", c.host, c.path, b, c.want)
		}
		if c.path == "/assets/logo.txt" && resp.Header.Get("Cache-Control") != "public, max-age=60" {
			t.Errorf("static Cache-Control %q", resp.Header.Get("Cache-Control"))
		}
	}
	for _, want := range []string{"[INFO] Static files /assets/ from " + static, "[INFO] Virtual host admin.test: named_app:make('admin')",
		"[INFO] Mount /api: named_app:make('api')", "[INFO] Root path /site: SCRIPT_NAME for named_app:make('root')"} {
		if !strings.Contains(s.stderr.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, s.stderr.String())
		}
	}
	for _, bad := range [][]string{
		{"--mount", "api=x:y", "app:app"},
		{"--vhost", "=x:y", "app:app"},
		{"--static", "/s=" + filepath.Join(static, "missing"), "app:app"},
		{"--forwarded-allow-ips", "10.0.0.0/99", "app:app"},
	} {
		if r := run(t, pogo(append([]string{"-b", "127.0.0.1:0"}, bad...)...)); r.code == 0 || strings.Count(r.stderr, "pogo: error:") != 1 {
			t.Errorf("%q: exit %d, stderr %q", bad, r.code, r.stderr)
		}
	}
}
