package server_test

//lint:file-ignore SA1019 x/net/http2's Transport is the h2c client the tests speak to pogo with, as peers' tests do.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/pogoserver/pogo/internal/accesslog"
	"github.com/pogoserver/pogo/internal/testutil"
)

// testCert makes a self-signed certificate for 127.0.0.1.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	c := testutil.SelfSigned(t)
	return c.TLS, c.Roots
}

func withTLS(cert tls.Certificate) func(*setup) {
	return func(s *setup) {
		s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	}
}

// h2Checks runs the same requests over any client and checks the answers
// and that they went over the protocol wanted.
func h2Checks(t *testing.T, client *http.Client, base, proto, scheme string) {
	t.Helper()
	for _, tc := range []struct {
		method, path, body, want string
	}{
		{"GET", "/list", "", "hello world"},
		{"GET", "/gen", "", "part0;part1;part2;"},
		{"GET", "/custom_reason", "", "ok"},
		{"POST", "/echo", strings.Repeat("x", 100<<10), ""},
	} {
		var body io.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		}
		req, _ := http.NewRequest(tc.method, base+tc.path, body)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Proto != proto {
			t.Errorf("%s: protocol %s, want %s", tc.path, resp.Proto, proto)
		}
		if tc.path == "/echo" {
			var env map[string]any
			json.Unmarshal(b, &env)
			if env["body_len"] != float64(len(tc.body)) {
				t.Errorf("the app read %v body bytes, want %d", env["body_len"], len(tc.body))
			}
			if env["SERVER_PROTOCOL"] != proto || env["wsgi.url_scheme"] != scheme {
				t.Errorf("environ: SERVER_PROTOCOL %v wsgi.url_scheme %v", env["SERVER_PROTOCOL"], env["wsgi.url_scheme"])
			}
			continue
		}
		if resp.StatusCode/100 != 2 || string(b) != tc.want {
			t.Errorf("%s: %d %q, want %q", tc.path, resp.StatusCode, b, tc.want)
		}
	}
}

// TestHTTP2 serves the same app over h2c with prior knowledge, over TLS
// with ALPN h2, and over TLS with HTTP/1.1, all into the same gateway.
func TestHTTP2(t *testing.T) {
	app := "h2_app:app"
	t.Run("h2c", func(t *testing.T) {
		var accessLines syncBuffer
		// The response header atom reads the app's headers after the
		// gateway is done with them: the transport must have copied them.
		access := accessLog(t, &accessLines, accesslog.DefaultFormat+` %({content-type}o)s`)
		s := start(t, app, func(st *setup) { st.srv.Access = access })
		tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}
		defer tr.CloseIdleConnections()
		h2Checks(t, &http.Client{Transport: tr, Timeout: 10 * time.Second}, s.URL, "HTTP/2.0", "http")
		// HTTP/1.1 on the same port still works.
		h2Checks(t, &http.Client{Timeout: 10 * time.Second}, s.URL, "HTTP/1.1", "http")
		access.Close()
		for _, want := range []string{`"GET /list HTTP/2.0" 200 11 "-" "Go-http-client/2.0" text/plain`, `"GET /list HTTP/1.1" 200 11 "-" "Go-http-client/1.1" text/plain`} {
			contains(t, accessLines.String(), want, "access log")
		}
	})
	cert, pool := testCert(t)
	t.Run("tls", func(t *testing.T) {
		s := start(t, app, withTLS(cert))
		base := "https://" + s.Addr
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		h2Checks(t, &http.Client{Transport: tr, Timeout: 10 * time.Second}, base, "HTTP/2.0", "https")
		tr1 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
		defer tr1.CloseIdleConnections()
		h2Checks(t, &http.Client{Transport: tr1, Timeout: 10 * time.Second}, base, "HTTP/1.1", "https")
	})
}
