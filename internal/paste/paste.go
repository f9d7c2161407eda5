// Package paste reads the server section of a PasteDeploy config file
// (pogo development.ini), in Go, so that pogo's master needs no Python to
// know where to listen. The app itself is loaded by PasteDeploy in Python
// (cpython's bootstrap), so pipelines, filters and composites work exactly
// as PasteDeploy defines them.
//
// The file is read as PasteDeploy reads it: Python's ConfigParser syntax
// (sections, "key = value" or "key: value", indented continuation lines,
// # and ; comments), the [DEFAULT] section and the variables given on the
// command line (which do not override [DEFAULT]) as global settings, with
// "here" and "__file__" predefined, %(name)s interpolation, "set NAME" to
// change a global setting from a section and "get NAME" to read one.
package paste

import (
	"bufio"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// File is a parsed config file.
type File struct {
	Path     string
	defaults map[string]string // [DEFAULT], here, __file__ and the variables it lacks: for interpolation
	vars     map[string]string // the command line's
	sections map[string]*section
	order    []string // section names as written
}

type section struct {
	keys []string // in file order
	vals map[string]string
}

// Read parses the config file at path with the command line's variables.
func Read(path string, vars map[string]string) (*File, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	fh, err := os.Open(abs)
	if err != nil {
		return nil, fmt.Errorf("paste: %w", err)
	}
	defer fh.Close()
	f := &File{
		Path:     abs,
		defaults: map[string]string{"here": filepath.Dir(abs), "__file__": abs},
		sections: map[string]*section{},
		vars:     vars,
	}
	var cur *section
	var last string // the key a continuation line extends
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), " \t\r")
		trimmed := strings.TrimLeft(line, " \t")
		switch {
		case trimmed == "" || trimmed[0] == '#' || trimmed[0] == ';':
			last = "" // a blank line or a comment ends a value
			continue
		case len(trimmed) < len(line) && cur != nil && last != "":
			cur.vals[last] += "\n" + trimmed // continuation
			continue
		case trimmed[0] == '[':
			end := strings.IndexByte(trimmed, ']')
			if end < 0 {
				return nil, fmt.Errorf("paste: %s:%d: bad section header %q", abs, n, trimmed)
			}
			name := strings.TrimSpace(trimmed[1:end])
			if cur = f.sections[name]; cur == nil {
				cur = &section{vals: map[string]string{}}
				f.sections[name] = cur
				f.order = append(f.order, name)
			}
			last = ""
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("paste: %s:%d: %q comes before any [section]", abs, n, trimmed)
		}
		i := strings.IndexAny(trimmed, "=:")
		if i <= 0 {
			return nil, fmt.Errorf("paste: %s:%d: want key = value, got %q", abs, n, trimmed)
		}
		key, val := strings.TrimSpace(trimmed[:i]), strings.TrimSpace(trimmed[i+1:])
		if _, dup := cur.vals[key]; !dup {
			cur.keys = append(cur.keys, key)
		}
		cur.vals[key] = val
		last = key
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("paste: %s: %w", abs, err)
	}
	if d := f.sections["DEFAULT"]; d != nil {
		for _, k := range d.keys {
			f.defaults[k] = d.vals[k]
		}
	}
	for k, v := range vars {
		if _, ok := f.defaults[k]; !ok {
			f.defaults[k] = v // as PasteDeploy: the file's [DEFAULT] wins
		}
	}
	return f, nil
}

// Has reports whether the file has a section of that exact name.
func (f *File) Has(name string) bool { _, ok := f.sections[name]; return ok }

// find returns the section "KIND:NAME" ("server:main"; spaces after the
// colon allowed, as PasteDeploy allows).
func (f *File) find(kind, name string) (string, *section) {
	for _, s := range f.order {
		if n, ok := strings.CutPrefix(s, kind+":"); ok && strings.TrimSpace(n) == name {
			return s, f.sections[s]
		}
	}
	return "", nil
}

// Server returns the settings of [server:NAME], interpolated, without
// the global settings ([DEFAULT], variables), as PasteDeploy hands them to
// a server factory. ok is false if there is no such section.
func (f *File) Server(name string) (conf map[string]string, ok bool, err error) {
	full, s := f.find("server", name)
	if s == nil {
		return nil, false, nil
	}
	globals := maps.Clone(f.defaults) // for set and get the variables win, as in PasteDeploy
	maps.Copy(globals, f.vars)
	conf = map[string]string{}
	gets := map[string]string{}
	for _, k := range s.keys {
		v, err := f.interpolate(full, s, s.vals[k], f.defaults, 0)
		if err != nil {
			return nil, true, err
		}
		switch {
		case strings.HasPrefix(k, "set "):
			globals[strings.TrimSpace(k[4:])] = v
		case strings.HasPrefix(k, "get "):
			gets[strings.TrimSpace(k[4:])] = v
		default:
			if _, global := f.defaults[k]; !global {
				conf[k] = v
			}
		}
	}
	for local, global := range gets {
		v, ok := globals[global]
		if !ok {
			return nil, true, fmt.Errorf("paste: [%s] get %s: no global setting %q", full, local, global)
		}
		conf[local] = v
	}
	return conf, true, nil
}

// interpolate expands %(name)s from the section, then the defaults; %% is
// a percent sign. As ConfigParser, it gives up past 10 levels.
func (f *File) interpolate(sec string, s *section, v string, globals map[string]string, depth int) (string, error) {
	if !strings.Contains(v, "%") {
		return v, nil
	}
	if depth > 10 {
		return "", fmt.Errorf("paste: [%s]: interpolation too deep in %q", sec, v)
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			b.WriteByte(v[i])
			continue
		}
		switch {
		case i+1 < len(v) && v[i+1] == '%':
			b.WriteByte('%')
			i++
		case i+1 < len(v) && v[i+1] == '(':
			end := strings.Index(v[i:], ")s")
			if end < 0 {
				return "", fmt.Errorf("paste: [%s]: bad interpolation in %q", sec, v)
			}
			name := v[i+2 : i+end]
			raw, ok := s.vals[name]
			if !ok {
				raw, ok = globals[name]
			}
			if !ok {
				return "", fmt.Errorf("paste: [%s]: %%(%s)s is not defined", sec, name)
			}
			x, err := f.interpolate(sec, s, raw, globals, depth+1)
			if err != nil {
				return "", err
			}
			b.WriteString(x)
			i += end + 1
		default:
			return "", fmt.Errorf("paste: [%s]: '%%' must be followed by '%%' or '(' in %q", sec, v)
		}
	}
	return b.String(), nil
}

// Keys returns the keys of conf, sorted: for messages.
func Keys(conf map[string]string) []string {
	out := make([]string, 0, len(conf))
	for k := range conf {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
