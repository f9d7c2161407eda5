package server

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PROXY protocol (HAProxy's, versions 1 and 2; --proxy-protocol): a load
// balancer that forwards TCP sends, before anything else on the
// connection, the addresses of the client and of the server it reached.
// pogo reads it from trusted peers only (Trusted), below TLS; a trusted
// peer's connection without one is served as it is, and one with a
// malformed header is closed. The addresses then stand for the
// connection's: REMOTE_ADDR and REMOTE_PORT, SERVER_NAME and SERVER_PORT
// without a Host, the access log.

// proxyTimeout bounds reading the header.
const proxyTimeout = 10 * time.Second

// proxyListener hands out connections that read a PROXY header.
type proxyListener struct {
	net.Listener
	trusted *Trusted
}

func (l *proxyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
	if !l.trusted.Has(host) {
		return c, nil
	}
	return &proxyConn{Conn: c}, nil
}

// proxyConn reads the header on first use, in the connection's goroutine
// (the engine asks for RemoteAddr there), never in the accept loop.
type proxyConn struct {
	net.Conn
	once          sync.Once
	br            *bufio.Reader
	remote, local net.Addr // from the header; nil: the connection's
	err           error
}

func (c *proxyConn) init() {
	c.once.Do(func() {
		c.br = bufio.NewReaderSize(c.Conn, 512)
		c.Conn.SetReadDeadline(time.Now().Add(proxyTimeout))
		c.remote, c.local, c.err = readProxyHeader(c.br)
		c.Conn.SetReadDeadline(time.Time{})
		if c.err != nil {
			c.Conn.Close()
		}
	})
}

func (c *proxyConn) Read(p []byte) (int, error) {
	c.init()
	if c.err != nil {
		return 0, c.err
	}
	return c.br.Read(p)
}

func (c *proxyConn) RemoteAddr() net.Addr {
	c.init()
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

func (c *proxyConn) LocalAddr() net.Addr {
	c.init()
	if c.local != nil {
		return c.local
	}
	return c.Conn.LocalAddr()
}

// ReadFrom keeps sendfile: the header is read-side only.
func (c *proxyConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(c.Conn, r)
}

// CloseWrite half-closes, as the engine does after an abandoned response.
func (c *proxyConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

var proxySig2 = []byte("\r\n\r\n\x00\r\nQUIT\n")

var errProxyHeader = errors.New("server: malformed PROXY protocol header")

// readProxyHeader reads a version 1 or 2 header if the stream starts with
// one. It returns nil addresses when there is none, or when the header
// says the connection is the proxy's own (LOCAL, UNKNOWN, not TCP).
func readProxyHeader(br *bufio.Reader) (remote, local net.Addr, err error) {
	first, err := br.Peek(1)
	if err != nil {
		return nil, nil, nil // let the engine see the end
	}
	switch first[0] {
	case 'P':
		if b, _ := br.Peek(6); string(b) == "PROXY " {
			return readProxyV1(br)
		}
	case '\r':
		if b, _ := br.Peek(len(proxySig2)); bytes.Equal(b, proxySig2) {
			return readProxyV2(br)
		}
	}
	return nil, nil, nil
}

// readProxyV1: "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n" or "PROXY
// UNKNOWN ...\r\n", at most 107 bytes.
func readProxyV1(br *bufio.Reader) (remote, local net.Addr, err error) {
	var line []byte
	for len(line) < 107 {
		b, err := br.ReadByte()
		if err != nil {
			return nil, nil, errProxyHeader
		}
		line = append(line, b)
		if b == '\n' {
			break
		}
	}
	s, ok := strings.CutSuffix(string(line), "\r\n")
	if !ok {
		return nil, nil, errProxyHeader
	}
	f := strings.Split(s, " ")
	if len(f) >= 2 && f[1] == "UNKNOWN" {
		return nil, nil, nil
	}
	if len(f) != 6 || (f[1] != "TCP4" && f[1] != "TCP6") {
		return nil, nil, errProxyHeader
	}
	src, dst := net.ParseIP(f[2]), net.ParseIP(f[3])
	sport, err1 := strconv.ParseUint(f[4], 10, 16)
	dport, err2 := strconv.ParseUint(f[5], 10, 16)
	if src == nil || dst == nil || err1 != nil || err2 != nil || (f[1] == "TCP4") != (src.To4() != nil && dst.To4() != nil) {
		return nil, nil, errProxyHeader
	}
	return &net.TCPAddr{IP: src, Port: int(sport)}, &net.TCPAddr{IP: dst, Port: int(dport)}, nil
}

// readProxyV2: the 12-byte signature, version and command, family and
// protocol, a length, the addresses, then TLVs (skipped).
func readProxyV2(br *bufio.Reader) (remote, local net.Addr, err error) {
	var hdr [16]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, nil, errProxyHeader
	}
	verCmd, fam := hdr[12], hdr[13]
	n := int(binary.BigEndian.Uint16(hdr[14:16]))
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil || verCmd>>4 != 2 {
		return nil, nil, errProxyHeader
	}
	switch verCmd & 0xf {
	case 0: // LOCAL: the proxy's own connection (a health check)
		return nil, nil, nil
	case 1: // PROXY
	default:
		return nil, nil, errProxyHeader
	}
	switch fam {
	case 0x11: // TCP over IPv4
		if n < 12 {
			return nil, nil, errProxyHeader
		}
		return &net.TCPAddr{IP: net.IP(body[0:4]), Port: int(binary.BigEndian.Uint16(body[8:10]))},
			&net.TCPAddr{IP: net.IP(body[4:8]), Port: int(binary.BigEndian.Uint16(body[10:12]))}, nil
	case 0x21: // TCP over IPv6
		if n < 36 {
			return nil, nil, errProxyHeader
		}
		return &net.TCPAddr{IP: net.IP(body[0:16]), Port: int(binary.BigEndian.Uint16(body[32:34]))},
			&net.TCPAddr{IP: net.IP(body[16:32]), Port: int(binary.BigEndian.Uint16(body[34:36]))}, nil
	}
	return nil, nil, nil // UNSPEC, UDP, unix: keep the connection's addresses
}
