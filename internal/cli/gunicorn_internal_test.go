package cli

import (
	"bufio"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pogoserver/pogo/internal/config"
)

// TestEveryGunicornSetting checks pogo against the list of every setting
// gunicorn documents: each has a flag or is a hook, each of gunicorn's
// options is accepted, and giving a setting either changes pogo's
// configuration or names it in the start-up warning, never nothing.
func TestEveryGunicornSetting(t *testing.T) {
	f, err := os.Open("../../testdata/gunicorn/settings.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Values for settings the sample "1" does not fit.
	samples := map[string]string{
		"access_log_format":     `"%(h)s %(s)s"`,
		"accesslog":             `"-"`,
		"bind":                  `["127.0.0.1:9000", "unix:/tmp/x.sock"]`,
		"chdir":                 `"/tmp"`,
		"errorlog":              `"/tmp/error.log"`,
		"forwarded_allow_ips":   `["10.0.0.1", "10.0.0.2"]`,
		"header_map":            `"refuse"`,
		"logconfig_dict":        `{"version": 1}`,
		"loglevel":              `"debug"`,
		"paste":                 `"development.ini"`,
		"pythonpath":            `"/tmp/a,/tmp/b"`,
		"raw_env":               `["A=1", "B=2"]`,
		"raw_paste_global_conf": `["A=1"]`,
		"reload_engine":         `"poll"`,
		"secure_scheme_headers": `{"X-FORWARDED-PROTO": "https"}`,
		"umask":                 `18`,
		"worker_class":          `"gthread"`,
		"wsgi_app":              `"app:app"`,
		"ssl_context":           `{"callable": "conf.ssl_context"}`,
		"sendfile":              `false`,
		"suppress_ragged_eofs":  `false`,
		"proxy_protocol":        `"v2"`,
		"ssl_version":           `"TLSv1_3"`,
		"ciphers":               `"ECDHE-RSA-AES128-GCM-SHA256:HIGH"`,
		"cert_reqs":             `2`,
	}
	// What pogo does already, whatever the file says.
	same := map[string]bool{
		"config":                 true, // the file itself
		"default_proc_name":      true, // gunicorn sets it, not users
		"protocol":               true, // "http"
		"control_socket_disable": true, // pogo has none
	}
	// Refused with a one-line error: pogo cannot honour them safely.
	refused := map[string]string{
		"spew":       "true",
		"dirty_apps": `["app:dirty"]`,
		"protocol":   `"uwsgi"`,
		"cert_reqs":  "3",
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		fields := strings.Fields(line)
		name, section, options := fields[0], fields[1], fields[2]
		seen[name] = true
		if options != "-" {
			for _, o := range strings.Split(options, ",") {
				if byName[o] == nil {
					t.Errorf("%s: gunicorn's option %s is refused", name, o)
				}
			}
		}
		if strings.Contains(section, "Hooks") && name != "ssl_context" {
			if !slices.Contains(gunicornHooks, name) {
				t.Errorf("hook %s is not in gunicornHooks", name)
			}
			continue
		}
		fl := gunicornSettings[name]
		if fl == nil {
			t.Errorf("setting %s: no flag applies it", name)
			continue
		}
		if bad, ok := refused[name]; ok {
			if err := applySetting(name, fl, bad, &config.Config{}); err == nil {
				t.Errorf("%s = %s: accepted, want refused", name, bad)
			}
		}
		if same[name] {
			continue
		}
		v := samples[name]
		if v == "" {
			v = "1"
			if fl.arg == "" {
				v = "true"
			}
		}
		c := config.Defaults()
		if err := applySetting(name, fl, v, &c); err != nil {
			if _, ok := refused[name]; !ok {
				t.Errorf("%s = %s: %v", name, v, err)
			}
			continue
		}
		if reflect.DeepEqual(c, config.Defaults()) {
			t.Errorf("%s = %s: neither applied nor warned", name, v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for name := range gunicornSettings {
		if !seen[name] {
			t.Errorf("gunicornSettings has %s, which gunicorn does not document", name)
		}
	}
}

func applySetting(name string, f *flag, value string, c *config.Config) error {
	opts, err := settingOpts("test.conf.py", name, f, json.RawMessage(value))
	if err != nil {
		return err
	}
	for _, o := range opts {
		if err := o.f.set(c, o.val); err != nil {
			return err
		}
	}
	return nil
}

func TestShellWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  -w 4\t--threads=2 ", []string{"-w", "4", "--threads=2"}},
		{`--access-logformat '%(h)s "%(r)s"'`, []string{"--access-logformat", `%(h)s "%(r)s"`}},
		{`-e "A=b c" -e B=\$x`, []string{"-e", "A=b c", "-e", "B=$x"}},
		{`"a\"b"c d\ e`, []string{`a"bc`, "d e"}},
		{`''`, []string{""}},
	}
	for _, tt := range tests {
		got, err := shellWords(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("shellWords(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{`'open`, `"open`, `a "b`} {
		if _, err := shellWords(in); err == nil {
			t.Errorf("shellWords(%q): no error, want one", in)
		}
	}
}

// TestSourcePrecedence: the command line over POGO_CMD_ARGS over
// GUNICORN_CMD_ARGS over the config file, a flag at a time, and a list
// given higher replaces the lower one's whole list.
func TestSourcePrecedence(t *testing.T) {
	mk := func(name string, args ...string) source {
		s, err := scan(name, args)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	file := mk("gunicorn.conf.py", "-b", "127.0.0.1:1", "-b", "127.0.0.1:2", "-w", "3", "--threads", "4", "--log-level", "debug", "--keep-alive", "7")
	genv := mk("$GUNICORN_CMD_ARGS", "--threads", "5", "--log-level", "warning")
	penv := mk("$POGO_CMD_ARGS", "--log-level", "error")
	cl := mk("command line", "-b", "127.0.0.1:9", "app:app")
	env := map[string]string{"PORT": "7000", "WEB_CONCURRENCY": "8"}
	c, err := parseSources(func(k string) string { return env[k] }, []source{file, genv, penv, cl})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Binds, []string{"127.0.0.1:9"}) || c.Workers != 3 || c.Threads != 5 ||
		c.LogLevel != "error" || c.KeepAlive.Seconds() != 7 || c.App != "app:app" {
		t.Errorf("got binds %q workers %d threads %d log level %s keep-alive %v app %s",
			c.Binds, c.Workers, c.Threads, c.LogLevel, c.KeepAlive, c.App)
	}

	// $PORT and $WEB_CONCURRENCY are defaults: below every source.
	c, err = parseSources(func(k string) string { return env[k] }, []source{mk("command line", "app:app")})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Binds, []string{"0.0.0.0:7000"}) || c.Workers != 8 {
		t.Errorf("with $PORT and $WEB_CONCURRENCY: binds %q workers %d, want [0.0.0.0:7000] 8", c.Binds, c.Workers)
	}

	// Only the command line names the app.
	if _, err := parseSources(nil, []source{mk("$GUNICORN_CMD_ARGS", "app:app"), mk("command line")}); err == nil ||
		!strings.Contains(err.Error(), "$GUNICORN_CMD_ARGS: unexpected arguments: app:app") {
		t.Errorf("an app in $GUNICORN_CMD_ARGS: err = %v", err)
	}
}

// TestWorkerClass: -k as gunicorn maps it to threads, and a one-line
// refusal for the worker classes pogo does not run.
func TestWorkerClass(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		threads int
		err     string
	}{
		{[]string{"-k", "sync"}, 1, ""},
		{[]string{"-k", "sync", "--threads", "8"}, 8, ""},
		{[]string{"-k", "gthread"}, 1, ""},
		{[]string{"--worker-class=gthread", "--threads", "4"}, 4, ""},
		{[]string{"-k", "egg:gunicorn#sync"}, 1, ""},
		{[]string{"-k", "gunicorn.workers.gthread.ThreadWorker", "--threads", "2"}, 2, ""},
		{nil, 0, ""},
		{[]string{"-k", "gevent"}, 0, "gevent is not a WSGI worker pogo runs"},
		{[]string{"-k", "eventlet"}, 0, "eventlet is not a WSGI worker pogo runs"},
		{[]string{"-k", "tornado"}, 0, "tornado is not"},
		{[]string{"-k", "uvicorn.workers.UvicornWorker"}, 0, "uvicorn.workers.UvicornWorker is not"},
		{[]string{"-k", "asgi"}, 0, "asgi is not"},
	} {
		c, err := parse(append(tt.args, "app:app"))
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "--threads") {
				t.Errorf("%q: err = %v, want %q and what to use instead", tt.args, err, tt.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tt.args, err)
		case c.Threads != tt.threads:
			t.Errorf("%q: threads %d, want %d", tt.args, c.Threads, tt.threads)
		}
	}
}
