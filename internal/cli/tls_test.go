package cli_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// testCA is a certificate authority for the mutual TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue makes a certificate signed by ca for usage (server: 127.0.0.1).
func (ca *testCA) issue(t *testing.T, usage x509.ExtKeyUsage) (tls.Certificate, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "pogo test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair, certPEM, keyPEM
}

// TestTLSOptions: gunicorn's --ca-certs and --cert-reqs verify client
// certificates; --ciphers and --ssl-version bound what is negotiated.
func TestTLSOptions(t *testing.T) {
	dir := t.TempDir()
	ca, other := newCA(t, "pogo test CA"), newCA(t, "another CA")
	_, certPEM, keyPEM := ca.issue(t, x509.ExtKeyUsageServerAuth)
	good, _, _ := ca.issue(t, x509.ExtKeyUsageClientAuth)
	bad, _, _ := other.issue(t, x509.ExtKeyUsageClientAuth)
	certFile, keyFile, caFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")
	writeFile(t, certFile, string(certPEM))
	writeFile(t, keyFile, string(keyPEM))
	writeFile(t, caFile, string(ca.pem))
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)

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
