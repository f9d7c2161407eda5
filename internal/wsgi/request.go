package wsgi

import (
	"errors"
	"io"
	"os"
)

// Field is one header line, with the name as the client or app sent it.
type Field struct {
	Name, Value string
}

// Request is what a transport hands the gateway. It is owned by the
// transport and must stay valid until Serve returns.
type Request struct {
	Method     string // "GET"
	RequestURI string // the raw request-target, e.g. "/a%20b?x=1"
	Proto      string // "HTTP/1.1"
	Header     []Field
	// Host is the Host header (or HTTP/2 :authority), "" if none.
	Host string
	// ContentLength is the body length, or -1 if it is not known in advance
	// (chunked). Zero means no body.
	ContentLength int64
	// Body reads the request body; nil if there is none. Reading it past
	// the end returns io.EOF, never bytes of the next request.
	Body io.Reader
	// Expect100 is set when the client sent "Expect: 100-continue": the
	// body is then not read before the app asks for it, so the transport
	// sends "100 Continue" only if the app reads the body.
	Expect100 bool
	// RemoteAddr and RemotePort are the client's address ("" for unix sockets).
	RemoteAddr, RemotePort string
	// LocalAddr and LocalPort are the address the connection arrived on.
	LocalAddr, LocalPort string
	// TLS is set for requests that arrived over TLS.
	TLS bool
	// Env holds more environ variables, by their names (HTTPS and
	// mod_ssl's SSL_* for a TLS connection); they go after the headers.
	Env []Field
	// App is the index of the app to run among the gateway's.
	App int
	// ScriptName is the SCRIPT_NAME the app is mounted at ("" for the root).
	ScriptName string
	// Routed is set when the transport has split the path (see package
	// dispatch): PathInfo is then PATH_INFO, decoded, after ScriptName.
	// Else PATH_INFO is the whole decoded path of RequestURI.
	Routed   bool
	PathInfo string
}

// ResponseHead is a validated response status line and header block.
type ResponseHead struct {
	Status int
	Reason string
	// Header holds the app's end-to-end headers; hop-by-hop headers are
	// removed (as gunicorn does) and Content-Length is in ContentLength.
	Header []Field
	// ContentLength is the body length, or -1 if unknown (the transport
	// then uses chunked encoding on HTTP/1.1, or closes on HTTP/1.0). It
	// is the app's own when it sent one, even if its body falls short
	// (Serve then returns ErrShortBody).
	ContentLength int64
	// Close is set when the app sent "Connection: close".
	Close bool
	// Whole is set when the body follows in a single Write and nothing
	// after it (a buffered response, an error page): the transport need
	// not flush before the response ends.
	Whole bool
}

// ResponseWriter is the transport's side of a response. Methods are called
// from one goroutine at a time, in order: WriteHeader once, then Write or
// SendFile. The gateway gives no more body than the head's ContentLength;
// a transport still sends no more than it declared, dropping the excess
// so that the response stays framed.
type ResponseWriter interface {
	// WriteHeader sends the head. h and its strings are valid only
	// during the call: what the transport keeps, it copies.
	WriteHeader(h *ResponseHead) error
	// Write sends body bytes and flushes them to the client.
	Write(p []byte) error
	// SendFile sends count bytes of f starting at offset, using sendfile
	// where the transport can.
	SendFile(f *os.File, offset, count int64) error
}

// Serve's errors. The transport closes the connection for each.
var (
	// ErrAborted: the app failed after the response headers were sent; the
	// response is incomplete and the connection must be closed, not reused.
	ErrAborted = errors.New("wsgi: response aborted after headers were sent")
	// ErrClientGone: writing the response failed.
	ErrClientGone = errors.New("wsgi: client went away")
	// ErrShortBody: the app's body ended before its Content-Length. What
	// there was has been written, under the app's Content-Length; the
	// transport ends the response there, flushing what it holds: on
	// HTTP/1.1 it closes the connection, on HTTP/2 it resets the stream
	// (a body shorter than its content-length is malformed, RFC 9113
	// 8.1.1), so the client sees the response truncated.
	ErrShortBody = errors.New("wsgi: response body shorter than its Content-Length")
)
