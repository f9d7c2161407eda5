package cli_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"path/filepath"
	"testing"

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
