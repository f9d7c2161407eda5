package accesslog

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// appendJSON appends e as the one-line JSON object of the "json" format.
// Absent values are empty strings, so every line has every key.
func appendJSON(dst []byte, e *Entry) []byte {
	dst = append(dst, `{"remote_addr":`...)
	dst = appendJSONString(dst, e.RemoteAddr)
	dst = append(dst, `,"time":"`...)
	dst = e.Start.AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	dst = append(dst, `","method":`...)
	dst = appendJSONString(dst, e.Method)
	dst = append(dst, `,"uri":`...)
	dst = appendJSONString(dst, e.URI)
	dst = append(dst, `,"proto":`...)
	dst = appendJSONString(dst, e.Proto)
	dst = append(dst, `,"status":`...)
	dst = strconv.AppendInt(dst, int64(e.Status), 10)
	dst = append(dst, `,"bytes":`...)
	dst = strconv.AppendInt(dst, e.BodyBytes, 10)
	dst = append(dst, `,"duration_us":`...)
	dst = strconv.AppendInt(dst, int64(duration(e)/time.Microsecond), 10)
	dst = append(dst, `,"referer":`...)
	dst = appendJSONString(dst, header(e.RequestHeaders, "Referer"))
	dst = append(dst, `,"user_agent":`...)
	dst = appendJSONString(dst, header(e.RequestHeaders, "User-Agent"))
	return append(dst, '}')
}

// appendJSONString appends s as a JSON string, escaping as encoding/json
// does except for <, > and &: invalid UTF-8 becomes U+FFFD, and U+2028 and
// U+2029 are escaped so the line is also valid JavaScript.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
