package http2

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	wire "golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Handler serves the requests of HTTP/2 streams.
//
// ServeHTTP2 runs on the connection's goroutine when Server.Inline says
// so for a complete request, else on a goroutine of its own. When it
// returns, the response ends: whatever w holds is sent, with END_STREAM.
// r and w are valid only until then.
type Handler interface {
	ServeHTTP2(w *ResponseWriter, r *Request)
}

// Request is one stream's request.
type Request struct {
	// The pseudo-header fields.
	Method, Scheme, Authority, Path string
	// Header is the regular fields in the order they came, names in
	// lower case (RFC 9113 8.2.1). Cookie crumbs stay separate fields.
	Header []hpack.HeaderField
	// ContentLength is the content-length field's value, or -1 if a body
	// follows without one; 0 when the HEADERS frame ended the stream.
	ContentLength int64
	// Body reads the request body; nil when there is none. Its reads
	// end with io.EOF once END_STREAM has come, and fail if the stream
	// is reset or the body does not match its content-length.
	Body io.Reader
	// Expect100 is set for "expect: 100-continue": the first read of Body
	// sends the 100 (Continue) response first.
	Expect100 bool
	// StreamID is the stream's identifier.
	StreamID uint32
	// Conn is the value ServeConn was given for the connection.
	Conn any
}

// Server serves HTTP/2 connections. Fields must not change after the
// first ServeConn.
type Server struct {
	Handler Handler
	// Inline, if set, says whether a request whose headers and body have
	// all arrived may run on the connection's goroutine: no goroutine is
	// started for it, and its response is written with those of the
	// other streams that came in the same read. A handler that runs
	// inline and then has to wait (for flow-control window, or because
	// it streams its response) hands the connection to a new goroutine
	// first, so the connection never waits for one stream.
	Inline func(r *Request) bool
	// MaxConcurrentStreams is advertised in SETTINGS. If zero, 250.
	MaxConcurrentStreams uint32
	// MaxHeaderListSize bounds a request's header list (RFC 7541 sizes,
	// the same figure as SETTINGS_MAX_HEADER_LIST_SIZE). If zero, 1 MiB.
	// Beyond it the request is answered 431.
	MaxHeaderListSize uint32
	// StreamWindow and ConnWindow are the receive windows for request
	// bodies: per stream, and for all of a connection's streams. If
	// zero, 1 MiB and 4 MiB. They bound the body bytes held in memory.
	StreamWindow, ConnWindow uint32
	// HeaderTimeout bounds the client's preface and first SETTINGS. If
	// zero, 10s.
	HeaderTimeout time.Duration
	// IdleTimeout closes (with GOAWAY) a connection that has had no
	// stream open for this long. If zero, 30s.
	IdleTimeout time.Duration
	// WriteTimeout bounds each write to the socket and each wait for
	// the peer's flow-control window; BodyTimeout each wait for request
	// body bytes. If zero, 60s.
	WriteTimeout, BodyTimeout time.Duration
	// Log receives connection errors at debug level. If nil,
	// slog.Default().
	Log *slog.Logger

	mu       sync.Mutex
	conns    map[*conn]struct{} // guarded by mu
	watching bool               // the watcher runs; guarded by mu
	tick     atomic.Uint32      // the watcher's clock, in watchTicks
	shutdown atomic.Bool
}

// An inline handler that runs longer than about two watchTicks without
// waiting (a slow route that computes) hands its connection's reading to
// a new goroutine, so that the connection's other streams go on.
const watchTick = 10 * time.Millisecond

// watch detaches inline handlers that run long, until no connection is
// left.
func (s *Server) watch() {
	t := time.NewTicker(watchTick)
	defer t.Stop()
	for range t.C {
		now := s.tick.Add(1)
		s.mu.Lock()
		if len(s.conns) == 0 {
			s.watching = false
			s.mu.Unlock()
			return
		}
		for c := range s.conns {
			if st := c.inlineSt.Load(); st != nil && now-c.inlineAt.Load() >= 2 {
				st.w.Detach()
			}
		}
		s.mu.Unlock()
	}
}

const (
	// The largest frame read: the protocol's initial 16 KiB, never
	// raised (a larger SETTINGS_MAX_FRAME_SIZE saves clients little on
	// request bodies, and h2spec holds a server to the initial value).
	maxFrameSize   = 16384
	inlineBodyMax  = 64 << 10
	maxWriteBuffer = 1 << 20 // a writer waits for the socket past this
	// Abuse bounds (see doc.go).
	maxContinuations = 128  // CONTINUATION frames in one header block
	maxEmptyData     = 1000 // empty DATA frames without END_STREAM, per connection
	maxRefused       = 1000 // streams refused because too many handlers still run
	maxControlBurst  = 10000
)

func (s *Server) maxStreams() uint32 { return orU32(s.MaxConcurrentStreams, 250) }
func (s *Server) maxHeaderList() uint32 {
	return orU32(s.MaxHeaderListSize, 1<<20)
}
func (s *Server) streamWindow() uint32 { return orU32(s.StreamWindow, 1<<20) }
func (s *Server) connWindow() uint32   { return orU32(s.ConnWindow, 4<<20) }

func orU32(v, d uint32) uint32 {
	if v == 0 {
		return d
	}
	return v
}

func orDur(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// ServeConn serves one connection until it closes. The connection's first
// bytes must be the client preface (RFC 9113 3.4); info is passed to the
// handler as Request.Conn.
func (s *Server) ServeConn(rwc net.Conn, info any) {
	c := &conn{s: s, rwc: rwc, info: info, streams: map[uint32]*stream{}}
	c.br = bufio.NewReaderSize(rwc, 32<<10)
	c.fr = wire.NewFramer(io.Discard, c.br)
	c.fr.SetMaxReadFrameSize(maxFrameSize)
	c.hdec = hpack.NewDecoder(4096, c.emit)
	// (No bound on a string's length: a header block's bytes are
	// bounded in readBlock, and past MaxHeaderListSize the request gets
	// its 431 with the HPACK state intact.)
	c.henc = hpack.NewEncoder(&c.hbuf)
	c.wcond.L = &c.wmu
	c.sendWindow = 65535
	c.peerWindow = 65535
	c.peerFrame = 16384
	c.recvWindow = int64(s.connWindow())
	if s.shutdown.Load() {
		rwc.Close()
		return
	}
	s.mu.Lock()
	if s.conns == nil {
		s.conns = map[*conn]struct{}{}
	}
	s.conns[c] = struct{}{}
	if !s.watching {
		s.watching = true
		go s.watch()
	}
	s.mu.Unlock()
	c.refs.Add(1) // the loop's
	c.done = make(chan struct{})
	c.loop(true)
	<-c.done // the loop may have moved to other goroutines
}

// Shutdown sends GOAWAY to every connection: the streams already begun
// finish, new ones are refused. It waits for the connections to close,
// or for ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdown.Store(true)
	s.mu.Lock()
	for c := range s.conns {
		c.goAway(wire.ErrCodeNo, "")
	}
	s.mu.Unlock()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		n := len(s.conns)
		s.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// conn is one connection. One goroutine at a time reads it (the loop);
// the streams' handlers write to it from any goroutine.
type conn struct {
	s    *Server
	rwc  net.Conn
	info any
	br   *bufio.Reader
	fr   *wire.Framer
	hdec *hpack.Decoder
	hb   headerBlock // the block being decoded; the loop's

	// The loop's.
	preface   bool // the client's first SETTINGS has come
	emptyData int
	refused   int
	idleSet   bool

	maxID atomic.Uint32 // the highest stream the client opened; the loop's to change

	mu       sync.Mutex
	streams  map[uint32]*stream     // open or half-closed; guarded by mu
	handlers int                    // handlers running; guarded by mu
	away     bool                   // GOAWAY sent; guarded by mu
	lastID   uint32                 // the last stream GOAWAY lets run; guarded by mu
	reset    [32]uint32             // streams we reset lately; guarded by mu
	resetAt  int                    // guarded by mu
	refs     atomic.Int32           // the loop and the running handlers
	inlineSt atomic.Pointer[stream] // the stream running inline, if any
	inlineAt atomic.Uint32          // the Server's tick when it began
	done     chan struct{}          // closed when refs reaches 0
	closed   atomic.Bool

	// The write side, guarded by wmu.
	wmu        sync.Mutex
	wcond      sync.Cond // flushing ended
	wbuf       []byte
	spare      []byte
	flushing   bool
	pending    bool  // the loop is between reads and flushes before the next
	werr       error // the first write error: every later write fails
	henc       *hpack.Encoder
	hbuf       bytes.Buffer
	sendWindow int64            // the peer's connection window for our DATA
	peerWindow int64            // its SETTINGS_INITIAL_WINDOW_SIZE
	peerFrame  int              // its SETTINGS_MAX_FRAME_SIZE
	blocked    map[*stream]bool // streams waiting for window
	recvWindow int64            // what the client may still send on the connection
	unacked    int64            // consumed body bytes not yet given back with WINDOW_UPDATE
	queued     int              // control frames queued since the last flush
}

var errClosed = errors.New("http2: connection closed")

// loop reads and handles frames until the connection ends or an inline
// handler hands the loop to a new goroutine (then it returns at once).
func (c *conn) loop(first bool) {
	defer func() {
		if r := recover(); r != nil {
			buf := make([]byte, 16<<10)
			buf = buf[:runtime.Stack(buf, false)]
			c.s.log().Error("http2: panic serving connection", "panic", fmt.Sprint(r), "traceback", string(buf))
			c.end(wire.ErrCodeInternal, "")
		}
	}()
	if first && !c.start() {
		return
	}
	for {
		ok, kept := c.next()
		if !kept {
			return // an inline handler gave the loop to another goroutine
		}
		if !ok {
			return
		}
	}
}

// start reads the preface and sends our SETTINGS.
func (c *conn) start() bool {
	c.rwc.SetReadDeadline(time.Now().Add(orDur(c.s.HeaderTimeout, 10*time.Second)))
	var p [len(wire.ClientPreface)]byte
	if _, err := io.ReadFull(c.br, p[:]); err != nil || string(p[:]) != wire.ClientPreface {
		c.s.log().Debug("http2: no client preface", "err", err)
		c.finish()
		return false
	}
	s := c.s
	c.wmu.Lock()
	c.wbuf = appendSettings(c.wbuf,
		wire.Setting{ID: wire.SettingMaxConcurrentStreams, Val: s.maxStreams()},
		wire.Setting{ID: wire.SettingInitialWindowSize, Val: s.streamWindow()},
		wire.Setting{ID: wire.SettingMaxHeaderListSize, Val: s.maxHeaderList()},
	)
	if w := s.connWindow(); w > 65535 {
		c.wbuf = appendWindowUpdate(c.wbuf, 0, w-65535)
	}
	c.wmu.Unlock()
	return true
}

// buffered reports whether the next frame has arrived whole, so reading
// it will not block.
func (c *conn) buffered() bool {
	n := c.br.Buffered()
	if n < frameHeaderLen {
		return false
	}
	h, _ := c.br.Peek(frameHeaderLen)
	return n >= frameHeaderLen+(int(h[0])<<16|int(h[1])<<8|int(h[2]))
}

// next reads and handles one frame. ok is false when the connection is
// done; kept is false when the loop now runs on another goroutine.
func (c *conn) next() (ok, kept bool) {
	if !c.buffered() {
		if !c.beforeWait() || !c.setIdle() {
			return false, true
		}
	} else if !c.pending {
		c.wmu.Lock()
		c.pending = true
		c.wmu.Unlock()
	}
	fh, err := c.fr.ReadFrameHeader()
	if err == nil && !c.preface && (fh.Type != wire.FrameSettings || fh.Flags.Has(wire.FlagSettingsAck)) {
		// RFC 9113 3.4: the client's preface ends with a SETTINGS frame.
		return c.fail(wire.ErrCodeProtocol, "first frame not SETTINGS"), true
	}
	var f wire.Frame
	if err == nil {
		f, err = c.fr.ReadFrameForHeader(fh)
	}
	if err != nil {
		return c.readError(err), true
	}
	return c.handle(f)
}

// beforeWait writes what the frames so far made before the loop waits
// for the client. It reports false if the connection broke.
func (c *conn) beforeWait() bool {
	c.wmu.Lock()
	c.pending = false
	err := c.flushLocked()
	c.wmu.Unlock()
	if err != nil {
		c.finish()
		return false
	}
	return true
}

// setIdle arms the idle timeout when no stream is open, else clears the
// read deadline. It reports false if the connection should end: GOAWAY
// has been sent and no stream runs.
func (c *conn) setIdle() bool {
	c.mu.Lock()
	idle := len(c.streams) == 0 && c.handlers == 0
	away := c.away
	c.mu.Unlock()
	if away && idle {
		c.closeGently()
		return false
	}
	switch {
	case !c.preface:
		// The preface's deadline holds until its SETTINGS.
	case idle:
		c.rwc.SetReadDeadline(time.Now().Add(orDur(c.s.IdleTimeout, 30*time.Second)))
		c.idleSet = true
	case c.idleSet:
		c.rwc.SetReadDeadline(time.Time{})
		c.idleSet = false
	}
	return true
}

func (c *conn) readError(err error) bool {
	var ce wire.ConnectionError
	var se wire.StreamError
	switch {
	case errors.As(err, &ce):
		return c.fail(wire.ErrCode(ce), "")
	case errors.As(err, &se):
		c.resetStream(se.StreamID, se.Code)
		return true
	case errors.Is(err, wire.ErrFrameTooLarge):
		return c.fail(wire.ErrCodeFrameSize, "")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && c.idleSet {
		c.end(wire.ErrCodeNo, "idle") // idle: a GOAWAY, then close
		return false
	}
	c.mu.Lock()
	away := c.away
	c.mu.Unlock()
	if errors.As(err, &ne) && ne.Timeout() && away {
		// The last handler after our GOAWAY woke the loop (streamDone):
		// its response goes out whole before the close.
		c.closeGently()
		return false
	}
	c.s.log().Debug("http2: reading", "err", err)
	c.finish()
	return false
}

// fail ends the connection with a connection error (RFC 9113 5.4.1).
func (c *conn) fail(code wire.ErrCode, why string) bool {
	c.s.log().Debug("http2: connection error", "code", code, "why", why)
	c.end(code, why)
	return false
}

// handle handles one frame.
func (c *conn) handle(f wire.Frame) (ok, kept bool) {
	switch f := f.(type) {
	case *wire.SettingsFrame:
		return c.settings(f), true
	case *wire.PingFrame:
		if !f.IsAck() {
			c.control(func(b []byte) []byte { return appendPingAck(b, f.Data) })
		}
		return c.controls(), true
	case *wire.WindowUpdateFrame:
		return c.windowUpdate(f), true
	case *wire.RSTStreamFrame:
		id := f.StreamID
		if c.idle(id) {
			return c.fail(wire.ErrCodeProtocol, "RST_STREAM on an idle stream"), true
		}
		if st := c.stream(id); st != nil {
			c.drop(st)
			st.cancel(errStreamReset)
		}
		return true, true
	case *wire.PriorityFrame:
		if f.StreamDep == f.StreamID {
			c.resetStream(f.StreamID, wire.ErrCodeProtocol) // RFC 9113 5.3.1
		}
		return true, true // priority signals are ignored (RFC 9113 5.3.2)
	case *wire.GoAwayFrame:
		c.mu.Lock()
		if !c.away {
			c.away, c.lastID = true, c.maxID.Load()
		}
		c.mu.Unlock()
		return true, true
	case *wire.HeadersFrame:
		return c.headers(f)
	case *wire.DataFrame:
		return c.data(f)
	case *wire.ContinuationFrame:
		return c.fail(wire.ErrCodeProtocol, "CONTINUATION without HEADERS"), true
	case *wire.PushPromiseFrame:
		return c.fail(wire.ErrCodeProtocol, "PUSH_PROMISE from a client"), true
	}
	return true, true // unknown frame types are ignored (RFC 9113 4.1)
}

// controls bounds the control frames (PING and SETTINGS acks) a client
// makes us queue without reading them.
func (c *conn) controls() bool {
	c.wmu.Lock()
	n := c.queued
	c.wmu.Unlock()
	if n > maxControlBurst {
		return c.fail(wire.ErrCodeEnhanceYourCalm, "control frame flood")
	}
	return true
}

func (c *conn) control(add func([]byte) []byte) {
	c.wmu.Lock()
	c.wbuf = add(c.wbuf)
	c.queued++
	c.wmu.Unlock()
}

func (c *conn) settings(f *wire.SettingsFrame) bool {
	if f.IsAck() {
		return true
	}
	c.preface = true
	err := f.ForeachSetting(func(s wire.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		c.wmu.Lock()
		defer c.wmu.Unlock()
		switch s.ID {
		case wire.SettingInitialWindowSize:
			// RFC 9113 6.9.2: the change applies to every stream's
			// window, which may go negative but not past 2^31-1.
			delta := int64(s.Val) - c.peerWindow
			c.peerWindow = int64(s.Val)
			c.mu.Lock()
			for _, st := range c.streams {
				st.sendWindow += delta
				if st.sendWindow > 1<<31-1 {
					c.mu.Unlock()
					return wire.ConnectionError(wire.ErrCodeFlowControl)
				}
			}
			c.mu.Unlock()
			c.wakeBlocked()
		case wire.SettingMaxFrameSize:
			c.peerFrame = int(s.Val)
		case wire.SettingHeaderTableSize:
			c.henc.SetMaxDynamicTableSizeLimit(s.Val)
		}
		return nil
	})
	if err != nil {
		return c.readError(err)
	}
	c.control(appendSettingsAck)
	return c.controls()
}

func (c *conn) windowUpdate(f *wire.WindowUpdateFrame) bool {
	id, inc := f.StreamID, int64(f.Increment)
	if id == 0 {
		if inc == 0 {
			return c.fail(wire.ErrCodeProtocol, "WINDOW_UPDATE of 0")
		}
		c.wmu.Lock()
		c.sendWindow += inc
		over := c.sendWindow > 1<<31-1
		c.wakeBlocked()
		c.wmu.Unlock()
		if over {
			return c.fail(wire.ErrCodeFlowControl, "connection window past 2^31-1")
		}
		return true
	}
	if c.idle(id) {
		return c.fail(wire.ErrCodeProtocol, "WINDOW_UPDATE on an idle stream")
	}
	st := c.stream(id)
	if st == nil {
		return true // closed: frames in flight are allowed
	}
	if inc == 0 {
		c.resetStream(id, wire.ErrCodeProtocol)
		return true
	}
	c.wmu.Lock()
	st.sendWindow += inc
	over := st.sendWindow > 1<<31-1
	if c.blocked[st] {
		st.wakeUp()
	}
	c.wmu.Unlock()
	if over {
		c.resetStream(id, wire.ErrCodeFlowControl)
	}
	return true
}

// wakeBlocked wakes the streams waiting for window; wmu held.
func (c *conn) wakeBlocked() {
	for st := range c.blocked {
		st.wakeUp()
	}
}

// idle reports whether id names a stream the client has not opened.
func (c *conn) idle(id uint32) bool { return id%2 == 0 || id > c.maxID.Load() }

func (c *conn) stream(id uint32) *stream {
	c.mu.Lock()
	st := c.streams[id]
	c.mu.Unlock()
	return st
}

// drop removes st from the open streams.
func (c *conn) drop(st *stream) {
	c.mu.Lock()
	delete(c.streams, st.id)
	c.mu.Unlock()
}

// resetStream sends RST_STREAM for id and closes the stream if it is open.
func (c *conn) resetStream(id uint32, code wire.ErrCode) {
	c.mu.Lock()
	c.reset[c.resetAt%len(c.reset)] = id
	c.resetAt++
	st := c.streams[id]
	delete(c.streams, id)
	c.mu.Unlock()
	if st != nil {
		st.cancel(errStreamReset)
	}
	c.control(func(b []byte) []byte { return appendRSTStream(b, id, code) })
}

// resetLately reports whether we reset id lately: frames the client sent
// before it saw our RST_STREAM are ignored (RFC 9113 5.1, "closed").
func (c *conn) resetLately(id uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.reset {
		if r == id {
			return true
		}
	}
	return false
}

// headers handles a HEADERS frame and its CONTINUATION frames: a new
// stream's request, or the trailers ending a request body.
func (c *conn) headers(f *wire.HeadersFrame) (ok, kept bool) {
	id, end := f.StreamID, f.StreamEnded()
	selfDep := f.HasPriority() && f.Priority.StreamDep == id
	if err := c.readBlock(f); err != nil {
		return c.readError(err), true
	}
	if id%2 == 0 {
		return c.fail(wire.ErrCodeProtocol, "even stream ID from a client"), true
	}
	hb := &c.hb
	if st := c.stream(id); st != nil {
		// Trailers (RFC 9113 8.1): they end the body; WSGI has no place
		// for them, so they are checked and dropped.
		switch {
		case st.remoteDone() && st.w.hasEnded():
			// Both sides have ended it: the stream is closed, even if
			// its handler has not yet been seen off (RFC 9113 5.1).
			return c.fail(wire.ErrCodeStreamClosed, "HEADERS on a closed stream"), true
		case st.remoteDone():
			c.resetStream(id, wire.ErrCodeStreamClosed)
		case !end || hb.pseudo || hb.invalid != nil:
			c.resetStream(id, wire.ErrCodeProtocol)
		default:
			return c.endBody(st)
		}
		return true, true
	}
	if id <= c.maxID.Load() {
		if c.resetLately(id) {
			return true, true
		}
		return c.fail(wire.ErrCodeStreamClosed, "HEADERS on a closed stream"), true
	}
	c.maxID.Store(id)
	c.mu.Lock()
	away, open, running := c.away, len(c.streams), c.handlers
	c.mu.Unlock()
	switch {
	case away:
		return true, true // after GOAWAY new streams are ignored (RFC 9113 6.8)
	case selfDep:
		c.resetStream(id, wire.ErrCodeProtocol)
		return true, true
	case uint32(open) >= c.s.maxStreams():
		c.resetStream(id, wire.ErrCodeRefusedStream) // RFC 9113 5.1.2
		return true, true
	case uint32(running) >= 2*c.s.maxStreams():
		// Handlers of streams the client reset still run (rapid reset,
		// CVE-2023-44487): no new ones until they end.
		c.refused++
		if c.refused > maxRefused {
			return c.fail(wire.ErrCodeEnhanceYourCalm, "too many streams reset while running"), true
		}
		c.resetStream(id, wire.ErrCodeRefusedStream)
		return true, true
	}
	st := newStream(c, id)
	if code := st.fill(hb, end); code != 0 {
		c.resetStream(id, code)
		return true, true
	}
	c.mu.Lock()
	c.streams[id] = st
	c.mu.Unlock()
	c.wmu.Lock()
	st.sendWindow = c.peerWindow
	c.wmu.Unlock()
	if hb.truncated {
		st.answer(431)
		return true, true
	}
	if st.req.Method == "CONNECT" {
		st.answer(405) // no tunnels to a WSGI app
		return true, true
	}
	switch {
	case end:
		return c.dispatch(st, true)
	case st.req.Expect100:
		return c.dispatch(st, false) // the client waits for the app's first read
	}
	return true, true // the body follows
}

// data handles a DATA frame.
func (c *conn) data(f *wire.DataFrame) (ok, kept bool) {
	id := f.StreamID
	n := int64(f.Length) // padding counts for flow control
	c.wmu.Lock()
	c.recvWindow -= n
	over := c.recvWindow < 0
	c.wmu.Unlock()
	if over {
		return c.fail(wire.ErrCodeFlowControl, "DATA past the connection window"), true
	}
	st := c.stream(id)
	if st == nil || st.remoteDone() {
		c.credit(nil, n)
		switch {
		case c.idle(id):
			return c.fail(wire.ErrCodeProtocol, "DATA on an idle stream"), true
		case st == nil && c.resetLately(id):
		default:
			c.resetStream(id, wire.ErrCodeStreamClosed)
		}
		return true, true
	}
	p := f.Data()
	if len(p) == 0 && !f.StreamEnded() {
		c.emptyData++
		if c.emptyData > maxEmptyData {
			return c.fail(wire.ErrCodeEnhanceYourCalm, "empty DATA flood"), true
		}
	}
	if code := st.received(p, n); code != 0 {
		c.credit(nil, n)
		c.resetStream(id, code)
		return true, true
	}
	if pad := n - int64(len(p)); pad > 0 {
		c.credit(st, pad)
	}
	if f.StreamEnded() {
		return c.endBody(st)
	}
	if !st.dispatched && st.bodyLen() > inlineBodyMax {
		return c.dispatch(st, false)
	}
	return true, true
}

// endBody handles the end of a request body.
func (c *conn) endBody(st *stream) (ok, kept bool) {
	if code := st.endBody(); code != 0 {
		c.resetStream(st.id, code)
		return true, true
	}
	if !st.dispatched {
		return c.dispatch(st, true)
	}
	return true, true
}

// credit gives n consumed body bytes back to the client's windows (the
// connection's, and st's unless nil), in WINDOW_UPDATEs batched to half
// a window.
func (c *conn) credit(st *stream, n int64) {
	if n <= 0 {
		return
	}
	c.wmu.Lock()
	c.unacked += n
	if c.unacked >= int64(c.s.connWindow())/2 {
		c.wbuf = appendWindowUpdate(c.wbuf, 0, uint32(c.unacked))
		c.recvWindow += c.unacked
		c.unacked = 0
	}
	if st != nil && !st.remoteDone() {
		st.unacked += n
		if st.unacked >= int64(c.s.streamWindow())/2 {
			c.wbuf = appendWindowUpdate(c.wbuf, st.id, uint32(st.unacked))
			st.addWindow(st.unacked)
			st.unacked = 0
		}
	}
	c.wmu.Unlock()
}

// dispatch runs st's handler: here when it may run inline, else on a new
// goroutine. complete says the whole request has arrived.
func (c *conn) dispatch(st *stream, complete bool) (ok, kept bool) {
	st.dispatched = true
	c.mu.Lock()
	c.handlers++
	c.mu.Unlock()
	c.refs.Add(1)
	if complete && c.s.Inline != nil && c.s.Inline(&st.req) {
		st.mode.Store(inline)
		c.inlineAt.Store(c.s.tick.Load())
		c.inlineSt.Store(st)
		c.run(st)
		c.inlineSt.Store(nil)
		// Done inline, unless Detach (from any goroutine) has handed
		// the loop on: after this no Detach can.
		if !st.mode.CompareAndSwap(inline, onGoroutine) {
			return true, false
		}
		return true, true
	}
	go c.run(st)
	return true, true
}

// run runs st's handler and ends its response.
func (c *conn) run(st *stream) {
	defer func() {
		if r := recover(); r != nil {
			buf := make([]byte, 16<<10)
			buf = buf[:runtime.Stack(buf, false)]
			c.s.log().Error("http2: panic serving stream", "panic", fmt.Sprint(r), "traceback", string(buf))
			st.w.Reset()
		}
		st.w.finish()
		c.streamDone(st)
	}()
	c.s.Handler.ServeHTTP2(&st.w, &st.req)
}

// streamDone is called when st's handler has returned and its response
// ended.
func (c *conn) streamDone(st *stream) {
	// A body the app did not read is not wanted: the client stops
	// sending it (RFC 9113 8.1), and its bytes are given back.
	if !st.remoteDone() && st.failed() == nil {
		c.resetStream(st.id, wire.ErrCodeNo)
	}
	c.credit(nil, st.discard())
	c.drop(st)
	c.mu.Lock()
	c.handlers--
	last := c.away && c.handlers == 0
	c.mu.Unlock()
	if st.mode.Load() != inline {
		c.wmu.Lock()
		if !c.pending {
			c.flushLocked()
		}
		c.wmu.Unlock()
	}
	if last {
		// The loop may be waiting in a read: end it.
		c.rwc.SetReadDeadline(time.Now())
	}
	c.release()
}

// goAway sends GOAWAY: streams up to the last one begun finish, later ones
// are ignored. Any goroutine may call it.
func (c *conn) goAway(code wire.ErrCode, debug string) {
	c.mu.Lock()
	if c.away {
		c.mu.Unlock()
		return
	}
	c.away, c.lastID = true, c.maxID.Load()
	last, idle := c.lastID, c.handlers == 0
	c.mu.Unlock()
	c.wmu.Lock()
	c.wbuf = appendGoAway(c.wbuf, last, code, debug)
	if !c.pending {
		c.flushLocked()
	}
	c.wmu.Unlock()
	if idle {
		c.rwc.SetReadDeadline(time.Now()) // the loop ends
	}
}

// end sends GOAWAY with code and closes the connection once the peer has
// had a chance to read it; the loop's.
func (c *conn) end(code wire.ErrCode, debug string) {
	last := c.maxID.Load()
	c.mu.Lock()
	c.away, c.lastID = true, last
	c.mu.Unlock()
	c.wmu.Lock()
	c.wbuf = appendGoAway(c.wbuf, last, code, debug)
	c.wmu.Unlock()
	c.closeGently()
}

// closeGently closes the connection once what was queued has been
// written and the peer has had a chance to read it; the loop's.
func (c *conn) closeGently() {
	c.wmu.Lock()
	c.drainLocked() // a handler may still be writing
	c.wmu.Unlock()
	// Closing with unread input would reset the connection and lose what
	// was written last: half-close, then read what is left for a moment.
	if cw, ok := c.rwc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		c.rwc.SetReadDeadline(time.Now().Add(time.Second))
		io.Copy(io.Discard, io.LimitReader(c.rwc, 1<<20))
	}
	c.finish()
}

// finish closes the connection: the loop is over. Handlers still running
// see their writes fail.
func (c *conn) finish() {
	if c.closed.Swap(true) {
		return
	}
	c.rwc.Close()
	c.mu.Lock()
	streams := make([]*stream, 0, len(c.streams))
	for _, st := range c.streams {
		streams = append(streams, st)
	}
	c.away = true
	c.mu.Unlock()
	for _, st := range streams {
		st.cancel(errClosed)
	}
	c.wmu.Lock()
	if c.werr == nil {
		c.werr = errClosed
	}
	c.wakeBlocked()
	c.wcond.Broadcast()
	c.wmu.Unlock()
	c.release()
}

// release drops a reference: the loop's or a handler's. The last one
// forgets the connection.
func (c *conn) release() {
	if c.refs.Add(-1) == 0 { // (the loop's goes last but for handlers')
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
		close(c.done)
	}
}

// flushLocked writes the buffer to the socket unless another goroutine is
// writing (it writes what was added meanwhile too); wmu held.
func (c *conn) flushLocked() error {
	for len(c.wbuf) > 0 && c.werr == nil && !c.flushing {
		buf := c.wbuf
		c.wbuf = c.spare[:0]
		c.flushing = true
		c.queued = 0
		c.wmu.Unlock()
		c.rwc.SetWriteDeadline(time.Now().Add(orDur(c.s.WriteTimeout, 60*time.Second)))
		_, err := c.rwc.Write(buf)
		c.wmu.Lock()
		if cap(buf) <= 4*maxWriteBuffer {
			c.spare = buf[:0]
		}
		c.flushing = false
		c.wcond.Broadcast()
		if err != nil && c.werr == nil {
			c.werr = err
			c.wakeBlocked()
		}
	}
	return c.werr
}

// drainLocked writes what is buffered, and waits out a write another
// goroutine has under way, so that what was queued reaches the client
// before the connection closes; wmu held.
func (c *conn) drainLocked() {
	for c.flushLocked() == nil && c.flushing {
		c.wcond.Wait()
	}
}

// roomLocked waits, for a writer that is not the loop, while the buffer
// is past maxWriteBuffer and another goroutine writes it; wmu held.
func (c *conn) roomLocked() {
	for len(c.wbuf) > maxWriteBuffer && c.flushing && c.werr == nil {
		c.wcond.Wait()
	}
}

// The header block being decoded.
type headerBlock struct {
	fields    []hpack.HeaderField
	size      uint32
	max       uint32
	truncated bool  // past MaxHeaderListSize: answered 431
	invalid   error // malformed: the stream is reset
	pseudo    bool  // has pseudo-header fields
	regular   bool  // a regular field came
}

func (c *conn) emit(f hpack.HeaderField) {
	hb := &c.hb
	if hb.truncated || hb.invalid != nil {
		return
	}
	hb.size += f.Size()
	if hb.size > hb.max {
		hb.truncated = true
		c.hdec.SetEmitEnabled(false) // the rest is decoded, not kept
		return
	}
	if !validValue(f.Value) {
		hb.invalid = errors.New("invalid field value")
		return
	}
	if len(f.Name) > 0 && f.Name[0] == ':' {
		if hb.regular {
			hb.invalid = errors.New("pseudo-header field after a regular one")
			return
		}
		hb.pseudo = true
	} else {
		hb.regular = true
		if !validName(f.Name) {
			hb.invalid = errors.New("invalid field name")
			return
		}
	}
	hb.fields = append(hb.fields, f)
}

// readBlock decodes a header block: f's fragment and the CONTINUATION
// frames after it. Its errors are connection errors.
func (c *conn) readBlock(f *wire.HeadersFrame) error {
	hb := &c.hb
	*hb = headerBlock{fields: hb.fields[:0], max: c.s.maxHeaderList()}
	c.hdec.SetEmitEnabled(true)
	frag := f.HeaderBlockFragment()
	total := len(frag)
	if _, err := c.hdec.Write(frag); err != nil {
		return wire.ConnectionError(wire.ErrCodeCompression)
	}
	for n := 0; !f.HeadersEnded(); n++ {
		// CONTINUATION flood (CVE-2024-27316): a header block has so
		// many frames, so many bytes.
		if n >= maxContinuations || total > 2*int(hb.max) {
			return wire.ConnectionError(wire.ErrCodeEnhanceYourCalm)
		}
		if !c.buffered() && !c.beforeWait() {
			return errClosed
		}
		fh, err := c.fr.ReadFrameHeader() // CONTINUATION of this stream, or an error
		if err != nil {
			return err
		}
		g, err := c.fr.ReadFrameForHeader(fh)
		if err != nil {
			return err
		}
		cf := g.(*wire.ContinuationFrame)
		frag = cf.HeaderBlockFragment()
		total += len(frag)
		if _, err := c.hdec.Write(frag); err != nil {
			return wire.ConnectionError(wire.ErrCodeCompression)
		}
		if cf.HeadersEnded() {
			break
		}
	}
	if err := c.hdec.Close(); err != nil {
		return wire.ConnectionError(wire.ErrCodeCompression)
	}
	return nil
}

// statusText is the :status value; common codes without formatting.
func statusText(code int) string {
	switch code {
	case 200:
		return "200"
	case 204:
		return "204"
	case 301:
		return "301"
	case 302:
		return "302"
	case 304:
		return "304"
	case 400:
		return "400"
	case 404:
		return "404"
	case 500:
		return "500"
	}
	return strconv.Itoa(code)
}
