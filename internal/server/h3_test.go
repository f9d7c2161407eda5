package server_test

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/pogoserver/pogo/internal/accesslog"
)

func withHTTP3(s *setup) { s.srv.HTTP3 = true }

// TestHTTP3: the same requests over HTTP/3 (quic-go's client) into the
// same gateway, on the UDP port of the TLS listener; HTTP/1.1 and HTTP/2
// responses there name it in Alt-Svc.
func TestHTTP3(t *testing.T) {
	cert, pool := testCert(t)
	var accessLines syncBuffer
	access := accessLog(t, &accessLines, accesslog.DefaultFormat)
	s := start(t, "h2_app:app", withTLS(cert), withHTTP3, func(st *setup) { st.srv.Access = access })
	base := "https://" + s.Addr
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.Close()
	h2Checks(t, &http.Client{Transport: tr, Timeout: 10 * time.Second}, base, "HTTP/3.0", "https")

	// A header block past the limit (1 MiB, as HTTP/2's) gets 431.
	req, _ := http.NewRequest("GET", base+"/list", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 2<<20))
	if resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req); err != nil || resp.StatusCode != 431 {
		t.Errorf("a 2 MiB header: %v %v, want 431", resp, err)
	} else {
		resp.Body.Close()
	}

	_, port, _ := strings.Cut(s.Addr, ":")
	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: h2}
		resp, _ := fetch(t, &http.Client{Transport: tr, Timeout: 10 * time.Second}, base+"/list")
		tr.CloseIdleConnections()
		if got, want := resp.Header.Get("Alt-Svc"), `h3=":`+port+`"; ma=86400`; got != want {
			t.Errorf("%s: Alt-Svc %q, want %q", resp.Proto, got, want)
		}
	}
	access.Close()
	contains(t, accessLines.String(), `"GET /list HTTP/3.0" 200 11`, "access log")
}

// TestAppTimeoutHTTP3: a request past the gateway's timeout gets its 504
// over HTTP/3 too, the stream ended while the app's call runs on; the
// access log records the 504.
func TestAppTimeoutHTTP3(t *testing.T) {
	cert, pool := testCert(t)
	var accessLines syncBuffer
	access := accessLog(t, &accessLines, accesslog.DefaultFormat)
	timedOut := make(chan struct{}, 1)
	s := start(t, "pid_app:app", withThreads(2), withTLS(cert), withHTTP3, func(st *setup) {
		st.gw.Timeout = 300 * time.Millisecond
		st.gw.OnTimeout = func() { timedOut <- struct{}{} }
		st.srv.GatewayTimeouts = true
		st.srv.Access = access
	})
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.Close()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, body := fetch(t, c, "https://"+s.Addr+"/?sleep=3")
	if resp.StatusCode != 504 || body != "504 Gateway Timeout\n" || resp.Proto != "HTTP/3.0" {
		t.Errorf("%s %d %q, want a 504 over HTTP/3", resp.Proto, resp.StatusCode, body)
	}
	<-timedOut
	// The stuck call's own later writes go nowhere; others are served.
	if resp, _ := fetch(t, c, "https://"+s.Addr+"/"); resp.StatusCode != 200 {
		t.Errorf("another request meanwhile: %d", resp.StatusCode)
	}
	waitFor(t, "the access log line of the 504", func() bool { return strings.Contains(accessLines.String(), `"GET /?sleep=3 HTTP/3.0" 504 20`) })
}
