package http1

import (
	"bytes"
	"errors"
)

// Header is one request header field. Name and Value point into the
// connection's read buffer: valid until the next request head is read.
// Value has its leading and trailing whitespace removed.
type Header struct {
	Name, Value []byte
}

// Request is a parsed request head. Its byte slices point into the buffer
// given to ParseHead. The zero Request is ready for ParseHead, which resets
// it and reuses its Headers backing array.
type Request struct {
	Method []byte
	Target []byte // the request-target as sent
	Major  int    // 1
	Minor  int    // 0 or 1 (a higher 1.x is treated as 1.1)

	Headers []Header // in arrival order

	Host []byte // the Host header, nil if absent (HTTP/1.0 only)
	// ContentLength is the body length from Content-Length, or -1 when
	// the request has no Content-Length (then the body is chunked, or
	// empty).
	ContentLength int64
	Chunked       bool // Transfer-Encoding: chunked
	KeepAlive     bool // the connection may carry another request
	Expect100     bool // Expect: 100-continue (HTTP/1.1)
}

// Limits bounds what a request head may hold. Zero fields take the
// defaults noted.
type Limits struct {
	// RequestLine is the longest request line in bytes, without CRLF (414
	// beyond). If zero, 8190.
	RequestLine int
	// FieldSize is the longest header field line (431 beyond). If zero, 8190.
	FieldSize int
	// Fields is the most header fields (431 beyond). If zero, 100.
	Fields int
}

func (l *Limits) requestLine() int { return orDefault(l.RequestLine, 8190) }
func (l *Limits) fieldSize() int   { return orDefault(l.FieldSize, 8190) }
func (l *Limits) fields() int      { return orDefault(l.Fields, 100) }

func orDefault(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}

// ErrIncomplete means the buffer does not yet hold a whole request head:
// read more and call ParseHead again.
var ErrIncomplete = errors.New("http1: incomplete request head")

// Error is a request the server must refuse with Status. After an Error
// the connection's framing cannot be trusted: answer and close.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string { return "http1: " + e.Reason }

func bad(reason string) error { return &Error{Status: 400, Reason: reason} }

var (
	errLineTooLong     = &Error{Status: 414, Reason: "request line too long"}
	errFieldTooLong    = &Error{Status: 431, Reason: "header field too long"}
	errTooManyFields   = &Error{Status: 431, Reason: "too many header fields"}
	errVersion         = &Error{Status: 505, Reason: "HTTP version not supported"}
	errCoding          = &Error{Status: 501, Reason: "unsupported transfer coding"}
	errExpect          = &Error{Status: 417, Reason: "unsupported expectation"}
	errConnect         = &Error{Status: 501, Reason: "CONNECT is not supported"}
	errBareCR          = bad("bare CR")
	errRequestLine     = bad("malformed request line")
	errMethod          = bad("invalid method")
	errTarget          = bad("invalid request-target")
	errObsFold         = bad("obsolete line folding")
	errFieldName       = bad("invalid header field name")
	errFieldValue      = bad("invalid header field value")
	errContentLength   = bad("invalid Content-Length")
	errTwoLengths      = bad("conflicting Content-Length headers")
	errLengthAndChunks = bad("both Content-Length and Transfer-Encoding")
	errChunkedNotLast  = bad("chunked is not the final transfer coding")
	errTE10            = bad("Transfer-Encoding in an HTTP/1.0 request")
	errHost            = bad("missing, repeated or invalid Host")
	errContentTypes    = bad("repeated Content-Type")
)

// ParseHead parses the request head at the start of b into req and
// returns how many bytes it took. If b holds only part of a head it returns
// ErrIncomplete, unless what is there already breaks a limit. Any other
// error is an *Error.
//
// After an error req holds what was parsed before it, for logging: Method,
// Target, Major and Minor if the request line had the shape "token SP
// target SP HTTP/d.d" (even if refused: 501 CONNECT, 505 HTTP/2.0), else
// a nil Method; and Headers, the fields before the one refused.
//
// The policy for each malformed or ambiguous input is the table in doc.go.
func ParseHead(b []byte, req *Request, lim *Limits) (int, error) {
	hs := req.Headers[:0]
	*req = Request{Headers: hs, ContentLength: -1}

	// A server SHOULD ignore at least one empty line before the
	// request-line (RFC 9112 section 2.2).
	start := 0
	for start < len(b) && (b[start] == '\n' || (b[start] == '\r' && start+1 < len(b) && b[start+1] == '\n')) {
		if b[start] == '\r' {
			start++
		}
		start++
		if start > 8 {
			return 0, errRequestLine
		}
	}

	line, next, err := cutLine(b, start, lim.requestLine(), errLineTooLong)
	if err != nil {
		return 0, err
	}
	if err := parseRequestLine(line, req); err != nil {
		return 0, err
	}

	var host, connection, te, expect []byte
	hosts, contentTypes := 0, 0
	for {
		line, n, err := cutLine(b, next, lim.fieldSize(), errFieldTooLong)
		if err == ErrIncomplete && len(req.Headers) >= lim.fields() {
			return 0, errTooManyFields
		}
		if err != nil {
			return 0, err
		}
		next = n
		if len(line) == 0 {
			break
		}
		if len(req.Headers) >= lim.fields() {
			return 0, errTooManyFields
		}
		if line[0] == ' ' || line[0] == '\t' {
			return 0, errObsFold
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return 0, errFieldName
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		if !validValue(value) {
			return 0, errFieldValue
		}
		req.Headers = append(req.Headers, Header{Name: name, Value: value})

		switch {
		case equalFold(name, "content-length"):
			n, ok := parseLength(value)
			if !ok {
				return 0, errContentLength
			}
			if req.ContentLength >= 0 && req.ContentLength != n {
				return 0, errTwoLengths
			}
			req.ContentLength = n
		case equalFold(name, "transfer-encoding"):
			if te != nil {
				// Several Transfer-Encoding fields are one list; a
				// second "chunked" anywhere is already invalid.
				return 0, errChunkedNotLast
			}
			te = value
		case equalFold(name, "host"):
			hosts++
			host = value
		case equalFold(name, "content-type"):
			// A singleton field (RFC 9110 section 8.3): CONTENT_TYPE
			// holds one value, and which of two the app would see
			// depends on the server and framework.
			if contentTypes++; contentTypes > 1 {
				return 0, errContentTypes
			}
		case equalFold(name, "connection"):
			connection = value
		case equalFold(name, "expect"):
			expect = value
		}
	}

	if req.Minor == 0 {
		req.KeepAlive = hasToken(connection, "keep-alive")
	} else {
		req.KeepAlive = !hasToken(connection, "close")
	}
	if hasToken(connection, "close") {
		req.KeepAlive = false
	}

	if te != nil {
		if req.Minor == 0 {
			return 0, errTE10
		}
		if req.ContentLength >= 0 {
			return 0, errLengthAndChunks
		}
		if err := checkCodings(te); err != nil {
			return 0, err
		}
		req.Chunked = true
	}

	if hosts > 1 || (hosts == 0 && req.Minor >= 1) || (hosts == 1 && !validHost(host)) {
		return 0, errHost
	}
	req.Host = host
	if auth, ok := authority(req.Target); ok {
		// RFC 9112 section 3.2.2: with an absolute-form target the
		// server uses its authority and ignores Host. An http(s) URI
		// with an empty host is invalid (RFC 9110 section 4.2.1).
		if len(auth) == 0 || auth[0] == ':' || !validHost(auth) {
			return 0, errHost
		}
		req.Host = auth
	}

	if expect != nil {
		if !equalFold(expect, "100-continue") {
			return 0, errExpect
		}
		req.Expect100 = req.Minor >= 1
	}
	return next, nil
}

// cutLine returns the line starting at b[i] without its CRLF (or bare LF)
// and the index after it. A line longer than max fails with tooLong, even
// before its end has arrived.
func cutLine(b []byte, i, max int, tooLong error) (line []byte, next int, err error) {
	rest := b[i:]
	nl := bytes.IndexByte(rest, '\n')
	if nl < 0 {
		if len(rest) > max+1 {
			return nil, 0, tooLong
		}
		return nil, 0, ErrIncomplete
	}
	line = rest[:nl]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if len(line) > max {
		return nil, 0, tooLong
	}
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, 0, errBareCR
	}
	return line, i + nl + 1, nil
}

// parseRequestLine sets req's Method, Target, Major and Minor only once
// the line has the shape of a request line (see ParseHead).
func parseRequestLine(line []byte, req *Request) error {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 < 0 {
		return errRequestLine
	}
	method := line[:sp1]
	if !isToken(method) {
		return errMethod
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 < 0 {
		return errRequestLine // HTTP/0.9 or a target with no version
	}
	target := rest[:sp2]
	version := rest[sp2+1:]
	if len(target) == 0 {
		return errTarget
	}
	for _, c := range target {
		if c <= ' ' || c == 0x7f {
			return errTarget
		}
	}
	if len(version) != 8 || string(version[:5]) != "HTTP/" || !isDigit(version[5]) || version[6] != '.' || !isDigit(version[7]) {
		return errRequestLine
	}
	req.Method, req.Target = method, target
	req.Major, req.Minor = int(version[5]-'0'), int(version[7]-'0')
	if req.Major != 1 {
		return errVersion
	}
	if req.Minor > 1 {
		req.Minor = 1 // a later 1.x is answered as 1.1 (RFC 9110 section 6.2)
	}
	return checkTarget(req.Method, req.Target)
}

// checkTarget enforces the request-target forms of RFC 9112 section 3.2.
func checkTarget(method, target []byte) error {
	switch {
	case string(method) == "CONNECT":
		return errConnect
	case target[0] == '/':
		return nil // origin-form
	case len(target) == 1 && target[0] == '*':
		if string(method) != "OPTIONS" {
			return errTarget
		}
		return nil // asterisk-form
	case hasPrefixFold(target, "http://") || hasPrefixFold(target, "https://"):
		return nil // absolute-form
	}
	return errTarget
}

// authority returns the authority of an absolute-form target.
func authority(target []byte) ([]byte, bool) {
	i := bytes.Index(target, []byte("://"))
	if i < 0 || target[0] == '/' {
		return nil, false
	}
	a := target[i+3:]
	if j := bytes.IndexAny(a, "/?#"); j >= 0 {
		a = a[:j]
	}
	return a, true
}

// checkCodings accepts exactly one transfer coding, chunked. A final
// coding other than chunked leaves the body length unknown (400, RFC 9112
// section 6.3); chunked after another coding could be framed but not
// decoded (501).
func checkCodings(te []byte) error {
	n, chunked, lastChunked := 0, 0, false
	for len(te) > 0 {
		var elem []byte
		if i := bytes.IndexByte(te, ','); i >= 0 {
			elem, te = te[:i], te[i+1:]
		} else {
			elem, te = te, nil
		}
		if elem = trimOWS(elem); len(elem) == 0 {
			continue // empty list elements are allowed (RFC 9110 section 5.6.1)
		}
		n++
		lastChunked = equalFold(elem, "chunked")
		if lastChunked {
			chunked++
		}
	}
	switch {
	case !lastChunked || chunked > 1:
		return errChunkedNotLast
	case n > 1:
		return errCoding
	}
	return nil
}

// parseLength parses a Content-Length value: digits only, no sign, no
// list, no overflow.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
// "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tchar[c] {
			return false
		}
	}
	return true
}

// validValue: field-content is VCHAR, obs-text, SP and HTAB; no NUL, no
// other control characters, no DEL.
func validValue(v []byte) bool {
	for _, c := range v {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// validHost accepts the characters of uri-host [ ":" port ]: reg-name,
// IPv4 and bracketed IPv6 literals.
func validHost(h []byte) bool {
	if len(h) == 0 {
		return true // an empty Host is allowed when the target has no authority
	}
	for _, c := range h {
		switch {
		case tchar[c] && c != '|' && c != '`' && c != '^' && c != '#':
		case c == ':' || c == '[' || c == ']' || c == '(' || c == ')' || c == ',' || c == ';' || c == '=':
		default:
			return false
		}
	}
	return true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold compares b with the lower-case ASCII string s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func hasPrefixFold(b []byte, s string) bool {
	return len(b) >= len(s) && equalFold(b[:len(s)], s)
}

// hasToken reports whether the comma-separated list v holds token (lower
// case), ignoring case.
func hasToken(v []byte, token string) bool {
	for len(v) > 0 {
		i := bytes.IndexByte(v, ',')
		var elem []byte
		if i < 0 {
			elem, v = v, nil
		} else {
			elem, v = v[:i], v[i+1:]
		}
		if equalFold(trimOWS(elem), token) {
			return true
		}
	}
	return false
}
