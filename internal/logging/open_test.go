package logging

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenStderr(t *testing.T) {
	for _, path := range []string{"", "-"} {
		w, closeLog, err := Open(path)
		if err != nil {
			t.Fatalf("Open(%q): %v", path, err)
		}
		if w != os.Stderr {
			t.Errorf("Open(%q) = %v, want os.Stderr", path, w)
		}
		if err := closeLog(); err != nil {
			t.Errorf("closing Open(%q): %v", path, err)
		}
		// The closer must have left stderr open.
		if _, err := os.Stderr.Stat(); err != nil {
			t.Fatalf("stderr after close: %v", err)
		}
	}
}

func TestOpenFileAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "error.log")
	for _, line := range []string{"first\n", "second\n"} {
		w, closeLog, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
		if err := closeLog(); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "first\nsecond\n" {
		t.Errorf("file = %q, want both lines, appended", got)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// The umask may take bits away, never add them.
	if perm := fi.Mode().Perm(); perm&^0o644 != 0 || perm&0o600 != 0o600 {
		t.Errorf("mode = %v, want 0644 less the umask", perm)
	}
}

func TestOpenError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "error.log")
	_, _, err := Open(path)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open(%q) = %v, want an fs.ErrNotExist", path, err)
	}
	if got := err.Error(); !strings.HasPrefix(got, "logging: ") {
		t.Errorf("error %q lacks the package prefix", got)
	}
}

func TestFileReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write([]byte("before\n"))
	// logrotate moves the file away, then pogo gets SIGUSR1.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("still old\n"))
	if err := f.Reopen(); err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("after\n"))
	for p, want := range map[string]string{path + ".1": "before\nstill old\n", path: "after\n"} {
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s = %q, want %q", filepath.Base(p), got, want)
		}
	}
}
