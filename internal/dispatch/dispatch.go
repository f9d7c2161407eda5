// Package dispatch decides which application serves a request: by virtual
// host first (--vhost), then by the longest mount prefix (--mount), as
// CherryPy's WSGIPathInfoDispatcher and web.py's host dispatch do. It also
// splits the path into SCRIPT_NAME and PATH_INFO for the chosen app.
//
// Routing works on the decoded path (what PATH_INFO holds), on whole
// segments: a mount at /api takes /api and /api/x, never /apis. The
// result is a value of the caller's type (pogo uses an index into its
// loaded apps), so the package needs no Python.
package dispatch

import (
	"fmt"
	"slices"
	"strings"
)

// Table routes requests to values of type T. Build it with Add methods,
// then call Route; a Table must not change once in use.
type Table[T any] struct {
	exact    map[string]*site[T] // by lower-case host
	wildcard []wildcardSite[T]   // "*.example.com", longest suffix first
	def      site[T]             // hosts that match no virtual host
}

type wildcardSite[T any] struct {
	suffix string // ".example.com"
	s      *site[T]
}

// site is the apps of one host: mounts, longest prefix first, and the app
// at the root, if any.
type site[T any] struct {
	mounts []mount[T]
	root   *T
	// rootPath is the SCRIPT_NAME of an app at the root (--root-path).
	rootPath string
}

type mount[T any] struct {
	prefix string // "/api", no trailing slash
	v      T
}

// SetRoot sets the app for paths no mount takes, for hosts that match no
// virtual host. rootPath, if not "", is its SCRIPT_NAME (an app behind a
// proxy at that prefix): a path under it is cut to PATH_INFO.
func (t *Table[T]) SetRoot(v T, rootPath string) error {
	p, err := cleanPrefix(rootPath)
	if err != nil {
		return fmt.Errorf("dispatch: --root-path: %w", err)
	}
	t.def.root, t.def.rootPath = &v, p
	return nil
}

// Mount serves the paths at and under prefix with v, on hosts that match
// no virtual host.
func (t *Table[T]) Mount(prefix string, v T) error {
	p, err := cleanPrefix(prefix)
	if err != nil {
		return fmt.Errorf("dispatch: mount %q: %w", prefix, err)
	}
	if p == "" {
		return t.SetRoot(v, t.def.rootPath)
	}
	for _, m := range t.def.mounts {
		if m.prefix == p {
			return fmt.Errorf("dispatch: mount %q given twice", prefix)
		}
	}
	t.def.mounts = append(t.def.mounts, mount[T]{p, v})
	slices.SortStableFunc(t.def.mounts, func(a, b mount[T]) int { return len(b.prefix) - len(a.prefix) })
	return nil
}

// VirtualHost serves requests whose Host is host with v: an exact name,
// or "*.example.com" for any subdomain of example.com (not example.com
// itself). Names match without case and without the port.
func (t *Table[T]) VirtualHost(host string, v T) error {
	h := strings.ToLower(host)
	if h == "" || strings.ContainsAny(h, "/ ") || strings.Contains(h[min(1, len(h)):], "*") || (strings.HasPrefix(h, "*") && !strings.HasPrefix(h, "*.")) {
		return fmt.Errorf("dispatch: invalid virtual host %q: want a name or *.domain", host)
	}
	s := &site[T]{root: &v}
	if suffix, ok := strings.CutPrefix(h, "*"); ok {
		for _, w := range t.wildcard {
			if w.suffix == suffix {
				return fmt.Errorf("dispatch: virtual host %q given twice", host)
			}
		}
		t.wildcard = append(t.wildcard, wildcardSite[T]{suffix, s})
		slices.SortStableFunc(t.wildcard, func(a, b wildcardSite[T]) int { return len(b.suffix) - len(a.suffix) })
		return nil
	}
	if t.exact == nil {
		t.exact = map[string]*site[T]{}
	}
	if _, dup := t.exact[h]; dup {
		return fmt.Errorf("dispatch: virtual host %q given twice", host)
	}
	t.exact[h] = s
	return nil
}

// Route returns the value for a request to host (the Host header, any
// port ignored) and path (decoded, starting with "/"), with the
// SCRIPT_NAME and PATH_INFO the app sees. ok is false if nothing serves
// it (a 404).
func (t *Table[T]) Route(host, path string) (v T, scriptName, pathInfo string, ok bool) {
	s := t.site(host)
	for _, m := range s.mounts {
		if rest, ok := under(path, m.prefix); ok {
			return m.v, m.prefix, rest, true
		}
	}
	if s.root == nil {
		return v, "", "", false
	}
	if s.rootPath != "" {
		if rest, ok := under(path, s.rootPath); ok {
			return *s.root, s.rootPath, rest, true
		}
	}
	return *s.root, s.rootPath, path, true
}

func (t *Table[T]) site(host string) *site[T] {
	if len(t.exact) == 0 && len(t.wildcard) == 0 {
		return &t.def
	}
	h := hostName(host)
	if s, ok := t.exact[h]; ok {
		return s
	}
	for _, w := range t.wildcard {
		if len(h) > len(w.suffix) && strings.HasSuffix(h, w.suffix) {
			return w.s
		}
	}
	return &t.def
}

// hostName is host without its port, lower-cased, without a trailing dot.
func hostName(host string) string {
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i >= 0 {
			host = host[:i+1]
		}
	} else if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	for i := 0; i < len(host); i++ {
		if c := host[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(host)
		}
	}
	return host
}

// under reports whether path is prefix or below it, on a segment
// boundary, and returns the rest ("" or "/...").
func under(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return "", false
	}
	return rest, true
}

// cleanPrefix checks a mount point: "" or "/" is the root (returned as
// ""), else it must start with "/" and has any trailing "/" removed.
func cleanPrefix(p string) (string, error) {
	p = strings.TrimRight(p, "/")
	if p == "" {
		return "", nil
	}
	if p[0] != '/' {
		return "", fmt.Errorf("must start with /")
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("%q has an empty, . or .. segment", p)
		}
	}
	return p, nil
}
