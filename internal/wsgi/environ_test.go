package wsgi

import (
	"encoding/binary"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// decodeEnv reads an env buffer back into a map, as the C side does.
func decodeEnv(t testing.TB, b []byte) map[string]string {
	t.Helper()
	m := map[string]string{}
	for len(b) > 0 {
		var key string
		k := b[0]
		b = b[1:]
		if k == 0 {
			n := binary.NativeEndian.Uint16(b)
			key, b = string(b[2:2+n]), b[2+n:]
		} else {
			key = envKeys[k-1]
		}
		n := binary.NativeEndian.Uint32(b)
		val := string(b[4 : 4+n])
		b = b[4+n:]
		if _, dup := m[key]; dup {
			t.Errorf("key %s encoded twice", key)
		}
		m[key] = val
	}
	return m
}

func TestBuildEnviron(t *testing.T) {
	req := &Request{
		Method:     "GET",
		RequestURI: "http://example.com/a%2Fb%zz?q=%20#frag",
		Proto:      "HTTP/1.1",
		Header: []Field{
			{"Host", "[::1]:8443"}, {"Accept", "a"}, {"accept", "b"}, {"X_Real_Ip", "spoof"},
			{"X-Custom-Thing", "v"}, {"Content-Type", "text/x"}, {"Content-Length", "3"},
			{"Cookie", "a=1"}, {"Cookie", "b=2"},
		},
		Host:       "[::1]:8443",
		RemoteAddr: "::1", RemotePort: "5555",
		TLS: true,
	}
	b, _ := buildEnviron(nil, nil, req, 3, "pogo/x")
	got := decodeEnv(t, b)
	want := map[string]string{
		"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/a/b%zz", "QUERY_STRING": "q=%20",
		"REQUEST_URI": req.RequestURI, "RAW_URI": req.RequestURI, "SERVER_PROTOCOL": "HTTP/1.1",
		"SERVER_SOFTWARE": "pogo/x", "REMOTE_ADDR": "::1", "REMOTE_PORT": "5555",
		"CONTENT_LENGTH": "3", "CONTENT_TYPE": "text/x", "SERVER_NAME": "::1", "SERVER_PORT": "8443",
		"HTTP_HOST": "[::1]:8443", "HTTP_ACCEPT": "a, b", "HTTP_X_CUSTOM_THING": "v", "HTTP_COOKIE": "a=1; b=2",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("environ\n got %v\nwant %v", got, want)
	}
}

func TestSplitTarget(t *testing.T) {
	for _, tc := range []struct{ in, path, query string }{
		{"/", "/", ""},
		{"/a?b=c", "/a", "b=c"},
		{"/a?b?c", "/a", "b?c"},
		{"/a#f?x", "/a", ""},
		{"*", "*", ""},
		{"http://h", "/", ""},
		{"https://h:1/p/q?x", "/p/q", "x"},
		{"", "", ""},
	} {
		p, q := splitTarget(tc.in)
		if p != tc.path || q != tc.query {
			t.Errorf("splitTarget(%q) = %q, %q; want %q, %q", tc.in, p, q, tc.path, tc.query)
		}
	}
}

// TestEnvKeys: the key constants name their entries, and the reserved
// keys are the ones buildEnviron always sends (and Host).
func TestEnvKeys(t *testing.T) {
	for k, name := range map[int]string{
		kMethod: "REQUEST_METHOD", kScriptName: "SCRIPT_NAME", kPathInfo: "PATH_INFO", kQueryString: "QUERY_STRING",
		kServerName: "SERVER_NAME", kServerPort: "SERVER_PORT", kServerProtocol: "SERVER_PROTOCOL",
		kServerSoftware: "SERVER_SOFTWARE", kRemoteAddr: "REMOTE_ADDR", kRemotePort: "REMOTE_PORT",
		kRequestURI: "REQUEST_URI", kRawURI: "RAW_URI", kHost: "HTTP_HOST",
		kContentType: "CONTENT_TYPE", kContentLength: "CONTENT_LENGTH",
	} {
		if envKeys[k-1] != name {
			t.Errorf("key %d is %q, want %q", k, envKeys[k-1], name)
		}
	}
	req := &Request{Method: "GET", RequestURI: "/", Proto: "HTTP/1.0", RemoteAddr: "1.2.3.4", RemotePort: "5", LocalAddr: "127.0.0.1", LocalPort: "80"}
	env, _ := buildEnviron(nil, nil, req, -1, "pogo")
	sent := map[byte]bool{}
	for b := env; len(b) > 0; {
		k, n := b[0], binary.NativeEndian.Uint32(b[1:5])
		sent[k] = true
		b = b[5+n:]
	}
	for k := byte(1); k < envReserved; k++ { // all but HTTP_HOST
		if !sent[k] {
			t.Errorf("reserved key %s not sent for a request without headers", envKeys[k-1])
		}
	}
}

func TestSplitHostPort(t *testing.T) {
	for _, c := range []struct{ in, host, port string }{
		{"example.com", "example.com", ""},
		{"example.com:8080", "example.com", "8080"},
		{"example.com:", "example.com", ""},
		{":80", "", "80"},
		{"[::1]:80", "::1", "80"},
		{"[::1]", "::1", ""},
		{"[::1", "::1", ""},
		{"::1", "::1", ""},
		{"", "", ""},
	} {
		if h, p := splitHostPort(c.in); h != c.host || p != c.port {
			t.Errorf("splitHostPort(%q) = %q, %q; want %q, %q", c.in, h, p, c.host, c.port)
		}
	}
}

func TestParseHead(t *testing.T) {
	head := func(parts ...string) []byte { return []byte(strings.Join(parts, "\x00") + "\x00") }
	h, err := parseHead(head("200 OK", "Content-Type", "text/plain", "Connection", "close",
		"Keep-Alive", "x", "Transfer-Encoding", "chunked", "Content-Length", " 12 ", "Set-Cookie", "a", "set-cookie", "b"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := ResponseHead{Status: 200, Reason: "OK", ContentLength: 12, Close: true,
		Header: []Field{{"Content-Type", "text/plain"}, {"Set-Cookie", "a"}, {"set-cookie", "b"}}}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("got %+v\nwant %+v", h, want)
	}
	if h, _ := parseHead(head("404"), nil); h.Reason != "Not Found" {
		t.Errorf("reason for a bare code: %q", h.Reason)
	}
	for _, bad := range [][]byte{
		head("200 OK", "Content-Length", "x"),
		head("200 OK", "Content-Length", "-1"),
		head("200 OK", "Content-Length", "1", "Content-Length", "2"),
	} {
		if _, err := parseHead(bad, nil); err == nil {
			t.Errorf("parseHead(%q): no error", bad)
		}
	}
}

// FuzzUnquote checks PATH_INFO decoding against net/url for valid escapes
// and that invalid ones pass through.
func FuzzUnquote(f *testing.F) {
	for _, s := range []string{"/a%20b", "%", "%2", "%zz", "/%E2%98%83", "/plain", "%%41"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := string(unquote(s, nil))
		if want, err := url.PathUnescape(s); err == nil && got != want {
			t.Errorf("unquote(%q) = %q, want %q", s, got, want)
		}
		if !strings.Contains(s, "%") && got != s {
			t.Errorf("unquote(%q) changed a string without escapes: %q", s, got)
		}
	})
}
