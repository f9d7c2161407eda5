package logging

import (
	"context"
	"encoding"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"
)

// timeLayout is gunicorn's error log datefmt, %Y-%m-%d %H:%M:%S %z.
const timeLayout = "2006-01-02 15:04:05 -0700"

// TracebackKey is the attribute key whose string value is written after the
// line, verbatim, instead of on it.
const TracebackKey = "traceback"

// A Handler is a slog.Handler writing gunicorn-style error log lines. It is
// safe for concurrent use.
type Handler struct {
	out   *output      // shared with the Handlers derived from this one
	level slog.Leveler // immutable
	pid   string       // immutable

	// Set by WithAttrs and WithGroup and immutable. The slices are clipped,
	// so appending to them copies: derived Handlers, used concurrently,
	// share their backing arrays.
	attrs      []byte   // attributes from WithAttrs, formatted, each with a leading space
	tracebacks []string // traceback attributes from WithAttrs
	prefix     string   // open groups, "a.b.", prepended to later keys
}

// output is the destination shared by a Handler and the ones derived from it.
type output struct {
	mu     sync.Mutex
	w      io.Writer                // guarded by mu
	format atomic.Pointer[pyFormat] // nil: gunicorn's line
}

// SetFormat makes the Handler, and those derived from it, format lines
// with a Python logging format (logging.Formatter's fmt and datefmt)
// instead of gunicorn's: what the app's logging config gives gunicorn's
// error logger. The record's attributes follow the message.
func (h *Handler) SetFormat(format, dateFmt string) error {
	f, err := parsePyFormat(format, dateFmt)
	if err != nil {
		return err
	}
	h.out.format.Store(f)
	return nil
}

// NewHandler returns a Handler writing to w the records at or above level.
// If level is nil, slog.LevelInfo is used.
func NewHandler(w io.Writer, level slog.Leveler) *Handler {
	if level == nil {
		level = slog.LevelInfo
	}
	return &Handler{
		out:   &output{w: w},
		level: level,
		pid:   strconv.Itoa(os.Getpid()),
	}
}

// Enabled reports whether l is at or above the Handler's level.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

// WithAttrs returns a Handler that also writes attrs, inside the groups
// opened so far.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	h2 := *h
	for _, a := range attrs {
		h2.attrs, h2.tracebacks = appendAttr(h2.attrs, h2.tracebacks, h.prefix, a)
	}
	h2.attrs = slices.Clip(h2.attrs)
	h2.tracebacks = slices.Clip(h2.tracebacks)
	return &h2
}

// WithGroup returns a Handler that qualifies later attribute keys with name.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.prefix = h.prefix + name + "."
	return &h2
}

// Handle formats r and writes it with a single Write.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	bp := bufs.Get().(*[]byte)
	defer putBuf(bp)
	buf := (*bp)[:0]

	tracebacks := h.tracebacks
	if f := h.out.format.Load(); f != nil {
		msg := append([]byte(r.Message), h.attrs...)
		r.Attrs(func(a slog.Attr) bool {
			msg, tracebacks = appendAttr(msg, tracebacks, h.prefix, a)
			return true
		})
		buf = f.appendRecord(buf, r.Time, r.Level, string(msg), h.pid)
	} else {
		if !r.Time.IsZero() {
			buf = r.Time.AppendFormat(buf, "["+timeLayout+"] ")
		}
		buf = append(buf, '[')
		buf = append(buf, h.pid...)
		buf = append(buf, "] ["...)
		buf = append(buf, levelName(r.Level)...)
		buf = append(buf, "] "...)
		buf = append(buf, r.Message...)
		buf = append(buf, h.attrs...)
		r.Attrs(func(a slog.Attr) bool {
			buf, tracebacks = appendAttr(buf, tracebacks, h.prefix, a)
			return true
		})
	}
	buf = append(buf, '\n')
	for _, tb := range tracebacks {
		buf = append(buf, tb...)
		if !strings.HasSuffix(tb, "\n") {
			buf = append(buf, '\n')
		}
	}
	*bp = buf

	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	_, err := h.out.w.Write(buf)
	return err
}

// appendAttr appends a as " key=value" to buf, or, if it is a top-level
// string traceback, to tracebacks. It appends to tracebacks only when it has
// to, so a caller's clipped slice is copied rather than written into.
func appendAttr(buf []byte, tracebacks []string, prefix string, a slog.Attr) ([]byte, []string) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return buf, tracebacks
	}
	if a.Value.Kind() == slog.KindGroup {
		group := a.Value.Group()
		if a.Key != "" {
			prefix += a.Key + "."
		}
		for _, ga := range group {
			buf, tracebacks = appendAttr(buf, tracebacks, prefix, ga)
		}
		return buf, tracebacks
	}
	if prefix == "" && a.Key == TracebackKey && a.Value.Kind() == slog.KindString {
		if tb := a.Value.String(); tb != "" {
			tracebacks = append(tracebacks, tb)
		}
		return buf, tracebacks
	}
	buf = append(buf, ' ')
	buf = appendKey(buf, prefix, a.Key)
	buf = append(buf, '=')
	return appendValue(buf, a.Value), tracebacks
}

// appendKey appends prefix+key, quoted if it needs to be.
func appendKey(buf []byte, prefix, key string) []byte {
	start := len(buf)
	buf = append(buf, prefix...)
	buf = append(buf, key...)
	if needsQuoting(string(buf[start:])) {
		buf = strconv.AppendQuote(buf[:start], prefix+key)
	}
	return buf
}

// appendValue appends v as slog.TextHandler would.
func appendValue(buf []byte, v slog.Value) []byte {
	switch v.Kind() {
	case slog.KindString:
		return appendString(buf, v.String())
	case slog.KindInt64:
		return strconv.AppendInt(buf, v.Int64(), 10)
	case slog.KindUint64:
		return strconv.AppendUint(buf, v.Uint64(), 10)
	case slog.KindFloat64:
		return strconv.AppendFloat(buf, v.Float64(), 'g', -1, 64)
	case slog.KindBool:
		return strconv.AppendBool(buf, v.Bool())
	case slog.KindDuration:
		return appendString(buf, v.Duration().String())
	case slog.KindTime:
		return v.Time().AppendFormat(buf, "2006-01-02T15:04:05.000Z07:00")
	}
	switch x := v.Any().(type) {
	case error:
		return appendString(buf, x.Error())
	case encoding.TextMarshaler:
		text, err := x.MarshalText()
		if err != nil {
			return appendString(buf, "!ERROR:"+err.Error())
		}
		return appendString(buf, string(text))
	case []byte:
		return strconv.AppendQuote(buf, string(x))
	default:
		return appendString(buf, fmt.Sprintf("%+v", x))
	}
}

// appendString appends s, quoted if it needs to be.
func appendString(buf []byte, s string) []byte {
	if needsQuoting(s) {
		return strconv.AppendQuote(buf, s)
	}
	return append(buf, s...)
}

// needsQuoting reports whether s must be quoted to be read back as one
// value: as in slog.TextHandler, if it is empty or has a space, '=', '"',
// or a character that is not printable or not valid UTF-8.
func needsQuoting(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c <= ' ' || c == '=' || c == '"' || c == 0x7f {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// bufs holds record buffers between Handle calls.
var bufs = sync.Pool{New: func() any {
	b := make([]byte, 0, 512)
	return &b
}}

// putBuf returns a buffer to bufs unless one huge record made it too big to
// keep.
func putBuf(b *[]byte) {
	if cap(*b) <= 64<<10 {
		bufs.Put(b)
	}
}

// Compile-time check that Handler is a slog.Handler.
var _ slog.Handler = (*Handler)(nil)
