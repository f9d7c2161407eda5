// Package wsgi is pogo's WSGI gateway (PEP 3333): it turns a transport's
// Request into an environ, runs the app on a bounded pool of Python threads,
// and hands the response back to the transport's ResponseWriter.
//
// The flow is CherryPy's wsgiserver with Go outside and Python only inside:
// a connection goroutine reads a small body in Go (so a slow upload never
// holds a Python thread), encodes the environ into one buffer, takes one of
// Threads call slots and calls Python itself: one cgo crossing builds the
// environ, calls the app and consumes the response. The OS thread it runs
// on keeps one PyThreadState for its whole life, made on its first call. A
// list or tuple response is copied out in one buffer with a computed
// Content-Length and the slot is freed before the bytes reach the socket;
// other iterables are streamed with the GIL released for each write.
//
// The wait for a slot is bounded: beyond QueueSize waiting requests Serve
// returns an *HTTPError for 503 with Retry-After, and nothing grows.
//
// Nothing here depends on a transport: HTTP/1.1, HTTP/2 and HTTP/3 feed the
// same Request and ResponseWriter.
package wsgi
