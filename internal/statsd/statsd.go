// Package statsd sends pogo's metrics to a StatsD server under gunicorn's
// metric names (gunicorn/instrument/statsd.py), so the dashboards and
// alerts made for gunicorn keep working: per request gunicorn.requests,
// gunicorn.request.duration (ms) and gunicorn.request.status.CODE; from
// the master gunicorn.workers; per log record at warning and above
// gunicorn.log.warning, .error, .critical.
//
// Lines are batched into datagrams of at most 1432 bytes (StatsD takes
// several lines per packet), flushed every 100 ms, so a busy server sends
// a few packets a second, not three per request. Sending never blocks a
// request: when the buffer is full, lines are dropped and counted.
package statsd

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// maxPacket keeps a datagram within a 1500-byte MTU with IP and UDP
// headers (and room for IPv6).
const maxPacket = 1432

// flushEvery is how often buffered lines are sent.
const flushEvery = 100 * time.Millisecond

// maxBuffered bounds what waits between flushes.
const maxBuffered = 64 << 10

// Client sends metrics to one StatsD server. Its methods are safe for
// concurrent use. A nil *Client sends nothing.
type Client struct {
	conn   net.Conn
	prefix string
	tags   string // "|#a:b,c" or ""

	mu      sync.Mutex
	buf     bytes.Buffer // guarded by mu
	dropped uint64       // guarded by mu

	done chan struct{}
	wg   sync.WaitGroup
}

// trailingDots matches what gunicorn trims of a prefix before adding one
// dot.
var trailingDots = regexp.MustCompile(`\.*$`)

// New returns a Client sending to addr: HOST:PORT over UDP, or
// unix:PATH (a datagram socket), as gunicorn's statsd_host takes it.
// prefix is gunicorn's statsd_prefix ("" for none) and tags its
// dogstatsd_tags ("a:b,c", "" for none).
func New(addr, prefix, tags string) (*Client, error) {
	network, address := "udp", addr
	if p, ok := cutPrefix(addr, "unix:"); ok {
		network, address = "unixgram", p
	} else if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("statsd: %q: want HOST:PORT or unix:PATH", addr)
	}
	conn, err := net.Dial(network, address)
	if err != nil {
		return nil, fmt.Errorf("statsd: %w", err)
	}
	c := &Client{conn: conn, done: make(chan struct{})}
	if prefix != "" {
		c.prefix = trailingDots.ReplaceAllString(prefix, "") + "."
	}
	if tags != "" {
		c.tags = "|#" + tags
	}
	c.wg.Add(1)
	go c.loop()
	return c, nil
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return s, false
}

// Request records a finished request as gunicorn's access metrics do.
func (c *Client) Request(status int, d time.Duration) {
	if c == nil {
		return
	}
	ms := strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
	c.mu.Lock()
	c.add("gunicorn.request.duration", ms, "ms")
	c.add("gunicorn.requests", "1", "c")
	if status > 0 {
		c.add("gunicorn.request.status."+strconv.Itoa(status), "1", "c")
	}
	c.mu.Unlock()
}

// Incr adds one to a counter.
func (c *Client) Incr(name string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.add(name, "1", "c")
	c.mu.Unlock()
}

// Gauge sets a gauge.
func (c *Client) Gauge(name string, v int) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.add(name, strconv.Itoa(v), "g")
	c.mu.Unlock()
}

// add appends one line; c.mu held.
func (c *Client) add(name, value, typ string) {
	if c.buf.Len() > maxBuffered {
		c.dropped++
		return
	}
	c.buf.WriteString(c.prefix)
	c.buf.WriteString(name)
	c.buf.WriteByte(':')
	c.buf.WriteString(value)
	c.buf.WriteByte('|')
	c.buf.WriteString(typ)
	c.buf.WriteString(c.tags)
	c.buf.WriteByte('\n')
}

func (c *Client) loop() {
	defer c.wg.Done()
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.Flush()
		case <-c.done:
			c.Flush()
			return
		}
	}
}

// Flush sends what is buffered, in datagrams of whole lines.
func (c *Client) Flush() {
	if c == nil {
		return
	}
	c.mu.Lock()
	data := bytes.Clone(c.buf.Bytes())
	c.buf.Reset()
	c.mu.Unlock()
	for len(data) > 0 {
		n := len(data)
		if n > maxPacket {
			n = bytes.LastIndexByte(data[:maxPacket], '\n') + 1
			if n == 0 { // one line longer than a packet
				n = bytes.IndexByte(data, '\n') + 1
			}
		}
		// A StatsD server that is down costs nothing but the packets.
		c.conn.Write(bytes.TrimSuffix(data[:n], []byte("\n")))
		data = data[n:]
	}
}

// Close flushes and closes the socket.
func (c *Client) Close() error {
	if c == nil {
		return nil
	}
	close(c.done)
	c.wg.Wait()
	return c.conn.Close()
}

// Handler wraps a slog.Handler to count the records at warning and above
// as gunicorn's logger does (gunicorn.log.warning, .error, .critical).
type Handler struct {
	slog.Handler
	c *Client
}

// NewHandler returns h counting into c.
func NewHandler(h slog.Handler, c *Client) *Handler { return &Handler{h, c} }

// Handle counts r, then passes it on.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	switch {
	case r.Level >= slog.LevelError+4:
		h.c.Incr("gunicorn.log.critical")
	case r.Level >= slog.LevelError:
		h.c.Incr("gunicorn.log.error")
	case r.Level >= slog.LevelWarn:
		h.c.Incr("gunicorn.log.warning")
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs keeps the counting.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{h.Handler.WithAttrs(attrs), h.c}
}

// WithGroup keeps the counting.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{h.Handler.WithGroup(name), h.c}
}
