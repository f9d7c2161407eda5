// Package logging writes pogo's error log: what the server itself has to
// say, as opposed to the per-request access log of package accesslog.
//
// The log is written through log/slog. Handler renders each record as a
// line in the format of gunicorn's error log, so that whatever reads
// gunicorn's error log reads pogo's:
//
//	[2026-11-22 01:23:45 +0000] [1234] [INFO] Listening at: http://127.0.0.1:8000 workers=4
//
// The time is the record's, in its location (slog gives local time, as
// gunicorn does). The level is one of gunicorn's names, DEBUG, INFO,
// WARNING, ERROR and CRITICAL; LevelCritical extends slog's levels for the
// last. The message follows verbatim, then the attributes as key=value,
// quoted as in slog.TextHandler when they contain spaces, quotes or
// control characters, and with group names joined by dots.
//
// A Python traceback is many lines long and is only readable as written.
// A record attribute named "traceback" whose value is a string is therefore
// not put on the line: it follows the line verbatim, ending in a newline.
//
// Each record is formatted into a buffer of its own and then written with
// one Write call under a mutex shared by the Handler and every Handler
// derived from it, so that lines from concurrent goroutines never
// interleave.
package logging
