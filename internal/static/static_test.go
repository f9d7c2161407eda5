package static

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pogoserver/pogo/internal/testutil"
)

func tree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, body string) { testutil.WriteFile(t, filepath.Join(dir, name), body) }
	write("a.txt", "0123456789abcdefghij")
	write("a.txt.gz", "GZ")
	write("a.txt.br", "BR")
	write("style.css", "body{}")
	write("sub/index.html", "<p>sub</p>")
	write("noindex/x.txt", "x")
	write(".env", "SECRET=1")
	write(".git/config", "[core]")
	outside := filepath.Join(t.TempDir(), "outside.txt")
	os.WriteFile(outside, []byte("outside"), 0o644)
	if err := os.Symlink(outside, filepath.Join(dir, "escape.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a.txt", filepath.Join(dir, "inside.txt")); err != nil {
		t.Fatal(err)
	}
	return dir
}

type hdr map[string]string

func (h hdr) get(name string) string { return h[name] }

func body(t *testing.T, r *Response) string {
	t.Helper()
	if r.File == nil {
		return r.Body
	}
	defer r.File.Close()
	b := make([]byte, r.Length)
	if _, err := r.File.ReadAt(b, r.Offset); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return string(b)
}

func header(r *Response, name string) string {
	for _, h := range r.Header {
		if h.Name == name {
			return h.Value
		}
	}
	return ""
}

func TestServe(t *testing.T) {
	d, err := New("/static", tree(t), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, c := range []struct {
		method, path string
		h            hdr
		status       int // 0: not the Dir's (nil)
		body         string
		want         hdr
	}{
		{"GET", "/static/a.txt", nil, 200, "0123456789abcdefghij", hdr{"Content-Type": "text/plain; charset=utf-8", "Accept-Ranges": "bytes", "Cache-Control": "public, max-age=3600", "Vary": "Accept-Encoding"}},
		{"HEAD", "/static/a.txt", nil, 200, "0123456789abcdefghij", nil}, // the caller skips the body for HEAD
		{"GET", "/static/style.css", nil, 200, "body{}", hdr{"Content-Type": "text/css; charset=utf-8"}},
		{"GET", "/static/sub/", nil, 200, "<p>sub</p>", hdr{"Content-Type": "text/html; charset=utf-8"}},
		{"GET", "/static/sub", nil, 200, "<p>sub</p>", nil},
		{"GET", "/static/inside.txt", nil, 200, "0123456789abcdefghij", nil}, // a link inside the root
		{"GET", "/static/a.txt", hdr{"Accept-Encoding": "gzip, br"}, 200, "BR", hdr{"Content-Encoding": "br", "Vary": "Accept-Encoding"}},
		{"GET", "/static/a.txt", hdr{"Accept-Encoding": "gzip"}, 200, "GZ", hdr{"Content-Encoding": "gzip"}},
		{"GET", "/static/a.txt", hdr{"Accept-Encoding": "br;q=0, gzip;q=0.5"}, 200, "GZ", nil},
		{"GET", "/static/a.txt", hdr{"Accept-Encoding": "gzip", "Range": "bytes=0-1"}, 206, "01", hdr{"Content-Encoding": ""}},
		{"GET", "/static/a.txt", hdr{"Range": "bytes=2-5"}, 206, "2345", hdr{"Content-Range": "bytes 2-5/20"}},
		{"GET", "/static/a.txt", hdr{"Range": "bytes=15-"}, 206, "fghij", hdr{"Content-Range": "bytes 15-19/20"}},
		{"GET", "/static/a.txt", hdr{"Range": "bytes=-3"}, 206, "hij", hdr{"Content-Range": "bytes 17-19/20"}},
		{"GET", "/static/a.txt", hdr{"Range": "bytes=10-100"}, 206, "abcdefghij", hdr{"Content-Range": "bytes 10-19/20"}},
		{"GET", "/static/a.txt", hdr{"Range": "bytes=20-"}, 416, "416 Requested Range Not Satisfiable\n", hdr{"Content-Range": "bytes */20"}},
		{"GET", "/static/a.txt", hdr{"Range": "bytes=0-1,5-6"}, 200, "0123456789abcdefghij", nil}, // several ranges: the whole file
		{"GET", "/static/a.txt", hdr{"Range": "items=0-1"}, 200, "0123456789abcdefghij", nil},
		{"GET", "/static/a.txt", hdr{"Range": "bytes=0-1", "If-Range": `"stale"`}, 200, "0123456789abcdefghij", nil},
		{"GET", "/static/a.txt", hdr{"If-Modified-Since": time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}, 304, "", nil},
		{"GET", "/static/a.txt", hdr{"If-Modified-Since": "Mon, 02 Jan 2006 15:04:05 GMT"}, 200, "0123456789abcdefghij", nil},
		{"GET", "/static/a.txt", hdr{"If-None-Match": `"nope"`, "If-Modified-Since": time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}, 200, "0123456789abcdefghij", nil},
		{"GET", "/static/a.txt", hdr{"If-None-Match": "*"}, 304, "", nil},
		// Refused: 404 from here, never passed on.
		{"GET", "/static/.env", nil, 404, "404 Not Found\n", nil},
		{"GET", "/static/.git/config", nil, 404, "404 Not Found\n", nil},
		{"GET", "/static/../etc/passwd", nil, 404, "404 Not Found\n", nil},
		{"GET", "/static/sub/../a.txt", nil, 404, "404 Not Found\n", nil},
		{"GET", "/static/escape.txt", nil, 404, "404 Not Found\n", nil},
		{"GET", "/static/a.txt\x00.png", nil, 404, "404 Not Found\n", nil},
		// Not the Dir's: the apps get them.
		{"GET", "/static/missing.txt", nil, 0, "", nil},
		{"GET", "/static/noindex/", nil, 0, "", nil},
		{"POST", "/static/a.txt", nil, 0, "", nil},
		{"GET", "/staticfiles/a.txt", nil, 0, "", nil},
		{"GET", "/a.txt", nil, 0, "", nil},
	} {
		r := d.Serve(c.method, c.path, c.h.get)
		if c.status == 0 {
			if r != nil {
				t.Errorf("%s %s %v: %d, want it passed on", c.method, c.path, c.h, r.Status)
			}
			continue
		}
		if r == nil {
			t.Errorf("%s %s %v: passed on, want %d", c.method, c.path, c.h, c.status)
			continue
		}
		if got := body(t, r); r.Status != c.status || got != c.body {
			t.Errorf("%s %s %v: %d %q, want %d %q", c.method, c.path, c.h, r.Status, got, c.status, c.body)
		}
		for k, v := range c.want {
			if got := header(r, k); got != v {
				t.Errorf("%s %s %v: %s = %q, want %q", c.method, c.path, c.h, k, got, v)
			}
		}
	}
}

// TestValidators: the ETag and Last-Modified of a response make the next
// request conditional, as a browser does; the ETag of a precompressed
// variant is its own.
func TestValidators(t *testing.T) {
	d, _ := New("", tree(t), -1)
	defer d.Close()
	r := d.Serve("GET", "/a.txt", hdr{}.get)
	r.File.Close()
	etag, lastMod := header(r, "ETag"), header(r, "Last-Modified")
	if !strings.HasPrefix(etag, `"`) || lastMod == "" || header(r, "Cache-Control") != "" {
		t.Fatalf("ETag %q Last-Modified %q Cache-Control %q", etag, lastMod, header(r, "Cache-Control"))
	}
	if r := d.Serve("GET", "/a.txt", hdr{"If-None-Match": etag}.get); r.Status != 304 || header(r, "ETag") != etag {
		t.Errorf("If-None-Match: %d", r.Status)
	}
	if r := d.Serve("GET", "/a.txt", hdr{"If-None-Match": "W/" + etag}.get); r.Status != 304 {
		t.Errorf("weak If-None-Match: %d", r.Status)
	}
	if r := d.Serve("GET", "/a.txt", hdr{"If-Modified-Since": lastMod}.get); r.Status != 304 {
		t.Errorf("If-Modified-Since: %d", r.Status)
	}
	for _, ir := range []string{etag, lastMod} {
		r := d.Serve("GET", "/a.txt", hdr{"Range": "bytes=0-0", "If-Range": ir}.get)
		if r.Status != 206 {
			t.Errorf("If-Range %s: %d, want 206", ir, r.Status)
		}
		r.File.Close()
	}
	br := d.Serve("GET", "/a.txt", hdr{"Accept-Encoding": "br"}.get)
	br.File.Close()
	if header(br, "ETag") == etag {
		t.Error("the br variant has the identity's ETag")
	}
}

// TestRangesLikeNetHTTP: for single ranges, status, Content-Range and
// bytes equal what net/http's ServeContent answers for the same file.
func TestRangesLikeNetHTTP(t *testing.T) {
	dir := tree(t)
	d, _ := New("", dir, -1)
	defer d.Close()
	for _, rng := range []string{"bytes=0-0", "bytes=0-19", "bytes=5-", "bytes=-1", "bytes=-20", "bytes=-50", "bytes=19-19", "bytes=19-25", "bytes=20-", "bytes=100-200"} {
		f, _ := os.Open(filepath.Join(dir, "a.txt"))
		fi, _ := f.Stat()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/a.txt", nil)
		req.Header.Set("Range", rng)
		http.ServeContent(rec, req, "a.txt", fi.ModTime(), f)
		f.Close()

		r := d.Serve("GET", "/a.txt", hdr{"Range": rng}.get)
		got := body(t, r)
		if r.Status != rec.Code || header(r, "Content-Range") != rec.Header().Get("Content-Range") {
			t.Errorf("%s: %d %q, net/http %d %q", rng, r.Status, header(r, "Content-Range"), rec.Code, rec.Header().Get("Content-Range"))
		}
		if r.Status == 206 && got != rec.Body.String() {
			t.Errorf("%s: body %q, net/http %q", rng, got, rec.Body.String())
		}
	}
}
