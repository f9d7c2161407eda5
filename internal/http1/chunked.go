package http1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

var (
	errChunkSize     = bad("invalid chunk size")
	errChunkOverflow = bad("chunk size too large")
	errChunkExt      = bad("invalid chunk extension")
	errChunkSpace    = bad("whitespace at the end of a chunk-size line")
	errChunkEnd      = bad("missing CRLF after chunk data")
	errChunkLine     = bad("chunk line too long")
	errTrailer       = bad("invalid trailer field")
	errBareLF        = bad("chunk line ends with a bare LF")
	// errChunkEOF: the connection ended (or was half-closed) inside a
	// chunked body, before the blank line after the last chunk. The body
	// is incomplete (RFC 9112 section 7.1): a 400, never a clean io.EOF,
	// nor the io.ErrUnexpectedEOF that io.ReadFull also makes of a short
	// read that ended cleanly.
	errChunkEOF = bad("chunked body cut off before its end")
)

const (
	stateSize = iota // before a chunk-size line
	stateData        // inside chunk data
	stateEnd         // after chunk data, before its CRLF
	stateDone        // after the trailer section: io.EOF
)

// ChunkedReader decodes a chunked request body (RFC 9112 section 7.1). It
// checks chunk sizes, extensions and trailer fields, discards extensions
// and trailers, and never reads past the blank line that ends the body,
// so the next pipelined request stays in the bufio.Reader. A malformed
// body, or one the end of the input cuts off anywhere before that blank
// line, fails with a 400 *Error: io.EOF always means the whole body.
type ChunkedReader struct {
	r      *bufio.Reader
	lim    Limits // for trailer fields
	n      int64  // unread bytes of the current chunk
	state  int
	err    error // sticky
	fields int   // trailer fields seen
}

// NewChunkedReader returns a reader of the chunked body at the start of r.
func NewChunkedReader(r *bufio.Reader, lim *Limits) *ChunkedReader {
	cr := &ChunkedReader{}
	cr.Reset(r, lim)
	return cr
}

// Reset makes cr read a new body from r.
func (cr *ChunkedReader) Reset(r *bufio.Reader, lim *Limits) {
	*cr = ChunkedReader{r: r}
	if lim != nil {
		cr.lim = *lim
	}
}

func (cr *ChunkedReader) Read(p []byte) (int, error) {
	for cr.err == nil {
		switch cr.state {
		case stateSize:
			cr.err = cr.readSize()
		case stateData:
			if len(p) == 0 {
				return 0, nil
			}
			if int64(len(p)) > cr.n {
				p = p[:cr.n]
			}
			n, err := cr.r.Read(p)
			cr.n -= int64(n)
			if cr.n == 0 {
				cr.state = stateEnd
			}
			if err == io.EOF {
				err = errChunkEOF
			}
			cr.err = err
			if n > 0 {
				return n, nil
			}
		case stateEnd:
			cr.err = cr.readCRLF()
			cr.state = stateSize
		case stateDone:
			return 0, io.EOF
		}
	}
	return 0, cr.err
}

func (cr *ChunkedReader) readCRLF() error {
	c, err := cr.r.ReadByte()
	if err == nil {
		if c != '\r' {
			return errChunkEnd
		}
		c, err = cr.r.ReadByte()
	}
	switch {
	case err == io.EOF:
		return errChunkEOF
	case err != nil:
		return err
	case c != '\n':
		return errChunkEnd
	}
	return nil
}

// line reads one CRLF-terminated line of at most the bufio.Reader's size,
// without the CRLF.
func (cr *ChunkedReader) line() ([]byte, error) {
	line, err := cr.r.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, errChunkLine
	case err == io.EOF:
		return nil, errChunkEOF
	case err != nil:
		return nil, err
	}
	// Chunk framing takes CRLF only: a bare LF here is a known request
	// smuggling vector between servers that disagree on it.
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, errBareLF
	}
	line = line[:len(line)-2]
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, errBareCR
	}
	return line, nil
}

func (cr *ChunkedReader) readSize() error {
	line, err := cr.line()
	if err != nil {
		return err
	}
	size, rest, err := parseChunkSize(line)
	if err != nil {
		return err
	}
	if err := checkChunkExt(rest); err != nil {
		return err
	}
	if size > 0 {
		cr.n = size
		cr.state = stateData
		return nil
	}
	return cr.readTrailers()
}

// readTrailers checks and discards the trailer section after the last chunk.
func (cr *ChunkedReader) readTrailers() error {
	for {
		line, err := cr.line()
		if err != nil {
			return err
		}
		if len(line) == 0 {
			cr.state = stateDone
			return nil
		}
		cr.fields++
		if cr.fields > cr.lim.fields() {
			return errTooManyFields
		}
		if len(line) > cr.lim.fieldSize() {
			return errFieldTooLong
		}
		colon := bytes.IndexByte(line, ':')
		if line[0] == ' ' || line[0] == '\t' || colon <= 0 || !isToken(line[:colon]) || !validValue(trimOWS(line[colon+1:])) {
			return errTrailer
		}
	}
}

// parseChunkSize reads the hex chunk-size at the start of line.
func parseChunkSize(line []byte) (int64, []byte, error) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		d, ok := unhex(line[i])
		if !ok {
			break
		}
		if n > (1<<63-1)>>4 {
			return 0, nil, errChunkOverflow
		}
		n = n<<4 | int64(d)
	}
	if i == 0 {
		return 0, nil, errChunkSize
	}
	return n, line[i:], nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// checkChunkExt validates chunk-ext:
// *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ), where
// chunk-ext-val is a token or a quoted-string. The grammar has whitespace
// (BWS) only around ";" and "=", never before the line's CRLF: "0 \r\n"
// and "5;a=b \r\n" are refused (net/http trims the whitespace: which
// parser is lenient varies, so be strict where the grammar is), while
// "5 ;a=b\r\n" is accepted, as RFC 9110 section 5.6.3 asks of BWS
// (net/http refuses that one).
func checkChunkExt(b []byte) error {
	if n := len(b); n > 0 && (b[n-1] == ' ' || b[n-1] == '\t') {
		return errChunkSpace
	}
	for {
		b = trimLeftOWS(b)
		if len(b) == 0 {
			return nil
		}
		if b[0] != ';' {
			return errChunkExt
		}
		b = trimLeftOWS(b[1:])
		i := tokenLen(b)
		if i == 0 {
			return errChunkExt
		}
		b = trimLeftOWS(b[i:])
		if len(b) == 0 || b[0] != '=' {
			continue
		}
		b = trimLeftOWS(b[1:])
		if len(b) > 0 && b[0] == '"' {
			n, ok := quotedLen(b)
			if !ok {
				return errChunkExt
			}
			b = b[n:]
			continue
		}
		i = tokenLen(b)
		if i == 0 {
			return errChunkExt
		}
		b = b[i:]
	}
}

func trimLeftOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

func tokenLen(b []byte) int {
	i := 0
	for i < len(b) && tchar[b[i]] {
		i++
	}
	return i
}

// quotedLen returns the length of the quoted-string at the start of b.
func quotedLen(b []byte) (int, bool) {
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c == '\\':
			i++
			if i == len(b) || (b[i] < ' ' && b[i] != '\t') || b[i] == 0x7f {
				return 0, false
			}
		case (c < ' ' && c != '\t') || c == 0x7f:
			return 0, false
		}
	}
	return 0, false
}
