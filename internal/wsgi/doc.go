// Package wsgi is pogo's WSGI gateway (PEP 3333): it turns a transport's
// Request into an environ, runs the app on a bounded pool of Python threads,
// and hands the response back to the transport's ResponseWriter.
//
// The flow is CherryPy's wsgiserver with Go outside and Python only inside:
// a connection goroutine reads a small body in Go (so a slow upload never
// holds a Python thread), encodes the environ into one buffer, and queues the
// request. One of Threads goroutines, each locked to its OS thread and owning
// one PyThreadState for life, takes it, builds the environ in one cgo
// crossing, calls the app and consumes the response. A list or tuple
// response is copied out in one buffer with a computed Content-Length and
// written by the connection goroutine, so the Python thread is free before
// the bytes reach the socket; other iterables are streamed from the Python
// thread with the GIL released for each write.
//
// The queue in front of the threads is bounded: when it is full Serve
// returns an *HTTPError for 503 with Retry-After, and nothing grows.
//
// Nothing here depends on a transport: HTTP/1.1, HTTP/2 and HTTP/3 feed the
// same Request and ResponseWriter.
package wsgi
