package http2

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	wire "golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/pogoserver/pogo/internal/testutil"
)

// The tests speak HTTP/2 to a real Server on 127.0.0.1 through x/net's
// Framer: every frame the server sends is seen as it was sent.

// deadline bounds every wait for the server: far longer than any answer
// takes, so only a server that never answers reaches it.
const deadline = 20 * time.Second

// handlerFunc adapts a function to Handler.
type handlerFunc func(w *ResponseWriter, r *Request)

func (f handlerFunc) ServeHTTP2(w *ResponseWriter, r *Request) { f(w, r) }

// serve runs s on a listener on 127.0.0.1 until the test ends and returns
// its address. Every ServeConn has returned by then.
func serve(t testing.TB, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.ServeConn(c, "info")
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// client is one raw HTTP/2 connection.
type client struct {
	t    testing.TB
	conn net.Conn
	fr   *wire.Framer
	enc  *hpack.Encoder
	hbuf bytes.Buffer
	w    *testutil.LockedWriter
	// onWindow, if set, is told of the WINDOW_UPDATE frames streams reads.
	onWindow func(*wire.WindowUpdateFrame)
	next     uint32 // the next stream ID
}

// dial connects and sends the preface with settings. It does not wait for
// the server's SETTINGS: handshake does.
func dial(t testing.TB, addr string, settings ...wire.Setting) *client {
	if settings == nil {
		settings = []wire.Setting{}
	}
	return dialWith(t, addr, settings)
}

// dialWith is dial with settings nil meaning no SETTINGS frame.
func dialWith(t testing.TB, addr string, settings []wire.Setting) *client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, next: 1, w: &testutil.LockedWriter{W: conn}}
	c.fr = c.framer()
	// Header blocks come decoded, CONTINUATION frames joined, as
	// MetaHeadersFrame.
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.fr.MaxHeaderListSize = 16 << 20
	c.enc = hpack.NewEncoder(&c.hbuf)
	if _, err := io.WriteString(c.w, wire.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if settings != nil {
		if err := c.fr.WriteSettings(settings...); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// noSettings, given to dial, sends the preface without its SETTINGS.
var noSettings []wire.Setting

// framer is a Framer that writes frames to c's connection; each client
// goroutine that writes needs its own.
func (c *client) framer() *wire.Framer {
	fr := wire.NewFramer(c.w, c.conn)
	fr.AllowIllegalWrites = true
	return fr
}

// handshake reads the server's SETTINGS (and the frames up to it) and
// acks them.
func (c *client) handshake() *wire.SettingsFrame {
	c.t.Helper()
	for {
		f := c.read()
		if sf, ok := f.(*wire.SettingsFrame); ok && !sf.IsAck() {
			if err := c.fr.WriteSettingsAck(); err != nil {
				c.t.Fatal(err)
			}
			return sf
		}
	}
}

// connect dials and handshakes.
func connect(t testing.TB, addr string, settings ...wire.Setting) *client {
	t.Helper()
	c := dial(t, addr, settings...)
	c.handshake()
	return c
}

// read reads the next frame, failing the test on an error.
func (c *client) read() wire.Frame {
	c.t.Helper()
	f, err := c.readErr()
	if err != nil {
		c.t.Fatalf("reading a frame: %v", err)
	}
	return f
}

func (c *client) readErr() (wire.Frame, error) {
	c.conn.SetReadDeadline(time.Now().Add(deadline))
	return c.fr.ReadFrame()
}

// block encodes fields as a header block; pairs are name, value.
func (c *client) block(pairs ...string) []byte {
	c.hbuf.Reset()
	for i := 0; i+1 < len(pairs); i += 2 {
		c.enc.WriteField(hpack.HeaderField{Name: pairs[i], Value: pairs[i+1]})
	}
	return append([]byte(nil), c.hbuf.Bytes()...)
}

// get is the header block of a GET of path.
func (c *client) get(path string, extra ...string) []byte {
	return c.block(append([]string{":method", "GET", ":scheme", "http", ":authority", "example.com", ":path", path}, extra...)...)
}

// open sends a HEADERS frame with block on a new stream and returns its ID.
func (c *client) open(block []byte, end bool) uint32 {
	c.t.Helper()
	id := c.next
	c.next += 2
	if err := c.fr.WriteHeaders(wire.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: end, EndHeaders: true}); err != nil {
		c.t.Fatal(err)
	}
	return id
}

func (c *client) data(id uint32, p string, end bool) {
	c.t.Helper()
	if err := c.fr.WriteData(id, end, []byte(p)); err != nil {
		c.t.Fatal(err)
	}
}

// response is what the client saw on one stream.
type response struct {
	status  string
	header  map[string][]string
	body    []byte
	ended   bool         // END_STREAM came
	reset   wire.ErrCode // the RST_STREAM's code, if one came
	wasRset bool
	early   []string // the :status of interim responses (1xx)
}

func (r *response) get(name string) string {
	if v := r.header[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// streams reads frames until every stream in ids has ended or been
// reset, answering the server's PINGs and SETTINGS as a client does. It
// fails the test on GOAWAY or a connection error.
func (c *client) streams(ids ...uint32) map[uint32]*response {
	c.t.Helper()
	rs := map[uint32]*response{}
	left := map[uint32]bool{}
	for _, id := range ids {
		rs[id] = &response{header: map[string][]string{}}
		left[id] = true
	}
	for len(left) > 0 {
		f := c.read()
		id := f.Header().StreamID
		r := rs[id]
		switch f := f.(type) {
		case *wire.GoAwayFrame:
			c.t.Fatalf("GOAWAY %v %q while waiting for streams %v", f.ErrCode, f.DebugData(), ids)
		case *wire.SettingsFrame:
			if !f.IsAck() {
				c.fr.WriteSettingsAck()
			}
		case *wire.MetaHeadersFrame:
			if r == nil {
				c.t.Fatalf("HEADERS on stream %d, not one of %v", id, ids)
			}
			fields := f.Fields
			status := ""
			for _, hf := range fields {
				if hf.Name == ":status" {
					status = hf.Value
				}
			}
			if strings.HasPrefix(status, "1") {
				r.early = append(r.early, status)
				continue
			}
			r.status = status
			for _, hf := range fields {
				if hf.Name != ":status" {
					r.header[hf.Name] = append(r.header[hf.Name], hf.Value)
				}
			}
			if f.StreamEnded() {
				r.ended = true
				delete(left, id)
			}
		case *wire.DataFrame:
			if r == nil {
				c.t.Fatalf("DATA on stream %d, not one of %v", id, ids)
			}
			r.body = append(r.body, f.Data()...)
			if n := len(f.Data()); n > 0 {
				// Give the bytes back, as a client that reads does.
				c.fr.WriteWindowUpdate(0, uint32(n))
				if !f.StreamEnded() {
					c.fr.WriteWindowUpdate(id, uint32(n))
				}
			}
			if f.StreamEnded() {
				r.ended = true
				delete(left, id)
			}
		case *wire.WindowUpdateFrame:
			if c.onWindow != nil {
				c.onWindow(f)
			}
		case *wire.RSTStreamFrame:
			if r == nil {
				c.t.Fatalf("RST_STREAM %v on stream %d, not one of %v", f.ErrCode, id, ids)
			}
			r.reset, r.wasRset = f.ErrCode, true
			delete(left, id)
		}
	}
	return rs
}

// roundTrip opens a stream with block (and body, if not empty) and reads
// its response.
func (c *client) roundTrip(block []byte, body string) *response {
	c.t.Helper()
	id := c.open(block, body == "")
	if body != "" {
		c.data(id, body, true)
	}
	return c.streams(id)[id]
}

// goAway reads until GOAWAY and returns it, skipping other frames. It
// fails if the connection closes first.
func (c *client) goAway() *wire.GoAwayFrame {
	c.t.Helper()
	for {
		f := c.read()
		if g, ok := f.(*wire.GoAwayFrame); ok {
			return g
		}
	}
}

// resetOf reads until the RST_STREAM of id and returns its code, skipping
// other frames; a response on id that ends fails the test.
func (c *client) resetOf(id uint32) wire.ErrCode {
	c.t.Helper()
	for {
		f := c.read()
		switch f := f.(type) {
		case *wire.RSTStreamFrame:
			if f.StreamID == id {
				return f.ErrCode
			}
		case *wire.MetaHeadersFrame:
			if f.StreamID == id && f.StreamEnded() {
				c.t.Fatalf("stream %d answered, not reset: %v", id, f.Fields)
			}
		case *wire.DataFrame:
			if f.StreamID == id && f.StreamEnded() {
				c.t.Fatalf("stream %d ended, not reset", id)
			}
		case *wire.GoAwayFrame:
			c.t.Fatalf("GOAWAY %v %q, not RST_STREAM on %d", f.ErrCode, f.DebugData(), id)
		}
	}
}

// until reads frames until stop says so of one, and returns it.
func (c *client) until(stop func(wire.Frame) bool) wire.Frame {
	c.t.Helper()
	for {
		if f := c.read(); stop(f) {
			return f
		}
	}
}

// closed reads until the server closes the connection, skipping frames;
// it returns the GOAWAY seen on the way, if any.
func (c *client) closed() *wire.GoAwayFrame {
	c.t.Helper()
	var g *wire.GoAwayFrame
	for {
		f, err := c.readErr()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatal("the server did not close the connection")
			}
			return g
		}
		if ga, ok := f.(*wire.GoAwayFrame); ok {
			g = ga
		}
	}
}

// echo is a handler that answers with the request as it saw it: method,
// path, authority, the headers one per line, then the body.
func echo(w *ResponseWriter, r *Request) {
	var b strings.Builder
	b.WriteString(r.Method + " " + r.Path + " " + r.Authority + "\n")
	for _, f := range r.Header {
		b.WriteString(f.Name + ": " + f.Value + "\n")
	}
	b.WriteString("\n")
	if r.Body != nil {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.Reset()
			return
		}
		b.Write(body)
	}
	w.WriteHeader(200, []hpack.HeaderField{{Name: "Content-Type", Value: "text/plain"}}, int64(b.Len()))
	io.WriteString(w, b.String())
}
