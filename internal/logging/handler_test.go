package logging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/slogtest"
	"time"
)

var (
	testTime = time.Date(2026, time.November, 22, 1, 23, 45, 678e6, time.UTC)
	pid      = strconv.Itoa(os.Getpid())
)

// head is the start of a line for testTime and level.
func head(level string) string {
	return "[2026-11-22 01:23:45 +0000] [" + pid + "] [" + level + "] "
}

// secret is a slog.LogValuer standing in for a value that redacts itself.
type secret string

func (secret) LogValue() slog.Value { return slog.StringValue("REDACTED") }

type point struct{ X, Y int }

func TestHandle(t *testing.T) {
	const traceback = "Traceback (most recent call last):\n" +
		"  File \"app.py\", line 3, in application\n" +
		"    raise ValueError(\"boom\")\n" +
		"ValueError: boom"

	tests := []struct {
		name   string
		derive func(slog.Handler) slog.Handler // nil: the Handler as made
		time   time.Time                       // if zero, testTime unless noTime
		noTime bool
		level  slog.Level
		msg    string
		attrs  []slog.Attr
		want   string
	}{
		{name: "info", msg: "Booting worker", want: head("INFO") + "Booting worker\n"},
		{name: "debug", level: slog.LevelDebug, msg: "m", want: head("DEBUG") + "m\n"},
		{name: "warning", level: slog.LevelWarn, msg: "m", want: head("WARNING") + "m\n"},
		{name: "error", level: slog.LevelError, msg: "m", want: head("ERROR") + "m\n"},
		{name: "critical", level: LevelCritical, msg: "m", want: head("CRITICAL") + "m\n"},
		{name: "below debug", level: slog.LevelDebug - 4, msg: "m", want: head("DEBUG") + "m\n"},
		{name: "between info and warn", level: slog.LevelInfo + 2, msg: "m", want: head("INFO") + "m\n"},
		{name: "between error and critical", level: slog.LevelError + 1, msg: "m", want: head("ERROR") + "m\n"},
		{name: "above critical", level: LevelCritical + 4, msg: "m", want: head("CRITICAL") + "m\n"},
		{
			name: "time zone",
			time: time.Date(2026, time.March, 4, 5, 6, 7, 0, time.FixedZone("IST", 5*3600+30*60)),
			msg:  "m",
			want: "[2026-03-04 05:06:07 +0530] [" + pid + "] [INFO] m\n",
		},
		{name: "zero time", noTime: true, msg: "m", want: "[" + pid + "] [INFO] m\n"},
		{name: "empty message", msg: "", want: head("INFO") + "\n"},
		{name: "multi-line message verbatim", msg: "one\ntwo", want: head("INFO") + "one\ntwo\n"},

		{name: "string", msg: "m", attrs: []slog.Attr{slog.String("k", "v")}, want: head("INFO") + "m k=v\n"},
		{
			name:  "quoted string",
			msg:   "m",
			attrs: []slog.Attr{slog.String("key", "value"), slog.String("key2", "quoted value")},
			want:  head("INFO") + `m key=value key2="quoted value"` + "\n",
		},
		{name: "empty string", msg: "m", attrs: []slog.Attr{slog.String("k", "")}, want: head("INFO") + `m k=""` + "\n"},
		{name: "string with quote", msg: "m", attrs: []slog.Attr{slog.String("k", `a"b`)}, want: head("INFO") + `m k="a\"b"` + "\n"},
		{name: "string with equals", msg: "m", attrs: []slog.Attr{slog.String("k", "a=b")}, want: head("INFO") + `m k="a=b"` + "\n"},
		{name: "string with newline", msg: "m", attrs: []slog.Attr{slog.String("k", "a\nb")}, want: head("INFO") + `m k="a\nb"` + "\n"},
		{name: "invalid utf-8", msg: "m", attrs: []slog.Attr{slog.String("k", "a\xffb")}, want: head("INFO") + `m k="a\xffb"` + "\n"},
		{name: "unicode", msg: "m", attrs: []slog.Attr{slog.String("k", "café")}, want: head("INFO") + "m k=café\n"},
		{name: "key with space", msg: "m", attrs: []slog.Attr{slog.String("a key", "v")}, want: head("INFO") + `m "a key"=v` + "\n"},
		{
			name: "numbers",
			msg:  "m",
			attrs: []slog.Attr{
				slog.Int("i", -3), slog.Uint64("u", 7), slog.Float64("f", 1.5), slog.Bool("b", true),
			},
			want: head("INFO") + "m i=-3 u=7 f=1.5 b=true\n",
		},
		{
			name:  "duration and time",
			msg:   "m",
			attrs: []slog.Attr{slog.Duration("d", 1500*time.Millisecond), slog.Time("t", testTime)},
			want:  head("INFO") + "m d=1.5s t=2026-11-22T01:23:45.678Z\n",
		},
		{
			name: "any",
			msg:  "m",
			attrs: []slog.Attr{
				slog.Any("err", errors.New("connection reset by peer")),
				slog.Any("addr", netip.MustParseAddr("192.0.2.1")),
				slog.Any("p", point{1, 2}),
				slog.Any("nil", nil),
				slog.Any("bytes", []byte("hi")),
			},
			want: head("INFO") + `m err="connection reset by peer" addr=192.0.2.1 p="{X:1 Y:2}" nil=<nil> bytes="hi"` + "\n",
		},
		{name: "log valuer", msg: "m", attrs: []slog.Attr{slog.Any("password", secret("hunter2"))}, want: head("INFO") + "m password=REDACTED\n"},
		{
			name:  "group",
			msg:   "m",
			attrs: []slog.Attr{slog.Group("req", slog.String("method", "GET"), slog.Group("h", slog.Int("n", 2)))},
			want:  head("INFO") + "m req.method=GET req.h.n=2\n",
		},
		{name: "empty group", msg: "m", attrs: []slog.Attr{slog.Group("g")}, want: head("INFO") + "m\n"},
		{name: "inline group", msg: "m", attrs: []slog.Attr{slog.Group("", slog.Int("a", 1))}, want: head("INFO") + "m a=1\n"},
		{name: "empty attr", msg: "m", attrs: []slog.Attr{{}}, want: head("INFO") + "m\n"},

		{
			name: "with attrs",
			derive: func(h slog.Handler) slog.Handler {
				return h.WithAttrs([]slog.Attr{slog.Int("worker", 3)})
			},
			msg:   "m",
			attrs: []slog.Attr{slog.String("k", "v")},
			want:  head("INFO") + "m worker=3 k=v\n",
		},
		{
			name:   "with group",
			derive: func(h slog.Handler) slog.Handler { return h.WithGroup("g") },
			msg:    "m",
			attrs:  []slog.Attr{slog.String("k", "v")},
			want:   head("INFO") + "m g.k=v\n",
		},
		{
			name:   "with group and no attrs",
			derive: func(h slog.Handler) slog.Handler { return h.WithGroup("g") },
			msg:    "m",
			want:   head("INFO") + "m\n",
		},
		{
			name:   "with empty group name",
			derive: func(h slog.Handler) slog.Handler { return h.WithGroup("") },
			msg:    "m",
			attrs:  []slog.Attr{slog.String("k", "v")},
			want:   head("INFO") + "m k=v\n",
		},
		{
			name: "with attrs then group",
			derive: func(h slog.Handler) slog.Handler {
				return h.WithAttrs([]slog.Attr{slog.Int("a", 1)}).WithGroup("g").WithAttrs([]slog.Attr{slog.Int("b", 2)}).WithGroup("h")
			},
			msg:   "m",
			attrs: []slog.Attr{slog.Int("c", 3)},
			want:  head("INFO") + "m a=1 g.b=2 g.h.c=3\n",
		},

		{
			name:  "traceback",
			level: slog.LevelError,
			msg:   "Error handling request /boom",
			attrs: []slog.Attr{slog.String("path", "/boom"), slog.String("traceback", traceback)},
			want:  head("ERROR") + "Error handling request /boom path=/boom\n" + traceback + "\n",
		},
		{
			name:  "traceback ending in newline",
			level: slog.LevelError,
			msg:   "m",
			attrs: []slog.Attr{slog.String("traceback", traceback+"\n")},
			want:  head("ERROR") + "m\n" + traceback + "\n",
		},
		{
			name:  "traceback keeps blank lines and indentation",
			level: slog.LevelError,
			msg:   "m",
			attrs: []slog.Attr{slog.String("traceback", "A\n\n    B\t\"c\"\n")},
			want:  head("ERROR") + "m\nA\n\n    B\t\"c\"\n",
		},
		{name: "empty traceback", msg: "m", attrs: []slog.Attr{slog.String("traceback", "")}, want: head("INFO") + "m\n"},
		{name: "traceback not a string", msg: "m", attrs: []slog.Attr{slog.Int("traceback", 3)}, want: head("INFO") + "m traceback=3\n"},
		{
			name:  "traceback in a group stays on the line",
			msg:   "m",
			attrs: []slog.Attr{slog.Group("py", slog.String("traceback", "a\nb"))},
			want:  head("INFO") + `m py.traceback="a\nb"` + "\n",
		},
		{
			name:   "traceback after WithGroup stays on the line",
			derive: func(h slog.Handler) slog.Handler { return h.WithGroup("py") },
			msg:    "m",
			attrs:  []slog.Attr{slog.String("traceback", "a\nb")},
			want:   head("INFO") + `m py.traceback="a\nb"` + "\n",
		},
		{
			name: "traceback from WithAttrs",
			derive: func(h slog.Handler) slog.Handler {
				return h.WithAttrs([]slog.Attr{slog.String("traceback", "first")})
			},
			msg:   "m",
			attrs: []slog.Attr{slog.String("traceback", "second\n")},
			want:  head("INFO") + "m\nfirst\nsecond\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			var h slog.Handler = NewHandler(&out, slog.LevelDebug-8)
			if tt.derive != nil {
				h = tt.derive(h)
			}
			when := tt.time
			if when.IsZero() && !tt.noTime {
				when = testTime
			}
			r := slog.NewRecord(when, tt.level, tt.msg, 0)
			r.AddAttrs(tt.attrs...)
			if err := h.Handle(context.Background(), r); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if got := out.String(); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestDerivedHandlersDoNotShareAttrs(t *testing.T) {
	var out bytes.Buffer
	base := NewHandler(&out, nil).WithAttrs([]slog.Attr{slog.Int("a", 1), slog.String("traceback", "tb")})
	h1 := base.WithAttrs([]slog.Attr{slog.Int("b", 2)})
	h2 := base.WithAttrs([]slog.Attr{slog.Int("c", 3)})
	for _, h := range []slog.Handler{h1, h2, base} {
		r := slog.NewRecord(testTime, slog.LevelInfo, "m", 0)
		r.AddAttrs(slog.String("traceback", "rec"))
		if err := h.Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	want := head("INFO") + "m a=1 b=2\ntb\nrec\n" +
		head("INFO") + "m a=1 c=3\ntb\nrec\n" +
		head("INFO") + "m a=1\ntb\nrec\n"
	if got := out.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestEnabled(t *testing.T) {
	var lv slog.LevelVar
	lv.Set(slog.LevelWarn)
	tests := []struct {
		level slog.Leveler
		at    slog.Level
		want  bool
	}{
		{nil, slog.LevelDebug, false},
		{nil, slog.LevelInfo, true},
		{slog.LevelWarn, slog.LevelInfo, false},
		{slog.LevelWarn, slog.LevelWarn, true},
		{slog.LevelWarn, slog.LevelError, true},
		{LevelCritical, slog.LevelError, false},
		{LevelCritical, LevelCritical, true},
		{&lv, slog.LevelInfo, false},
		{&lv, slog.LevelWarn, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v/%v", tt.level, tt.at), func(t *testing.T) {
			h := NewHandler(&bytes.Buffer{}, tt.level)
			if got := h.Enabled(context.Background(), tt.at); got != tt.want {
				t.Errorf("Enabled(%v) = %v, want %v", tt.at, got, tt.want)
			}
		})
	}

	// A LevelVar is read on every call.
	h := NewHandler(&bytes.Buffer{}, &lv)
	lv.Set(slog.LevelDebug)
	if !h.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("Enabled(DEBUG) = false after lowering the LevelVar to DEBUG")
	}
}

func TestThroughSlogLogger(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(NewHandler(&out, slog.LevelInfo))
	log.Debug("hidden")
	log.Info("Listening at: http://127.0.0.1:8000", "workers", 4)
	log.Log(context.Background(), LevelCritical, "WORKER TIMEOUT", "pid", 42)

	line := regexp.MustCompile(`^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[` + pid + `\] \[(\w+)\] (.*)$`)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := [][2]string{
		{"INFO", "Listening at: http://127.0.0.1:8000 workers=4"},
		{"CRITICAL", "WORKER TIMEOUT pid=42"},
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, l := range lines {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("line %q is not in gunicorn's error log format", l)
			continue
		}
		if m[1] != want[i][0] || m[2] != want[i][1] {
			t.Errorf("line %d = [%s] %s, want [%s] %s", i, m[1], m[2], want[i][0], want[i][1])
		}
	}
}

// writeRecorder keeps each Write call separately.
type writeRecorder struct {
	mu     sync.Mutex
	writes []string
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

func TestOneWritePerRecord(t *testing.T) {
	w := &writeRecorder{}
	base := NewHandler(w, nil)
	const goroutines, each = 8, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			log := slog.New(base.WithAttrs([]slog.Attr{slog.Int("g", g)}))
			for i := range each {
				log.Error("failed", "i", i, "traceback", fmt.Sprintf("Traceback:\n  g%d i%d\n", g, i))
			}
		})
	}
	wg.Wait()

	if len(w.writes) != goroutines*each {
		t.Fatalf("%d writes, want %d", len(w.writes), goroutines*each)
	}
	record := regexp.MustCompile(`^\[[^]]+\] \[\d+\] \[ERROR\] failed g=(\d+) i=(\d+)\nTraceback:\n  g(\d+) i(\d+)\n$`)
	for _, s := range w.writes {
		m := record.FindStringSubmatch(s)
		if m == nil || m[1] != m[3] || m[2] != m[4] {
			t.Fatalf("write is not one whole record: %q", s)
		}
	}
}

type errWriter struct{}

var errClosed = errors.New("file already closed")

func (errWriter) Write([]byte) (int, error) { return 0, errClosed }

func TestHandleReturnsWriteError(t *testing.T) {
	h := NewHandler(errWriter{}, nil)
	if err := h.Handle(context.Background(), slog.NewRecord(testTime, slog.LevelInfo, "m", 0)); !errors.Is(err, errClosed) {
		t.Errorf("Handle = %v, want %v", err, errClosed)
	}
}

// TestSlogtest runs log/slog's conformance tests, reading lines back into
// the nested maps they expect.
func TestSlogtest(t *testing.T) {
	var out bytes.Buffer
	slogtest.Run(t, func(*testing.T) slog.Handler {
		out.Reset()
		return NewHandler(&out, nil)
	}, func(t *testing.T) map[string]any {
		m, err := parseLine(strings.TrimSuffix(out.String(), "\n"))
		if err != nil {
			t.Fatal(err)
		}
		return m
	})
}

// parseLine reads a line without tracebacks back into slogtest's shape:
// time, level and msg keys, and a nested map for each group.
func parseLine(line string) (map[string]any, error) {
	m := map[string]any{}
	var brackets []string
	for strings.HasPrefix(line, "[") && len(brackets) < 3 {
		end := strings.Index(line, "] ")
		if end < 0 {
			return nil, fmt.Errorf("unterminated [ in %q", line)
		}
		brackets = append(brackets, line[1:end])
		line = line[end+2:]
	}
	switch len(brackets) {
	case 3:
		t, err := time.Parse(timeLayout, brackets[0])
		if err != nil {
			return nil, err
		}
		m[slog.TimeKey] = t
		brackets = brackets[1:]
		fallthrough
	case 2:
		if brackets[0] != pid {
			return nil, fmt.Errorf("pid %q, want %s", brackets[0], pid)
		}
		m[slog.LevelKey] = brackets[1]
	default:
		return nil, fmt.Errorf("line %q lacks [pid] [LEVEL]", line)
	}
	msg, rest, _ := strings.Cut(line, " ")
	m[slog.MessageKey] = msg
	for rest != "" {
		key, value, err := nextPair(&rest)
		if err != nil {
			return nil, err
		}
		group := m
		path := strings.Split(key, ".")
		for _, g := range path[:len(path)-1] {
			sub, ok := group[g].(map[string]any)
			if !ok {
				sub = map[string]any{}
				group[g] = sub
			}
			group = sub
		}
		group[path[len(path)-1]] = value
	}
	return m, nil
}

// nextPair consumes one key=value from *s.
func nextPair(s *string) (key, value string, err error) {
	key, rest, ok := strings.Cut(*s, "=")
	if !ok {
		return "", "", fmt.Errorf("no = in %q", *s)
	}
	if strings.HasPrefix(rest, `"`) {
		quoted, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return "", "", err
		}
		value, _ = strconv.Unquote(quoted)
		rest = rest[len(quoted):]
	} else {
		value, rest, _ = strings.Cut(rest, " ")
		rest = " " + rest
	}
	*s = strings.TrimPrefix(rest, " ")
	return key, value, nil
}
