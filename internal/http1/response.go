package http1

import (
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// ResponseWriter writes one response on the connection. The head is held
// until the first body bytes (or the end of the response) so head and body
// leave in one write. Not safe for concurrent use.
type ResponseWriter struct {
	c    *conn
	head []byte // the formatted head, until it is written; reused

	status    int
	length    int64 // declared Content-Length, -1 if none: no more body is ever sent
	written   int64 // body bytes written
	chunked   bool
	noBody    bool // HEAD, 1xx, 204, 304
	headSent  bool
	wroteHead bool // WriteHeader was called
	closeConn bool // send Connection: close and close after
	err       error
	iov       net.Buffers // reused; out is the copy a write consumes
	out       net.Buffers
	chunkHdr  [20]byte
}

func (w *ResponseWriter) reset(c *conn) {
	*w = ResponseWriter{c: c, head: w.head[:0], iov: w.iov[:0]}
	c.resp.Store(respNone)
	c.answered.Store(0)
}

// Who writes the response (conn.resp).
const (
	respNone int32 = iota
	respHandler
	respAbandoned
)

var errAbandoned = errors.New("http1: response abandoned")

// abandonLinger is how long an abandoned connection stays half-open, so
// the client reads the answer before the close (which resets it if
// request bytes are left unread).
const abandonLinger = time.Second

// Abandon answers for a handler that is stuck and will not, and may be
// called from another goroutine while the handler runs: if the handler has
// written nothing yet, the client gets a short plain-text status response
// with Connection: close; then the connection is closed. The handler's
// later writes fail, and Shutdown no longer waits for the connection.
func (w *ResponseWriter) Abandon(status int, reason string) {
	c := w.c
	c.abandoned.Store(true)
	if c.resp.CompareAndSwap(respNone, respAbandoned) {
		body := strconv.Itoa(status) + " " + reason + "\n"
		h := make([]byte, 0, 256)
		h = append(h, "HTTP/1.1 "...)
		h = append(h, body[:len(body)-1]...)
		h = append(h, "\r\nDate: "...)
		h = append(h, Date()...)
		h = append(h, "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
		h = strconv.AppendInt(h, int64(len(body)), 10)
		h = append(h, "\r\nConnection: close\r\n\r\n"...)
		h = append(h, body...)
		c.answered.Store(int64(status)<<32 | int64(len(body)))
		c.rwc.SetWriteDeadline(time.Now().Add(abandonLinger))
		c.rwc.Write(h)
		if cw, ok := c.rwc.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
			time.AfterFunc(abandonLinger, func() { c.rwc.Close() })
			return
		}
	} else {
		c.resp.Store(respAbandoned)
	}
	c.rwc.Close()
}

// Status is the status written, 0 if none yet: the handler's, or the one
// Abandon answered with in its place (whatever the handler wrote later).
func (w *ResponseWriter) Status() int {
	if a := w.c.answered.Load(); a != 0 {
		return int(a >> 32)
	}
	return w.status
}

// Written is the number of body bytes written, by the handler or by
// Abandon.
func (w *ResponseWriter) Written() int64 {
	if a := w.c.answered.Load(); a != 0 {
		return a & (1<<32 - 1)
	}
	return w.written
}

// HeaderField is one response header line.
type HeaderField struct{ Name, Value string }

// WriteHeader formats the status line and headers. length is the body
// length if known, else -1: the body is then chunked (HTTP/1.1) or ends
// when the connection closes (HTTP/1.0). closeConn asks to close the
// connection after this response. Header names must not repeat the ones
// the server owns (Content-Length, Transfer-Encoding, Connection, Date).
func (w *ResponseWriter) WriteHeader(status int, reason string, header []HeaderField, length int64, closeConn bool) error {
	if w.wroteHead {
		return errors.New("http1: WriteHeader called twice")
	}
	w.wroteHead = true
	w.status = status
	req := &w.c.req
	w.noBody = string(req.Method) == "HEAD" || status < 200 || status == 204 || status == 304
	w.closeConn = closeConn || !req.KeepAlive || w.c.closing() || w.c.s.IdleTimeout <= 0

	h := w.head[:0]
	if req.Minor == 0 {
		h = append(h, "HTTP/1.0 "...)
	} else {
		h = append(h, "HTTP/1.1 "...)
	}
	h = strconv.AppendInt(h, int64(status), 10)
	h = append(h, ' ')
	h = append(h, reason...)
	h = append(h, "\r\nDate: "...)
	h = append(h, Date()...)
	h = append(h, "\r\n"...)
	for _, f := range header {
		h = append(h, f.Name...)
		h = append(h, ": "...)
		h = append(h, f.Value...)
		h = append(h, "\r\n"...)
	}
	w.length = length
	switch {
	case status < 200 || status == 204:
		w.length = 0 // no framing headers at all (RFC 9110 8.6)
	case status == 304:
		w.length = 0
	case length >= 0:
		h = append(h, "Content-Length: "...)
		h = strconv.AppendInt(h, length, 10)
		h = append(h, "\r\n"...)
	case req.Minor >= 1:
		w.chunked = !w.noBody
		h = append(h, "Transfer-Encoding: chunked\r\n"...)
	default:
		w.closeConn = true // HTTP/1.0: the body ends with the connection
	}
	switch {
	case w.closeConn:
		h = append(h, "Connection: close\r\n"...)
	case req.Minor == 0:
		h = append(h, "Connection: keep-alive\r\n"...)
	}
	h = append(h, "\r\n"...)
	w.head = h
	return nil
}

// Write sends body bytes, with the head if it is still pending, in one
// write to the socket. Bytes past the declared Content-Length are dropped,
// not sent: the response stays framed, so the connection stays in step and
// may carry the next one (the gateway bounds what it writes by the app's
// Content-Length and logs the excess; this is the last line).
func (w *ResponseWriter) Write(p []byte) (int, error) {
	if !w.wroteHead {
		return 0, errors.New("http1: Write before WriteHeader")
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.noBody || len(p) == 0 {
		return len(p), nil
	}
	n := len(p)
	if w.length >= 0 && w.written+int64(len(p)) > w.length {
		p = p[:w.length-w.written]
		if len(p) == 0 {
			return n, nil
		}
	}
	iov := w.iov[:0]
	if !w.headSent {
		iov = append(iov, w.head)
	}
	if w.chunked {
		hdr := strconv.AppendInt(w.chunkHdr[:0], int64(len(p)), 16)
		hdr = append(hdr, "\r\n"...)
		iov = append(iov, hdr, p, crlf)
	} else {
		iov = append(iov, p)
	}
	if err := w.send(iov); err != nil {
		w.err = err
		return 0, err
	}
	w.headSent = true
	w.written += int64(len(p))
	return n, nil
}

var crlf = []byte("\r\n")

// SendFile sends count bytes of f from offset: with sendfile(2) on plain
// TCP connections. As with Write, no more than the declared Content-Length
// is sent; if the file ends first, the response is short and finish
// closes the connection.
func (w *ResponseWriter) SendFile(f *os.File, offset, count int64) error {
	if w.noBody {
		return nil
	}
	if w.length >= 0 && count > w.length-w.written {
		count = w.length - w.written
	}
	if w.chunked {
		// Unknown length: copy through Write.
		_, err := io.Copy(writerOnly{w}, io.NewSectionReader(f, offset, count))
		return err
	}
	if err := w.flushHead(); err != nil {
		return err
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return err
	}
	w.c.setWriteDeadline()
	n, err := io.Copy(w.c.rwc, &io.LimitedReader{R: f, N: count})
	w.written += n
	if err != nil {
		w.err = err
	}
	return err
}

type writerOnly struct{ io.Writer }

// send writes iov, keeping its backing array for the next response.
func (w *ResponseWriter) send(iov net.Buffers) error {
	w.iov = iov[:0]
	w.out = iov
	err := w.c.write(&w.out)
	w.out = nil
	return err
}

func (w *ResponseWriter) flushHead() error {
	if w.headSent {
		return w.err
	}
	err := w.send(append(w.iov[:0], w.head))
	w.headSent = true
	if err != nil {
		w.err = err
	}
	return err
}

var errAborted = errors.New("http1: response aborted")

// Abort marks the response as failed: the connection is closed without
// completing it (no last chunk), so the client sees it truncated.
func (w *ResponseWriter) Abort() {
	if w.err == nil {
		w.err = errAborted
	}
}

// finish completes the response: the head if nothing was written, the
// last chunk. It reports whether the connection may carry another request.
func (w *ResponseWriter) finish() bool {
	if !w.wroteHead {
		// A handler that gave up on a broken body gets the body's
		// error: the client's fault, not the server's.
		status, reason := 500, "Internal Server Error"
		var e *Error
		if errors.As(w.c.body.err, &e) {
			status, reason = e.Status, statusText(e.Status)
		}
		w.WriteHeader(status, reason, nil, 0, true)
	}
	if w.err != nil {
		return false
	}
	if w.chunked {
		iov := w.iov[:0]
		if !w.headSent {
			iov = append(iov, w.head)
		}
		iov = append(iov, lastChunk)
		err := w.send(iov)
		w.headSent = true
		if err != nil {
			return false
		}
	} else if err := w.flushHead(); err != nil {
		return false
	}
	if !w.noBody && w.length >= 0 && w.written != w.length {
		return false // short body: the client cannot find the next response
	}
	return !w.closeConn
}

var lastChunk = []byte("0\r\n\r\n")

// The Date header, formatted at most once per second.
type dateCache struct {
	unix int64
	text []byte
	str  string
}

var dateNow atomic.Pointer[dateCache]

// Date is the current Date header value, formatted at most once per
// second; the HTTP/2 server shares it.
func Date() []byte { return date().text }

func date() *dateCache {
	now := time.Now()
	d := dateNow.Load()
	if d == nil || d.unix != now.Unix() {
		d = &dateCache{unix: now.Unix(), text: now.UTC().AppendFormat(nil, "Mon, 02 Jan 2006 15:04:05 GMT")}
		d.str = string(d.text)
		dateNow.Store(d)
	}
	return d
}

// DateString is Date as a string.
func DateString() string { return date().str }
