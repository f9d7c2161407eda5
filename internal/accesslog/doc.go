// Package accesslog writes one line per HTTP request in the format of
// gunicorn's access log, so that tools reading gunicorn's logs keep working
// when pogo replaces it.
//
// A format is written in gunicorn's access_log_format syntax: Python
// %-formatting against a mapping of atoms, as in
//
//	%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"
//
// Compile parses it once into a list of operations; Format.Append then
// renders an Entry without reflection, maps or allocation. The atoms are
// gunicorn's:
//
//	h          remote address ("-" for a unix socket)
//	l          "-"
//	u          user name from a Basic Authorization header, else "-"
//	t          date of the request, [10/Oct/2000:13:55:36 -0700]
//	r          request line, "GET /path?x=1 HTTP/1.1" ("-" if it did not parse)
//	m          request method
//	U          URL path without query string (percent-decoded)
//	q          query string
//	H          protocol
//	s          status
//	B          response body length
//	b          response body length; gunicorn's CLF spelling, see below
//	f          referer ("-" if absent)
//	a          user agent ("-" if absent)
//	T          request time in whole seconds
//	M          request time in whole milliseconds
//	D          request time in whole microseconds
//	L          request time in decimal seconds, 0.001234
//	p          process ID, <1234>
//	{name}i    request header ("-" if absent)
//	{name}o    response header ("-" if absent)
//	{name}e    environment variable ("-" if unset)
//
// Header names are case-insensitive. Environment variable names are looked
// up as written and then upper-cased, because gunicorn's documentation asks
// for lower-case names.
//
// Besides a format string, Compile accepts the names "combined" (Apache's
// combined log format, which is also gunicorn's default), "common" (Apache's
// common log format) and "json" (one JSON object per line).
//
// # Compatibility
//
// Where gunicorn's documentation and code disagree the code wins: b logs "0"
// for an empty body, not "-" (gunicorn changed this and tests for it). As in
// gunicorn, a double quote inside a value is written as \" so that quoted
// fields stay parseable. Unlike gunicorn, and as Apache's ap_escape_logitem
// does, a backslash is written as \\ (else a User-Agent of a\" "b would end
// its field early and forge the ones after it) and control characters as
// \xHH (Apache spells \n, \t and a few others by name), so that a decoded
// %0A in a path cannot start a forged log line; bytes from 0x80 are kept as
// they are (Apache writes them as \xHH), so UTF-8 stays readable. A log
// reader undoes \", \\ and \xHH. A precision never cuts an escape. An
// unknown atom is an error from Compile instead of a "-" on every line; and
// {name}e reads the process environment, because pogo has no WSGI environ
// at logging time. Width, precision and the flags "-0+ #" are honoured for
// the s and d conversions; other conversions are rejected.
//
// # Writing
//
// A Logger keeps the cost of logging off the request path: Log formats the
// entry into a pooled buffer on the caller's goroutine and hands the buffer
// to a single writer goroutine through a bounded queue. When the queue is
// full the line is dropped and counted rather than blocking the request, so
// a slow or stuck log destination can never stall the server. Close drains
// what was queued, flushes, and reports the first write error.
package accesslog
