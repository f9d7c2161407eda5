package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pogoserver/pogo/internal/testutil"
)

// write writes c's certificate and key under dir as name.pem and
// name.key, and returns their pair.
func write(t *testing.T, dir, name string, c testutil.Cert) Pair {
	t.Helper()
	p := Pair{filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")}
	testutil.WriteFile(t, p.CertFile, string(c.CertPEM))
	testutil.WriteFile(t, p.KeyFile, string(c.KeyPEM))
	return p
}

// presented dials a TLS server using s and returns the subject of the
// certificate it presented for the name sni.
func presented(t *testing.T, s *Store, sni string) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: s.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", l.Addr().String(),
		&tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestSNI(t *testing.T) {
	dir := t.TempDir()
	ca := testutil.NewCA(t, "test CA")
	a := write(t, dir, "a", ca.IssueFor(t, x509.ExtKeyUsageServerAuth, pkix.Name{CommonName: "a"}, "a.test"))
	b := write(t, dir, "b", ca.IssueFor(t, x509.ExtKeyUsageServerAuth, pkix.Name{CommonName: "b"}, "b.test", "*.b.test"))
	s, err := Load([]Pair{a, b})
	if err != nil {
		t.Fatal(err)
	}
	for sni, want := range map[string]string{"a.test": "a", "b.test": "b", "x.b.test": "b", "other.test": "a", "": "a"} {
		if got := presented(t, s, sni); got != want {
			t.Errorf("SNI %q: certificate %q, want %q", sni, got, want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	ca := testutil.NewCA(t, "test CA")
	a := write(t, dir, "a", ca.Issue(t, x509.ExtKeyUsageServerAuth))
	b := write(t, dir, "b", ca.Issue(t, x509.ExtKeyUsageServerAuth))
	for name, pairs := range map[string][]Pair{
		"none":          nil,
		"missing cert":  {{filepath.Join(dir, "nope.pem"), a.KeyFile}},
		"key of other":  {{a.CertFile, b.KeyFile}},
		"second broken": {a, {b.CertFile, a.KeyFile}},
	} {
		if _, err := Load(pairs); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

// site makes a CA and, in a directory of its own, one pair whose
// certificate is named "one", loaded into a Store.
func site(t *testing.T) (*testutil.CA, string, Pair, *Store) {
	t.Helper()
	dir := t.TempDir()
	ca := testutil.NewCA(t, "test CA")
	p := write(t, dir, "site", ca.IssueFor(t, x509.ExtKeyUsageServerAuth, pkix.Name{CommonName: "one"}))
	s, err := Load([]Pair{p})
	if err != nil {
		t.Fatal(err)
	}
	return ca, dir, p, s
}

// TestReload: a reload takes new files; one that fails (a certificate
// with the old key, as in the middle of a renewal) keeps the old pair
// serving and says so in the log.
func TestReload(t *testing.T) {
	ca, _, p, s := site(t)
	two := ca.IssueFor(t, x509.ExtKeyUsageServerAuth, pkix.Name{CommonName: "two"})
	testutil.WriteFile(t, p.CertFile, string(two.CertPEM)) // its key is not there yet
	if err := s.Reload(); err == nil {
		t.Fatal("a certificate with another's key was loaded")
	}
	if got := presented(t, s, ""); got != "one" {
		t.Fatalf("after a failed reload: %q, want the old one", got)
	}
	testutil.WriteFile(t, p.KeyFile, string(two.KeyPEM))
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := presented(t, s, ""); got != "two" {
		t.Fatalf("after a reload: %q", got)
	}
	if n := s.Loads(); n != 2 {
		t.Errorf("Loads() = %d, want 2", n)
	}
}

// TestWatch: a change of the files is picked up; a broken change is
// logged once and the next good one is taken.
func TestWatch(t *testing.T) {
	ca, dir, p, s := site(t)
	var log testutil.SyncBuffer
	s.Log = slog.New(slog.NewTextHandler(&log, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Watch(ctx, 5*time.Millisecond)
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for end := time.Now().Add(30 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("waiting for %s; log:\n%s", what, log.String())
			}
		}
	}

	// A new pair, put in place by rename as certbot does.
	two := ca.IssueFor(t, x509.ExtKeyUsageServerAuth, pkix.Name{CommonName: "two"})
	np := write(t, dir, "new", two)
	os.Rename(np.KeyFile, p.KeyFile)
	os.Rename(np.CertFile, p.CertFile)
	waitFor("the reload", func() bool { return presented(t, s, "") == "two" })

	// A broken key (renamed into place, so that it changes once):
	// refused, logged, the old pair serving.
	testutil.WriteFile(t, p.KeyFile+".new", "not a key")
	os.Rename(p.KeyFile+".new", p.KeyFile)
	waitFor("the refusal", func() bool { return strings.Contains(log.String(), "Cannot reload") })
	if got := presented(t, s, ""); got != "two" {
		t.Fatalf("after a broken change: %q", got)
	}
	if s.changed() {
		t.Error("the refused files still count as a change: they would be tried, and logged, again and again")
	}
	three := ca.IssueFor(t, x509.ExtKeyUsageServerAuth, pkix.Name{CommonName: "three"})
	testutil.WriteFile(t, p.CertFile, string(three.CertPEM))
	testutil.WriteFile(t, p.KeyFile, string(three.KeyPEM))
	waitFor("the next reload", func() bool { return presented(t, s, "") == "three" })
}
