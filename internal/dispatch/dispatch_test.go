package dispatch

import "testing"

func TestRoute(t *testing.T) {
	var tb Table[string]
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(tb.SetRoot("root", ""))
	must(tb.Mount("/api", "api"))
	must(tb.Mount("/api/v2/", "v2"))
	must(tb.Mount("/static", "static"))
	must(tb.VirtualHost("admin.example.com", "admin"))
	must(tb.VirtualHost("*.example.com", "any-example"))
	must(tb.VirtualHost("*.eu.example.com", "eu"))

	for _, c := range []struct {
		host, path                 string
		want, scriptName, pathInfo string
	}{
		{"", "/", "root", "", "/"},
		{"", "/x/y", "root", "", "/x/y"},
		{"", "/api", "api", "/api", ""},
		{"", "/api/", "api", "/api", "/"},
		{"", "/api/users", "api", "/api", "/users"},
		{"", "/apis", "root", "", "/apis"}, // a segment boundary, not a string prefix
		{"", "/api/v2", "v2", "/api/v2", ""},
		{"", "/api/v2/x", "v2", "/api/v2", "/x"}, // longest prefix wins
		{"", "/api/v20", "api", "/api", "/v20"},
		{"www.other.org", "/static/a.css", "static", "/static", "/a.css"},
		{"admin.example.com", "/api/x", "admin", "", "/api/x"}, // a virtual host takes the whole host
		{"ADMIN.Example.COM:8080", "/", "admin", "", "/"},      // no case, no port
		{"admin.example.com.", "/", "admin", "", "/"},          // a trailing dot
		{"shop.example.com", "/", "any-example", "", "/"},
		{"a.b.example.com", "/", "any-example", "", "/"},
		{"x.eu.example.com", "/", "eu", "", "/"},   // the longer wildcard
		{"example.com", "/api", "api", "/api", ""}, // *.example.com is subdomains only
		{"[::1]:8000", "/", "root", "", "/"},
	} {
		v, sn, pi, ok := tb.Route(c.host, c.path)
		if !ok || v != c.want || sn != c.scriptName || pi != c.pathInfo {
			t.Errorf("Route(%q, %q) = %q, %q, %q, %v; want %q, %q, %q", c.host, c.path, v, sn, pi, ok, c.want, c.scriptName, c.pathInfo)
		}
	}
}

func TestRouteWithoutDefault(t *testing.T) {
	var tb Table[int]
	if err := tb.VirtualHost("a.test", 1); err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := tb.Route("b.test", "/"); ok {
		t.Error("an unmatched host was routed without a default app")
	}
	if v, _, _, ok := tb.Route("a.test:80", "/x"); !ok || v != 1 {
		t.Errorf("a.test: %v %v", v, ok)
	}
	var mounts Table[int]
	mounts.Mount("/only", 2)
	if _, _, _, ok := mounts.Route("", "/elsewhere"); ok {
		t.Error("a path outside every mount was routed without a root app")
	}
}

func TestRootPath(t *testing.T) {
	var tb Table[string]
	if err := tb.SetRoot("app", "/prefix/"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, scriptName, pathInfo string }{
		{"/prefix/x", "/prefix", "/x"}, // the proxy kept the prefix
		{"/prefix", "/prefix", ""},     //
		{"/x", "/prefix", "/x"},        // the proxy stripped it
		{"/prefixes", "/prefix", "/prefixes"},
	} {
		_, sn, pi, _ := tb.Route("", c.path)
		if sn != c.scriptName || pi != c.pathInfo {
			t.Errorf("%q: SCRIPT_NAME %q PATH_INFO %q, want %q %q", c.path, sn, pi, c.scriptName, c.pathInfo)
		}
	}
}

func TestBadEntries(t *testing.T) {
	var tb Table[int]
	for _, p := range []string{"api", "/a//b", "/a/../b", "/./a"} {
		if err := tb.Mount(p, 1); err == nil {
			t.Errorf("Mount(%q): no error", p)
		}
	}
	tb.Mount("/a", 1)
	if err := tb.Mount("/a/", 2); err == nil {
		t.Error("the same mount twice: no error")
	}
	for _, h := range []string{"", "a*.b", "*b.c", "a.*.c", "a b", "a/b"} {
		if err := tb.VirtualHost(h, 1); err == nil {
			t.Errorf("VirtualHost(%q): no error", h)
		}
	}
	tb.VirtualHost("x.test", 1)
	if err := tb.VirtualHost("X.test", 2); err == nil {
		t.Error("the same host twice: no error")
	}
}
