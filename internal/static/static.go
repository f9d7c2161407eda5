// Package static serves files from directories (--static PREFIX=DIR) ahead
// of the apps, as the Paste Cascade of the seeds did: a request for a file
// that exists is answered by Go, with sendfile; one for a file that does
// not exist goes on to the apps.
//
// Policy:
//   - GET and HEAD only; other methods go on to the apps.
//   - The path is the decoded one (PATH_INFO). Files are opened through an
//     os.Root, so neither ".." nor a symbolic link can leave the directory;
//     a path with a dot segment or a dotfile ("/.git/config", "/.env"), a
//     NUL, or a link pointing outside is answered 404, not passed on.
//   - A directory serves its index.html; without one it goes on to the apps.
//   - Validators: a strong ETag from the modification time and size, and
//     Last-Modified. If-None-Match (or, without it, If-Modified-Since) that
//     matches gives 304.
//   - One byte range (Range: bytes=a-b, a-, -n) gives 206 with
//     Content-Range, an unsatisfiable one 416; several ranges, or an
//     If-Range that does not match, give the whole file (RFC 9110 allows
//     ignoring Range).
//   - A precompressed sibling (FILE.br, FILE.gz) is sent instead when the
//     client accepts that encoding and asked for no range, with
//     Content-Encoding and Vary: Accept-Encoding; its ETag differs.
//   - Cache-Control: public, max-age=N when a max age is set.
package static

import (
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// Dir serves the files of one directory under a URL prefix. It is safe
// for concurrent use.
type Dir struct {
	prefix string // "/static", or "" for the root
	root   *os.Root
	dir    string
	maxAge time.Duration // < 0: no Cache-Control
}

// New opens dir for serving at prefix. maxAge below zero sends no
// Cache-Control.
func New(prefix, dir string, maxAge time.Duration) (*Dir, error) {
	p := strings.TrimRight(prefix, "/")
	if p != "" && p[0] != '/' {
		return nil, fmt.Errorf("static: prefix %q must start with /", prefix)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("static: %w", err)
	}
	return &Dir{prefix: p, root: root, dir: dir, maxAge: maxAge}, nil
}

// Prefix is the URL prefix the Dir serves.
func (d *Dir) Prefix() string { return d.prefix }

// Close closes the directory.
func (d *Dir) Close() error { return d.root.Close() }

// Header is one response header.
type Header struct{ Name, Value string }

// Response is what to send. If File is not nil, the body is Length bytes
// of it from Offset (none for HEAD), and the caller closes File when done;
// else the body is Body.
type Response struct {
	Status int
	Header []Header
	File   *os.File
	Offset int64
	Length int64 // the Content-Length
	Body   string
}

// Serve answers a request for the decoded path, with the request's header
// values from get (the first value of a field, "" if absent). It returns
// nil when the request is not the Dir's: the apps get it.
func (d *Dir) Serve(method, urlPath string, get func(name string) string) *Response {
	if method != "GET" && method != "HEAD" {
		return nil
	}
	rest, ok := strings.CutPrefix(urlPath, d.prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return nil
	}
	name := strings.TrimPrefix(rest, "/")
	if !allowed(name) {
		return notFound()
	}
	if name == "" || strings.HasSuffix(name, "/") {
		name += "index.html"
	}
	f, fi, status := d.open(name)
	if status == http.StatusOK && fi.IsDir() {
		f.Close()
		f, fi, status = d.open(path.Join(name, "index.html"))
	}
	switch status {
	case http.StatusNotFound:
		return nil // the Cascade: the apps may have it
	case http.StatusForbidden:
		return notFound()
	}
	return d.respond(f, fi, name, get)
}

// allowed rejects dot segments and dotfiles, and NULs.
func allowed(name string) bool {
	if strings.IndexByte(name, 0) >= 0 || strings.IndexByte(name, '\\') >= 0 {
		return false
	}
	for _, seg := range strings.Split(name, "/") {
		if strings.HasPrefix(seg, ".") {
			return false
		}
	}
	return true
}

// open opens name in the root: 200 with the file, 404 if it does not
// exist, 403 if it may not be served (a link out of the root, not a
// regular file or directory, unreadable).
func (d *Dir) open(name string) (*os.File, fs.FileInfo, int) {
	f, err := d.root.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, http.StatusNotFound
	}
	if err != nil {
		return nil, nil, http.StatusForbidden
	}
	fi, err := f.Stat()
	if err != nil || !(fi.Mode().IsRegular() || fi.IsDir()) {
		f.Close()
		return nil, nil, http.StatusForbidden
	}
	return f, fi, http.StatusOK
}

func notFound() *Response {
	return page(http.StatusNotFound, nil)
}

// page is a short plain-text response for status, after the headers h.
func page(status int, h []Header) *Response {
	body := strconv.Itoa(status) + " " + http.StatusText(status) + "\n"
	h = append(h, Header{"Content-Type", "text/plain; charset=utf-8"})
	return &Response{Status: status, Header: h, Length: int64(len(body)), Body: body}
}

func (d *Dir) respond(f *os.File, fi fs.FileInfo, name string, get func(string) string) *Response {
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	rangeHdr := get("Range")

	// A precompressed sibling, when the whole file is wanted.
	encoding, vary := "", false
	if rangeHdr == "" {
		for _, enc := range [...]struct{ token, ext string }{{"br", ".br"}, {"gzip", ".gz"}} {
			cf, cfi, st := d.open(name + enc.ext)
			if st != http.StatusOK || cfi.IsDir() {
				if cf != nil {
					cf.Close()
				}
				continue
			}
			vary = true
			if encoding == "" && accepts(get("Accept-Encoding"), enc.token) {
				f.Close()
				f, fi, encoding = cf, cfi, enc.token
				continue
			}
			cf.Close()
		}
	}
	size, mod := fi.Size(), fi.ModTime()
	etag := fmt.Sprintf(`"%x-%x"`, mod.UnixNano(), size)
	if encoding != "" {
		etag = etag[:len(etag)-1] + "-" + encoding + `"`
	}
	lastMod := mod.UTC().Format(http.TimeFormat)

	h := []Header{{"Content-Type", ctype}, {"ETag", etag}, {"Last-Modified", lastMod}}
	if encoding != "" {
		h = append(h, Header{"Content-Encoding", encoding})
	}
	if vary {
		h = append(h, Header{"Vary", "Accept-Encoding"})
	}
	if d.maxAge >= 0 {
		h = append(h, Header{"Cache-Control", "public, max-age=" + strconv.FormatInt(int64(d.maxAge/time.Second), 10)})
	}

	if notModified(get, etag, mod) {
		f.Close()
		return &Response{Status: http.StatusNotModified, Header: h[1:]}
	}
	h = append(h, Header{"Accept-Ranges", "bytes"})
	r := &Response{Status: http.StatusOK, Header: h, File: f, Length: size}
	if rangeHdr == "" || !ifRange(get("If-Range"), etag, lastMod) {
		return r
	}
	start, n, ok := parseRange(rangeHdr, size)
	switch {
	case !ok:
		return r // several ranges or not bytes=: the whole file
	case n == 0:
		f.Close()
		return page(http.StatusRequestedRangeNotSatisfiable, []Header{{"Content-Range", "bytes */" + strconv.FormatInt(size, 10)}})
	}
	r.Status, r.Offset, r.Length = http.StatusPartialContent, start, n
	r.Header = append(r.Header, Header{"Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+n-1, size)})
	return r
}

// notModified applies If-None-Match, or without it If-Modified-Since.
func notModified(get func(string) string, etag string, mod time.Time) bool {
	if inm := get("If-None-Match"); inm != "" {
		for _, t := range strings.Split(inm, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || strings.TrimPrefix(t, "W/") == etag {
				return true
			}
		}
		return false
	}
	if ims := get("If-Modified-Since"); ims != "" {
		if t, err := http.ParseTime(ims); err == nil && !mod.Truncate(time.Second).After(t) {
			return true
		}
	}
	return false
}

// ifRange reports whether a Range applies: no If-Range, or one equal to
// the strong ETag or to Last-Modified.
func ifRange(v, etag, lastMod string) bool {
	return v == "" || v == etag || v == lastMod
}

// parseRange reads a single "bytes=" range against size. ok is false for
// anything else (the whole file is sent); n == 0 means unsatisfiable.
func parseRange(v string, size int64) (start, n int64, ok bool) {
	spec, found := strings.CutPrefix(v, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false
	}
	if a == "" { // the last b bytes
		last, err := strconv.ParseInt(b, 10, 64)
		if err != nil || last < 0 {
			return 0, 0, false
		}
		if last == 0 || size == 0 {
			return 0, 0, true
		}
		last = min(last, size)
		return size - last, last, true
	}
	first, err := strconv.ParseInt(a, 10, 64)
	if err != nil || first < 0 {
		return 0, 0, false
	}
	end := size - 1
	if b != "" {
		e, err := strconv.ParseInt(b, 10, 64)
		if err != nil || e < first {
			return 0, 0, false
		}
		end = min(e, size-1)
	}
	if first >= size {
		return 0, 0, true
	}
	return first, end - first + 1, true
}

// accepts reports whether an Accept-Encoding value accepts coding with a
// q-value above zero.
func accepts(header, coding string) bool {
	for _, part := range strings.Split(header, ",") {
		tok, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(tok), coding) {
			continue
		}
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(q, 64); err == nil && f <= 0 {
				return false
			}
		}
		return true
	}
	return false
}
