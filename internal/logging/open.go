package logging

import (
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
)

// Open returns the writer for --error-logfile and a function that closes it.
// "-" or "" means os.Stderr, which the closer leaves open; any other path is
// opened as a File.
func Open(path string) (io.Writer, func() error, error) {
	if path == "" || path == "-" {
		return os.Stderr, func() error { return nil }, nil
	}
	f, err := OpenFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("logging: error log: %w", err)
	}
	return f, f.Close, nil
}

// File is a log file opened for appending (created with mode 0644 if it
// does not exist) that can be reopened at the same path, after logrotate
// has moved it away (SIGUSR1). It is safe for concurrent use.
type File struct {
	path    string
	mu      sync.Mutex
	f       *os.File // guarded by mu
	capture bool     // guarded by mu: stdout and stderr are f too
}

// OpenFile opens path as a File.
func OpenFile(path string) (*File, error) {
	f, err := openAppend(path)
	if err != nil {
		return nil, err
	}
	return &File{path: path, f: f}, nil
}

func openAppend(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
}

func (f *File) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.f.Write(p)
}

// Reopen opens the path again and switches writes to it. On error the
// old file stays in use.
func (f *File) Reopen() error {
	nf, err := openAppend(f.path)
	if err != nil {
		return err
	}
	f.mu.Lock()
	old := f.f
	f.f = nf
	if f.capture {
		err = dupStdio(nf)
	}
	f.mu.Unlock()
	if cerr := old.Close(); err == nil {
		err = cerr
	}
	return err
}

// Capture makes the process's stdout and stderr (fds 1 and 2) the file,
// as gunicorn's --capture-output does, and keeps them so after Reopen.
// What the app prints, and what starts from here inherits, goes to it.
func (f *File) Capture() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.capture = true
	return dupStdio(f.f)
}

func dupStdio(f *os.File) error {
	for _, fd := range []int{1, 2} {
		if err := syscall.Dup3(int(f.Fd()), fd, 0); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the file.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.f.Close()
}
