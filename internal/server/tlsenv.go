package server

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"sync/atomic"

	"github.com/pogoserver/pogo/internal/http1"
	"github.com/pogoserver/pogo/internal/wsgi"
)

// fromConn sets what req takes from the connection it came on: the
// addresses, TLS, and the TLS variables of the environ from st (appended
// to env, the exchange's buffer, which it returns).
func fromConn(req *wsgi.Request, ci *http1.ConnInfo, st *tls.ConnectionState, env []wsgi.Field) []wsgi.Field {
	req.RemoteAddr, req.RemotePort = ci.RemoteHost, ci.RemotePort
	req.LocalAddr, req.LocalPort = ci.LocalHost, ci.LocalPort
	req.TLS = ci.TLS
	req.Env = appendTLSEnv(env, st)
	return req.Env
}

// appendTLSEnv appends the environ variables Apache's mod_ssl sets for
// a TLS connection (HTTPS, SSL_PROTOCOL, SSL_CIPHER, SSL_CLIENT_*), so
// that apps written for mod_wsgi find the client certificate where they
// look for it. Nothing for a connection in the clear.
func appendTLSEnv(env []wsgi.Field, st *tls.ConnectionState) []wsgi.Field {
	if st == nil {
		return env
	}
	env = append(env,
		wsgi.Field{Name: "HTTPS", Value: "on"},
		wsgi.Field{Name: "SSL_PROTOCOL", Value: tlsProtocol(st.Version)},
		wsgi.Field{Name: "SSL_CIPHER", Value: tls.CipherSuiteName(st.CipherSuite)})
	if st.ServerName != "" {
		env = append(env, wsgi.Field{Name: "SSL_TLS_SNI", Value: st.ServerName})
	}
	if len(st.PeerCertificates) == 0 {
		return append(env, wsgi.Field{Name: "SSL_CLIENT_VERIFY", Value: "NONE"})
	}
	verify := "SUCCESS"
	if len(st.VerifiedChains) == 0 {
		verify = "GENEROUS" // sent, not verified (pogo verifies what it asks for)
	}
	env = append(env, wsgi.Field{Name: "SSL_CLIENT_VERIFY", Value: verify})
	return append(env, clientCertEnv(st.PeerCertificates[0])...)
}

func tlsProtocol(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "TLSv1.3"
	case tls.VersionTLS12:
		return "TLSv1.2"
	}
	return strings.Replace(tls.VersionName(v), "TLS 1.", "TLSv1.", 1)
}

// lastCert holds the variables of the client certificate seen last: a
// connection's requests, and most clients' connections, present the same
// one, so its PEM and names are made once, not per request.
var lastCert atomic.Pointer[certEnv]

type certEnv struct {
	leaf *x509.Certificate
	env  []wsgi.Field
}

// clientCertEnv gives the SSL_CLIENT_* variables of the client's
// certificate (read-only: callers append them).
func clientCertEnv(leaf *x509.Certificate) []wsgi.Field {
	if c := lastCert.Load(); c != nil && c.leaf == leaf {
		return c.env
	}
	const when = "Jan _2 15:04:05 2006 GMT" // mod_ssl's (OpenSSL's) format
	serial := strings.ToUpper(leaf.SerialNumber.Text(16))
	env := []wsgi.Field{
		{Name: "SSL_CLIENT_S_DN", Value: leaf.Subject.String()},
		{Name: "SSL_CLIENT_I_DN", Value: leaf.Issuer.String()},
		{Name: "SSL_CLIENT_S_DN_CN", Value: leaf.Subject.CommonName},
		{Name: "SSL_CLIENT_M_SERIAL", Value: serial},
		{Name: "SSL_CLIENT_SERIAL", Value: serial},
		{Name: "SSL_CLIENT_V_START", Value: leaf.NotBefore.UTC().Format(when)},
		{Name: "SSL_CLIENT_V_END", Value: leaf.NotAfter.UTC().Format(when)},
		{Name: "SSL_CLIENT_CERT", Value: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))},
	}
	lastCert.Store(&certEnv{leaf, env})
	return env
}
