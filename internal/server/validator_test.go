package server_test

import (
	"strconv"
	"strings"
	"testing"
)

// TestValidator runs requests of every framing through wsgiref.validate's
// validator (testdata/apps/validated_strict.py), which raises in the app on
// any PEP 3333 violation in the environ, wsgi.input, start_response or the
// response iterable, its warnings included. pogo logs the traceback and
// answers 500, so every answer must be the app's 200 and the log clean.
// Raw requests, because the framing on the wire is what is under test.
func TestValidator(t *testing.T) {
	s := start(t, "validated_strict:app")
	big := strings.Repeat("0123456789abcdef", 100<<10/16) // more than the gateway's prefetch
	for _, tt := range []struct {
		name string
		send string // the last request asks for Connection: close
		want []echoed
	}{
		{
			name: "get",
			send: "GET /get?x=1 HTTP/1.1\r\nHost: pogo.test\r\nConnection: close\r\n\r\n",
			want: []echoed{{"GET", "GET /get 0:"}},
		},
		{
			name: "post_content_length",
			send: "POST /post HTTP/1.1\r\nHost: pogo.test\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world",
			want: []echoed{{"POST", "POST /post 11:hello world"}},
		},
		{
			name: "post_content_length_big",
			send: "POST /big HTTP/1.1\r\nHost: pogo.test\r\nContent-Length: " + strconv.Itoa(len(big)) + "\r\nConnection: close\r\n\r\n" + big,
			want: []echoed{{"POST", "POST /big " + strconv.Itoa(len(big)) + ":" + big}},
		},
		{
			name: "head",
			send: "HEAD /head HTTP/1.1\r\nHost: pogo.test\r\nConnection: close\r\n\r\n",
			want: []echoed{{"HEAD", "HEAD /head 0:"}},
		},
		{
			name: "post_chunked",
			send: "POST /chunked HTTP/1.1\r\nHost: pogo.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
				"5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n",
			want: []echoed{{"POST", "POST /chunked 11:hello world"}},
		},
		{
			name: "post_chunked_big",
			send: "POST /chunked HTTP/1.1\r\nHost: pogo.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
				chunk(big[:40000]) + chunk(big[40000:80000]) + chunk(big[80000:]) + "0\r\n\r\n",
			want: []echoed{{"POST", "POST /chunked " + strconv.Itoa(len(big)) + ":" + big}},
		},
		{
			name: "pipelined",
			send: "GET /1 HTTP/1.1\r\nHost: pogo.test\r\n\r\n" +
				"POST /2 HTTP/1.1\r\nHost: pogo.test\r\nContent-Length: 3\r\n\r\nabc" +
				"GET /3 HTTP/1.1\r\nHost: pogo.test\r\nConnection: close\r\n\r\n",
			want: []echoed{{"GET", "GET /1 0:"}, {"POST", "POST /2 3:abc"}, {"GET", "GET /3 0:"}},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, s.Addr)
			c.send(tt.send)
			for i, w := range tt.want {
				resp, body := c.response(w.method)
				if resp.StatusCode != 200 {
					t.Fatalf("response %d: status %d: %s", i, resp.StatusCode, body)
				}
				want := w.body
				if w.method == "HEAD" {
					want = ""
				}
				if body != want {
					t.Errorf("response %d: body %.80q, want %.80q", i, body, want)
				}
				if resp.ContentLength != int64(len(w.body)) {
					t.Errorf("response %d: Content-Length %d, want %d (the app's)", i, resp.ContentLength, len(w.body))
				}
			}
			if rest := c.rest(); rest != "" {
				t.Errorf("bytes after the last response: %.80q", rest)
			}
			logs := s.Logs()
			for _, bad := range []string{"Traceback", "Error handling request"} {
				if strings.Contains(logs, bad) {
					t.Errorf("server log has %q:\n%s", bad, logs)
				}
			}
		})
	}
}

// echoed is one answer of validated_strict's echo app: its body is
// "METHOD PATH LEN:" and the request body.
type echoed struct {
	method string
	body   string
}

func chunk(s string) string { return strconv.FormatInt(int64(len(s)), 16) + "\r\n" + s + "\r\n" }
