package server_test

import (
	"encoding/json"
	"testing"
)

func TestEnviron(t *testing.T) {
	s := start(t, "environ_app:app")
	c := dial(t, s.Addr)
	c.send("POST /a%20b/%E2%98%83/%2F?x=1&y=%20z HTTP/1.1\r\n" +
		"Host: example.com:8080\r\n" +
		"User-Agent: test\r\n" +
		"X-Multi: one\r\n" +
		"Content-Type: text/plain\r\n" +
		"X-Multi: two\r\n" +
		"X_Multi: spoofed\r\n" +
		"Cookie: a=1\r\n" +
		"Cookie: b=2\r\n" +
		"Content-Length: 5\r\n" +
		"\r\nhello")
	resp, body := c.response("POST")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var env map[string]any
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"REQUEST_METHOD":        "POST",
		"SCRIPT_NAME":           "",
		"PATH_INFO":             "/a b/\u00e2\u0098\u0083//", // UTF-8 bytes as latin-1, decoded once
		"QUERY_STRING":          "x=1&y=%20z",
		"REQUEST_URI":           "/a%20b/%E2%98%83/%2F?x=1&y=%20z",
		"RAW_URI":               "/a%20b/%E2%98%83/%2F?x=1&y=%20z",
		"CONTENT_TYPE":          "text/plain",
		"CONTENT_LENGTH":        "5",
		"SERVER_NAME":           "example.com",
		"SERVER_PORT":           "8080",
		"SERVER_PROTOCOL":       "HTTP/1.1",
		"SERVER_SOFTWARE":       "pogo/test",
		"REMOTE_ADDR":           "127.0.0.1",
		"HTTP_HOST":             "example.com:8080",
		"HTTP_USER_AGENT":       "test",
		"HTTP_X_MULTI":          "one, two",
		"HTTP_COOKIE":           "a=1; b=2",
		"wsgi.url_scheme":       "http",
		"wsgi.version":          []any{1.0, 0.0},
		"wsgi.multithread":      true,
		"wsgi.multiprocess":     false,
		"wsgi.run_once":         false,
		"wsgi.input_terminated": true,
		"wsgi.input":            "<Input>",
		"wsgi.errors":           "<Errors>",
		"wsgi.file_wrapper":     "<type>",
		"wsgi.input.has":        []any{"__iter__", "read", "readline", "readlines"},
		"wsgi.errors.has":       []any{"flush", "write", "writelines"},
	}
	for k, v := range want {
		if got, ok := env[k]; !ok {
			t.Errorf("%s missing", k)
		} else if !equalJSON(got, v) {
			t.Errorf("%s = %#v, want %#v", k, got, v)
		}
	}
	if port, _ := env["REMOTE_PORT"].(string); port == "" {
		t.Errorf("REMOTE_PORT empty")
	}
	for _, k := range []string{"HTTP_CONTENT_LENGTH", "HTTP_CONTENT_TYPE"} {
		if _, ok := env[k]; ok {
			t.Errorf("%s must not be set", k)
		}
	}
	if len(env) != len(want)+1 {
		t.Errorf("environ has %d keys, want %d: %v", len(env), len(want)+1, env)
	}
}

func TestEnvironNoHost(t *testing.T) {
	s := start(t, "environ_app:app")
	c := dial(t, s.Addr)
	c.send("GET /?q HTTP/1.0\r\n\r\n")
	_, body := c.response("GET")
	var env map[string]any
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatal(err)
	}
	if env["SERVER_NAME"] != "127.0.0.1" || env["SERVER_PORT"] == "" || env["SERVER_PROTOCOL"] != "HTTP/1.0" {
		t.Errorf("SERVER_NAME %v SERVER_PORT %v SERVER_PROTOCOL %v", env["SERVER_NAME"], env["SERVER_PORT"], env["SERVER_PROTOCOL"])
	}
	if _, ok := env["CONTENT_LENGTH"]; ok {
		t.Errorf("CONTENT_LENGTH set for a request without a body")
	}
	// HTTP_HOST is among the keys the base environ reserves; a request
	// without Host must not see it, nor any placeholder.
	if v, ok := env["HTTP_HOST"]; ok {
		t.Errorf("HTTP_HOST = %v for a request without Host", v)
	}
	for k, v := range env {
		if v == "<NoneType>" {
			t.Errorf("environ[%q] is None", k)
		}
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
