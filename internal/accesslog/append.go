package accesslog

import (
	"bytes"
	"encoding/base64"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Append appends one formatted line for e to dst, without a trailing
// newline, and returns the extended buffer. Apart from growing dst it does
// not allocate, unless a Basic Authorization header is longer than 1 KiB or
// the Headers implementation allocates.
func (f *Format) Append(dst []byte, e *Entry) []byte {
	if f.json {
		return appendJSON(dst, e)
	}
	for i := range f.ops {
		o := &f.ops[i]
		if o.kind == opLiteral {
			dst = append(dst, o.text...)
			continue
		}
		if o.spec.simple {
			dst = f.appendAtom(dst, o, e)
			continue
		}
		start := len(dst)
		dst = f.appendAtom(dst, o, e)
		dst = o.spec.apply(dst, start)
	}
	return dst
}

// appendAtom appends the value of one atom, escaped for the log line.
func (f *Format) appendAtom(dst []byte, o *op, e *Entry) []byte {
	switch o.kind {
	case opRemoteAddr:
		return appendOrDash(dst, e.RemoteAddr)
	case opDash:
		return append(dst, '-')
	case opUser:
		return appendUser(dst, header(e.RequestHeaders, "Authorization"))
	case opTime:
		return appendCLFTime(dst, e.Start)
	case opRequestLine:
		if e.Method == "" && e.URI == "" && e.Proto == "" {
			return append(dst, '-') // a request line that did not parse
		}
		dst = appendEscaped(dst, e.Method)
		dst = append(dst, ' ')
		dst = appendEscaped(dst, e.URI)
		dst = append(dst, ' ')
		return appendEscaped(dst, e.Proto)
	case opMethod:
		return appendEscaped(dst, e.Method)
	case opPath:
		return appendEscaped(dst, e.Path)
	case opQuery:
		return appendEscaped(dst, e.Query)
	case opProto:
		return appendEscaped(dst, e.Proto)
	case opStatus:
		return strconv.AppendInt(dst, int64(e.Status), 10)
	case opBytes, opBytesCLF:
		return strconv.AppendInt(dst, e.BodyBytes, 10)
	case opReferer:
		return appendOrDash(dst, header(e.RequestHeaders, "Referer"))
	case opUserAgent:
		return appendOrDash(dst, header(e.RequestHeaders, "User-Agent"))
	case opSeconds:
		return strconv.AppendInt(dst, int64(duration(e)/time.Second), 10)
	case opMillis:
		return strconv.AppendInt(dst, int64(duration(e)/time.Millisecond), 10)
	case opMicros:
		return strconv.AppendInt(dst, int64(duration(e)/time.Microsecond), 10)
	case opDecimalSeconds:
		return appendDecimalSeconds(dst, duration(e))
	case opPID:
		return append(dst, f.pid...)
	case opRequestHeader:
		return appendOrDash(dst, header(e.RequestHeaders, o.text))
	case opResponseHeader:
		return appendOrDash(dst, header(e.ResponseHeaders, o.text))
	case opEnv:
		v, ok := os.LookupEnv(o.text)
		if !ok && o.alt != "" {
			v = os.Getenv(o.alt)
		}
		return appendOrDash(dst, v)
	}
	panic("accesslog: unknown op")
}

// apply applies precision, sign and width to the value at dst[start:], as
// Python's % operator does.
func (sp *spec) apply(dst []byte, start int) []byte {
	sign := ""
	digits := 0 // zeros the precision adds in front of a number
	switch sp.conv {
	case 's':
		if sp.prec >= 0 {
			// Precision truncates a string to that many characters of
			// the escaped value, as in gunicorn, but never inside an
			// escape: a cut after a lone backslash would escape the
			// quote that closes the field.
			n := 0
			for i := start; i < len(dst); {
				size, chars := escapeLen(dst[i:])
				if n+chars > sp.prec {
					dst = dst[:i]
					break
				}
				i += size
				n += chars
			}
		}
	case 'd':
		// Numbers here are never negative.
		switch {
		case sp.plus:
			sign = "+"
		case sp.space:
			sign = " "
		}
		digits = max(sp.prec-(len(dst)-start), 0)
	}
	pad := max(sp.width-len(sign)-digits-utf8.RuneCount(dst[start:]), 0)
	if pad == 0 && sign == "" && digits == 0 {
		return dst
	}

	// Make room for what goes before the value: the sign, the precision's
	// zeros, and the padding unless it goes after.
	lead := len(sign) + digits
	if !sp.left {
		lead += pad
	}
	value := len(dst) - start
	dst = slices.Grow(dst, lead)[:len(dst)+lead]
	copy(dst[start+lead:], dst[start:start+value])
	before := dst[start : start+lead]
	switch {
	case sp.left: // sign zeros value spaces
		fill(before[copy(before, sign):], '0')
		for range pad {
			dst = append(dst, ' ')
		}
	case sp.zero && sp.conv == 'd': // sign zeros value
		fill(before[copy(before, sign):], '0')
	default: // spaces sign zeros value
		fill(before[:pad], ' ')
		fill(before[pad+copy(before[pad:], sign):], '0')
	}
	return dst
}

// escapeLen returns the length in bytes and characters of the escape
// sequence (\", \\, \xHH) or UTF-8 sequence at the start of b. Every
// backslash in an escaped value starts an escape.
func escapeLen(b []byte) (size, chars int) {
	if b[0] == '\\' {
		if len(b) >= 4 && b[1] == 'x' {
			return 4, 4
		}
		return min(2, len(b)), min(2, len(b))
	}
	_, size = utf8.DecodeRune(b)
	return size, 1
}

func fill(b []byte, c byte) {
	for i := range b {
		b[i] = c
	}
}

func header(h Headers, name string) string {
	if h == nil {
		return ""
	}
	return h.Get(name)
}

func duration(e *Entry) time.Duration {
	return max(e.Duration, 0)
}

// appendCLFTime appends t as [10/Oct/2000:13:55:36 -0700], what
// t.AppendFormat("[02/Jan/2006:15:04:05 -0700]") gives in a third of the time.
func appendCLFTime(dst []byte, t time.Time) []byte {
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	_, offset := t.Zone()
	dst = append(dst, '[')
	dst = append2(dst, day)
	dst = append(dst, '/')
	dst = append(dst, month.String()[:3]...)
	dst = append(dst, '/')
	if 0 <= year && year <= 9999 {
		dst = append2(dst, year/100)
		dst = append2(dst, year%100)
	} else {
		dst = strconv.AppendInt(dst, int64(year), 10)
	}
	dst = append(dst, ':')
	dst = append2(dst, hour)
	dst = append(dst, ':')
	dst = append2(dst, minute)
	dst = append(dst, ':')
	dst = append2(dst, sec)
	dst = append(dst, ' ')
	if offset < 0 {
		dst = append(dst, '-')
		offset = -offset
	} else {
		dst = append(dst, '+')
	}
	offset /= 60
	dst = append2(dst, offset/60)
	dst = append2(dst, offset%60)
	return append(dst, ']')
}

// append2 appends n, which is in [0, 99], as two digits.
func append2(dst []byte, n int) []byte {
	return append(dst, byte('0'+n/10), byte('0'+n%10))
}

// appendDecimalSeconds appends d as gunicorn's "%d.%06d" of seconds and
// microseconds: 0.001234.
func appendDecimalSeconds(dst []byte, d time.Duration) []byte {
	us := int64(d / time.Microsecond)
	dst = strconv.AppendInt(dst, us/1e6, 10)
	dst = append(dst, '.')
	frac := us % 1e6
	for div := int64(1e5); div > 0; div /= 10 {
		dst = append(dst, byte('0'+frac/div%10))
	}
	return dst
}

// appendOrDash appends s escaped, or "-" if s is empty.
func appendOrDash(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, '-')
	}
	return appendEscaped(dst, s)
}

// maxAuthorization bounds the Basic credentials decoded without allocating.
const maxAuthorization = 1024

// appendUser appends the user name from a Basic Authorization header value,
// or "-". Like gunicorn it accepts the scheme in any case and gives up on
// credentials that are not base64 of UTF-8 "user:password".
func appendUser(dst []byte, auth string) []byte {
	scheme, cred, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "basic") {
		return append(dst, '-')
	}
	cred = strings.TrimSpace(cred)
	var (
		src     [maxAuthorization]byte
		decoded [maxAuthorization]byte
		plain   []byte
	)
	if len(cred) <= len(src) {
		n := copy(src[:], cred)
		m, err := base64.StdEncoding.Decode(decoded[:], src[:n])
		if err != nil {
			return append(dst, '-')
		}
		plain = decoded[:m]
	} else {
		var err error
		if plain, err = base64.StdEncoding.DecodeString(cred); err != nil {
			return append(dst, '-')
		}
	}
	if !utf8.Valid(plain) {
		return append(dst, '-')
	}
	i := bytes.IndexByte(plain, ':')
	if i <= 0 {
		return append(dst, '-')
	}
	return appendEscapedBytes(dst, plain[:i])
}

// needsEscape reports whether c must be escaped in a log line: a double quote
// would end a quoted field early, and so would a backslash left as it is,
// turning the escape of the quote after it into an escaped backslash (the
// value a\" "b was written a\\" \"b, a field that ends after a\\), and a
// control character could end the line.
func needsEscape(c byte) bool {
	return c == '"' || c == '\\' || c < 0x20 || c == 0x7f
}

// appendEscaped appends s escaped as Apache's ap_escape_logitem does, so
// that a log reader can undo it: '"' as \", '\' as \\, and control
// characters as \xHH (Apache names some: \n, \t). Bytes from 0x80 are
// kept, so UTF-8 stays readable (Apache writes them as \xHH too). A quoted
// field then ends only at an unescaped quote.
func appendEscaped(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !needsEscape(c) {
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = appendEscape(dst, c)
		start = i + 1
	}
	return append(dst, s[start:]...)
}

// appendEscapedBytes is appendEscaped for a byte slice.
func appendEscapedBytes(dst, s []byte) []byte {
	start := 0
	for i, c := range s {
		if !needsEscape(c) {
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = appendEscape(dst, c)
		start = i + 1
	}
	return append(dst, s[start:]...)
}

const hexDigits = "0123456789abcdef"

func appendEscape(dst []byte, c byte) []byte {
	if c == '"' || c == '\\' {
		return append(dst, '\\', c)
	}
	return append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
}
