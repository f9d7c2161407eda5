package http2

import (
	"bytes"
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	wire "golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Limits and attacks: each ends with the connection closed or throttled
// and another connection to the same server served as before.

// healthy checks that a new connection to addr is served.
func healthy(t *testing.T, addr string) {
	t.Helper()
	c := connect(t, addr)
	if r := c.roundTrip(c.get("/healthy"), ""); r.status != "200" {
		t.Errorf("another connection: %s", r.status)
	}
}

// heapPeak samples the heap while an attack runs; the func it returns
// stops sampling and fails t if the heap grew by more than limit over
// where it began: the server keeps a bounded part of what it is sent.
func heapPeak(t *testing.T, limit uint64) func() {
	t.Helper()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		t.Helper()
		close(stop)
		<-done
		if peak-base > limit {
			t.Errorf("the heap grew by %d MiB during the attack, want at most %d", (peak-base)>>20, limit>>20)
		}
	}
}

// attackHeap bounds the heap growth of one attack: far above what a
// bounded server keeps (a few MiB), far below what the attacks send.
const attackHeap = 64 << 20

// blocking is a handler that holds /block requests until release is
// closed, counting them, and echoes the others.
type blocking struct {
	started atomic.Int32
	begun   chan uint32
	release chan struct{}
	once    sync.Once
}

// newBlocking makes a blocking handler; the test's defer b.free() lets
// its handlers end before the server's cleanup waits for them.
func newBlocking() *blocking {
	return &blocking{begun: make(chan uint32, 4096), release: make(chan struct{})}
}

func (b *blocking) free() {
	b.once.Do(func() { close(b.release) })
}

func (b *blocking) ServeHTTP2(w *ResponseWriter, r *Request) {
	if r.Path != "/block" {
		echo(w, r)
		return
	}
	b.started.Add(1)
	b.begun <- r.StreamID
	<-b.release
	w.WriteHeader(200, nil, 0)
}

func TestMaxConcurrentStreams(t *testing.T) {
	b := newBlocking()
	defer b.free()
	addr := serve(t, &Server{Handler: b, MaxConcurrentStreams: 2})
	c := connect(t, addr)
	one, two := c.open(c.get("/block"), true), c.open(c.get("/block"), true)
	<-b.begun
	<-b.begun
	three := c.open(c.get("/block"), true)
	if code := c.resetOf(three); code != wire.ErrCodeRefusedStream {
		t.Fatalf("a third stream past 2: RST_STREAM %v", code)
	}
	b.free()
	for id, r := range c.streams(one, two) {
		if r.status != "200" {
			t.Errorf("stream %d: %s", id, r.status)
		}
	}
	if r := c.roundTrip(c.get("/after"), ""); r.status != "200" {
		t.Errorf("once they ended: %s", r.status)
	}
}

// Rapid reset (CVE-2023-44487): a client that opens streams and resets
// them at once, over and over, gets at most 2 x MaxConcurrentStreams
// handlers running, then refusals, then GOAWAY ENHANCE_YOUR_CALM.
func TestRapidReset(t *testing.T) {
	b := newBlocking()
	defer b.free()
	const max = 4
	addr := serve(t, &Server{Handler: b, MaxConcurrentStreams: max})
	c := connect(t, addr)
	block := c.get("/block")
	defer heapPeak(t, attackHeap)()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fr := c.framer()
		for id := uint32(1); id < 2*(2*max+maxRefused+100); id += 2 {
			if fr.WriteHeaders(wire.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true}) != nil ||
				fr.WriteRSTStream(id, wire.ErrCodeCancel) != nil {
				return // the server closed the connection
			}
		}
	}()
	g := c.closed()
	if g == nil || g.ErrCode != wire.ErrCodeEnhanceYourCalm {
		t.Errorf("GOAWAY %v, want ENHANCE_YOUR_CALM", g)
	}
	if n := b.started.Load(); n > 2*max {
		t.Errorf("%d handlers started, want at most %d", n, 2*max)
	}
	<-done
	healthy(t, addr)
}

// CONTINUATION flood (CVE-2024-27316): a header block that never ends,
// in many small frames or a few big ones, ends the connection; the
// server keeps at most a bounded part of it.
func TestContinuationFlood(t *testing.T) {
	addr := serve(t, &Server{Handler: handlerFunc(echo), MaxHeaderListSize: 4096})
	for name, fragment := range map[string][]byte{
		"empty frames": nil,
		"big frames":   []byte(strings.Repeat("\x00", 16000)), // (never decoded: the bound comes first)
	} {
		t.Run(name, func(t *testing.T) {
			c := connect(t, addr)
			defer heapPeak(t, attackHeap)()
			go func() {
				fr := c.framer()
				fr.WriteHeaders(wire.HeadersFrameParam{StreamID: 1, BlockFragment: c.get("/")[:3]})
				for range 100000 {
					if fr.WriteContinuation(1, false, fragment) != nil {
						return
					}
				}
			}()
			g := c.closed()
			if g == nil || g.ErrCode != wire.ErrCodeEnhanceYourCalm {
				t.Errorf("GOAWAY %v, want ENHANCE_YOUR_CALM", g)
			}
		})
	}
	healthy(t, addr)
}

// HPACK bomb: a small block that decodes to a huge header list (one big
// entry in the dynamic table, referenced over and over) is answered 431
// without the handler; the connection goes on, its HPACK state intact.
func TestHPACKBomb(t *testing.T) {
	var called atomic.Int32
	h := func(w *ResponseWriter, r *Request) {
		called.Add(1)
		echo(w, r)
	}
	addr := serve(t, &Server{Handler: handlerFunc(h)})
	c := connect(t, addr)
	c.hbuf.Reset()
	for _, f := range []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"}, {Name: ":authority", Value: "h"}, {Name: ":path", Value: "/bomb"}} {
		c.enc.WriteField(f)
	}
	bomb := hpack.HeaderField{Name: "x-bomb", Value: strings.Repeat("a", 4000)}
	for range 2000 { // 8 MB decoded, from about 6 KB
		c.enc.WriteField(bomb)
	}
	block := append([]byte(nil), c.hbuf.Bytes()...)
	defer heapPeak(t, attackHeap)() // (8 MB decoded)
	if len(block) > 16384 {
		t.Fatalf("the bomb is %d bytes: not one frame", len(block))
	}
	r := c.roundTrip(block, "")
	if r.status != "431" || called.Load() != 0 {
		t.Errorf("%s, the handler called %d times; want 431 and none", r.status, called.Load())
	}
	// The same table entry, now within bounds: decoded right.
	r = c.roundTrip(c.get("/after", "x-bomb", bomb.Value), "")
	if r.status != "200" || !strings.Contains(string(r.body), "x-bomb: "+bomb.Value+"\n") {
		t.Errorf("after the bomb: %s", r.status)
	}
	healthy(t, addr)
}

// A flood of empty DATA frames, each costing the server work and the
// client nothing, ends the connection.
func TestEmptyDataFlood(t *testing.T) {
	addr := serve(t, &Server{Handler: handlerFunc(echo)})
	c := connect(t, addr)
	id := c.open(c.block(":method", "POST", ":scheme", "http", ":authority", "h", ":path", "/"), false)
	go func() {
		fr := c.framer()
		for range 2 * maxEmptyData {
			if fr.WriteData(id, false, nil) != nil {
				return
			}
		}
	}()
	if g := c.closed(); g == nil || g.ErrCode != wire.ErrCodeEnhanceYourCalm {
		t.Errorf("GOAWAY %v, want ENHANCE_YOUR_CALM", g)
	}
	healthy(t, addr)
}

// PING and SETTINGS floods from a client that never reads the acks: the
// server stops reading once its writes are blocked, queues a bounded
// number of acks, and closes the connection when WriteTimeout passes.
func TestControlFloods(t *testing.T) {
	addr := serve(t, &Server{Handler: handlerFunc(echo), WriteTimeout: 100 * time.Millisecond})
	for name, send := range map[string]func(fr *wire.Framer) error{
		"PING":     func(fr *wire.Framer) error { return fr.WritePing(false, [8]byte{}) },
		"SETTINGS": func(fr *wire.Framer) error { return fr.WriteSettings(wire.Setting{ID: wire.SettingEnablePush, Val: 0}) },
	} {
		t.Run(name, func(t *testing.T) {
			c := connect(t, addr)
			defer heapPeak(t, attackHeap)()
			var chunk bytes.Buffer // 1000 frames to a write
			fr := wire.NewFramer(&chunk, nil)
			for range 1000 {
				send(fr)
			}
			c.conn.SetWriteDeadline(time.Now().Add(deadline))
			var err error
			for err == nil {
				_, err = c.w.Write(chunk.Bytes())
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the server went on reading a flood it did not answer: %v", err)
			}
		})
	}
	healthy(t, addr)
}

// A client that never opens its window: the handler waits for it without
// holding the connection, and after WriteTimeout its stream is reset.
func TestZeroWindow(t *testing.T) {
	const size = 1000
	h := func(w *ResponseWriter, r *Request) {
		w.WriteHeader(200, nil, size)
		w.Write([]byte(strings.Repeat("z", size)))
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			// The window opened late: the body arrives whole.
			addr := serve(t, &Server{Handler: handlerFunc(h), Inline: mode.inline})
			c := connect(t, addr, wire.Setting{ID: wire.SettingInitialWindowSize, Val: 0})
			id := c.open(c.get("/"), true)
			c.until(func(f wire.Frame) bool { _, ok := f.(*wire.MetaHeadersFrame); return ok && f.Header().StreamID == id })
			// Other streams go on meanwhile: a HEAD needs no window.
			head := c.open(c.block(":method", "HEAD", ":scheme", "http", ":authority", "h", ":path", "/"), true)
			if r := c.streams(head)[head]; r.status != "200" {
				t.Fatalf("HEAD: %s", r.status)
			}
			c.fr.WriteWindowUpdate(id, size)
			if r := c.streams(id)[id]; len(r.body) != size || !r.ended {
				t.Errorf("%d bytes, ended %v", len(r.body), r.ended)
			}

			// Never opened: RST_STREAM CANCEL after WriteTimeout.
			addr = serve(t, &Server{Handler: handlerFunc(h), Inline: mode.inline, WriteTimeout: 50 * time.Millisecond})
			c = connect(t, addr, wire.Setting{ID: wire.SettingInitialWindowSize, Val: 0})
			id = c.open(c.get("/"), true)
			if code := c.resetOf(id); code != wire.ErrCodeCancel {
				t.Errorf("RST_STREAM %v, want CANCEL", code)
			}
			if r := c.roundTrip(c.block(":method", "HEAD", ":scheme", "http", ":authority", "h", ":path", "/"), ""); r.status != "200" {
				t.Errorf("after the reset: %s", r.status)
			}
			healthy(t, addr)
		})
	}
}

// Many connections, each with streams held open, on one server: each is
// served, and the handlers running are bounded per connection.
func TestManyConnections(t *testing.T) {
	b := newBlocking()
	defer b.free()
	addr := serve(t, &Server{Handler: b, MaxConcurrentStreams: 3})
	var clients []*client
	for range 20 {
		c := connect(t, addr)
		for range 5 {
			c.open(c.get("/block"), true)
		}
		clients = append(clients, c)
	}
	for _, c := range clients {
		for _, id := range []uint32{7, 9} {
			if code := c.resetOf(id); code != wire.ErrCodeRefusedStream {
				t.Errorf("stream %d past 3: %v", id, code)
			}
		}
	}
	for range 20 * 3 {
		<-b.begun
	}
	b.free()
	for _, c := range clients {
		for id, r := range c.streams(1, 3, 5) {
			if r.status != "200" {
				t.Errorf("stream %d: %s", id, r.status)
			}
		}
	}
	if n := b.started.Load(); n != 60 {
		t.Errorf("%d handlers ran, want 60", n)
	}
}
