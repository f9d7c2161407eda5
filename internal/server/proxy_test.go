package server_test

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"net"
	"testing"

	"github.com/pogoserver/pogo/internal/server"
)

func TestTrusted(t *testing.T) {
	tr, err := server.ParseTrusted("127.0.0.1, 10.0.0.0/8,::1, 2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]bool{
		"127.0.0.1": true, "10.1.2.3": true, "::1": true, "2001:db8::5": true, "[::1]": true,
		"::ffff:10.0.0.1": true, // an IPv4-mapped peer
		"127.0.0.2":       false, "11.0.0.1": false, "2001:db9::1": false, "junk": false,
		"": true, // a unix socket: local processes only
	} {
		if got := tr.Has(ip); got != want {
			t.Errorf("Has(%q) = %v, want %v", ip, got, want)
		}
	}
	all, _ := server.ParseTrusted("*")
	none, _ := server.ParseTrusted("")
	if !all.Has("8.8.8.8") || none.Has("127.0.0.1") {
		t.Error("* or empty")
	}
	for _, bad := range []string{"1.2.3", "10.0.0.0/33", "localhost"} {
		if _, err := server.ParseTrusted(bad); err == nil {
			t.Errorf("ParseTrusted(%q): no error", bad)
		}
	}
}

// environ sends raw (a request, maybe after a PROXY header) and returns
// the environ the app saw.
func environ(t *testing.T, addr, raw string) (int, map[string]any) {
	t.Helper()
	c := dial(t, addr)
	c.send(raw)
	resp, body := c.response("GET")
	var env map[string]any
	if resp.StatusCode == 200 {
		if err := json.Unmarshal([]byte(body), &env); err != nil {
			t.Fatalf("%q: %v", body, err)
		}
	}
	return resp.StatusCode, env
}

// TestForwardedHeaders: a trusted peer's proxy headers set REMOTE_ADDR,
// the scheme and the host; an untrusted peer's are ignored (the spoof).
func TestForwardedHeaders(t *testing.T) {
	trust := func(list string) func(*setup) {
		return func(st *setup) { st.srv.Trusted, _ = server.ParseTrusted(list) }
	}
	trusted := start(t, "environ_app:app", trust("127.0.0.1,10.0.0.0/8"))
	untrusted := start(t, "environ_app:app", trust("10.0.0.0/8"))
	custom := start(t, "environ_app:app", func(st *setup) {
		st.srv.Trusted, _ = server.ParseTrusted("127.0.0.1")
		st.srv.Trusted.SetSecureSchemeHeaders(map[string]string{"Front-End-Https": "on", "X-FORWARDED-PROTO": "https"})
	})
	for _, c := range []struct {
		name, addr, headers           string
		remote, scheme, host, srvName string
	}{
		{"xff", trusted.Addr, "X-Forwarded-For: 203.0.113.7\r\n", "203.0.113.7", "http", "front.test", "front.test"},
		{"xff chain, trusted hops skipped", trusted.Addr, "X-Forwarded-For: 198.51.100.1, 203.0.113.7, 10.0.0.2\r\n", "203.0.113.7", "http", "front.test", "front.test"},
		{"xff proto host", trusted.Addr, "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: www.example.com\r\n", "203.0.113.7", "https", "www.example.com", "www.example.com"},
		{"forwarded", trusted.Addr, "Forwarded: for=\"[2001:db8::7]:4711\";proto=https;host=shop.example.com\r\n", "2001:db8::7", "https", "shop.example.com", "shop.example.com"},
		{"forwarded wins over xff", trusted.Addr, "Forwarded: for=192.0.2.60\r\nX-Forwarded-For: 203.0.113.7\r\n", "192.0.2.60", "http", "front.test", "front.test"},
		{"no headers", trusted.Addr, "", "127.0.0.1", "http", "front.test", "front.test"},
		// gunicorn's default secure_scheme_headers, and a custom one.
		{"x-forwarded-ssl", trusted.Addr, "X-Forwarded-Ssl: on\r\n", "127.0.0.1", "https", "front.test", "front.test"},
		{"x-forwarded-protocol", trusted.Addr, "X-Forwarded-Protocol: ssl\r\n", "127.0.0.1", "https", "front.test", "front.test"},
		{"x-forwarded-ssl off", trusted.Addr, "X-Forwarded-Ssl: off\r\n", "127.0.0.1", "http", "front.test", "front.test"},
		{"x-forwarded-proto wins", trusted.Addr, "X-Forwarded-Proto: http\r\nX-Forwarded-Ssl: on\r\n", "127.0.0.1", "http", "front.test", "front.test"},
		{"custom secure header", custom.Addr, "Front-End-Https: on\r\n", "127.0.0.1", "https", "front.test", "front.test"},
		{"custom replaces the defaults", custom.Addr, "X-Forwarded-Ssl: on\r\n", "127.0.0.1", "http", "front.test", "front.test"},
		{"secure header from an untrusted peer", untrusted.Addr, "X-Forwarded-Ssl: on\r\n", "127.0.0.1", "http", "front.test", "front.test"},
		{"spoof from an untrusted peer", untrusted.Addr, "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.test\r\nForwarded: for=1.2.3.4\r\n", "127.0.0.1", "http", "front.test", "front.test"},
	} {
		code, env := environ(t, c.addr, "GET / HTTP/1.1\r\nHost: front.test\r\n"+c.headers+"\r\n")
		if code != 200 || env["REMOTE_ADDR"] != c.remote || env["wsgi.url_scheme"] != c.scheme || env["HTTP_HOST"] != c.host || env["SERVER_NAME"] != c.srvName {
			t.Errorf("%s: %d REMOTE_ADDR %v wsgi.url_scheme %v HTTP_HOST %v SERVER_NAME %v; want %s %s %s %s",
				c.name, code, env["REMOTE_ADDR"], env["wsgi.url_scheme"], env["HTTP_HOST"], env["SERVER_NAME"], c.remote, c.scheme, c.host, c.srvName)
		}
	}
}

func proxyV2(src, dst net.IP, sport, dport uint16) string {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	b = append(b, 0x21, 0x11, 0, 12)
	b = append(b, src.To4()...)
	b = append(b, dst.To4()...)
	b = binary.BigEndian.AppendUint16(b, sport)
	b = binary.BigEndian.AppendUint16(b, dport)
	return string(b)
}

// TestProxyProtocol: PROXY v1 and v2 headers from a trusted peer give the
// client's address; without one the connection is served as it is; from
// an untrusted peer the header is not read (and is a bad request).
func TestProxyProtocol(t *testing.T) {
	proxy := func(list string) func(*setup) {
		return func(st *setup) {
			st.srv.Trusted, _ = server.ParseTrusted(list)
			st.srv.ProxyProtocol = true
		}
	}
	s := start(t, "environ_app:app", proxy("127.0.0.1"))
	req := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, c := range []struct {
		name, head, remote, port string
	}{
		{"v1 tcp4", "PROXY TCP4 198.51.100.22 203.0.113.1 35646 80\r\n", "198.51.100.22", "35646"},
		{"v1 tcp6", "PROXY TCP6 2001:db8::22 2001:db8::1 35646 443\r\n", "2001:db8::22", "35646"},
		{"v1 unknown", "PROXY UNKNOWN\r\n", "127.0.0.1", ""},
		{"v2 tcp4", proxyV2(net.ParseIP("192.0.2.9"), net.ParseIP("192.0.2.1"), 5555, 80), "192.0.2.9", "5555"},
		{"none", "", "127.0.0.1", ""},
	} {
		code, env := environ(t, s.Addr, c.head+req)
		if code != 200 || env["REMOTE_ADDR"] != c.remote || (c.port != "" && env["REMOTE_PORT"] != c.port) {
			t.Errorf("%s: %d REMOTE_ADDR %v REMOTE_PORT %v, want %s %s", c.name, code, env["REMOTE_ADDR"], env["REMOTE_PORT"], c.remote, c.port)
		}
	}
	// A malformed header from a trusted peer: the connection is closed.
	c := dial(t, s.Addr)
	c.send("PROXY TCP4 nonsense\r\n" + req)
	if _, err := bufio.NewReader(c.c).ReadByte(); err == nil {
		t.Error("a malformed PROXY header got an answer")
	}
	// From an untrusted peer the header is the request line: 400.
	u := start(t, "environ_app:app", proxy("10.0.0.0/8"))
	if code, _ := environ(t, u.Addr, "PROXY TCP4 198.51.100.22 203.0.113.1 35646 80\r\n"+req); code != 400 {
		t.Errorf("PROXY from an untrusted peer: %d, want 400", code)
	}
}
