package server_test

//lint:file-ignore SA1019 x/net/http2's Transport is the h2c client the tests speak to pogo with.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/pogoserver/pogo/internal/dispatch"
	"github.com/pogoserver/pogo/internal/static"
)

// TestRouting serves mounts, virtual hosts and a static directory over
// real sockets, on HTTP/1.1 and h2c: which app answers, with which
// SCRIPT_NAME and PATH_INFO, what Go serves itself, and what is 404.
func TestRouting(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "app.css"), []byte("body{color:red}"), 0o644)
	os.WriteFile(filepath.Join(dir, ".htpasswd"), []byte("secret"), 0o644)
	dirs, err := static.New("/static", dir, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer dirs.Close()

	routes := new(dispatch.Table[int])
	routes.SetRoot(0, "")
	routes.Mount("/api", 1)
	routes.Mount("/api/v2", 2)
	routes.VirtualHost("admin.test", 3)
	routes.VirtualHost("*.shop.test", 1)
	s := start(t, "named_app:make('root')", func(st *setup) {
		st.apps = []string{"named_app:make('api')", "named_app:make('v2')", "named_app:make('admin')"}
		st.srv.Routes = routes
		st.srv.Static = []*static.Dir{dirs}
	})

	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	clients := map[string]*http.Client{
		"HTTP/1.1": {Timeout: 10 * time.Second},
		"HTTP/2.0": {Transport: tr, Timeout: 10 * time.Second},
	}
	type answer struct {
		App, ScriptName, PathInfo, QueryString string
	}
	for _, c := range []struct {
		host, target string
		want         answer // App "" : not an app's answer
		status       int
		body         string
	}{
		{"x.test", "/", answer{"root", "", "/", ""}, 200, ""},
		{"x.test", "/a/b?q=1", answer{"root", "", "/a/b", "q=1"}, 200, ""},
		{"x.test", "/api", answer{"api", "/api", "", ""}, 200, ""},
		{"x.test", "/api/users/7", answer{"api", "/api", "/users/7", ""}, 200, ""},
		{"x.test", "/api%2Fusers", answer{"api", "/api", "/users", ""}, 200, ""}, // on the decoded path, as PATH_INFO
		{"x.test", "/apiary", answer{"root", "", "/apiary", ""}, 200, ""},
		{"x.test", "/api/v2/x", answer{"v2", "/api/v2", "/x", ""}, 200, ""},
		{"admin.test", "/api/x", answer{"admin", "", "/api/x", ""}, 200, ""},
		{"ADMIN.test:8443", "/", answer{"admin", "", "/", ""}, 200, ""},
		{"eu.shop.test", "/cart", answer{"api", "", "/cart", ""}, 200, ""},
		{"x.test", "/static/app.css", answer{}, 200, "body{color:red}"},
		{"admin.test", "/static/app.css", answer{}, 200, "body{color:red}"}, // before every app
		{"x.test", "/static/.htpasswd", answer{}, 404, "404 Not Found\n"},
		{"x.test", "/static/%2e%2e/route_test.go", answer{}, 404, "404 Not Found\n"},
		{"x.test", "/static/missing.css", answer{"root", "", "/static/missing.css", ""}, 200, ""}, // on to the app
	} {
		for proto, client := range clients {
			req, _ := http.NewRequest("GET", s.URL+c.target, nil)
			req.Host = c.host
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s %s%s: %v", proto, c.host, c.target, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || resp.Proto != proto {
				t.Errorf("%s %s%s: %s %d, want %d", proto, c.host, c.target, resp.Proto, resp.StatusCode, c.status)
				continue
			}
			if c.want.App == "" {
				if string(b) != c.body {
					t.Errorf("%s %s%s: %q, want %q", proto, c.host, c.target, b, c.body)
				}
				continue
			}
			var got struct {
				App         string `json:"app"`
				ScriptName  string `json:"SCRIPT_NAME"`
				PathInfo    string `json:"PATH_INFO"`
				QueryString string `json:"QUERY_STRING"`
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("%s %s%s: %q: %v", proto, c.host, c.target, b, err)
			}
			if a := (answer{got.App, got.ScriptName, got.PathInfo, got.QueryString}); a != c.want {
				t.Errorf("%s %s%s: %+v, want %+v", proto, c.host, c.target, a, c.want)
			}
		}
	}

	// Static files over one keep-alive connection: a range, then a
	// conditional request with the ETag it gave.
	conn := dial(t, s.Addr)
	conn.send("GET /static/app.css HTTP/1.1\r\nHost: x\r\nRange: bytes=5-9\r\n\r\n")
	resp, body := conn.response("GET")
	if resp.StatusCode != 206 || body != "color" || resp.Header.Get("Content-Range") != "bytes 5-9/15" {
		t.Errorf("range: %d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Range"))
	}
	etag := resp.Header.Get("ETag")
	conn.send("GET /static/app.css HTTP/1.1\r\nHost: x\r\nIf-None-Match: " + etag + "\r\n\r\n")
	if resp, body := conn.response("GET"); resp.StatusCode != 304 || body != "" || resp.Header.Get("Cache-Control") != "public, max-age=60" {
		t.Errorf("If-None-Match: %d %q %q", resp.StatusCode, body, resp.Header.Get("Cache-Control"))
	}
	conn.send("HEAD /static/app.css HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := conn.response("HEAD"); resp.StatusCode != 200 || body != "" || resp.ContentLength != 15 {
		t.Errorf("HEAD: %d %q %d", resp.StatusCode, body, resp.ContentLength)
	}
}

// TestRoutingNotFound: with virtual hosts only, an unknown host gets 404
// from Go, and the connection stays open.
func TestRoutingNotFound(t *testing.T) {
	routes := new(dispatch.Table[int])
	routes.VirtualHost("known.test", 0)
	s := start(t, "named_app:make('known')", func(st *setup) { st.srv.Routes = routes })
	c := dial(t, s.Addr)
	for _, host := range []string{"other.test", "known.test", "other.test"} {
		c.send("GET /x HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
		resp, body := c.response("GET")
		want := 404
		if host == "known.test" {
			want = 200
		}
		if resp.StatusCode != want || (want == 404 && body != "404 Not Found\n") || resp.Close {
			t.Errorf("%s: %d %q close=%v, want %d on a kept connection", host, resp.StatusCode, strings.TrimSpace(body), resp.Close, want)
		}
	}
}
