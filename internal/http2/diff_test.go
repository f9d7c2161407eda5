package http2

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// The differential test: the same valid requests, sent by net/http's
// HTTP/2 client to our Server and to net/http's own HTTP/2 server (h2c,
// prior knowledge), must reach the handler alike (method, path,
// authority, headers, body) and come back to the client alike (status,
// headers but date, body).

// view renders a request as a handler saw it: names in lower case, each
// name's values in order, names sorted.
func view(method, path, authority string, header map[string][]string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString(method + " " + path + " " + authority + "\n")
	names := make([]string, 0, len(header))
	for name := range header {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		b.WriteString(name + ": " + strings.Join(header[name], " | ") + "\n")
	}
	b.WriteString("\n")
	b.Write(body)
	return b.Bytes()
}

// answer is the response both servers give to a request seen as v.
func answer(path string, v []byte) (status int, header [][2]string, body []byte) {
	header = [][2]string{{"Content-Type", "text/plain; charset=utf-8"}, {"X-Multi", "a"}, {"X-Multi", "b"}, {"Set-Cookie", "s=1"}, {"Set-Cookie", "t=2"}}
	switch {
	case strings.HasPrefix(path, "/created"):
		return 201, header, v
	case strings.HasPrefix(path, "/missing"):
		return 404, header, v
	case strings.HasPrefix(path, "/nocontent"):
		return 204, header, nil
	}
	return 200, header, v
}

// ours serves the differential requests on our Server.
func ours(w *ResponseWriter, r *Request) {
	header := map[string][]string{}
	for _, f := range r.Header {
		header[f.Name] = append(header[f.Name], f.Value)
	}
	if c := header["cookie"]; len(c) > 1 {
		header["cookie"] = []string{strings.Join(c, "; ")} // as net/http joins the crumbs (RFC 9113 8.2.3)
	}
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			w.Reset()
			return
		}
	}
	status, h, out := answer(r.Path, view(r.Method, r.Path, r.Authority, header, body))
	fields := make([]hpack.HeaderField, len(h))
	for i, kv := range h {
		fields[i] = hpack.HeaderField{Name: kv[0], Value: kv[1]}
	}
	w.WriteHeader(status, fields, int64(len(out)))
	w.Write(out)
}

// theirs serves them on net/http's.
func theirs(w http.ResponseWriter, r *http.Request) {
	header := map[string][]string{}
	for name, vs := range r.Header {
		header[strings.ToLower(name)] = vs
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	status, h, out := answer(r.URL.Path, view(r.Method, r.RequestURI, r.Host, header, body))
	for _, kv := range h {
		w.Header().Add(kv[0], kv[1])
	}
	if status != 204 {
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	}
	w.WriteHeader(status)
	w.Write(out)
}

type diffCase struct {
	method, path string
	header       [][2]string
	body         string
	unsized      bool // the body is sent without content-length
}

func diffCases() []diffCase {
	big := strings.Repeat("0123456789", 200000) // 2 MB: past both windows
	return []diffCase{
		{method: "GET", path: "/"},
		{method: "GET", path: "/p%20a/th;x?q=1&r=%2F&s=%E2%82%AC#frag"},
		{method: "GET", path: "/created", header: [][2]string{{"Accept", "text/html"}, {"X-Multi", "1"}, {"X-Multi", "2"}, {"Cookie", "a=1; b=2"}, {"User-Agent", "diff/1"}}},
		{method: "GET", path: "/missing", header: [][2]string{{"X-Empty", ""}, {"X-Spaces", "a  b"}}},
		{method: "GET", path: "/nocontent"},
		{method: "HEAD", path: "/head"},
		{method: "DELETE", path: "/item/7"},
		{method: "OPTIONS", path: "/"},
		{method: "POST", path: "/form", header: [][2]string{{"Content-Type", "application/x-www-form-urlencoded"}}, body: "a=1&b=2"},
		{method: "PUT", path: "/upload", body: big[:100000]},
		{method: "POST", path: "/big", body: big},
		{method: "PATCH", path: "/unsized", body: big[:70000], unsized: true},
		{method: "POST", path: "/empty-unsized", unsized: true},
	}
}

func TestDifferential(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ref := &http.Server{Handler: http.HandlerFunc(theirs), Protocols: new(http.Protocols)}
	ref.Protocols.SetUnencryptedHTTP2(true)
	go ref.Serve(ln)
	t.Cleanup(func() { ref.Close() })

	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: protocols}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	do := func(t *testing.T, addr string, dc diffCase) (status int, header http.Header, body []byte) {
		t.Helper()
		var rd io.Reader
		if dc.body != "" || dc.unsized {
			rd = strings.NewReader(dc.body)
			if dc.unsized {
				rd = io.MultiReader(rd) // (hides the length)
			}
		}
		req, err := http.NewRequest(dc.method, "http://"+addr+dc.path, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "example.com:8080"
		for _, kv := range dc.header {
			req.Header.Add(kv[0], kv[1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("%s: %s", addr, resp.Proto)
		}
		body, err = io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Header.Del("Date")
		return resp.StatusCode, resp.Header, body
	}

	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			addr := serve(t, &Server{Handler: handlerFunc(ours), Inline: mode.inline})
			for _, dc := range diffCases() {
				t.Run(dc.method+" "+dc.path, func(t *testing.T) {
					wantStatus, wantHeader, wantBody := do(t, ln.Addr().String(), dc)
					status, header, body := do(t, addr, dc)
					if status != wantStatus {
						t.Errorf("status %d, net/http %d", status, wantStatus)
					}
					if got, want := render(header), render(wantHeader); got != want {
						t.Errorf("headers\n%s\nnet/http\n%s", got, want)
					}
					if !bytes.Equal(body, wantBody) {
						t.Errorf("the handler saw (%d bytes)\n%.600s\nnet/http's saw (%d bytes)\n%.600s", len(body), body, len(wantBody), wantBody)
					}
				})
			}
		})
	}
}

func render(h http.Header) string {
	var b strings.Builder
	h.Write(&b)
	return b.String()
}
