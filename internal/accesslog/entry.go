package accesslog

import "time"

// Headers gives read access to request or response headers by
// case-insensitive name; "" if absent. An http.Header satisfies it.
type Headers interface{ Get(name string) string }

// Entry is what is known about one request once its response is complete.
// For a request refused before its request line parsed, Method, URI, Path,
// Query and Proto are empty, and the request line (r) is logged as "-".
// Format.Append and Logger.Log read it only during the call, so the caller
// may reuse an Entry, and whatever its Headers refer to, as soon as they
// return.
type Entry struct {
	RemoteAddr string        // client IP without port; "" for a unix socket, logged as "-"
	Start      time.Time     // when the request line was read; t is logged in its location
	Duration   time.Duration // until the last response byte was written
	Method     string        // "GET"
	URI        string        // raw request-target as received, "/a%20b?x=1"
	Path       string        // percent-decoded path, "/a b"
	Query      string        // raw query string without "?", "x=1"
	Proto      string        // "HTTP/1.1"
	Status     int           // response status code
	BodyBytes  int64         // response body bytes written

	RequestHeaders  Headers // may be nil
	ResponseHeaders Headers // may be nil
}
