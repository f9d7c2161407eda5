package paste

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "site.ini")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServer(t *testing.T) {
	p := write(t, `
# a comment
[DEFAULT]
debug = true
http_port = 6543

[app:main]
use = egg:myapp

[server: main]
use = egg:waitress#main
; another comment
listen = localhost:%(http_port)s
	[::1]:%(http_port)s
threads = %(n)s
n = 4
log = %(here)s/log 100%%
set debug = false
get verbose = debug
debug = ignored: a global setting

[server:alt]
port = %(alt_port)s
`)
	f, err := Read(p, map[string]string{"http_port": "9999", "alt_port": "7000"})
	if err != nil {
		t.Fatal(err)
	}
	conf, ok, err := f.Server("main")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	want := map[string]string{
		"use":     "egg:waitress#main",
		"listen":  "localhost:6543\n[::1]:6543", // [DEFAULT] wins over the command line, as in PasteDeploy
		"threads": "4",
		"n":       "4",
		"log":     filepath.Dir(f.Path) + "/log 100%",
		"verbose": "false", // get reads the global after set
	}
	if !reflect.DeepEqual(conf, want) {
		t.Errorf("got  %q\nwant %q", conf, want)
	}
	alt, ok, err := f.Server("alt")
	if err != nil || !ok || alt["port"] != "7000" {
		t.Errorf("alt: %q %v %v (a variable the file does not define)", alt, ok, err)
	}
	if _, ok, _ := f.Server("nope"); ok {
		t.Error("a missing section was found")
	}
	if g, _ := Read(write(t, "[server :main]\nport = 1\n"), nil); g != nil {
		if _, ok, _ := g.Server("main"); ok {
			t.Error("[server :main] was taken for [server:main]; PasteDeploy does not")
		}
	}
	if _, ok, _ := f.Server("nope"); ok {
		t.Error("a missing section was found")
	}
	if !f.Has("app:main") || f.Has("app:other") {
		t.Error("Has")
	}
}

func TestErrors(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{"key = v\n", "before any [section]"},
		{"[server:main\n", "bad section header"},
		{"[server:main]\njust words\n", "want key = value"},
		{"[server:main]\nport = %(nope)s\n", "%(nope)s is not defined"},
		{"[server:main]\nport = 80%\n", "must be followed"},
		{"[server:main]\na = %(b)s\nb = %(a)s\n", "too deep"},
		{"[server:main]\nget x = nothing\n", "no global setting"},
	} {
		f, err := Read(write(t, c.body), nil)
		if err == nil {
			_, _, err = f.Server("main")
		}
		if c.want == "" {
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error with %q", c.body, err, c.want)
		}
	}
	if _, err := Read(filepath.Join(t.TempDir(), "missing.ini"), nil); err == nil {
		t.Error("a missing file: no error")
	}
}
