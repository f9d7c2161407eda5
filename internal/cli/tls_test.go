package cli_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/pogoserver/pogo/internal/testutil"
)

// TestTLSOptions: gunicorn's --ca-certs and --cert-reqs verify client
// certificates; --ciphers and --ssl-version bound what is negotiated.
func TestTLSOptions(t *testing.T) {
	dir := t.TempDir()
	ca, other := testutil.NewCA(t, "pogo test CA"), testutil.NewCA(t, "another CA")
	server := ca.Issue(t, x509.ExtKeyUsageServerAuth)
	good := ca.Issue(t, x509.ExtKeyUsageClientAuth).TLS
	bad := other.Issue(t, x509.ExtKeyUsageClientAuth).TLS
	certFile, keyFile, caFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")
	writeFile(t, certFile, string(server.CertPEM))
	writeFile(t, keyFile, string(server.KeyPEM))
	writeFile(t, caFile, string(ca.CertPEM))
	roots := ca.Roots

	fetch := func(url string, tc *tls.Config) error {
		tc.RootCAs = roots
		tr := &http.Transport{TLSClientConfig: tc}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Timeout: timeout, Transport: tr}).Get(url)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	// Sent whatever CAs the server names (Go's client would send none
	// that another CA issued).
	with := func(c tls.Certificate) *tls.Config {
		return &tls.Config{GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }}
	}
	tls12 := func(suite uint16) *tls.Config {
		return &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}}
	}
	tests := []struct {
		name   string
		args   []string
		client *tls.Config
		ok     bool
	}{
		{"required, none sent", []string{"--cert-reqs", "2"}, &tls.Config{}, false},
		{"required, the CA's", []string{"--cert-reqs", "2"}, with(good), true},
		{"required, another CA's", []string{"--cert-reqs", "2"}, with(bad), false},
		{"optional, none sent", []string{"--cert-reqs", "1"}, &tls.Config{}, true},
		{"optional, another CA's", []string{"--cert-reqs", "1"}, with(bad), false},
		{"none asked", []string{"--cert-reqs", "0"}, &tls.Config{}, true},
		{"ciphers, one of them", []string{"--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256:!aNULL"}, tls12(tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256), true},
		{"ciphers, another", []string{"--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256"}, tls12(tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384), false},
		{"TLSv1_3, a TLS 1.2 client", []string{"--ssl-version", "TLSv1_3"}, &tls.Config{MaxVersion: tls.VersionTLS12}, false},
		{"TLSv1_3, a TLS 1.3 client", []string{"--ssl-version", "TLSv1_3"}, &tls.Config{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-b", "127.0.0.1:0", "--certfile", certFile, "--keyfile", keyFile, "--ca-certs", caFile}, tt.args...)
			s := start(t, pogo(append(args, "pid_app:app")...))
			if err := fetch(s.url(t)+"/", tt.client); (err == nil) != tt.ok {
				t.Errorf("request error %v, want success %v", err, tt.ok)
			}
		})
	}
}

// tlsFiles writes c's certificate and key under dir as name.pem and
// name.key and returns their paths.
func tlsFiles(t *testing.T, dir, name string, c testutil.Cert) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	writeFile(t, certFile, string(c.CertPEM))
	writeFile(t, keyFile, string(c.KeyPEM))
	return certFile, keyFile
}

// TestClientCertEnviron: with --cert-reqs 1 the app sees the client's
// certificate as mod_ssl names it, over HTTP/1.1, HTTP/2 and HTTP/3; a client
// without one is served and told NONE.
func TestClientCertEnviron(t *testing.T) {
	dir := t.TempDir()
	ca := testutil.NewCA(t, "pogo test CA")
	certFile, keyFile := tlsFiles(t, dir, "server", ca.Issue(t, x509.ExtKeyUsageServerAuth))
	caFile := filepath.Join(dir, "ca.pem")
	writeFile(t, caFile, string(ca.CertPEM))
	alice := ca.IssueFor(t, x509.ExtKeyUsageClientAuth, pkix.Name{CommonName: "alice", Organization: []string{"Example"}})
	s := start(t, pogo("-b", "127.0.0.1:0", "--certfile", certFile, "--keyfile", keyFile, "--ca-certs", caFile, "--cert-reqs", "1", "--http3", "environ_app:app"))

	environ := func(cert *tls.Certificate, major int) map[string]any {
		t.Helper()
		tc := &tls.Config{RootCAs: ca.Roots}
		if cert != nil {
			tc.Certificates = []tls.Certificate{*cert}
		}
		var rt http.RoundTripper
		if major == 3 {
			tr := &http3.Transport{TLSClientConfig: tc}
			defer tr.Close()
			rt = tr
		} else {
			tr := &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: major == 2}
			defer tr.CloseIdleConnections()
			rt = tr
		}
		resp, err := (&http.Client{Timeout: timeout, Transport: rt}).Get(s.url(t) + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.ProtoMajor != major {
			t.Errorf("HTTP/%d, want HTTP/%d", resp.ProtoMajor, major)
		}
		var env map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
			t.Fatal(err)
		}
		return env
	}
	for major := 1; major <= 3; major++ {
		env := environ(&alice.TLS, major)
		for k, want := range map[string]string{
			"HTTPS": "on", "wsgi.url_scheme": "https", "SSL_CLIENT_VERIFY": "SUCCESS",
			"SSL_CLIENT_S_DN": "CN=alice,O=Example", "SSL_CLIENT_I_DN": "CN=pogo test CA",
			"SSL_CLIENT_S_DN_CN": "alice", "SSL_CLIENT_CERT": string(alice.CertPEM),
			"SSL_CLIENT_SERIAL": strings.ToUpper(alice.TLS.Leaf.SerialNumber.Text(16)),
			"SSL_PROTOCOL":      "TLSv1.3",
		} {
			if env[k] != want {
				t.Errorf("HTTP/%d: %s = %q, want %q", major, k, env[k], want)
			}
		}
		env = environ(nil, major)
		if env["SSL_CLIENT_VERIFY"] != "NONE" || env["SSL_CLIENT_CERT"] != nil || env["HTTPS"] != "on" {
			t.Errorf("HTTP/%d, no certificate: VERIFY %v, CERT %v, HTTPS %v", major, env["SSL_CLIENT_VERIFY"], env["SSL_CLIENT_CERT"], env["HTTPS"])
		}
	}
}

// presented is the common name of the certificate pogo at addr presents
// for the name sni, on a new connection.
func presented(t *testing.T, addr, sni string) (string, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
}

// TestCertificates: pairs chosen by SNI; a replaced certificate is
// served to new handshakes with no request failing; a broken one is
// refused with a log line while the old one serves; SIGHUP reloads
// without stopping pogo.
func TestCertificates(t *testing.T) {
	dir := t.TempDir()
	ca := testutil.NewCA(t, "pogo test CA")
	issue := func(cn string, names ...string) testutil.Cert {
		return ca.IssueFor(t, x509.ExtKeyUsageServerAuth, pkix.Name{CommonName: cn}, names...)
	}
	aCert, aKey := tlsFiles(t, dir, "a", issue("a", "a.test"))
	bCert, bKey := tlsFiles(t, dir, "b", issue("b", "b.test"))
	s := start(t, pogo("-b", "127.0.0.1:0", "--certfile", aCert, "--keyfile", aKey, "--certfile", bCert, "--keyfile", bKey, "pid_app:app"))
	addr := strings.TrimPrefix(s.url(t), "https://")
	for sni, want := range map[string]string{"a.test": "a", "b.test": "b", "c.test": "a"} {
		if got, err := presented(t, addr, sni); err != nil || got != want {
			t.Errorf("SNI %s: %q %v, want %q", sni, got, err, want)
		}
	}

	// Load: new handshakes all along, over HTTP/1.1, each checked.
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Roots, ServerName: "b.test"}, DisableKeepAlives: true}
			c := &http.Client{Timeout: timeout, Transport: tr}
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get("https://" + addr + "/")
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for end := time.Now().Add(timeout); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("waiting for %s", what)
			}
		}
	}
	servedAs := func(want string) func() bool {
		return func() bool { got, err := presented(t, addr, "b.test"); return err == nil && got == want }
	}
	waitFor("requests under load", func() bool { return ok.Load() > 20 })

	// Renewed as certbot does: new files renamed into place.
	nCert, nKey := tlsFiles(t, dir, "new", issue("b2", "b.test"))
	os.Rename(nKey, bKey)
	os.Rename(nCert, bCert)
	waitFor("the renewed certificate", servedAs("b2"))
	s.waitLog(t, "Reloaded the TLS certificates (the files changed)", 1)
	before := ok.Load()
	waitFor("requests after the reload", func() bool { return ok.Load() > before+20 })

	// A broken key: refused, logged; b2 still served.
	refused := strings.Count(s.stderr.String(), "Cannot reload the TLS certificates")
	writeFile(t, bKey, "not a key")
	s.waitLog(t, "Cannot reload the TLS certificates", refused+1)
	if got, err := presented(t, addr, "b.test"); err != nil || got != "b2" {
		t.Errorf("after a broken key: %q %v, want b2 still", got, err)
	}
	close(stop)
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of %d requests failed during the reloads; the first: %v", n, n+ok.Load(), firstErr.Load())
	}

	// SIGHUP: the files reloaded (the broken key again refused, then a
	// good pair taken), and pogo goes on serving.
	s.signal(t, syscall.SIGHUP)
	s.waitLog(t, "Cannot reload the TLS certificates (SIGHUP)", 1)
	tlsFiles(t, dir, "b", issue("b3", "b.test"))
	s.signal(t, syscall.SIGHUP)
	s.waitLog(t, "Reloaded the TLS certificates (", 2)
	waitFor("the certificate after SIGHUP", servedAs("b3"))
}

// TestTLSPortErrors: plain HTTP to the TLS port gets a 400 in plain HTTP;
// --ssl-min-version 1.3 refuses a TLS 1.2 client; bad TLS flags are
// one-line errors.
func TestTLSPortErrors(t *testing.T) {
	dir := t.TempDir()
	cert := testutil.SelfSigned(t)
	certFile, keyFile := tlsFiles(t, dir, "self", cert)
	s := start(t, pogo("-b", "127.0.0.1:0", "--certfile", certFile, "--keyfile", keyFile, "--ssl-min-version", "1.3", "pid_app:app"))
	addr := strings.TrimPrefix(s.url(t), "https://")

	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: curl\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 400 {
		t.Errorf("plain HTTP to the TLS port: %v %v, want a 400", resp, err)
	}

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.Roots, MaxVersion: tls.VersionTLS12}}
	if _, err := (&http.Client{Timeout: timeout, Transport: tr}).Get(s.url(t)); err == nil {
		t.Error("a TLS 1.2 client was served with --ssl-min-version 1.3")
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--ssl-min-version", "1.1"}, "not a TLS version pogo offers"},
		{[]string{"--certfile", certFile, "--keyfile", keyFile, "--certfile", certFile}, "in pairs"},
		{[]string{"--certfile", certFile, "--keyfile", filepath.Join(dir, "none.key")}, "none.key"},
	} {
		r := run(t, pogo(append(tt.args, "-b", "127.0.0.1:0", "pid_app:app")...))
		if r.code == 0 {
			t.Errorf("%q: exit 0", tt.args)
		}
		oneLine(t, r.stderr, tt.want)
	}
}
