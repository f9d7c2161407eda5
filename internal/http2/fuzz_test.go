package http2

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	wire "golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// FuzzFrames feeds the server arbitrary bytes after the client preface:
// it must neither panic nor hang, whatever the frames, and end the
// connection when the input ends.
func FuzzFrames(f *testing.F) {
	for _, seed := range frameSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		var log bytes.Buffer
		s := &Server{
			Handler: handlerFunc(echo),
			Inline:  func(r *Request) bool { return !strings.HasPrefix(r.Path, "/async") },
			Log:     slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelError})),
		}
		c := &fakeConn{r: io.MultiReader(strings.NewReader(wire.ClientPreface), bytes.NewReader(input))}
		s.ServeConn(c, nil) // returns once the input has ended and every handler has
		if strings.Contains(log.String(), "panic") {
			t.Fatalf("%s", log.String())
		}
	})
}

// frameSeeds are valid exchanges, and some that are not, to start from.
func frameSeeds() [][]byte {
	var seeds [][]byte
	frames := func(write func(fr *wire.Framer, enc func(...string) []byte)) []byte {
		var b, hb bytes.Buffer
		fr := wire.NewFramer(&b, nil)
		fr.AllowIllegalWrites = true
		henc := hpack.NewEncoder(&hb)
		enc := func(pairs ...string) []byte {
			hb.Reset()
			for i := 0; i+1 < len(pairs); i += 2 {
				henc.WriteField(hpack.HeaderField{Name: pairs[i], Value: pairs[i+1]})
			}
			return append([]byte(nil), hb.Bytes()...)
		}
		fr.WriteSettings(wire.Setting{ID: wire.SettingInitialWindowSize, Val: 1 << 20})
		write(fr, enc)
		return b.Bytes()
	}
	get := []string{":method", "GET", ":scheme", "http", ":authority", "h", ":path", "/"}
	post := []string{":method", "POST", ":scheme", "http", ":authority", "h", ":path", "/async", "content-length", "5"}
	seeds = append(seeds,
		frames(func(fr *wire.Framer, enc func(...string) []byte) {
			fr.WriteHeaders(wire.HeadersFrameParam{StreamID: 1, BlockFragment: enc(get...), EndStream: true, EndHeaders: true})
			fr.WritePing(false, [8]byte{1})
			fr.WriteHeaders(wire.HeadersFrameParam{StreamID: 3, BlockFragment: enc(get...), EndStream: true, EndHeaders: true})
		}),
		frames(func(fr *wire.Framer, enc func(...string) []byte) {
			fr.WriteHeaders(wire.HeadersFrameParam{StreamID: 1, BlockFragment: enc(post...), EndHeaders: true})
			fr.WriteData(1, false, []byte("he"))
			fr.WriteWindowUpdate(0, 1000)
			fr.WriteData(1, true, []byte("llo"))
		}),
		frames(func(fr *wire.Framer, enc func(...string) []byte) {
			block := enc(append(get, "x-long", strings.Repeat("v", 100))...)
			fr.WriteHeaders(wire.HeadersFrameParam{StreamID: 1, BlockFragment: block[:10], EndStream: true})
			fr.WriteContinuation(1, true, block[10:])
			fr.WriteRSTStream(1, wire.ErrCodeCancel)
			fr.WriteGoAway(0, wire.ErrCodeNo, nil)
		}),
		frames(func(fr *wire.Framer, enc func(...string) []byte) {
			fr.WriteHeaders(wire.HeadersFrameParam{StreamID: 1, BlockFragment: enc(append(post, "expect", "100-continue", "te", "trailers")...), EndHeaders: true})
			fr.WriteData(1, false, []byte("hello"))
			fr.WriteHeaders(wire.HeadersFrameParam{StreamID: 1, BlockFragment: enc("x-trailer", "1"), EndStream: true, EndHeaders: true})
			fr.WritePriority(3, wire.PriorityParam{StreamDep: 1, Weight: 5})
			fr.WriteSettings(wire.Setting{ID: wire.SettingInitialWindowSize, Val: 0}, wire.Setting{ID: wire.SettingMaxFrameSize, Val: 1 << 20})
		}),
		[]byte{0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 1},
	)
	return seeds
}

// fakeConn is a connection that reads r, then io.EOF, and discards what
// is written: the fuzzer's input, with nothing to wait for.
type fakeConn struct{ r io.Reader }

func (c *fakeConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *fakeConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *fakeConn) Close() error                     { return nil }
func (c *fakeConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *fakeConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *fakeConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }
