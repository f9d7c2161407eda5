package logging

import (
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// pyFormat is a Python logging format string (logging.Formatter's fmt,
// %-style) with its datefmt, for pogo's own lines to look like the app's
// when its logging config formats gunicorn.error.
type pyFormat struct {
	parts   []pyPart
	dateFmt string // a Go layout
}

// pyPart is literal text, or an atom (a LogRecord attribute) with its
// conversion as a Go verb.
type pyPart struct {
	text string
	atom string
	verb string
}

var pyAtom = regexp.MustCompile(`%\((\w+)\)([-#0 +]*\d*(?:\.\d+)?)([sdfrixXeEgG])|%%`)

// pyAtoms are the LogRecord attributes pogo's records have.
var pyAtoms = map[string]bool{
	"asctime": true, "created": true, "levelname": true, "levelno": true, "message": true,
	"msecs": true, "name": true, "process": true, "processName": true, "relativeCreated": true,
	"thread": true, "threadName": true, "module": true, "filename": true, "funcName": true, "lineno": true,
	"pathname": true,
}

func parsePyFormat(format, dateFmt string) (*pyFormat, error) {
	f := &pyFormat{dateFmt: pyDateLayout(dateFmt)}
	last := 0
	for _, m := range pyAtom.FindAllStringSubmatchIndex(format, -1) {
		if m[0] > last {
			f.parts = append(f.parts, pyPart{text: format[last:m[0]]})
		}
		last = m[1]
		if format[m[0]:m[1]] == "%%" {
			f.parts = append(f.parts, pyPart{text: "%"})
			continue
		}
		atom, flags, conv := format[m[2]:m[3]], format[m[4]:m[5]], format[m[6]:m[7]]
		if !pyAtoms[atom] {
			return nil, fmt.Errorf("logging: %%(%s)s is not an attribute pogo's records have", atom)
		}
		switch conv {
		case "r":
			conv = "q"
		case "i":
			conv = "d"
		}
		f.parts = append(f.parts, pyPart{atom: atom, verb: "%" + flags + conv})
	}
	if last < len(format) {
		f.parts = append(f.parts, pyPart{text: format[last:]})
	}
	return f, nil
}

// pyDate maps strftime directives to Go layout elements.
var pyDate = map[byte]string{
	'Y': "2006", 'y': "06", 'm': "01", 'd': "02", 'H': "15", 'I': "03", 'M': "04", 'S': "05",
	'p': "PM", 'z': "-0700", 'Z': "MST", 'b': "Jan", 'B': "January", 'a': "Mon", 'A': "Monday",
	'j': "002", '%': "%",
}

// pyDateLayout converts a strftime datefmt to a Go layout; "" is
// Python's default for asctime, "%Y-%m-%d %H:%M:%S,mmm".
func pyDateLayout(s string) string {
	if s == "" {
		return "2006-01-02 15:04:05,000"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+1 < len(s) {
			if l, ok := pyDate[s[i+1]]; ok {
				b.WriteString(l)
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// appendRecord formats a record as the Python format would.
func (f *pyFormat) appendRecord(buf []byte, t time.Time, level slog.Level, msg, pid string) []byte {
	for _, p := range f.parts {
		if p.atom == "" {
			buf = append(buf, p.text...)
			continue
		}
		var v any
		switch p.atom {
		case "asctime":
			v = t.Format(f.dateFmt)
		case "created":
			v = float64(t.UnixNano()) / 1e9
		case "msecs":
			v = float64(t.Nanosecond() / 1e6)
		case "levelname":
			v = levelName(level)
		case "levelno":
			v = pyLevelNo(level)
		case "message":
			v = msg
		case "name":
			v = "gunicorn.error"
		case "process":
			n, _ := strconv.Atoi(pid)
			v = n
		case "processName":
			v = "MainProcess"
		case "threadName":
			v = "MainThread"
		case "thread", "lineno", "relativeCreated":
			v = 0
		default: // module, filename, funcName, pathname
			v = "pogo"
		}
		buf = fmt.Appendf(buf, p.verb, v)
	}
	return buf
}

func pyLevelNo(l slog.Level) int {
	switch {
	case l >= LevelCritical:
		return 50
	case l >= slog.LevelError:
		return 40
	case l >= slog.LevelWarn:
		return 30
	case l >= slog.LevelInfo:
		return 20
	}
	return 10
}
