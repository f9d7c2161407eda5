package accesslog

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testEntry returns a fully populated entry; each test case changes what it
// is about.
func testEntry() *Entry {
	return &Entry{
		RemoteAddr: "192.0.2.7",
		Start:      time.Date(2000, time.October, 10, 13, 55, 36, 123456789, time.FixedZone("", -7*3600)),
		Duration:   1234567 * time.Microsecond,
		Method:     "GET",
		URI:        "/a%20b?x=1",
		Path:       "/a b",
		Query:      "x=1",
		Proto:      "HTTP/1.1",
		Status:     200,
		BodyBytes:  1024,
		RequestHeaders: http.Header{
			"Referer":         {"https://example.com/start"},
			"User-Agent":      {"curl/8.5.0"},
			"Authorization":   {"Basic YnJrMHY6"}, // "brk0v:", from gunicorn's tests
			"X-Forwarded-For": {"203.0.113.9"},
		},
		ResponseHeaders: http.Header{
			"Content-Type": {"text/plain; charset=utf-8"},
		},
	}
}

func TestAtoms(t *testing.T) {
	t.Setenv("POGO_TEST_VAR", "from-env")
	pid := strconv.Itoa(os.Getpid())

	tests := []struct {
		name   string
		format string
		edit   func(*Entry) // nil: testEntry as is
		want   string
	}{
		{"h", "%(h)s", nil, "192.0.2.7"},
		{"h unix socket", "%(h)s", func(e *Entry) { e.RemoteAddr = "" }, "-"},
		{"h ipv6", "%(h)s", func(e *Entry) { e.RemoteAddr = "2001:db8::1" }, "2001:db8::1"},
		{"l", "%(l)s", nil, "-"},
		{"u basic", "%(u)s", nil, "brk0v"},
		{"u scheme case-insensitive", "%(u)s", func(e *Entry) { setReq(e, "Authorization", "BASIC YnJrMHY6") }, "brk0v"},
		{"u with password", "%(u)s", func(e *Entry) { setReq(e, "Authorization", "Basic YWxpY2U6czNjcjN0") }, "alice"},
		{"u password with colon", "%(u)s", func(e *Entry) { setReq(e, "Authorization", "Basic YWxpY2U6YTpi") }, "alice"},
		{"u no colon", "%(u)s", func(e *Entry) { setReq(e, "Authorization", "Basic YWxpY2U=") }, "-"},
		{"u not utf-8", "%(u)s", func(e *Entry) { setReq(e, "Authorization", "Basic ixsTtkKzIpVTncfQjbBcnoRNoDfbnaXG") }, "-"},
		{"u bad base64", "%(u)s", func(e *Entry) { setReq(e, "Authorization", "Basic !!!") }, "-"},
		{"u bearer", "%(u)s", func(e *Entry) { setReq(e, "Authorization", "Bearer YnJrMHY6") }, "-"},
		{"u absent", "%(u)s", func(e *Entry) { e.RequestHeaders = nil }, "-"},
		{"u long", "%(u)s", func(e *Entry) {
			setReq(e, "Authorization", "Basic "+b64("bob:"+strings.Repeat("x", 2000)))
		}, "bob"},
		{"u quote", "%(u)s", func(e *Entry) { setReq(e, "Authorization", "Basic "+b64(`a"b:pw`)) }, `a\"b`},
		{"t", "%(t)s", nil, "[10/Oct/2000:13:55:36 -0700]"},
		{"t utc", "%(t)s", func(e *Entry) { e.Start = time.Date(2026, time.January, 2, 3, 4, 5, 0, time.UTC) }, "[02/Jan/2026:03:04:05 +0000]"},
		{"r", "%(r)s", nil, "GET /a%20b?x=1 HTTP/1.1"},
		{"r absolute-form", "%(r)s", func(e *Entry) { e.URI = "http://example.com/x" }, "GET http://example.com/x HTTP/1.1"},
		{"m", "%(m)s", func(e *Entry) { e.Method = "PROPFIND" }, "PROPFIND"},
		{"U", "%(U)s", nil, "/a b"},
		{"q", "%(q)s", nil, "x=1"},
		{"q empty", "%(q)s", func(e *Entry) { e.Query = "" }, ""},
		{"H", "%(H)s", func(e *Entry) { e.Proto = "HTTP/1.0" }, "HTTP/1.0"},
		{"s", "%(s)s", func(e *Entry) { e.Status = 404 }, "404"},
		{"B", "%(B)s", nil, "1024"},
		{"B zero", "%(B)s", func(e *Entry) { e.BodyBytes = 0 }, "0"},
		{"b", "%(b)s", nil, "1024"},
		{"b zero", "%(b)s", func(e *Entry) { e.BodyBytes = 0 }, "0"}, // as gunicorn's test_atoms_zero_bytes
		{"f", "%(f)s", nil, "https://example.com/start"},
		{"f absent", "%(f)s", func(e *Entry) { e.RequestHeaders = http.Header{} }, "-"},
		{"a", "%(a)s", nil, "curl/8.5.0"},
		{"a absent", "%(a)s", func(e *Entry) { e.RequestHeaders = nil }, "-"},
		{"T", "%(T)s", nil, "1"},
		{"T truncates", "%(T)s", func(e *Entry) { e.Duration = 2999 * time.Millisecond }, "2"},
		{"T long request", "%(T)s", func(e *Entry) { e.Duration = 25 * time.Hour }, "90000"},
		{"M", "%(M)s", nil, "1234"},
		{"M sub-millisecond", "%(M)s", func(e *Entry) { e.Duration = 999 * time.Microsecond }, "0"},
		{"D", "%(D)s", nil, "1234567"},
		{"D truncates nanoseconds", "%(D)s", func(e *Entry) { e.Duration = 1999 * time.Nanosecond }, "1"},
		{"D negative", "%(D)s", func(e *Entry) { e.Duration = -time.Second }, "0"},
		{"L", "%(L)s", nil, "1.234567"},
		{"L small", "%(L)s", func(e *Entry) { e.Duration = 1234 * time.Microsecond }, "0.001234"},
		{"L zero", "%(L)s", func(e *Entry) { e.Duration = 0 }, "0.000000"},
		{"L minutes", "%(L)s", func(e *Entry) { e.Duration = 90*time.Second + 5*time.Microsecond }, "90.000005"},
		{"p", "%(p)s", nil, "<" + pid + ">"},
		{"i", "%({X-Forwarded-For}i)s", nil, "203.0.113.9"},
		{"i lower-case", "%({x-forwarded-for}i)s", nil, "203.0.113.9"},
		{"i upper-case", "%({X-FORWARDED-FOR}i)s", nil, "203.0.113.9"},
		{"i absent", "%({X-Request-Id}i)s", nil, "-"},
		{"i nil headers", "%({X-Forwarded-For}i)s", func(e *Entry) { e.RequestHeaders = nil }, "-"},
		{"o", "%({content-type}o)s", nil, "text/plain; charset=utf-8"},
		{"o absent", "%({location}o)s", nil, "-"},
		{"o nil headers", "%({content-type}o)s", func(e *Entry) { e.ResponseHeaders = nil }, "-"},
		{"e", "%({POGO_TEST_VAR}e)s", nil, "from-env"},
		{"e lower-case", "%({pogo_test_var}e)s", nil, "from-env"},
		{"e unset", "%({POGO_TEST_UNSET}e)s", nil, "-"},

		{"quote escaped", `"%(a)s"`, func(e *Entry) { setReq(e, "User-Agent", `say "hi"`) }, `"say \"hi\""`},
		{"backslash escaped", "%(a)s", func(e *Entry) { setReq(e, "User-Agent", `a\b`) }, `a\\b`},
		{"backslash before a quote", `"%(a)s"`, func(e *Entry) { setReq(e, "User-Agent", `a\" "b`) }, `"a\\\" \"b"`},
		{"backslash in the request line", `"%(r)s"`, func(e *Entry) { e.URI = `/\"` }, `"GET /\\\" HTTP/1.1"`},
		{"u backslash", "%(u)s", func(e *Entry) { setReq(e, "Authorization", "Basic "+b64(`a\b:pw`)) }, `a\\b`},
		{"precision keeps an escape whole", `"%(a).3s"`, func(e *Entry) { setReq(e, "User-Agent", `ab"c`) }, `"ab"`},
		{"precision keeps a backslash escape whole", `"%(a).4s"`, func(e *Entry) { setReq(e, "User-Agent", `abc\`) }, `"abc"`},
		{"precision keeps a hex escape whole", "[%(a).4s]", func(e *Entry) { setReq(e, "User-Agent", "a\x01") }, "[a]"},
		{"precision takes a whole escape", "[%(a).5s]", func(e *Entry) { setReq(e, "User-Agent", "a\x01b") }, `[a\x01]`},
		{"newline escaped", "%(U)s", func(e *Entry) { e.Path = "/x\nforged" }, `/x\x0aforged`},
		{"control escaped", "%(U)s", func(e *Entry) { e.Path = "/\x00\x1b\x7f" }, `/\x00\x1b\x7f`},
		{"utf-8 kept", "%(U)s", func(e *Entry) { e.Path = "/café" }, "/café"},

		{"r unparsed", `"%(r)s" %(s)s`, func(e *Entry) { e.Method, e.URI, e.Path, e.Query, e.Proto, e.Status = "", "", "", "", "", 400 }, `"-" 400`},

		{"literal", "status=%(s)s!", nil, "status=200!"},
		{"percent", "100%% %(s)s %%", nil, "100% 200 %"},
		{"no atoms", "plain", nil, "plain"},
		{"adjacent", "%(m)s%(s)s", nil, "GET200"},
		{"width", "[%(s)5s]", nil, "[  200]"},
		{"width left", "[%(m)-5s]", nil, "[GET  ]"},
		{"width runes", "[%(U)6s]", func(e *Entry) { e.Path = "/café" }, "[ /café]"},
		{"width exceeded", "[%(a)2s]", nil, "[curl/8.5.0]"},
		{"precision", "[%(a).4s]", nil, "[curl]"},
		{"precision runes", "[%(U).4s]", func(e *Entry) { e.Path = "/café!" }, "[/caf]"},
		{"precision width", "[%(a)6.4s]", nil, "[  curl]"},
		{"d", "%(D)d", nil, "1234567"},
		{"i conversion", "%(s)i", nil, "200"},
		{"d zero pad", "[%(M)06d]", nil, "[001234]"},
		{"d plus", "[%(s)+d]", nil, "[+200]"},
		{"d plus zero pad", "[%(s)+05d]", nil, "[+0200]"},
		{"d plus width", "[%(s)+5d]", nil, "[ +200]"},
		{"d plus left", "[%(s)-+5d]", nil, "[+200 ]"},
		{"d space", "[%(s) d]", nil, "[ 200]"},
		{"d precision", "[%(s).5d]", nil, "[00200]"},
		{"d precision width", "[%(s)7.5d]", nil, "[  00200]"},
		{"d precision zero flag", "[%(s)08.5d]", nil, "[00000200]"},
		{"d precision left plus", "[%(s)-+8.5d]", nil, "[+00200  ]"},
		{"d precision shorter", "[%(s).1d]", nil, "[200]"},
		{"d space zero pad", "[%(s) 06d]", nil, "[ 00200]"},
		{"d plus beats space", "[%(s)+ d]", nil, "[+200]"},
		{"s zero flag ignored", "[%(m)05s]", nil, "[  GET]"},
		{"s alternate flag ignored", "[%(m)#5s]", nil, "[  GET]"},
		{"length modifier", "%(s)ld", nil, "200"},
		{"nested parens in key", "%({x(y)}i)s", nil, "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Compile(tt.format)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tt.format, err)
			}
			e := testEntry()
			if tt.edit != nil {
				tt.edit(e)
			}
			got := string(f.Append(nil, e))
			if got != tt.want {
				t.Errorf("Compile(%q).Append() = %q, want %q", tt.format, got, tt.want)
			}
		})
	}
}

// setReq replaces one request header.
func setReq(e *Entry, name, value string) {
	e.RequestHeaders.(http.Header).Set(name, value)
}

func b64(s string) string {
	return base64.StdEncoding.EncodeToString([]byte(s))
}

func TestCLFTimeMatchesAppendFormat(t *testing.T) {
	zones := []*time.Location{
		time.UTC,
		time.FixedZone("", -7*3600),
		time.FixedZone("", 5*3600+45*60),
		time.FixedZone("", -(3*3600 + 30*60)),
		time.FixedZone("LMT", -(17*60 + 40)), // an offset with seconds
	}
	times := []time.Time{
		time.Date(2000, time.October, 10, 13, 55, 36, 0, time.UTC),
		time.Date(2026, time.December, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(999, time.January, 1, 0, 0, 0, 0, time.UTC),
		time.Date(12345, time.May, 6, 7, 8, 9, 0, time.UTC),
		{},
	}
	for _, loc := range zones {
		for _, tm := range times {
			tm := tm.In(loc)
			got := string(appendCLFTime(nil, tm))
			want := tm.Format("[02/Jan/2006:15:04:05 -0700]")
			if got != want {
				t.Errorf("appendCLFTime(%v) = %s, want %s", tm, got, want)
			}
		}
	}
}

func TestAppendKeepsDst(t *testing.T) {
	f, err := Compile("%(s)s")
	if err != nil {
		t.Fatal(err)
	}
	got := string(f.Append([]byte("prefix "), testEntry()))
	if want := "prefix 200"; got != want {
		t.Errorf("Append = %q, want %q", got, want)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		format string
		want   string // in the error
	}{
		{"%(x)s", `unknown atom "x"`},
		{"%(h)s %(nope)s", `unknown atom "nope"`},
		{"%(HTTP_HOST)s", `unknown atom "HTTP_HOST"`},
		{"%({X-Foo}z)s", `unknown atom "{X-Foo}z"`},
		{"%({}i)s", `atom "{}i": empty name`},
		{"%(h)", `atom "h": incomplete format`},
		{"%(h)-5", `atom "h": incomplete format`},
		{"%(h", `missing ')'`},
		{"%(h)d", `atom "h": %d needs a number`},
		{"%(b)d", `atom "b": %d needs a number`},
		{"%(L)f", `atom "L": unsupported conversion 'f'`},
		{"%(h)r", `atom "h": unsupported conversion 'r'`},
		{"%(h)*s", `atom "h": unsupported conversion '*'`},
		{"%s", `"%s" at offset 0 has no atom name`},
		{"ab %d", `"%d" at offset 3 has no atom name`},
		{"100%", "incomplete format"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			f, err := Compile(tt.format)
			if err == nil {
				t.Fatalf("Compile(%q) = %v, want error", tt.format, f)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "accesslog: ") {
				t.Errorf("Compile(%q) error = %q, want it to contain %q", tt.format, err, tt.want)
			}
		})
	}
}

func TestNamedFormats(t *testing.T) {
	const (
		clf  = `192.0.2.7 - brk0v [10/Oct/2000:13:55:36 -0700] "GET /a%20b?x=1 HTTP/1.1" 200 1024`
		json = `{"remote_addr":"192.0.2.7","time":"2000-10-10T13:55:36.123-07:00","method":"GET",` +
			`"uri":"/a%20b?x=1","proto":"HTTP/1.1","status":200,"bytes":1024,"duration_us":1234567,` +
			`"referer":"https://example.com/start","user_agent":"curl/8.5.0"}`
	)
	combined := clf + ` "https://example.com/start" "curl/8.5.0"`
	tests := []struct {
		format string
		want   string
	}{
		{"", combined},
		{DefaultFormat, combined},
		{"combined", combined},
		{"common", clf},
		{CommonFormat, clf},
		{"json", json},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			f, err := Compile(tt.format)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(f.Append(nil, testEntry())); got != tt.want {
				t.Errorf("Append =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// combinedLine matches a line in Apache's combined log format, reading a
// quoted field as anything up to an unescaped quote.
var combinedLine = regexp.MustCompile(`^(\S+) (\S+) (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"$`)

func TestDefaultFormatParsesBack(t *testing.T) {
	f, err := Compile(DefaultFormat)
	if err != nil {
		t.Fatal(err)
	}
	e := testEntry()
	setReq(e, "User-Agent", `Mozilla/5.0 "quoted" (X11)`)
	line := string(f.Append(nil, e))

	m := combinedLine.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("line does not parse as combined log format:\n%s", line)
	}
	when, err := time.Parse("02/Jan/2006:15:04:05 -0700", m[4])
	if err != nil {
		t.Fatalf("time %q: %v", m[4], err)
	}
	if !when.Equal(e.Start.Truncate(time.Second)) {
		t.Errorf("time = %v, want %v", when, e.Start.Truncate(time.Second))
	}
	unescape := strings.NewReplacer(`\"`, `"`).Replace
	got := []string{m[1], m[2], m[3], m[5], m[6], m[7], m[8], unescape(m[9])}
	want := []string{"192.0.2.7", "-", "brk0v", "GET /a%20b?x=1 HTTP/1.1", "200", "1024",
		"https://example.com/start", `Mozilla/5.0 "quoted" (X11)`}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("field %d = %q, want %q", i, got[i], want[i])
		}
	}
}

// unescapeLog undoes appendEscaped the way a reader of Apache's logs does:
// \", \\ and \xHH; any other backslash is an error.
func unescapeLog(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		switch {
		case i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
			b.WriteByte(s[i+1])
			i++
		case i+3 < len(s) && s[i+1] == 'x':
			v, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
			if err != nil {
				return "", fmt.Errorf("bad escape %q in %q", s[i:i+4], s)
			}
			b.WriteByte(byte(v))
			i += 3
		default:
			return "", fmt.Errorf("lone backslash at %d in %q", i, s)
		}
	}
	return b.String(), nil
}

// forgeries are values crafted to end a quoted field early, start a new
// line or hide a quote behind a backslash.
var forgeries = []string{
	`a\" "b`,
	`a\`,
	`\\"`,
	`x" 200 0 "-" "forged`,
	"line\nGET /forged HTTP/1.1",
	"\x1b[31mred\x7f\x00",
	`caf\xc3\xa9 \x`,
	"caf\u00e9 \xff",
}

// TestTextFormatsParseBack: in the combined and common formats, and in a
// format quoting every text atom, crafted User-Agent, Referer, request
// line and header values stay inside their fields and read back exactly.
func TestTextFormatsParseBack(t *testing.T) {
	quoted := `"((?:[^"\\]|\\.)*)"`
	common := `^(\S+) (\S+) (\S+) \[([^\]]+)\] ` + quoted + ` (\d{3}) (\d+)`
	all := `"%(m)s" "%(U)s" "%(q)s" "%(H)s" "%(u)s" "%({X-Custom}i)s" "%({X-Out}o)s" "%(f)s" "%(a)s"`
	for _, v := range forgeries {
		e := testEntry()
		e.URI = "/p" + v + "?q=" + v
		e.Path, e.Query = "/p"+v, "q="+v
		e.Method, e.Proto = "GET"+v, "HTTP/1.1"+v
		setReq(e, "User-Agent", v)
		setReq(e, "Referer", v)
		setReq(e, "X-Custom", v)
		// u is not quoted in the CLF: spaces there are Apache's and
		// gunicorn's problem too, so the crafted user has none.
		// Nor invalid UTF-8, which makes u "-" (as in gunicorn).
		user := "u" + strings.ToValidUTF8(strings.ReplaceAll(v, " ", ""), "")
		setReq(e, "Authorization", "Basic "+b64(user+":pw"))
		e.ResponseHeaders.(http.Header).Set("X-Out", v)
		line := e.Method + " " + e.URI + " " + e.Proto
		for _, tc := range []struct {
			format string
			re     string
			want   []string // the fields after the first (whole-line) match
		}{
			{DefaultFormat, common + " " + quoted + " " + quoted + "$",
				[]string{"192.0.2.7", "-", user, "10/Oct/2000:13:55:36 -0700", line, "200", "1024", v, v}},
			{CommonFormat, common + "$",
				[]string{"192.0.2.7", "-", user, "10/Oct/2000:13:55:36 -0700", line, "200", "1024"}},
			{all, "^" + strings.TrimSuffix(strings.Repeat(quoted+" ", 9), " ") + "$",
				[]string{e.Method, e.Path, e.Query, e.Proto, user, v, v, v, v}},
		} {
			f, err := Compile(tc.format)
			if err != nil {
				t.Fatal(err)
			}
			out := string(f.Append(nil, e))
			if strings.ContainsAny(out, "\n\r") {
				t.Errorf("%s: a line break in %q", tc.format, out)
			}
			m := regexp.MustCompile(tc.re).FindStringSubmatch(out)
			if m == nil {
				t.Errorf("%s: %q does not parse back", tc.format, out)
				continue
			}
			for i, want := range tc.want {
				got, err := unescapeLog(m[i+1])
				if err != nil || got != want {
					t.Errorf("%s: field %d of %q = %q (%v), want %q", tc.format, i, out, got, err, want)
				}
			}
		}
	}
}

func TestJSONParsesBack(t *testing.T) {
	f, err := Compile("json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*Entry)
	}{
		{"plain", nil},
		{"escapes", func(e *Entry) {
			e.URI = "/\"q\"\\\n\t\x01"
			setReq(e, "User-Agent", "caf\xe9 \u2028 ok")
		}},
		{"no headers", func(e *Entry) { e.RequestHeaders = nil; e.RemoteAddr = "" }},
		{"forgeries", func(e *Entry) {
			v := strings.Join(forgeries, "")
			e.Method, e.URI, e.Proto, e.RemoteAddr = v, v, v, v
			setReq(e, "User-Agent", v)
			setReq(e, "Referer", v)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := testEntry()
			if tt.edit != nil {
				tt.edit(e)
			}
			line := f.Append(nil, e)
			var got struct {
				RemoteAddr string    `json:"remote_addr"`
				Time       time.Time `json:"time"`
				Method     string    `json:"method"`
				URI        string    `json:"uri"`
				Proto      string    `json:"proto"`
				Status     int       `json:"status"`
				Bytes      int64     `json:"bytes"`
				DurationUS int64     `json:"duration_us"`
				Referer    string    `json:"referer"`
				UserAgent  string    `json:"user_agent"`
			}
			dec := json.NewDecoder(strings.NewReader(string(line)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("decode %s: %v", line, err)
			}
			if strings.ContainsAny(string(line), "\n\r") {
				t.Errorf("line contains a line break: %q", line)
			}
			check := func(field string, got, want any) {
				t.Helper()
				if got != want {
					t.Errorf("%s = %#v, want %#v", field, got, want)
				}
			}
			// Invalid UTF-8 reads back as U+FFFD.
			u8 := func(s string) string { return strings.ToValidUTF8(s, "\ufffd") }
			check("remote_addr", got.RemoteAddr, u8(e.RemoteAddr))
			check("time", got.Time.Equal(e.Start.Truncate(time.Millisecond)), true)
			check("method", got.Method, u8(e.Method))
			check("uri", got.URI, u8(e.URI))
			check("proto", got.Proto, u8(e.Proto))
			check("status", got.Status, e.Status)
			check("bytes", got.Bytes, e.BodyBytes)
			check("duration_us", got.DurationUS, e.Duration.Microseconds())
			check("referer", got.Referer, u8(header(e.RequestHeaders, "Referer")))
			check("user_agent", got.UserAgent, u8(header(e.RequestHeaders, "User-Agent")))
		})
	}
}

func TestAppendDoesNotAllocate(t *testing.T) {
	for _, format := range []string{DefaultFormat, "json", `%(t)s %(L)s %(D)s %(p)s %({x-forwarded-for}i)s %(s)05d`} {
		t.Run(format, func(t *testing.T) {
			f, err := Compile(format)
			if err != nil {
				t.Fatal(err)
			}
			e := testEntry()
			buf := make([]byte, 0, 1024)
			allocs := testing.AllocsPerRun(100, func() {
				buf = f.Append(buf[:0], e)
			})
			if allocs != 0 {
				t.Errorf("Append allocates %v times per call, want 0", allocs)
			}
		})
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, format := range []string{"default", "json"} {
		b.Run(format, func(b *testing.B) {
			name := format
			if name == "default" {
				name = DefaultFormat
			}
			f, err := Compile(name)
			if err != nil {
				b.Fatal(err)
			}
			e := testEntry()
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				buf = f.Append(buf[:0], e)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

func ExampleFormat_Append() {
	f, err := Compile(`%(h)s "%(r)s" %(s)s %(b)s %(L)s`)
	if err != nil {
		panic(err)
	}
	line := f.Append(nil, &Entry{
		RemoteAddr: "127.0.0.1",
		Duration:   1500 * time.Microsecond,
		Method:     "GET",
		URI:        "/hello?name=world",
		Proto:      "HTTP/1.1",
		Status:     200,
		BodyBytes:  12,
	})
	fmt.Println(string(line))
	// Output: 127.0.0.1 "GET /hello?name=world HTTP/1.1" 200 12 0.001500
}
