package http2

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
	wire "golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/pogoserver/pogo/internal/http1"
)

var (
	errStreamReset = errors.New("http2: stream reset")
	errStreamDone  = errors.New("http2: response ended before the request body")
	errBodyTimeout = errors.New("http2: timeout waiting for the request body")
	errNoWindow    = errors.New("http2: timeout waiting for the client's flow-control window")
	errEnded       = errors.New("http2: response already ended")
)

// stream is one request and its response.
type stream struct {
	c   *conn
	id  uint32
	req Request
	w   ResponseWriter

	dispatched bool         // the loop's
	mode       atomic.Int32 // onGoroutine, inline or handedOff

	// The request body, guarded by mu.
	mu         sync.Mutex
	cond       sync.Cond
	body       []byte
	off        int
	got        int64 // body bytes received
	declared   int64 // content-length, -1 if none
	eof        bool  // END_STREAM has come
	err        error // reset or closed
	timedOut   bool
	recvWindow int64 // what the client may still send on the stream
	sent100    bool

	// Guarded by c.wmu.
	sendWindow int64
	unacked    int64
	wake       chan struct{}
}

// Where a stream's handler runs.
const (
	onGoroutine = iota
	inline      // on the loop's goroutine
	handedOff   // was inline, and gave the loop to another goroutine
)

func newStream(c *conn, id uint32) *stream {
	st := &stream{c: c, id: id, declared: -1, recvWindow: int64(c.s.streamWindow())}
	st.cond.L = &st.mu
	st.w.st = st
	st.w.declared = -1
	return st
}

// fill makes the request from the decoded header block, checking it as
// RFC 9113 8.1.1-8.3 say: a malformed request is a stream error of type
// PROTOCOL_ERROR (the code returned, 0 if none).
func (st *stream) fill(hb *headerBlock, end bool) wire.ErrCode {
	r := &st.req
	r.StreamID, r.Conn = st.id, st.c.info
	if hb.truncated {
		st.eof = end
		return 0 // answered 431
	}
	if hb.invalid != nil {
		return wire.ErrCodeProtocol
	}
	r.Header = make([]hpack.HeaderField, 0, len(hb.fields))
	var seen [4]bool
	for _, f := range hb.fields {
		if f.Name[0] == ':' {
			var i int
			switch f.Name {
			case ":method":
				i, r.Method = 0, f.Value
			case ":scheme":
				i, r.Scheme = 1, f.Value
			case ":path":
				i, r.Path = 2, f.Value
			case ":authority":
				i, r.Authority = 3, f.Value
			default: // :status, :protocol (not enabled), unknown
				return wire.ErrCodeProtocol
			}
			if seen[i] {
				return wire.ErrCodeProtocol
			}
			seen[i] = true
			continue
		}
		switch f.Name {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
			return wire.ErrCodeProtocol // connection-specific (RFC 9113 8.2.2)
		case "te":
			if f.Value != "trailers" {
				return wire.ErrCodeProtocol
			}
		case "content-length":
			n, ok := parseLength(f.Value)
			if !ok || st.declared >= 0 && n != st.declared {
				return wire.ErrCodeProtocol
			}
			st.declared = n
		case "expect":
			r.Expect100 = strings.EqualFold(f.Value, "100-continue")
		}
		r.Header = append(r.Header, f)
	}
	if r.Method == "CONNECT" {
		if r.Authority == "" || r.Scheme != "" || r.Path != "" {
			return wire.ErrCodeProtocol
		}
	} else if r.Method == "" || r.Scheme == "" || r.Path == "" ||
		r.Path[0] != '/' && (r.Path != "*" || r.Method != "OPTIONS") {
		return wire.ErrCodeProtocol
	}
	switch {
	case end && st.declared > 0:
		return wire.ErrCodeProtocol // a content-length the body cannot match
	case end:
		r.ContentLength = 0
		st.eof = true
	default:
		r.ContentLength = st.declared
		r.Body = st
	}
	return 0
}

// parseLength parses a content-length: 1 to 18 digits.
func parseLength(v string) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func validValue(v string) bool { return httpguts.ValidHeaderFieldValue(v) }

// validName: a token in lower case (RFC 9113 8.2.1).
func validName(v string) bool {
	if len(v) == 0 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if 'A' <= c && c <= 'Z' || !httpguts.IsTokenRune(rune(c)) {
			return false
		}
	}
	return true
}

func (st *stream) remoteDone() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.eof
}

func (st *stream) bodyLen() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.body) - st.off
}

// received takes a DATA frame's data (n bytes with padding, for flow
// control). It returns the stream error's code, 0 if none.
func (st *stream) received(p []byte, n int64) wire.ErrCode {
	st.mu.Lock()
	defer st.mu.Unlock()
	if n > st.recvWindow {
		return wire.ErrCodeFlowControl
	}
	st.recvWindow -= n
	if st.declared >= 0 && st.got+int64(len(p)) > st.declared {
		return wire.ErrCodeProtocol // more than its content-length (RFC 9113 8.1.1)
	}
	st.got += int64(len(p))
	if st.err == nil && len(p) > 0 {
		if st.off > 0 && st.off == len(st.body) {
			st.body, st.off = st.body[:0], 0
		}
		st.body = append(st.body, p...)
		st.cond.Broadcast()
	}
	return 0
}

// endBody marks the body complete (END_STREAM).
func (st *stream) endBody() wire.ErrCode {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.declared >= 0 && st.got != st.declared {
		return wire.ErrCodeProtocol // shorter than its content-length
	}
	st.eof = true
	st.cond.Broadcast()
	return 0
}

func (st *stream) addWindow(n int64) {
	st.mu.Lock()
	st.recvWindow += n
	st.mu.Unlock()
}

// cancel fails the stream's body reads and response writes with err.
func (st *stream) cancel(err error) {
	st.mu.Lock()
	if st.err == nil {
		st.err = err
	}
	st.cond.Broadcast()
	st.mu.Unlock()
	c := st.c
	c.wmu.Lock()
	st.wakeUp()
	c.wmu.Unlock()
}

func (st *stream) failed() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.err == errStreamDone {
		return nil // the response goes on; only the body is unwanted
	}
	return st.err
}

// discard drops the body bytes not read, returning how many.
func (st *stream) discard() int64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := int64(len(st.body) - st.off)
	st.body, st.off = nil, 0
	return n
}

// wakeUp wakes the stream's writer waiting for window; c.wmu held.
func (st *stream) wakeUp() {
	if st.wake != nil {
		select {
		case st.wake <- struct{}{}:
		default:
		}
	}
}

// Read reads the request body.
func (st *stream) Read(p []byte) (int, error) {
	st.mu.Lock()
	for st.off == len(st.body) {
		switch {
		case st.err != nil:
			err := st.err
			st.mu.Unlock()
			return 0, err
		case st.eof:
			st.mu.Unlock()
			return 0, io.EOF
		case st.timedOut:
			st.mu.Unlock()
			return 0, errBodyTimeout
		case st.req.Expect100 && !st.sent100:
			st.sent100 = true
			st.mu.Unlock()
			st.w.writeContinue()
			st.mu.Lock()
			continue
		}
		t := time.AfterFunc(orDur(st.c.s.BodyTimeout, 60*time.Second), func() {
			st.mu.Lock()
			st.timedOut = true
			st.cond.Broadcast()
			st.mu.Unlock()
		})
		st.cond.Wait()
		t.Stop()
	}
	n := copy(p, st.body[st.off:])
	st.off += n
	st.mu.Unlock()
	c := st.c
	c.credit(st, int64(n))
	if st.mode.Load() != inline {
		c.wmu.Lock()
		if !c.pending {
			c.flushLocked() // the WINDOW_UPDATEs the client may be waiting for
		}
		c.wmu.Unlock()
	}
	return n, nil
}

// answer responds for the server, without the handler (431, 405).
func (st *stream) answer(status int) {
	c := st.c
	st.mode.Store(inline)
	st.w.WriteHeader(status, nil, 0)
	if !st.remoteDone() {
		c.resetStream(st.id, wire.ErrCodeNo)
		return
	}
	c.drop(st)
}

// ResponseWriter writes a stream's response. Its methods are for the
// stream's handler, one call at a time.
type ResponseWriter struct {
	st        *stream
	status    int
	wroteHead bool
	noBody    bool
	declared  int64 // the content-length sent, -1 if none
	written   int64
	ended     bool         // END_STREAM or RST_STREAM sent; guarded by c.wmu
	answered  atomic.Int64 // by Abandon: status<<32 | body bytes
}

// Status is the status sent, 0 before WriteHeader: the handler's, or the
// one Abandon answered with in its place.
func (w *ResponseWriter) Status() int {
	if a := w.answered.Load(); a != 0 {
		return int(a >> 32)
	}
	return w.status
}

// Written is the number of body bytes sent, by the handler or by Abandon.
func (w *ResponseWriter) Written() int64 {
	if a := w.answered.Load(); a != 0 {
		return a & (1<<32 - 1)
	}
	return w.written
}

// Abandon answers for a handler that is stuck, from any goroutine: a
// short plain-text status response if the handler has sent nothing yet,
// else RST_STREAM. The handler's later writes fail; if it ran inline, the
// connection goes on on another goroutine.
func (w *ResponseWriter) Abandon(status int, reason string) {
	st, c := w.st, w.st.c
	c.wmu.Lock()
	if !w.ended && c.werr == nil {
		w.ended = true
		if !w.wroteHead {
			body := strconv.Itoa(status) + " " + reason + "\n"
			c.hbuf.Reset()
			c.henc.WriteField(hpack.HeaderField{Name: ":status", Value: statusText(status)})
			c.henc.WriteField(hpack.HeaderField{Name: "content-type", Value: "text/plain; charset=utf-8"})
			c.henc.WriteField(hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(body))})
			c.henc.WriteField(hpack.HeaderField{Name: "date", Value: http1.DateString()})
			c.wbuf = appendHeaderBlock(c.wbuf, st.id, c.hbuf.Bytes(), false, c.peerFrame)
			c.wbuf = appendData(c.wbuf, st.id, []byte(body), true) // (within any window: it is tiny)
			w.answered.Store(int64(status)<<32 | int64(len(body)))
		} else {
			c.wbuf = appendRSTStream(c.wbuf, st.id, wire.ErrCodeInternal)
		}
		c.flushLocked()
	}
	c.wmu.Unlock()
	st.cancel(errStreamReset)
	w.Detach()
}

// Detach is for a handler that is about to wait: if it runs on the
// connection's goroutine, the connection goes on on a new one. Any
// goroutine may call it.
func (w *ResponseWriter) Detach() {
	st := w.st
	if st.mode.CompareAndSwap(inline, handedOff) {
		go st.c.loop(false)
	}
}

// usable reports why the stream can take no more frames; c.wmu held.
func (w *ResponseWriter) usable() error {
	if w.ended {
		return errEnded
	}
	if err := w.st.c.werr; err != nil {
		return err
	}
	return w.st.failed()
}

// WriteHeader sends the response head. length is the body's length if
// known, else -1; it is sent as content-length, and a body longer than it
// is cut there. Header names may be in any case (they are sent in lower
// case); connection-specific fields are dropped (RFC 9113 8.2.2). The
// server adds date.
func (w *ResponseWriter) WriteHeader(status int, header []hpack.HeaderField, length int64) error {
	st, c := w.st, w.st.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if w.wroteHead {
		return errors.New("http2: WriteHeader called twice")
	}
	if err := w.usable(); err != nil {
		return err
	}
	w.wroteHead = true
	w.status = status
	w.noBody = st.req.Method == "HEAD" || status < 200 || status == 204 || status == 304
	if status < 200 || status == 204 || status == 304 {
		length = -1 // no content-length (RFC 9110 8.6)
	}
	if !w.noBody {
		w.declared = length
	}
	end := w.noBody || length == 0
	c.hbuf.Reset()
	enc := c.henc
	enc.WriteField(hpack.HeaderField{Name: ":status", Value: statusText(status)})
	for _, f := range header {
		name := lower(f.Name)
		switch name {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "content-length":
			continue
		}
		enc.WriteField(hpack.HeaderField{Name: name, Value: f.Value})
	}
	if length >= 0 {
		enc.WriteField(hpack.HeaderField{Name: "content-length", Value: strconv.FormatInt(length, 10)})
	}
	enc.WriteField(hpack.HeaderField{Name: "date", Value: http1.DateString()})
	c.wbuf = appendHeaderBlock(c.wbuf, st.id, c.hbuf.Bytes(), end, c.peerFrame)
	w.ended = end
	return nil
}

// lower is name in lower case, allocating only if it has upper case.
func lower(name string) string {
	for i := 0; i < len(name); i++ {
		if 'A' <= name[i] && name[i] <= 'Z' {
			return strings.ToLower(name)
		}
	}
	return name
}

// writeContinue sends 100 (Continue).
func (w *ResponseWriter) writeContinue() {
	st, c := w.st, w.st.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if w.usable() != nil || w.wroteHead {
		return
	}
	c.hbuf.Reset()
	c.henc.WriteField(hpack.HeaderField{Name: ":status", Value: "100"})
	c.wbuf = appendHeaderBlock(c.wbuf, st.id, c.hbuf.Bytes(), false, c.peerFrame)
	c.flushLocked()
}

// Write sends body bytes in DATA frames, as the client's flow-control
// windows allow, waiting for them (at most WriteTimeout) when they are
// shut. The frames go out with the next flush: Flush, the end of the
// response, or the connection's own before it reads again.
func (w *ResponseWriter) Write(p []byte) (int, error) {
	st, c := w.st, w.st.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !w.wroteHead {
		return 0, errors.New("http2: Write before WriteHeader")
	}
	if w.noBody {
		return len(p), w.usable()
	}
	total := len(p)
	if w.declared >= 0 && int64(len(p)) > w.declared-w.written {
		p = p[:w.declared-w.written] // past the content-length: dropped
	}
	for len(p) > 0 {
		if err := w.usable(); err != nil {
			return total - len(p), err
		}
		n := min(int64(len(p)), c.sendWindow, st.sendWindow, int64(c.peerFrame))
		if n <= 0 {
			if err := w.waitWindow(); err != nil {
				return total - len(p), err
			}
			continue
		}
		last := w.declared >= 0 && w.written+n == w.declared
		c.wbuf = appendData(c.wbuf, st.id, p[:n], last)
		c.sendWindow -= n
		st.sendWindow -= n
		w.written += n
		w.ended = last
		p = p[n:]
		if len(c.wbuf) > maxWriteBuffer {
			// Do not let the buffer grow with a client that reads
			// slowly: write it, or wait for the goroutine writing it.
			w.Detach()
			if c.flushing {
				c.roomLocked()
			} else if err := c.flushLocked(); err != nil {
				return total - len(p), err
			}
		}
	}
	return total, nil
}

// waitWindow waits for the client to open its windows; c.wmu held.
func (w *ResponseWriter) waitWindow() error {
	st, c := w.st, w.st.c
	w.Detach()
	if st.wake == nil {
		st.wake = make(chan struct{}, 1)
	}
	if c.blocked == nil {
		c.blocked = map[*stream]bool{}
	}
	c.blocked[st] = true
	if err := c.flushLocked(); err != nil {
		delete(c.blocked, st)
		return err
	}
	c.wmu.Unlock()
	t := time.NewTimer(orDur(c.s.WriteTimeout, 60*time.Second))
	var err error
	select {
	case <-st.wake:
	case <-t.C:
		err = errNoWindow
	}
	t.Stop()
	c.wmu.Lock()
	delete(c.blocked, st)
	if err != nil && !w.ended {
		c.wbuf = appendRSTStream(c.wbuf, st.id, wire.ErrCodeCancel)
		w.ended = true
	}
	return err
}

// Flush sends what has been written. A handler that flushes streams its
// response: if it runs inline, the connection goes on on another
// goroutine first.
func (w *ResponseWriter) Flush() error {
	w.Detach()
	c := w.st.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushLocked()
}

// SendFile sends count bytes of f from offset.
func (w *ResponseWriter) SendFile(f io.ReaderAt, offset, count int64) error {
	buf := make([]byte, min(count, 64<<10))
	for count > 0 {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), count)], offset)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			offset += int64(n)
			count -= int64(n)
		}
		if err != nil {
			if err == io.EOF && count > 0 {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// Reset ends the response with RST_STREAM (INTERNAL_ERROR): the client
// sees it fail, never end short.
func (w *ResponseWriter) Reset() {
	st, c := w.st, w.st.c
	c.wmu.Lock()
	if !w.ended {
		w.ended = true
		c.wbuf = appendRSTStream(c.wbuf, st.id, wire.ErrCodeInternal)
	}
	c.wmu.Unlock()
	st.cancel(errStreamReset)
}

// hasEnded reports whether the response's END_STREAM or RST_STREAM has
// been queued.
func (w *ResponseWriter) hasEnded() bool {
	w.st.c.wmu.Lock()
	defer w.st.c.wmu.Unlock()
	return w.ended
}

// finish ends the response when the handler returns: END_STREAM, or a
// 500 if nothing was sent, or RST_STREAM if the body fell short of its
// content-length.
func (w *ResponseWriter) finish() {
	st, c := w.st, w.st.c
	c.wmu.Lock()
	wrote := w.wroteHead
	c.wmu.Unlock()
	if !wrote {
		w.WriteHeader(500, nil, 0)
		return
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if w.usable() != nil {
		return
	}
	w.ended = true
	if w.declared >= 0 && w.written < w.declared {
		c.wbuf = appendRSTStream(c.wbuf, st.id, wire.ErrCodeInternal)
		return
	}
	c.wbuf = appendData(c.wbuf, st.id, nil, true)
}
