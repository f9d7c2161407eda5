package supervisor

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// watcher finds changed source files for --reload by polling: it needs no
// inotify limits, sees files on network and container mounts, and a
// development tree is small.
type watcher struct {
	dirs  []string // scanned for *.py
	files []string // watched whatever their name
	seen  map[string]stamp
}

type stamp struct {
	mod  time.Time
	size int64
}

// skipDir reports directories that hold no app code: virtualenvs,
// caches, VCS metadata, node_modules.
func skipDir(path, name string) bool {
	switch name {
	case "__pycache__", "node_modules", "site-packages":
		return true
	}
	if strings.HasPrefix(name, ".") && name != "." {
		return true
	}
	_, err := os.Stat(filepath.Join(path, "pyvenv.cfg"))
	return err == nil
}

// scan stamps every watched file.
func (w *watcher) scan() map[string]stamp {
	now := map[string]stamp{}
	add := func(path string) {
		if fi, err := os.Stat(path); err == nil {
			now[path] = stamp{fi.ModTime(), fi.Size()}
		}
	}
	for _, f := range w.files {
		add(f)
	}
	for _, d := range w.dirs {
		filepath.WalkDir(d, func(path string, e fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return nil
			case e.IsDir():
				if path != d && skipDir(path, e.Name()) {
					return filepath.SkipDir
				}
			case strings.HasSuffix(e.Name(), ".py"):
				add(path)
			}
			return nil
		})
	}
	return now
}

// changed rescans and returns a file that was added, removed or modified
// since the last call ("" if none; the first call only takes stock).
func (w *watcher) changed() string {
	now := w.scan()
	old := w.seen
	w.seen = now
	if old == nil {
		return ""
	}
	for path, st := range now {
		if o, ok := old[path]; !ok || o != st {
			return path
		}
	}
	for path := range old {
		if _, ok := now[path]; !ok {
			return path
		}
	}
	return ""
}
