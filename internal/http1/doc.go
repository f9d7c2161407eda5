// Package http1 is pogo's own HTTP/1.1 request parser and chunked body
// decoder: strict per RFC 9112, parsing in place from the connection's read
// buffer without allocating.
//
// ParseHead reads a request head into a Request whose fields point into
// the buffer; ChunkedReader decodes a chunked body from a bufio.Reader and
// stops exactly at its end, so pipelined requests stay in the buffer. Every
// rejection is an *Error carrying the status to answer with; after one the
// connection's framing cannot be trusted, so the server answers and closes.
//
// # Policy
//
// Where RFC 9112 lets a recipient choose, pogo takes the strict side when
// the choice affects message framing (where request smuggling lives) and
// the lenient one where it does not:
//
//	input                                           answer
//	-----                                           ------
//	empty lines before the request line             ignored, up to 8 bytes (RFC 9112 2.2)
//	bare LF ending a head line                      accepted (RFC 9112 2.2)
//	bare CR anywhere                                400
//	request line: not "METHOD SP target SP version",
//	  extra spaces, tabs, lower-case "http/"        400
//	method not a token                              400
//	target with CTL, SP, DEL or empty               400
//	target not origin-, absolute- or (OPTIONS)
//	  asterisk-form                                 400
//	absolute-form target                            its authority is the host; Host ignored
//	absolute-form with an empty host (http:///)     400 (RFC 9110 4.2.1)
//	CONNECT (authority-form)                        501
//	HTTP/2.0, HTTP/0.9, any major != 1              505
//	HTTP/1.x with x > 1                             served as HTTP/1.1
//	request line over Limits.RequestLine            414 (checked before the line ends)
//	obs-fold (line starting with SP or HTAB)        400
//	whitespace before the colon, non-token name     400
//	NUL, CTL (but HTAB) or DEL in a field value     400
//	field line over Limits.FieldSize                431
//	more than Limits.Fields fields                  431
//	HTTP/1.1 without Host, or two Host fields,
//	  or a Host with characters outside uri-host    400
//	two Content-Type fields (even identical ones)   400
//	Content-Length not 1-18 digits (sign, list, hex,
//	  empty, overflow)                              400
//	two Content-Length fields that differ           400 (identical ones: one length)
//	Content-Length and Transfer-Encoding together   400
//	Transfer-Encoding in an HTTP/1.0 request        400
//	final coding not chunked (xchunked,
//	  "chunked, identity", empty)                   400
//	chunked twice, or two Transfer-Encoding fields  400
//	another coding before chunked ("gzip, chunked") 501
//	Expect other than 100-continue                  417
//	chunk size not hex, signed, 0x-prefixed, empty  400
//	chunk size over 2^63-1                          400
//	chunk-ext not ";name[=token|quoted-string]"     400
//	whitespace before the CRLF of a chunk-size line
//	  ("0 ", "5\t", "5;a=b ")                       400 (net/http trims it)
//	whitespace before a chunk-ext ("5 ;a=b")        accepted: BWS (RFC 9112 7.1.1)
//	chunk data longer than its size, bare LF in
//	  any chunk framing line                        400
//	chunked body cut off (EOF, half-close) before
//	  its closing blank line ("0\r\n", then EOF)    400 (the handler's body read fails)
//	trailer field malformed or folded               400 (valid trailers are discarded)
//
// The table is tested case by case in parse_test.go (TestConformance),
// every valid case is compared with what net/http parses from the same
// bytes (TestDifferential), and both entry points are fuzzed with the
// table as seeds.
package http1
