package wsgi

import (
	"encoding/binary"
	"strconv"
	"strings"
	"unsafe"
)

// envKeys are the environ keys sent by index in the env buffer; the C side
// makes each an interned str once. Index i in this slice is key i+1. The
// first envReserved are in (nearly) every request: the base environ holds
// them already, so building a request's environ replaces their values
// instead of growing the dict (see cpython.Options.EnvReserved).
var envKeys = []string{
	"REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING",
	"SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "SERVER_SOFTWARE",
	"REMOTE_ADDR", "REMOTE_PORT", "REQUEST_URI", "RAW_URI", "HTTP_HOST",
	// envReserved ends here.
	"CONTENT_TYPE", "CONTENT_LENGTH", "HTTP_USER_AGENT", "HTTP_ACCEPT", "HTTP_ACCEPT_ENCODING",
	"HTTP_ACCEPT_LANGUAGE", "HTTP_ACCEPT_CHARSET", "HTTP_CONNECTION", "HTTP_COOKIE",
	"HTTP_CACHE_CONTROL", "HTTP_PRAGMA", "HTTP_REFERER", "HTTP_ORIGIN",
	"HTTP_AUTHORIZATION", "HTTP_UPGRADE", "HTTP_UPGRADE_INSECURE_REQUESTS",
	"HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_MATCH",
	"HTTP_IF_UNMODIFIED_SINCE", "HTTP_IF_RANGE", "HTTP_RANGE",
	"HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
	"HTTP_X_REAL_IP", "HTTP_X_REQUESTED_WITH", "HTTP_X_CSRFTOKEN",
	"HTTP_FORWARDED", "HTTP_DNT", "HTTP_TE", "HTTP_EXPECT",
	"HTTP_TRANSFER_ENCODING", "HTTP_SEC_FETCH_DEST", "HTTP_SEC_FETCH_MODE",
	"HTTP_SEC_FETCH_SITE", "HTTP_SEC_FETCH_USER", "HTTP_SEC_CH_UA",
	"HTTP_SEC_CH_UA_MOBILE", "HTTP_SEC_CH_UA_PLATFORM", "HTTP_PRIORITY",
}

// envReserved is how many of envKeys buildEnviron sends with every
// request (HTTP_HOST, the last, nearly every).
const envReserved = 13

// EnvKeys returns the key table and the reserved count to pass to
// cpython.Options (EnvKeys, EnvReserved).
func EnvKeys() (keys []string, reserved int) { return envKeys, envReserved }

var keyIndex = func() map[string]byte {
	m := make(map[string]byte, len(envKeys))
	for i, k := range envKeys {
		m[k] = byte(i + 1)
	}
	return m
}()

const (
	kMethod = iota + 1
	kScriptName
	kPathInfo
	kQueryString
	kServerName
	kServerPort
	kServerProtocol
	kServerSoftware
	kRemoteAddr
	kRemotePort
	kRequestURI
	kRawURI
	kHost
	kContentType
	kContentLength
)

// envBuf encodes an environ for pogo_call: each entry is a key (one byte
// index, or 0 + uint16 length + name) and a value (uint32 length + bytes),
// integers in native byte order.
type envBuf []byte

func (b envBuf) add(k byte, v string) envBuf {
	b = append(b, k)
	b = binary.NativeEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

func (b envBuf) addBytes(k byte, v []byte) envBuf {
	b = append(b, k)
	b = binary.NativeEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

// addName adds an entry whose key is given by name (found in the key
// table, or spelled out).
func (b envBuf) addName(name []byte, v string) envBuf {
	if k, ok := keyIndex[string(name)]; ok {
		return b.add(k, v)
	}
	b = append(b, 0)
	b = binary.NativeEndian.AppendUint16(b, uint16(len(name)))
	b = append(b, name...)
	b = binary.NativeEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

// addValues adds an entry whose value is vals joined with sep.
func (b envBuf) addValues(name []byte, vals []string, sep string) envBuf {
	if len(vals) == 1 {
		return b.addName(name, vals[0])
	}
	return b.addName(name, strings.Join(vals, sep))
}

// buildEnviron encodes the CGI part of the environ for req (wsgi.* keys
// are added on the C side). contentLength is the CONTENT_LENGTH to report,
// -1 for none.
// scratch is reused for the decoded path and returned.
func buildEnviron(b envBuf, scratch []byte, req *Request, contentLength int64, software string) (envBuf, []byte) {
	b = b.add(kMethod, req.Method)
	b = b.add(kScriptName, req.ScriptName)
	path, query := splitTarget(req.RequestURI)
	if req.Routed {
		b = b.add(kPathInfo, req.PathInfo)
	} else {
		scratch = unquote(path, scratch[:0])
		b = b.addBytes(kPathInfo, scratch)
	}
	b = b.add(kQueryString, query)
	b = b.add(kRequestURI, req.RequestURI)
	b = b.add(kRawURI, req.RequestURI)
	b = b.add(kServerProtocol, req.Proto)
	b = b.add(kServerSoftware, software)
	b = b.add(kRemoteAddr, req.RemoteAddr)
	b = b.add(kRemotePort, req.RemotePort)
	if contentLength >= 0 {
		var num [20]byte
		b = b.addBytes(kContentLength, strconv.AppendInt(num[:0], contentLength, 10))
	}

	host, port := req.LocalAddr, req.LocalPort
	if req.Host != "" {
		host, port = splitHostPort(req.Host)
		if port == "" {
			port = "80"
			if req.TLS {
				port = "443"
			}
		}
	}
	b = b.add(kServerName, host)
	b = b.add(kServerPort, port)

	var name [128]byte
	var vals [8]string
	for i, f := range req.Header {
		if strings.IndexByte(f.Name, '_') >= 0 || len(f.Name) > 100 {
			// "X_Forwarded_For" would otherwise collide with
			// "X-Forwarded-For" in the environ: drop it (as nginx and
			// gunicorn do).
			continue
		}
		if seen(req.Header[:i], f.Name) {
			continue
		}
		n := envName(name[:0], f.Name)
		if n == nil {
			continue
		}
		vs := append(vals[:0], f.Value)
		for _, g := range req.Header[i+1:] {
			if strings.EqualFold(g.Name, f.Name) {
				vs = append(vs, g.Value)
			}
		}
		sep := ", "
		if strings.EqualFold(f.Name, "Cookie") {
			sep = "; "
		}
		b = b.addValues(n, vs, sep)
	}
	for _, f := range req.Env {
		b = b.addName(unsafe.Slice(unsafe.StringData(f.Name), len(f.Name)), f.Value)
	}
	return b, scratch
}

func seen(earlier []Field, name string) bool {
	for _, f := range earlier {
		if strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

// envName maps a header name to its environ key: CONTENT_TYPE,
// HTTP_USER_AGENT, ... It returns nil for Content-Length, which the
// gateway reports itself.
func envName(dst []byte, name string) []byte {
	switch {
	case strings.EqualFold(name, "Content-Length"):
		return nil
	case strings.EqualFold(name, "Content-Type"):
		return append(dst, "CONTENT_TYPE"...)
	}
	dst = append(dst, "HTTP_"...)
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '-':
			c = '_'
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// DecodePath appends the decoded path of a request-target (what PATH_INFO
// holds before any mount is taken off) to dst.
func DecodePath(dst []byte, target string) []byte {
	path, _ := splitTarget(target)
	return unquote(path, dst)
}

// splitTarget splits a request-target into its path and raw query. An
// absolute-form target ("http://host/p?q") yields its path; a fragment is
// dropped.
func splitTarget(target string) (path, query string) {
	if i := strings.IndexByte(target, '#'); i >= 0 {
		target = target[:i]
	}
	if i := strings.IndexByte(target, '?'); i >= 0 {
		target, query = target[:i], target[i+1:]
	}
	if !strings.HasPrefix(target, "/") {
		if i := strings.Index(target, "://"); i >= 0 {
			rest := target[i+3:]
			if j := strings.IndexByte(rest, '/'); j >= 0 {
				target = rest[j:]
			} else {
				target = "/"
			}
		}
	}
	return target, query
}

// unquote percent-decodes s once, appending to dst. Invalid escapes are
// kept as they are, like Python's urllib.parse.unquote.
func unquote(s string, dst []byte) []byte {
	if strings.IndexByte(s, '%') < 0 {
		return append(dst, s...)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				dst = append(dst, hi<<4|lo)
				i += 2
				continue
			}
		}
		dst = append(dst, c)
	}
	return dst
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// splitHostPort splits "host:port", "[::1]:port", "host" or "[::1]"; a
// bare IPv6 address has no port. (net.SplitHostPort allocates an error
// for a Host without a port, the most common kind.)
func splitHostPort(hostport string) (host, port string) {
	if rest, ok := strings.CutPrefix(hostport, "["); ok {
		host, rest, ok = strings.Cut(rest, "]")
		if !ok {
			return host, ""
		}
		port, _ = strings.CutPrefix(rest, ":")
		return host, port
	}
	if i := strings.IndexByte(hostport, ':'); i >= 0 && i == strings.LastIndexByte(hostport, ':') {
		return hostport[:i], hostport[i+1:]
	}
	return hostport, ""
}

// str views b as a string without copying; b must not change while the
// string is in use.
func str(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
