package server

import (
	"context"
	"crypto/tls"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pogoserver/pogo/internal/http1"
	"github.com/pogoserver/pogo/internal/wsgi"
)

// servedGateway records that it was called.
type servedGateway struct{ called bool }

func (g *servedGateway) Serve(req *wsgi.Request, w wsgi.ResponseWriter) error {
	g.called = true
	return w.WriteHeader(&wsgi.ResponseHead{Status: 200, ContentLength: 0})
}

// TestEarlyData: with 0-RTT on, a request that came in early data (its
// TLS handshake not complete) reaches the app only if its method is
// safe; others get 425 Too Early (RFC 8470). quic-go's client sends only
// GET in 0-RTT, so the handler is called here directly.
func TestEarlyData(t *testing.T) {
	for _, tc := range []struct {
		method string
		done   bool
		want   int
	}{
		{"GET", false, 200},
		{"HEAD", false, 200},
		{"POST", false, 425},
		{"DELETE", false, 425},
		{"POST", true, 200},
	} {
		g := &servedGateway{}
		s := New(Options{Gateway: g, TLS: &tls.Config{}, HTTP3: true, HTTP3ZeroRTT: true})
		r := httptest.NewRequest(tc.method, "https://h/x", strings.NewReader("body"))
		r.TLS = &tls.ConnectionState{HandshakeComplete: tc.done}
		r = r.WithContext(context.WithValue(r.Context(), connInfoKey{}, &http1.ConnInfo{TLS: true}))
		w := httptest.NewRecorder()
		s.h3.ServeHTTP(w, r)
		if w.Code != tc.want || g.called != (tc.want == 200) {
			t.Errorf("%s, handshake complete %v: %d, app called %v; want %d", tc.method, tc.done, w.Code, g.called, tc.want)
		}
	}
}
