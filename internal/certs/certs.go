// Package certs holds the TLS certificates a server presents: one or more
// key pairs loaded from PEM files, the one a client gets chosen by the
// name it asks for (SNI), and reloaded in place when asked or when the
// files change. A new set that does not load is refused and the old one
// keeps serving, so a certificate renewed in two steps (the certificate,
// then its key) never takes a server down.
package certs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Pair names a certificate (PEM, the chain after the leaf) and its key.
type Pair struct {
	CertFile, KeyFile string
}

// Store serves the certificates of its pairs; the first pair is the
// default, for clients that send no name or one no certificate has.
type Store struct {
	// Log receives the reloads' outcomes; if nil, slog.Default().
	Log *slog.Logger

	pairs []Pair
	cur   atomic.Pointer[[]tls.Certificate]
	loads atomic.Uint64

	mu   sync.Mutex // serialises reloads
	seen []stamp    // the files as they were when last loaded or tried
}

// stamp is what tells that a file changed: a new file put in its place
// (a rename, a symlink swapped, as certbot and Kubernetes do) or a
// rewrite of the same one.
type stamp struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
}

func stampOf(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}
	}
	s := stamp{size: fi.Size(), mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.dev, s.ino = uint64(st.Dev), st.Ino
	}
	return s
}

// Load loads every pair; any that fails to load is an error.
func Load(pairs []Pair) (*Store, error) {
	if len(pairs) == 0 {
		return nil, errors.New("no certificate")
	}
	s := &Store{pairs: pairs}
	s.seen = s.stamps()
	certs, err := s.load()
	if err != nil {
		return nil, err
	}
	s.cur.Store(&certs)
	s.loads.Add(1)
	return s, nil
}

func (s *Store) stamps() []stamp {
	st := make([]stamp, 0, 2*len(s.pairs))
	for _, p := range s.pairs {
		st = append(st, stampOf(p.CertFile), stampOf(p.KeyFile))
	}
	return st
}

func (s *Store) load() ([]tls.Certificate, error) {
	certs := make([]tls.Certificate, 0, len(s.pairs))
	for _, p := range s.pairs {
		c, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("TLS certificate %s with key %s: %w", p.CertFile, p.KeyFile, err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// GetCertificate is tls.Config's: the first certificate valid for the
// name the client asked for, else the first one.
func (s *Store) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	certs := *s.cur.Load()
	if len(certs) > 1 {
		for i := range certs {
			if hello.SupportsCertificate(&certs[i]) == nil {
				return &certs[i], nil
			}
		}
	}
	return &certs[0], nil
}

// Loads counts the sets loaded: 1 after Load, one more per reload that
// took.
func (s *Store) Loads() uint64 { return s.loads.Load() }

// Reload loads the files again. If any pair fails, the certificates in
// use stay and the error says why.
func (s *Store) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = s.stamps()
	certs, err := s.load()
	if err != nil {
		return err
	}
	s.cur.Store(&certs)
	s.loads.Add(1)
	return nil
}

// changed reports whether a file is not as it was when last loaded or
// tried.
func (s *Store) changed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.stamps()
	for i := range now {
		if now[i] != s.seen[i] {
			return true
		}
	}
	return false
}

// Watch reloads the certificates whenever their files change, looking
// every interval, until ctx is done. It logs each reload, and each
// refused one once, until the files change again.
func (s *Store) Watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s.changed() {
			s.Report(s.Reload(), "the files changed")
		}
	}
}

// Report logs the outcome of a reload done because of why.
func (s *Store) Report(err error, why string) {
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	if err != nil {
		log.Error("Cannot reload the TLS certificates ("+why+"): serving the ones loaded before", "err", err)
		return
	}
	log.Info("Reloaded the TLS certificates (" + why + ")")
}
