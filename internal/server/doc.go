// Package server is pogo's transport: listeners (TCP with our own backlog,
// unix sockets), TLS, request limits, and the mapping between our HTTP/1.1
// engine (internal/http1) and the gateway's wsgi.Request /
// wsgi.ResponseWriter. The gateway does not depend on any of it, so HTTP/2
// and HTTP/3 can feed it the same way.
package server
