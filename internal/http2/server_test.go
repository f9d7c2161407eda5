package http2

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	wire "golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func inlineAll(*Request) bool { return true }

// modes are both ways a handler runs: on the connection's goroutine and
// on its own.
var modes = []struct {
	name   string
	inline func(*Request) bool
}{{"inline", inlineAll}, {"goroutine", nil}}

// eachMode runs test against a server in each mode.
func eachMode(t *testing.T, h handlerFunc, test func(t *testing.T, addr string)) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			test(t, serve(t, &Server{Handler: h, Inline: mode.inline}))
		})
	}
}

func TestSettings(t *testing.T) {
	addr := serve(t, &Server{Handler: handlerFunc(echo), MaxConcurrentStreams: 7, StreamWindow: 1 << 18})
	c := dial(t, addr)
	sf := c.handshake()
	want := map[wire.SettingID]uint32{
		wire.SettingMaxConcurrentStreams: 7,
		wire.SettingInitialWindowSize:    1 << 18,
		wire.SettingMaxHeaderListSize:    1 << 20,
	}
	for id, v := range want {
		if got, ok := sf.Value(id); !ok || got != v {
			t.Errorf("SETTINGS %v = %d (sent %v), want %d", id, got, ok, v)
		}
	}
	// The server acks our SETTINGS, and answers PING with its data.
	c.fr.WritePing(false, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
	acked, ponged := false, false
	for !acked || !ponged {
		switch f := c.read().(type) {
		case *wire.SettingsFrame:
			acked = acked || f.IsAck()
		case *wire.PingFrame:
			if !f.IsAck() || f.Data != [8]byte{1, 2, 3, 4, 5, 6, 7, 8} {
				t.Fatalf("PING answered with %v", f)
			}
			ponged = true
		}
	}
}

func TestRequest(t *testing.T) {
	eachMode(t, echo, func(t *testing.T, addr string) {
		c := connect(t, addr)
		r := c.roundTrip(c.get("/a/b?x=1", "user-agent", "test", "cookie", "a=1", "cookie", "b=2", "x-multi", "1", "x-multi", "2"), "")
		if r.status != "200" || !r.ended {
			t.Fatalf("status %q ended %v", r.status, r.ended)
		}
		want := "GET /a/b?x=1 example.com\nuser-agent: test\ncookie: a=1\ncookie: b=2\nx-multi: 1\nx-multi: 2\n\n"
		if string(r.body) != want {
			t.Errorf("the handler saw\n%s\nwant\n%s", r.body, want)
		}
		if r.get("content-length") != strconv.Itoa(len(want)) || r.get("content-type") != "text/plain" || r.get("date") == "" {
			t.Errorf("response headers %v", r.header)
		}
		// Several streams at once on one connection, answered each.
		ids := []uint32{c.open(c.get("/1"), true), c.open(c.get("/2"), true), c.open(c.get("/3"), true)}
		rs := c.streams(ids...)
		for i, id := range ids {
			r := rs[id]
			if !strings.HasPrefix(string(r.body), "GET /"+strconv.Itoa(i+1)+" ") {
				t.Errorf("stream %d: %q", id, r.body)
			}
		}
	})
}

func TestRequestBody(t *testing.T) {
	eachMode(t, echo, func(t *testing.T, addr string) {
		c := connect(t, addr)
		post := func(extra ...string) []byte {
			return c.block(append([]string{":method", "POST", ":scheme", "http", ":authority", "h", ":path", "/"}, extra...)...)
		}
		// A body in several DATA frames, with and without content-length.
		for _, cl := range []string{"11", ""} {
			var extra []string
			if cl != "" {
				extra = []string{"content-length", cl}
			}
			id := c.open(post(extra...), false)
			c.data(id, "hello", false)
			c.data(id, " ", false)
			c.data(id, "world", true)
			r := c.streams(id)[id]
			if !strings.HasSuffix(string(r.body), "\n\nhello world") {
				t.Errorf("content-length %q: the handler read %q", cl, r.body)
			}
		}
		// A body longer than its content-length: PROTOCOL_ERROR (RFC 9113 8.1.1).
		id := c.open(post("content-length", "3"), false)
		c.data(id, "toolong", true)
		if code := c.resetOf(id); code != wire.ErrCodeProtocol {
			t.Errorf("long body: RST_STREAM %v", code)
		}
		// Shorter: the same.
		id = c.open(post("content-length", "30"), false)
		c.data(id, "short", true)
		if code := c.resetOf(id); code != wire.ErrCodeProtocol {
			t.Errorf("short body: RST_STREAM %v", code)
		}
		// A body bigger than the stream's window arrives whole, the
		// client sending as the server opens the window.
		big := strings.Repeat("0123456789abcdef", 1<<17) // 2 MiB
		id = c.open(post("content-length", strconv.Itoa(len(big))), false)
		credit := make(chan int64, 1024)
		c.onWindow = func(f *wire.WindowUpdateFrame) {
			if f.StreamID == id {
				credit <- int64(f.Increment)
			}
		}
		defer func() { c.onWindow = nil }()
		go func() {
			fr := c.framer()
			window := int64(1 << 20) // the server's StreamWindow
			for p := big; len(p) > 0; {
				for window == 0 {
					window += <-credit
				}
				n := min(len(p), 16384, int(window))
				fr.WriteData(id, n == len(p), []byte(p[:n]))
				p, window = p[n:], window-int64(n)
			}
		}()
		r := c.streams(id)[id]
		if !strings.HasSuffix(string(r.body), "\n\n"+big) {
			t.Errorf("2 MiB body: the handler read %d bytes", len(r.body))
		}
	})
}

func TestTrailersDropped(t *testing.T) {
	eachMode(t, echo, func(t *testing.T, addr string) {
		c := connect(t, addr)
		id := c.open(c.block(":method", "POST", ":scheme", "http", ":authority", "h", ":path", "/", "te", "trailers"), false)
		c.data(id, "body", false)
		c.fr.WriteHeaders(wire.HeadersFrameParam{StreamID: id, BlockFragment: c.block("x-checksum", "abc"), EndStream: true, EndHeaders: true})
		r := c.streams(id)[id]
		if r.status != "200" || !strings.HasSuffix(string(r.body), "te: trailers\n\nbody") {
			t.Errorf("%s %q", r.status, r.body)
		}
	})
}

func TestHeadAndNoBody(t *testing.T) {
	h := func(w *ResponseWriter, r *Request) {
		status := 200
		if r.Path == "/204" {
			status = 204
		}
		w.WriteHeader(status, nil, 5)
		io.WriteString(w, "hello")
	}
	eachMode(t, h, func(t *testing.T, addr string) {
		c := connect(t, addr)
		r := c.roundTrip(c.block(":method", "HEAD", ":scheme", "http", ":authority", "h", ":path", "/"), "")
		if r.status != "200" || len(r.body) != 0 || r.get("content-length") != "5" {
			t.Errorf("HEAD: %s %v %q", r.status, r.header, r.body)
		}
		r = c.roundTrip(c.get("/204"), "")
		if r.status != "204" || len(r.body) != 0 || r.get("content-length") != "" {
			t.Errorf("204: %s %v %q", r.status, r.header, r.body)
		}
	})
}

func TestExpectContinue(t *testing.T) {
	addr := serve(t, &Server{Handler: handlerFunc(echo), Inline: inlineAll})
	c := connect(t, addr)
	id := c.open(c.block(":method", "PUT", ":scheme", "http", ":authority", "h", ":path", "/", "expect", "100-continue", "content-length", "4"), false)
	// The client waits for the 100 before it sends the body.
	for {
		f := c.read()
		if h, ok := f.(*wire.MetaHeadersFrame); ok && h.StreamID == id {
			fields := h.Fields
			if len(fields) != 1 || fields[0].Value != "100" || h.StreamEnded() {
				t.Fatalf("first response %v", fields)
			}
			break
		}
	}
	c.data(id, "data", true)
	r := c.streams(id)[id]
	if r.status != "200" || !strings.HasSuffix(string(r.body), "\n\ndata") {
		t.Errorf("%s %q", r.status, r.body)
	}
}

func TestConnectAndLimits(t *testing.T) {
	addr := serve(t, &Server{Handler: handlerFunc(echo), MaxHeaderListSize: 1024})
	c := connect(t, addr)
	r := c.roundTrip(c.block(":method", "CONNECT", ":authority", "example.com:443"), "")
	if r.status != "405" {
		t.Errorf("CONNECT: %s", r.status)
	}
	r = c.roundTrip(c.get("/", "x-big", strings.Repeat("x", 2000)), "")
	if r.status != "431" {
		t.Errorf("2000-byte header past a 1024-byte list: %s", r.status)
	}
	// The connection goes on.
	if r := c.roundTrip(c.get("/after"), ""); r.status != "200" {
		t.Errorf("after 431: %s", r.status)
	}
}

// Malformed requests are stream errors (RFC 9113 8.1.1): RST_STREAM
// PROTOCOL_ERROR, the handler never called, the connection going on.
func TestMalformed(t *testing.T) {
	called := make(chan string, 100)
	h := func(w *ResponseWriter, r *Request) {
		called <- r.Path
		echo(w, r)
	}
	addr := serve(t, &Server{Handler: handlerFunc(h), Inline: inlineAll})
	c := connect(t, addr)
	base := []string{":method", "GET", ":scheme", "http", ":authority", "h", ":path", "/"}
	without := func(name string) []string {
		var out []string
		for i := 0; i < len(base); i += 2 {
			if base[i] != name {
				out = append(out, base[i], base[i+1])
			}
		}
		return out
	}
	for name, pairs := range map[string][]string{
		"uppercase name":      append(base, "X-Upper", "1"),
		"connection":          append(base, "connection", "keep-alive"),
		"keep-alive":          append(base, "keep-alive", "5"),
		"transfer-encoding":   append(base, "transfer-encoding", "chunked"),
		"upgrade":             append(base, "upgrade", "websocket"),
		"te not trailers":     append(base, "te", "gzip"),
		"no :method":          without(":method"),
		"no :path":            without(":path"),
		"no :scheme":          without(":scheme"),
		"empty :path":         append(without(":path"), ":path", ""),
		"unknown pseudo":      append(base, ":foo", "bar"),
		"response pseudo":     append(base, ":status", "200"),
		"duplicate :path":     append(base, ":path", "/again"),
		"pseudo after":        append(append([]string{":method", "GET", ":scheme", "http"}, "x", "1"), ":path", "/"),
		"value with newline":  append(base, "x", "a\nb"),
		"bad content-length":  append(base, "content-length", "12a"),
		"name with space":     append(base, "x y", "1"),
		"CONNECT with :path":  {":method", "CONNECT", ":authority", "h:1", ":path", "/"},
		"CONNECT, :authority": {":method", "CONNECT"},
	} {
		id := c.open(c.block(pairs...), true)
		if code := c.resetOf(id); code != wire.ErrCodeProtocol {
			t.Errorf("%s: RST_STREAM %v, want PROTOCOL_ERROR", name, code)
		}
	}
	if r := c.roundTrip(c.get("/ok"), ""); r.status != "200" {
		t.Fatalf("after the malformed requests: %s", r.status)
	}
	if p := <-called; p != "/ok" {
		t.Errorf("the handler saw %q", p)
	}
	if len(called) != 0 {
		t.Errorf("the handler was called for %d malformed requests", len(called))
	}
}

// Connection errors (RFC 9113 5.4.1): GOAWAY with the code, then close.
func TestConnectionErrors(t *testing.T) {
	addr := serve(t, &Server{Handler: handlerFunc(echo)})
	for name, tc := range map[string]struct {
		send func(c *client)
		code wire.ErrCode
	}{
		"even stream":        {func(c *client) { c.next = 2; c.open(c.get("/"), true) }, wire.ErrCodeProtocol},
		"DATA on idle":       {func(c *client) { c.data(9, "x", true) }, wire.ErrCodeProtocol},
		"CONTINUATION alone": {func(c *client) { c.fr.WriteContinuation(1, true, c.get("/")) }, wire.ErrCodeProtocol},
		"bad HPACK":          {func(c *client) { c.open([]byte{0xff, 0xff, 0xff, 0xff}, true) }, wire.ErrCodeCompression},
		"window overflow": {func(c *client) {
			c.fr.WriteWindowUpdate(0, 1<<31-1)
		}, wire.ErrCodeFlowControl},
		"window 0": {func(c *client) { c.fr.WriteWindowUpdate(0, 0) }, wire.ErrCodeProtocol},
		"PUSH_PROMISE": {func(c *client) {
			c.fr.WritePushPromise(wire.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: c.get("/"), EndHeaders: true})
		}, wire.ErrCodeProtocol},
		"frame too big": {func(c *client) { c.fr.WriteRawFrame(wire.FrameData, 0, 1, make([]byte, 20000)) }, wire.ErrCodeFrameSize},
		"stream closed": {func(c *client) {
			id := c.open(c.get("/"), true)
			c.streams(id)
			c.fr.WriteHeaders(wire.HeadersFrameParam{StreamID: id, BlockFragment: c.get("/"), EndStream: true, EndHeaders: true})
		}, wire.ErrCodeStreamClosed},
	} {
		t.Run(name, func(t *testing.T) {
			c := connect(t, addr)
			tc.send(c)
			g := c.closed()
			if g == nil || g.ErrCode != tc.code {
				t.Fatalf("GOAWAY %v, want %v", g, tc.code)
			}
		})
	}
	// The first frame must be SETTINGS.
	c := dialWith(t, addr, noSettings)
	c.open(c.get("/"), true)
	if g := c.closed(); g == nil || g.ErrCode != wire.ErrCodeProtocol {
		t.Errorf("HEADERS before SETTINGS: GOAWAY %v", g)
	}
	// Without the preface the connection just closes.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c = &client{t: t, conn: conn, fr: wire.NewFramer(conn, conn)}
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: h\r\n\r\n\r\n\r\n")
	if g := c.closed(); g != nil {
		t.Errorf("no preface: GOAWAY %v", g)
	}
}

// The handler's panic resets its stream; the connection goes on.
func TestHandlerPanic(t *testing.T) {
	h := func(w *ResponseWriter, r *Request) {
		if r.Path == "/panic" {
			panic("boom")
		}
		echo(w, r)
	}
	eachMode(t, h, func(t *testing.T, addr string) {
		c := connect(t, addr)
		id := c.open(c.get("/panic"), true)
		if code := c.resetOf(id); code != wire.ErrCodeInternal {
			t.Errorf("RST_STREAM %v", code)
		}
		if r := c.roundTrip(c.get("/"), ""); r.status != "200" {
			t.Errorf("after the panic: %s", r.status)
		}
	})
}

// A handler that returns without answering gets 500; one that sends less
// than its content-length gets RST_STREAM, never a short body that looks
// whole.
func TestIncompleteResponses(t *testing.T) {
	h := func(w *ResponseWriter, r *Request) {
		switch r.Path {
		case "/short":
			w.WriteHeader(200, nil, 10)
			io.WriteString(w, "abc")
		case "/long":
			w.WriteHeader(200, nil, 3)
			io.WriteString(w, "abcdef")
		}
	}
	eachMode(t, h, func(t *testing.T, addr string) {
		c := connect(t, addr)
		if r := c.roundTrip(c.get("/none"), ""); r.status != "500" {
			t.Errorf("no answer: %s", r.status)
		}
		r := c.roundTrip(c.get("/short"), "")
		if !r.wasRset || r.reset != wire.ErrCodeInternal {
			t.Errorf("short body: reset %v %v, body %q", r.wasRset, r.reset, r.body)
		}
		r = c.roundTrip(c.get("/long"), "")
		if string(r.body) != "abc" || !r.ended {
			t.Errorf("long body: %q", r.body)
		}
	})
}

// A streaming handler's frames go out as it flushes, while the
// connection serves other streams.
func TestStreamingAndDetach(t *testing.T) {
	next := make(chan bool)
	h := func(w *ResponseWriter, r *Request) {
		if r.Path != "/stream" {
			echo(w, r)
			return
		}
		w.WriteHeader(200, nil, -1)
		for range 3 {
			io.WriteString(w, "tick\n")
			w.Flush()
			<-next
		}
	}
	addr := serve(t, &Server{Handler: handlerFunc(h), Inline: inlineAll})
	c := connect(t, addr)
	sid := c.open(c.get("/stream"), true)
	for i := range 3 {
		for {
			f := c.read()
			if d, ok := f.(*wire.DataFrame); ok && d.StreamID == sid {
				if string(d.Data()) != "tick\n" {
					t.Fatalf("chunk %d: %q", i, d.Data())
				}
				break
			}
		}
		// Another stream is answered while the first one waits.
		id := c.open(c.get("/other"), true)
		if r := c.streams(id)[id]; r.status != "200" {
			t.Fatalf("other stream: %s", r.status)
		}
		next <- true
	}
	if r := c.streams(sid)[sid]; !r.ended {
		t.Errorf("the stream did not end")
	}
}

// Abandon answers for a stuck handler with the status, from another
// goroutine; the handler's later writes fail.
func TestAbandon(t *testing.T) {
	stuck := make(chan *ResponseWriter)
	release := make(chan bool)
	wrote := make(chan error, 1)
	h := func(w *ResponseWriter, r *Request) {
		if r.Path != "/stuck" {
			echo(w, r)
			return
		}
		stuck <- w
		<-release
		wrote <- w.WriteHeader(200, nil, 0)
	}
	addr := serve(t, &Server{Handler: handlerFunc(h), Inline: inlineAll})
	c := connect(t, addr)
	id := c.open(c.get("/stuck"), true)
	w := <-stuck
	w.Abandon(504, "Gateway Timeout")
	r := c.streams(id)[id]
	if r.status != "504" || string(r.body) != "504 Gateway Timeout\n" {
		t.Errorf("%s %q", r.status, r.body)
	}
	if w.Status() != 504 || w.Written() != int64(len(r.body)) {
		t.Errorf("Status %d Written %d", w.Status(), w.Written())
	}
	// The connection went on without the stuck handler.
	if r := c.roundTrip(c.get("/"), ""); r.status != "200" {
		t.Errorf("next: %s", r.status)
	}
	close(release)
	if err := <-wrote; err == nil {
		t.Error("the abandoned handler's WriteHeader succeeded")
	}
}

// Shutdown: GOAWAY NO_ERROR naming the last stream begun; that stream
// finishes, later ones are ignored, then the connection closes.
func TestShutdown(t *testing.T) {
	started := make(chan bool)
	release := make(chan bool)
	h := func(w *ResponseWriter, r *Request) {
		started <- true
		<-release
		echo(w, r)
	}
	s := &Server{Handler: handlerFunc(h)}
	addr := serve(t, s)
	c := connect(t, addr)
	id := c.open(c.get("/first"), true)
	<-started
	done := make(chan error)
	go func() { done <- s.Shutdown(context.Background()) }()
	g := c.goAway()
	if g.ErrCode != wire.ErrCodeNo || g.LastStreamID != id {
		t.Fatalf("GOAWAY %v last %d, want NO_ERROR %d", g.ErrCode, g.LastStreamID, id)
	}
	c.open(c.get("/later"), true) // ignored: no handler starts
	close(release)
	r := c.streams(id)[id]
	if r.status != "200" || !strings.HasPrefix(string(r.body), "GET /first") {
		t.Errorf("the stream in flight: %s %q", r.status, r.body)
	}
	c.closed()
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	// A connection after Shutdown is closed at once, unread.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(deadline))
	var ne net.Error
	if _, err := conn.Read(make([]byte, 1)); err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("a connection after Shutdown: read %v, want it closed", err)
	}
}

// Response headers: names lower-cased, connection-specific ones dropped,
// long blocks split into CONTINUATION frames.
func TestResponseHeaders(t *testing.T) {
	big := strings.Repeat("v", 40000)
	h := func(w *ResponseWriter, r *Request) {
		w.WriteHeader(200, []hpack.HeaderField{
			{Name: "X-Mixed-Case", Value: "1"},
			{Name: "Connection", Value: "close"},
			{Name: "Transfer-Encoding", Value: "chunked"},
			{Name: "Set-Cookie", Value: "a=1"},
			{Name: "Set-Cookie", Value: "b=2"},
			{Name: "x-big", Value: big},
		}, 0)
	}
	addr := serve(t, &Server{Handler: handlerFunc(h), Inline: inlineAll})
	c := connect(t, addr)
	r := c.roundTrip(c.get("/"), "")
	if r.get("x-mixed-case") != "1" || r.get("connection") != "" || r.get("transfer-encoding") != "" ||
		strings.Join(r.header["set-cookie"], ",") != "a=1,b=2" || r.get("x-big") != big || !r.ended {
		t.Errorf("headers %v", r.header["set-cookie"])
	}
}

// An inline handler that computes for long without waiting hands the
// connection's reading on: the connection's other streams are answered
// while it runs.
func TestLongInlineHandler(t *testing.T) {
	var stop atomic.Bool
	h := func(w *ResponseWriter, r *Request) {
		if r.Path == "/slow" {
			for !stop.Load() { // computes: never waits, never flushes
			}
		}
		echo(w, r)
	}
	addr := serve(t, &Server{Handler: handlerFunc(h), Inline: inlineAll})
	t.Cleanup(func() { stop.Store(true) }) // (before the server's cleanup waits for it)
	c := connect(t, addr)
	slow := c.open(c.get("/slow"), true)
	fast := c.open(c.get("/fast"), true)
	r := c.streams(fast)[fast]
	stop.Store(true)
	if r.status != "200" {
		t.Errorf("/fast: %s", r.status)
	}
	if r := c.streams(slow)[slow]; r.status != "200" {
		t.Errorf("/slow: %s", r.status)
	}
	// Handlers that end at once stay inline: one goroutine serves them.
	for range 3 {
		if r := c.roundTrip(c.get("/"), ""); r.status != "200" {
			t.Errorf("after: %s", r.status)
		}
	}
}
