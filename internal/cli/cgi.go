package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/pogoserver/pogo/internal/config"
	"github.com/pogoserver/pogo/internal/cpython"
	"github.com/pogoserver/pogo/internal/logging"
	"github.com/pogoserver/pogo/internal/wsgi"
)

// errNotCGI is --cgi's answer outside a CGI host.
var errNotCGI = errors.New("--cgi: REQUEST_METHOD is not set: pogo --cgi serves one request for a CGI host (RFC 3875), which sets it")

// runCGI serves the one request of a CGI invocation (RFC 3875): its
// meta-variables from the environment, its body from stdin, the CGI
// response (a Status line, the headers, the body) to stdout, and the log,
// tracebacks included, to stderr, the host's error log. The app sees the
// environ the seed's run_with_cgi gives it: the whole process environment,
// wsgi.run_once and wsgi.multiprocess true, wsgi.multithread false; and the
// gateway's start_response, write(), exc_info and close(), as a server's
// request does.
//
// A complete response, a 500 for the app's exception included, exits 0;
// a response cut short (the app failed after its headers, the host went
// away) exits 1.
func runCGI(cfg *config.Config, main *cpython.Main, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if _, ok := os.LookupEnv("REQUEST_METHOD"); !ok {
		return exitUsage, errNotCGI
	}
	if cfg.Debug && !cfg.DebugAllowRemote {
		return exitUsage, errors.New("--debug with --cgi shows tracebacks to whoever the CGI host serves: add --debug-allow-remote if that is only you")
	}
	level, err := logging.ParseLevel(cfg.LogLevel)
	if err != nil {
		return exitUsage, err
	}
	log := slog.New(logging.NewHandler(stderr, level))
	for _, kv := range cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	if cfg.Chdir != "" {
		if err := os.Chdir(cfg.Chdir); err != nil {
			return exitError, fmt.Errorf("--chdir: %w", err)
		}
	}
	// The response has stdout to itself: what the app or a library prints
	// goes to stderr, the host's error log, not into the response.
	if f, ok := stdout.(*os.File); ok && f.Fd() == 1 {
		fd, err := syscall.Dup(1)
		if err != nil {
			return exitError, err
		}
		if err := syscall.Dup2(2, 1); err != nil {
			return exitError, err
		}
		out := os.NewFile(uintptr(fd), "cgi-response")
		defer out.Close()
		stdout = out
	}

	req, length := cgiRequest(os.Environ(), stdin)
	main, apps, code, err := startPython(cfg, main, stderr, nil)
	if err != nil {
		return code, err
	}
	gw, err := wsgi.New(apps, wsgi.Options{
		Threads:  1,
		SpoolMax: math.MaxInt64, // all of stdin before the call: the length is then known
		Software: "pogo/" + version,
		Log:      log,
		Debug:    cfg.Debug,
	})
	if err != nil {
		return exitError, err
	}
	w := &cgiWriter{w: bufio.NewWriter(stdout)}
	err = gw.Serve(req, w)
	if got := length.n; length.want > 0 && got < length.want {
		log.Warn(fmt.Sprintf("The request body ended after %d of its %d bytes (CONTENT_LENGTH): the app had what came", got, length.want))
	}
	var herr *wsgi.HTTPError
	if errors.As(err, &herr) {
		err = w.error(herr.Status, herr.Reason)
	}
	if ferr := w.w.Flush(); err == nil {
		err = ferr
	}
	gw.Close()
	main.Do(func(t *cpython.Thread) { t.Finalize() })
	switch {
	case errors.Is(err, wsgi.ErrAborted):
		return exitError, nil // logged with its traceback
	case err != nil:
		return exitError, fmt.Errorf("--cgi: the response was not written whole: %w", err)
	}
	return exitOK, nil
}

// counted is stdin bounded by CONTENT_LENGTH, counting what came.
type counted struct {
	r       io.Reader
	n, want int64
}

func (c *counted) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// cgiRequest is the request of a CGI environment env ("NAME=value"
// strings), its body from stdin. The meta-variables reach the app as the
// host set them (the gateway's own go first, and the host's replace
// them), except CONTENT_LENGTH, which is the length of the body that
// came: the body is read up to the host's CONTENT_LENGTH, and one that
// ends before it is what the app gets, not a request that hangs.
func cgiRequest(env []string, stdin io.Reader) (*wsgi.Request, *counted) {
	get := map[string]string{}
	req := &wsgi.Request{Routed: true, ContentLength: 0}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		get[k] = v
		if k != "CONTENT_LENGTH" {
			req.Env = append(req.Env, wsgi.Field{Name: k, Value: v})
		}
	}
	req.Method = get["REQUEST_METHOD"]
	req.Proto = get["SERVER_PROTOCOL"]
	if req.Proto == "" {
		req.Proto = "HTTP/1.0"
	}
	req.ScriptName, req.PathInfo = get["SCRIPT_NAME"], get["PATH_INFO"]
	req.RequestURI = get["REQUEST_URI"]
	if req.RequestURI == "" {
		req.RequestURI = (&url.URL{Path: req.ScriptName + req.PathInfo}).EscapedPath()
		if q := get["QUERY_STRING"]; q != "" {
			req.RequestURI += "?" + q
		}
	}
	req.Host = get["HTTP_HOST"]
	req.RemoteAddr, req.RemotePort = get["REMOTE_ADDR"], get["REMOTE_PORT"]
	req.LocalAddr, req.LocalPort = get["SERVER_ADDR"], get["SERVER_PORT"]
	switch strings.ToLower(get["HTTPS"]) {
	case "on", "1", "yes", "true":
		req.TLS = true
	}
	length := &counted{r: stdin}
	if v, ok := get["CONTENT_LENGTH"]; ok {
		req.Header = []wsgi.Field{{Name: "Content-Length", Value: v}}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n > 0 {
			length.want = n
			length.r = io.LimitReader(stdin, n)
			req.Body, req.ContentLength = length, -1 // its length is what comes
		}
	}
	return req, length
}

// cgiWriter writes a CGI response (RFC 3875 section 6): the status in a
// Status header, the app's headers and Content-Length, a blank line, the
// body; each write flushed, so a streamed response streams through the
// host.
type cgiWriter struct {
	w     *bufio.Writer
	whole bool // the body comes in one Write: flush at the end only
}

func (c *cgiWriter) WriteHeader(h *wsgi.ResponseHead) error {
	fmt.Fprintf(c.w, "Status: %d %s\r\n", h.Status, h.Reason)
	for _, f := range h.Header {
		c.w.WriteString(f.Name)
		c.w.WriteString(": ")
		c.w.WriteString(f.Value)
		c.w.WriteString("\r\n")
	}
	if h.ContentLength >= 0 && h.Status >= 200 && h.Status != 204 && h.Status != 304 {
		fmt.Fprintf(c.w, "Content-Length: %d\r\n", h.ContentLength)
	}
	c.w.WriteString("\r\n")
	c.whole = h.Whole
	if c.whole {
		return nil
	}
	return c.w.Flush()
}

func (c *cgiWriter) Write(p []byte) error {
	if _, err := c.w.Write(p); err != nil || c.whole {
		return err
	}
	return c.w.Flush()
}

func (c *cgiWriter) SendFile(f *os.File, offset, count int64) error {
	if _, err := io.Copy(c.w, io.NewSectionReader(f, offset, count)); err != nil {
		return err
	}
	return c.w.Flush()
}

// error answers for the app with a short plain-text page, as the servers do.
func (c *cgiWriter) error(status int, reason string) error {
	body := fmt.Sprintf("%d %s\n", status, reason)
	h := wsgi.ResponseHead{Status: status, Reason: reason, ContentLength: int64(len(body)), Whole: true,
		Header: []wsgi.Field{{Name: "Content-Type", Value: "text/plain; charset=utf-8"}}}
	if err := c.WriteHeader(&h); err != nil {
		return err
	}
	return c.Write([]byte(body))
}
