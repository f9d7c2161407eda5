package accesslog

import (
	"fmt"
	"net/textproto"
	"os"
	"strconv"
	"strings"
)

// DefaultFormat is gunicorn's default access_log_format, which is Apache's
// combined log format.
const DefaultFormat = `%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"`

// CommonFormat is Apache's common log format in gunicorn's atoms.
const CommonFormat = `%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s`

// namedFormats are the names Compile accepts in place of a format string.
var namedFormats = map[string]string{
	"combined": DefaultFormat,
	"common":   CommonFormat,
}

// A Format is a compiled access log format. It is immutable and safe for
// concurrent use.
type Format struct {
	ops  []op   // in output order; nil for JSON
	json bool   // one JSON object per line instead of ops
	pid  []byte // "<1234>", rendered once for the p atom
}

// opKind says what an op appends.
type opKind uint8

const (
	opLiteral        opKind = iota // text, verbatim
	opRemoteAddr                   // h
	opDash                         // l
	opUser                         // u
	opTime                         // t
	opRequestLine                  // r
	opMethod                       // m
	opPath                         // U
	opQuery                        // q
	opProto                        // H
	opStatus                       // s
	opBytes                        // B
	opBytesCLF                     // b
	opReferer                      // f
	opUserAgent                    // a
	opSeconds                      // T
	opMillis                       // M
	opMicros                       // D
	opDecimalSeconds               // L
	opPID                          // p
	opRequestHeader                // {name}i
	opResponseHeader               // {name}o
	opEnv                          // {name}e
)

// simpleAtoms maps the one-letter atoms to their ops.
var simpleAtoms = map[string]opKind{
	"h": opRemoteAddr,
	"l": opDash,
	"u": opUser,
	"t": opTime,
	"r": opRequestLine,
	"m": opMethod,
	"U": opPath,
	"q": opQuery,
	"H": opProto,
	"s": opStatus,
	"B": opBytes,
	"b": opBytesCLF,
	"f": opReferer,
	"a": opUserAgent,
	"T": opSeconds,
	"M": opMillis,
	"D": opMicros,
	"L": opDecimalSeconds,
	"p": opPID,
}

// numeric reports whether the op's value is always an integer, which is what
// Python's %d conversion accepts.
func (k opKind) numeric() bool {
	switch k {
	case opStatus, opBytes, opSeconds, opMillis, opMicros:
		return true
	}
	return false
}

// An op is one step of a compiled format.
type op struct {
	kind opKind
	text string // opLiteral: the text; header ops: canonical name; opEnv: name as written
	alt  string // opEnv: upper-case name to try when text is unset, or ""
	spec spec
}

// spec is the part of a Python conversion specifier after the mapping key:
// %(key)[flags][width][.precision]conversion.
type spec struct {
	conv   byte // 's' or 'd' ('i' is stored as 'd')
	left   bool // '-': pad on the right
	zero   bool // '0': pad numbers with zeros
	plus   bool // '+': sign positive numbers
	space  bool // ' ': blank before positive numbers
	width  int  // minimum width in characters; 0 for none
	prec   int  // maximum characters for s; -1 for none
	simple bool // plain %s or %d: append the value as is
}

// Compile parses a gunicorn access_log_format string, or one of the names
// "combined", "common" and "json". An empty format means DefaultFormat.
// Errors name the offending atom.
func Compile(format string) (*Format, error) {
	f := &Format{pid: fmt.Appendf(nil, "<%d>", os.Getpid())}
	switch format {
	case "":
		format = DefaultFormat
	case "json":
		f.json = true
		return f, nil
	}
	if named, ok := namedFormats[format]; ok {
		format = named
	}
	ops, err := parse(format)
	if err != nil {
		return nil, err
	}
	f.ops = ops
	return f, nil
}

// parse turns a Python %-format with mapping keys into ops.
func parse(format string) ([]op, error) {
	var ops []op
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			ops = append(ops, op{kind: opLiteral, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(format); {
		pct := strings.IndexByte(format[i:], '%')
		if pct < 0 {
			lit.WriteString(format[i:])
			break
		}
		lit.WriteString(format[i : i+pct])
		i += pct + 1 // past '%'
		if i == len(format) {
			return nil, fmt.Errorf("accesslog: incomplete format: %q ends in %%", format)
		}
		switch format[i] {
		case '%':
			lit.WriteByte('%')
			i++
			continue
		case '(':
		default:
			return nil, fmt.Errorf("accesslog: %q at offset %d has no atom name; write %%(name)s", format[i-1:min(i+1, len(format))], i-1)
		}
		o, n, err := parseAtom(format[i-1:])
		if err != nil {
			return nil, err
		}
		flush()
		ops = append(ops, o)
		i += n - 1
	}
	flush()
	return ops, nil
}

// parseAtom parses one "%(key)spec" at the start of s and returns its op and
// length.
func parseAtom(s string) (op, int, error) {
	// As in Python, the key ends at the ')' that balances the '('.
	depth, i := 1, 2
	for ; i < len(s) && depth > 0; i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
		}
	}
	if depth > 0 {
		return op{}, 0, fmt.Errorf("accesslog: atom %q: missing ')'", s)
	}
	key := s[2 : i-1]
	o, err := atomOp(key)
	if err != nil {
		return op{}, 0, err
	}

	sp := spec{prec: -1}
	for ; i < len(s) && strings.IndexByte("-0+ #", s[i]) >= 0; i++ {
		switch s[i] {
		case '-':
			sp.left = true
		case '0':
			sp.zero = true
		case '+':
			sp.plus = true
		case ' ':
			sp.space = true
		}
	}
	j := i
	for ; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
	}
	if i > j {
		w, err := strconv.Atoi(s[j:i])
		if err != nil {
			return op{}, 0, fmt.Errorf("accesslog: atom %q: bad width: %w", key, err)
		}
		sp.width = w
	}
	if i < len(s) && s[i] == '.' {
		i++
		j = i
		for ; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
		}
		p, err := strconv.Atoi("0" + s[j:i])
		if err != nil {
			return op{}, 0, fmt.Errorf("accesslog: atom %q: bad precision: %w", key, err)
		}
		sp.prec = p
	}
	// Python accepts and ignores C's length modifiers.
	for ; i < len(s) && strings.IndexByte("hlL", s[i]) >= 0; i++ {
	}
	if i == len(s) {
		return op{}, 0, fmt.Errorf("accesslog: atom %q: incomplete format, want a conversion such as s", key)
	}
	switch c := s[i]; c {
	case 's':
		sp.conv = 's'
	case 'd', 'i':
		if !o.kind.numeric() {
			return op{}, 0, fmt.Errorf("accesslog: atom %q: %%%c needs a number; use %%(%s)s", key, c, key)
		}
		sp.conv = 'd'
	default:
		return op{}, 0, fmt.Errorf("accesslog: atom %q: unsupported conversion %q; use s", key, c)
	}
	i++
	sp.simple = !sp.left && !sp.plus && !sp.space && sp.width == 0 && sp.prec < 0
	o.spec = sp
	return o, i, nil
}

// atomOp returns the op for a mapping key such as "h" or "{user-agent}i".
func atomOp(key string) (op, error) {
	if kind, ok := simpleAtoms[key]; ok {
		return op{kind: kind}, nil
	}
	if len(key) < 3 || key[0] != '{' || key[len(key)-2] != '}' {
		return op{}, fmt.Errorf("accesslog: unknown atom %q", key)
	}
	name := key[1 : len(key)-2]
	if name == "" {
		return op{}, fmt.Errorf("accesslog: atom %q: empty name", key)
	}
	switch key[len(key)-1] {
	case 'i':
		return op{kind: opRequestHeader, text: textproto.CanonicalMIMEHeaderKey(name)}, nil
	case 'o':
		return op{kind: opResponseHeader, text: textproto.CanonicalMIMEHeaderKey(name)}, nil
	case 'e':
		o := op{kind: opEnv, text: name}
		if up := strings.ToUpper(name); up != name {
			o.alt = up
		}
		return o, nil
	}
	return op{}, fmt.Errorf("accesslog: unknown atom %q; want {name}i, {name}o or {name}e", key)
}
