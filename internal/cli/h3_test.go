package cli_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/pogoserver/pogo/internal/testutil"
)

// TestHTTP3Clients: pogo --http3 serves GET, a POST with a body, a
// streamed response and a static file over HTTP/3 to two clients it did
// not write, quic-go's and aioquic's; as one process and with workers.
func TestHTTP3Clients(t *testing.T) {
	venv := frameworkVenv(t, "aioquic")
	dir := t.TempDir()
	ca := testutil.NewCA(t, "pogo test CA")
	certFile, keyFile := tlsFiles(t, dir, "server", ca.Issue(t, x509.ExtKeyUsageServerAuth))
	caFile := filepath.Join(dir, "ca.pem")
	writeFile(t, caFile, string(ca.CertPEM))
	static := filepath.Join(dir, "static")
	writeFile(t, filepath.Join(static, "a.txt"), strings.Repeat("static ", 1000))

	for _, workers := range []int{0, 2} {
		t.Run("workers="+strconv.Itoa(workers), func(t *testing.T) {
			args := []string{"-b", "127.0.0.1:0", "--certfile", certFile, "--keyfile", keyFile, "--http3",
				"--static", "/s=" + static, "--access-logfile", "-", "h2_app:app"}
			var s *server
			if workers > 0 {
				s = startWorkers(t, workers, pogo(append([]string{"-w", strconv.Itoa(workers)}, args...)...))
			} else {
				s = start(t, pogo(args...))
			}
			addr := strings.TrimPrefix(s.url(t), "https://")
			host, port, _ := strings.Cut(addr, ":")

			// quic-go's client.
			tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Roots}}
			defer tr.Close()
			c := &http.Client{Transport: tr, Timeout: timeout}
			for _, tc := range []struct{ method, path, body, want string }{
				{"GET", "/list", "", "hello world"},
				{"GET", "/gen", "", "part0;part1;part2;"},
				{"GET", "/s/a.txt", "", strings.Repeat("static ", 1000)},
				{"POST", "/echo", strings.Repeat("x", 200<<10), `"body_len": 204800`},
			} {
				req, _ := http.NewRequest(tc.method, "https://"+addr+tc.path, strings.NewReader(tc.body))
				resp, err := c.Do(req)
				if err != nil {
					t.Fatalf("quic-go: %s %s: %v", tc.method, tc.path, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.Proto != "HTTP/3.0" || resp.StatusCode != 200 || !strings.Contains(string(b), tc.want) {
					t.Errorf("quic-go: %s %s: %s %d %.80q", tc.method, tc.path, resp.Proto, resp.StatusCode, b)
				}
			}

			// aioquic's.
			cmd := exec.Command(filepath.Join(venv, "bin", "python"), filepath.Join(rootDir, "testdata", "h3client.py"),
				"--ca", caFile, host, port, "GET:/list", "GET:/gen", "GET:/s/a.txt", "POST:/echo:100000")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("aioquic: %v: %s", err, stderr.String())
			}
			var got []struct {
				Status  int
				Headers map[string]string
				Body    string
				Chunks  int
			}
			sc := bufio.NewScanner(bytes.NewReader(out))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var r struct {
					Status  int
					Headers map[string]string
					Body    string
					Chunks  int
				}
				if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
					t.Fatal(err)
				}
				got = append(got, r)
			}
			if len(got) != 4 {
				t.Fatalf("aioquic: %d responses: %s %s", len(got), out, stderr.String())
			}
			if got[0].Status != 200 || got[0].Body != "hello world" {
				t.Errorf("aioquic GET /list: %d %q", got[0].Status, got[0].Body)
			}
			if got[1].Body != "part0;part1;part2;" || got[1].Chunks < 3 {
				t.Errorf("aioquic GET /gen: %q in %d DATA frames, want 3 or more (streamed)", got[1].Body, got[1].Chunks)
			}
			if got[2].Body != strings.Repeat("static ", 1000) || got[2].Headers["content-length"] != "7000" {
				t.Errorf("aioquic static file: %d bytes, content-length %q", len(got[2].Body), got[2].Headers["content-length"])
			}
			var env map[string]any
			json.Unmarshal([]byte(got[3].Body), &env)
			if env["body_len"] != float64(100000) || env["SERVER_PROTOCOL"] != "HTTP/3.0" || env["HTTPS"] != "on" || env["HTTP_USER_AGENT"] != "aioquic" {
				t.Errorf("aioquic POST /echo: body_len %v SERVER_PROTOCOL %v HTTPS %v UA %v", env["body_len"], env["SERVER_PROTOCOL"], env["HTTPS"], env["HTTP_USER_AGENT"])
			}
			for end := time.Now().Add(timeout); !strings.Contains(s.stdout.String(), `"POST /echo HTTP/3.0" 200`); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(end) {
					t.Fatalf("no HTTP/3 line in the access log:\n%s", s.stdout.String())
				}
			}
		})
	}
}

// TestHTTP3Graceful: SIGTERM lets an HTTP/3 request in flight finish
// (GOAWAY to its connection), then pogo exits 0.
func TestHTTP3Graceful(t *testing.T) {
	dir := t.TempDir()
	ca := testutil.NewCA(t, "pogo test CA")
	certFile, keyFile := tlsFiles(t, dir, "server", ca.Issue(t, x509.ExtKeyUsageServerAuth))
	s := start(t, pogo("-b", "127.0.0.1:0", "--certfile", certFile, "--keyfile", keyFile, "--http3", "pid_app:app"))
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Roots}}
	defer tr.Close()
	c := &http.Client{Transport: tr, Timeout: timeout}
	done := getAsync(c, s.url(t)+"/?sleep=0.5")
	s.waitLog(t, "pid_app: in the app, sleeping", 1)
	s.terminate(t)
	if a := <-done; a.err != nil || a.code != 200 || a.proto != "HTTP/3.0" {
		t.Errorf("the request in flight: %d %s %v, want 200 over HTTP/3", a.code, a.proto, a.err)
	}
	if code := s.wait(t); code != 0 {
		t.Errorf("exit code %d", code)
	}
}
