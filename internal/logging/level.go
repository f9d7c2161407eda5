package logging

import (
	"fmt"
	"log/slog"
	"strings"
)

// LevelCritical is gunicorn's critical level, above slog.LevelError.
const LevelCritical = slog.LevelError + 4

// ParseLevel maps gunicorn's --log-level names (debug, info, warning, error
// and critical, in any case, and also warn) to slog levels.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warning", "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	case "critical":
		return LevelCritical, nil
	}
	return 0, fmt.Errorf("logging: unknown log level %q; want debug, info, warning, error or critical", s)
}

// levelName returns gunicorn's name for l. Levels between slog's named ones
// take the name below them, so that every line carries one of the five.
func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO"
	case l < slog.LevelError:
		return "WARNING"
	case l < LevelCritical:
		return "ERROR"
	}
	return "CRITICAL"
}
