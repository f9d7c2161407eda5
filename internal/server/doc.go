// Package server is pogo's HTTP transport: listeners (TCP with our own
// backlog, unix sockets), TLS, request limits, keep-alive and header
// timeouts, and the mapping between HTTP requests and the gateway's
// wsgi.Request / wsgi.ResponseWriter. For now it rides on net/http; the
// gateway does not depend on it, so our own HTTP/1.1 engine and HTTP/2 can
// replace or join it.
package server
