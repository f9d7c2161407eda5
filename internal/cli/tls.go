package cli

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/pogoserver/pogo/internal/certs"
	"github.com/pogoserver/pogo/internal/config"
)

// loadTLS builds the TLS configuration of cfg, with the store of its
// certificates, or nil without a certificate.
func loadTLS(cfg *config.Config) (*tls.Config, *certs.Store, error) {
	if len(cfg.CertFiles) == 0 {
		if cfg.CACerts != "" || cfg.CertReqs != 0 {
			return nil, nil, fmt.Errorf("--ca-certs and --cert-reqs need --certfile and --keyfile")
		}
		return nil, nil, nil
	}
	pairs := make([]certs.Pair, len(cfg.CertFiles))
	for i := range pairs {
		pairs[i] = certs.Pair{CertFile: cfg.CertFiles[i], KeyFile: cfg.KeyFiles[i]}
	}
	store, err := certs.Load(pairs)
	if err != nil {
		return nil, nil, fmt.Errorf("loading %w", err)
	}
	tc := &tls.Config{GetCertificate: store.GetCertificate, NextProtos: []string{"h2", "http/1.1"}}
	if cfg.CACerts != "" {
		pem, err := os.ReadFile(cfg.CACerts)
		if err != nil {
			return nil, nil, fmt.Errorf("--ca-certs: %w", err)
		}
		tc.ClientCAs = x509.NewCertPool()
		if !tc.ClientCAs.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("--ca-certs: no PEM certificate in %s", cfg.CACerts)
		}
	}
	switch cfg.CertReqs {
	case 1:
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	case 2:
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	tc.MinVersion, tc.CipherSuites, _, err = tlsOptions(cfg)
	if err != nil {
		return nil, nil, err
	}
	return tc, store, nil
}

// tlsOptions reads --ssl-min-version (or gunicorn's --ssl-version) and
// --ciphers: the lowest TLS version offered, the TLS 1.2 suites (nil:
// Go's), and notes for what pogo applies only in part (cipher names Go
// has no suite for, old versions).
func tlsOptions(cfg *config.Config) (minVersion uint16, suites []uint16, notes []string, err error) {
	minVersion = tls.VersionTLS12
	switch v := strings.TrimPrefix(cfg.SSLVersion, "PROTOCOL_"); {
	case cfg.SSLMinVersion == "1.3", cfg.SSLMinVersion == "" && v == "TLSv1_3":
		minVersion = tls.VersionTLS13
	case cfg.SSLMinVersion != "":
	case slices.Contains([]string{"", "TLS", "TLS_SERVER", "SSLv23", "2", "17", "TLSv1_2", "5"}, v):
	case slices.Contains([]string{"TLSv1", "TLSv1_1", "3", "4"}, v):
		notes = append(notes, "ssl_version: pogo does not offer TLS 1.0 or 1.1: it negotiates TLS 1.2 or 1.3")
	default:
		return 0, nil, nil, fmt.Errorf("--ssl-version: %q is not a TLS version gunicorn names (TLSv1_2, TLSv1_3, TLS)", cfg.SSLVersion)
	}
	if cfg.Ciphers != "" {
		var unknown []string
		suites, unknown = cipherSuites(cfg.Ciphers)
		if len(suites) == 0 {
			return 0, nil, nil, fmt.Errorf("--ciphers %q: none of these is a TLS 1.2 suite pogo has (%s)", cfg.Ciphers, strings.Join(openSSLNames(), ", "))
		}
		if len(unknown) > 0 {
			notes = append(notes, "ciphers: pogo offers the suites of the list that Go has (TLS 1.3's are Go's), and has none for "+strings.Join(unknown, ":"))
		}
	}
	return minVersion, suites, notes, nil
}

// openSSL names Go's TLS 1.2 cipher suites as OpenSSL (and so gunicorn's
// ciphers setting) does.
var openSSL = map[string]uint16{
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
}

func openSSLNames() []string {
	var names []string
	for n := range openSSL {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// cipherSuites picks the suites an OpenSSL cipher list names, in its
// order, and returns the words it could not use (keywords such as HIGH,
// exclusions, suites Go does not have).
func cipherSuites(list string) (suites []uint16, unknown []string) {
	for _, w := range strings.FieldsFunc(list, func(r rune) bool { return r == ':' || r == ',' || r == ' ' }) {
		if id, ok := openSSL[w]; ok {
			suites = append(suites, id)
		} else {
			unknown = append(unknown, w)
		}
	}
	return suites, unknown
}
