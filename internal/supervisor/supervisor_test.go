package supervisor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pogoserver/pogo/internal/metrics"
	"github.com/pogoserver/pogo/internal/testutil"
)

func TestParseEnv(t *testing.T) {
	for _, tc := range []struct {
		v     string
		id, n int
		ok    bool
	}{
		{"1:2", 1, 2, true},
		{"17:0", 17, 0, true},
		{"0:1", 0, 0, false},
		{"1", 0, 0, false},
		{"a:1", 0, 0, false},
		{"1:-1", 0, 0, false},
	} {
		id, n, err := parseEnv(tc.v)
		if (err == nil) != tc.ok || id != tc.id || n != tc.n {
			t.Errorf("parseEnv(%q) = %d, %d, %v", tc.v, id, n, err)
		}
	}
}

func TestReadMessages(t *testing.T) {
	st := metrics.Snapshot{Threads: 8, InFlight: 1}
	st.Requests[2] = 42
	in := "ready\nsomething new\nstats " + st.Encode() + "\nstats 1 2\nretire\n"
	var got []message
	readMessages(strings.NewReader(in), func(m message) { got = append(got, m) })
	if len(got) != 3 || got[0].kind != "ready" || got[1].kind != "stats" || got[1].stats != st || got[2].kind != "retire" {
		t.Errorf("messages = %+v; want ready, the stats, retire (unknown and malformed lines skipped)", got)
	}
}

func TestWatcher(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, data string) { testutil.WriteFile(t, filepath.Join(dir, rel), data) }
	write("app.py", "x = 1\n")
	write("pkg/mod.py", "y = 1\n")
	write("notes.txt", "not code\n")
	write(".venv/pyvenv.cfg", "home = /usr\n")
	write(".venv/lib/site.py", "z = 1\n")
	write("env2/pyvenv.cfg", "home = /usr\n")
	write("env2/lib/site.py", "z = 1\n")
	write("pkg/__pycache__/mod.py", "cached\n")
	extra := filepath.Join(dir, "settings.ini")
	write("settings.ini", "[app]\n")

	w := &watcher{dirs: []string{dir}, files: []string{extra}}
	if p := w.changed(); p != "" {
		t.Fatalf("first scan reported %q", p)
	}
	if p := w.changed(); p != "" {
		t.Fatalf("nothing changed, got %q", p)
	}
	for _, tc := range []struct{ rel, data string }{
		{"notes.txt", "still not code, not watched\n"},
		{".venv/lib/site.py", "z = 2\n"},
		{"env2/lib/site.py", "z = 2\n"},
		{"pkg/__pycache__/mod.py", "recached\n"},
	} {
		write(tc.rel, tc.data)
		if p := w.changed(); p != "" {
			t.Errorf("editing %s reported %q, want nothing", tc.rel, p)
		}
	}
	for _, tc := range []struct{ rel, data string }{
		{"pkg/mod.py", "y = 22\n"},     // size changes
		{"new.py", "n = 1\n"},          // added
		{"settings.ini", "[app]\nx\n"}, // an extra file
	} {
		write(tc.rel, tc.data)
		if p := w.changed(); p != filepath.Join(dir, tc.rel) {
			t.Errorf("editing %s reported %q", tc.rel, p)
		}
	}
	// Same size, later mtime.
	later := time.Now().Add(2 * time.Second)
	os.Chtimes(filepath.Join(dir, "app.py"), later, later)
	if p := w.changed(); p != filepath.Join(dir, "app.py") {
		t.Errorf("touching app.py reported %q", p)
	}
	os.Remove(filepath.Join(dir, "new.py"))
	if p := w.changed(); p != filepath.Join(dir, "new.py") {
		t.Errorf("removing new.py reported %q", p)
	}
}
