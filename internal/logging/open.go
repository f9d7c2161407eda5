package logging

import (
	"fmt"
	"io"
	"os"
)

// Open returns the writer for --error-logfile and a function that closes it.
// "-" or "" means os.Stderr, which the closer leaves open; any other path is
// opened for appending, and created with mode 0644 if it does not exist.
func Open(path string) (io.Writer, func() error, error) {
	if path == "" || path == "-" {
		return os.Stderr, func() error { return nil }, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("logging: error log: %w", err)
	}
	return f, f.Close, nil
}
