// Package testutil holds helpers shared by pogo's tests.
package testutil

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// locker runs functions one at a time.
type locker struct{ mu sync.Mutex }

func (l *locker) do(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f()
}

// LockedWriter makes W safe for writers on several goroutines: each
// Write reaches W whole, one at a time.
type LockedWriter struct {
	locker
	W io.Writer
}

func (l *LockedWriter) Write(p []byte) (n int, err error) {
	l.do(func() { n, err = l.W.Write(p) })
	return n, err
}

// SyncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type SyncBuffer struct {
	locker
	b bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (n int, err error) {
	s.do(func() { n, err = s.b.Write(p) })
	return n, err
}

func (s *SyncBuffer) String() (out string) {
	s.do(func() { out = s.b.String() })
	return out
}

// Cert is a self-signed certificate for 127.0.0.1, valid for an hour.
type Cert struct {
	TLS             tls.Certificate
	Roots           *x509.CertPool // trusts the certificate
	CertPEM, KeyPEM []byte
}

// SelfSigned makes a Cert.
func SelfSigned(t testing.TB) Cert {
	t.Helper()
	c, _ := newCert(t, &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pogo test"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, nil, nil)
	return c
}

// CA is a certificate authority for tests of certificates it signs
// (mutual TLS). Its Cert.Roots trusts what it issues.
type CA struct {
	Cert
	key *ecdsa.PrivateKey
}

// NewCA makes a CA named name, valid for an hour.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	c, key := newCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}, nil, nil)
	return &CA{c, key}
}

// Issue makes a certificate for 127.0.0.1 signed by ca, for usage
// (server or client authentication).
func (ca *CA) Issue(t testing.TB, usage x509.ExtKeyUsage) Cert {
	t.Helper()
	return ca.IssueFor(t, usage, pkix.Name{CommonName: "pogo test"})
}

// IssueFor is Issue with a subject of its own and, besides 127.0.0.1,
// the DNS names given.
func (ca *CA) IssueFor(t testing.TB, usage x509.ExtKeyUsage, subject pkix.Name, dnsNames ...string) Cert {
	t.Helper()
	c, _ := newCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: subject,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: dnsNames,
	}, ca.TLS.Leaf, ca.key)
	c.Roots = ca.Roots
	return c
}

// newCert makes tmpl, valid for an hour, with a new P-256 key, signed by
// parent's key (self-signed if parent is nil), and returns it with that
// key.
func newCert(t testing.TB, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (Cert, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return Cert{
		TLS:     tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		Roots:   roots,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, key
}

// WriteFile writes data to path, making the directories it needs.
func WriteFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
