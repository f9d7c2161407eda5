package server

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/pogoserver/pogo/internal/wsgi"
)

// Trusted is the set of peers whose proxy headers are believed
// (--forwarded-allow-ips): X-Forwarded-For, -Proto and -Host, RFC 7239
// Forwarded, and PROXY protocol headers. From any other peer they are
// left alone: the app sees them as headers, and REMOTE_ADDR, the scheme
// and the host stay those of the connection.
type Trusted struct {
	all  bool
	nets []netip.Prefix

	// secure are gunicorn's secure_scheme_headers besides
	// X-Forwarded-Proto, lowercase name to lowercase value: a header
	// with that value means https, any other value http.
	secure    map[string]string
	anySecure bool // one of them is not Forwarded-length x-* or f-*
}

// gunicornSecure are gunicorn's default secure_scheme_headers, but
// X-Forwarded-Proto, which pogo reads anyway.
var gunicornSecure = map[string]string{"x-forwarded-protocol": "ssl", "x-forwarded-ssl": "on"}

// SetSecureSchemeHeaders replaces the headers that say a request came
// over https (gunicorn's secure_scheme_headers: name to the value that
// means https). X-Forwarded-Proto and Forwarded are read whatever they
// say; without a call, gunicorn's defaults (X-Forwarded-Protocol: ssl,
// X-Forwarded-Ssl: on) are used. Call it before serving.
func (t *Trusted) SetSecureSchemeHeaders(h map[string]string) {
	t.secure = map[string]string{}
	t.anySecure = false
	for k, v := range h {
		k = strings.ToLower(k)
		if k == "x-forwarded-proto" {
			continue
		}
		t.secure[k] = strings.ToLower(v)
		if len(k) < len("Forwarded") || k[0] != 'f' && k[0] != 'x' {
			t.anySecure = true
		}
	}
}

// ParseTrusted reads a comma-separated list of IP addresses and CIDR
// prefixes, or "*" for every peer. An empty list trusts no one.
func ParseTrusted(list string) (*Trusted, error) {
	t := &Trusted{secure: gunicornSecure}
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
		case s == "*":
			t.all = true
		case strings.Contains(s, "/"):
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("forwarded-allow-ips: %q is not an IP address or CIDR prefix", s)
			}
			t.nets = append(t.nets, p.Masked())
		default:
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("forwarded-allow-ips: %q is not an IP address or CIDR prefix", s)
			}
			t.nets = append(t.nets, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
	}
	return t, nil
}

// Has reports whether the peer at ip (as text; "" for a unix socket, which
// is trusted: only local processes reach it) is trusted.
func (t *Trusted) Has(ip string) bool {
	if t == nil {
		return false
	}
	if t.all || ip == "" {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(ip, "[]"))
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range t.nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwarded applies a trusted peer's proxy headers to req: the client's
// address, the scheme and the host. Forwarded (RFC 7239) is used if
// present, else the X-Forwarded-* headers. For the address it walks the
// list from the right (the entry the nearest proxy added) past the
// proxies it trusts; the scheme and host are the nearest proxy's.
// It returns the request's header fields with Host replaced.
func (t *Trusted) forwarded(req *wsgi.Request, fields []wsgi.Field) []wsgi.Field {
	var fwd, xff, xproto, xhost, secure string
	for _, f := range fields {
		if (len(f.Name) < len("Forwarded") || f.Name[0]|0x20 != 'f' && f.Name[0]|0x20 != 'x') && !t.anySecure {
			continue // most headers: not one of these
		}
		switch {
		case strings.EqualFold(f.Name, "Forwarded"):
			fwd = join(fwd, f.Value)
		case strings.EqualFold(f.Name, "X-Forwarded-For"):
			xff = join(xff, f.Value)
		case strings.EqualFold(f.Name, "X-Forwarded-Proto"):
			xproto = join(xproto, f.Value)
		case strings.EqualFold(f.Name, "X-Forwarded-Host"):
			xhost = join(xhost, f.Value)
		case secure == "":
			for name, want := range t.secure { // a few: no lowercase copy of f.Name
				if strings.EqualFold(f.Name, name) {
					secure = "http"
					if strings.EqualFold(strings.TrimSpace(f.Value), want) {
						secure = "https"
					}
				}
			}
		}
	}
	if fwd == "" && xff == "" && xproto == "" && xhost == "" && secure == "" {
		return fields // the usual case: nothing to apply, nothing allocated
	}
	var client, port, proto, host string
	if fwd != "" {
		elems := strings.Split(fwd, ",")
		for i := len(elems) - 1; i >= 0; i-- {
			for _, pair := range strings.Split(elems[i], ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(pair), "=")
				v = strings.Trim(strings.TrimSpace(v), `"`)
				switch strings.ToLower(k) {
				case "for":
					client, port = forNode(v)
				case "proto":
					if i == len(elems)-1 {
						proto = v
					}
				case "host":
					if i == len(elems)-1 {
						host = v
					}
				}
			}
			if !t.Has(client) || i == 0 {
				break
			}
		}
	} else {
		for rest := xff; rest != ""; {
			i := strings.LastIndexByte(rest, ',')
			client, port = strings.TrimSpace(rest[i+1:]), ""
			if i < 0 || !t.Has(client) {
				break
			}
			rest = rest[:i]
		}
		proto, host = last(xproto), last(xhost)
	}
	if proto == "" {
		proto = secure // X-Forwarded-Ssl: on, ...
	}
	if client != "" && !strings.HasPrefix(client, "_") && client != "unknown" {
		req.RemoteAddr, req.RemotePort = client, port
		if port == "" {
			req.RemotePort = "0"
		}
	}
	switch strings.ToLower(proto) {
	case "https", "wss":
		req.TLS = true
	case "http", "ws":
		req.TLS = false
	}
	if host != "" {
		req.Host = host
		replaced := false
		for i := range fields {
			if strings.EqualFold(fields[i].Name, "Host") {
				fields[i].Value, replaced = host, true
			}
		}
		if !replaced {
			fields = append(fields, wsgi.Field{Name: "Host", Value: host})
		}
	}
	return fields
}

// forNode splits a Forwarded for= node: "192.0.2.1", "192.0.2.1:4711",
// "[2001:db8::1]:4711", "unknown" or an obfuscated "_name".
func forNode(v string) (host, port string) {
	if rest, ok := strings.CutPrefix(v, "["); ok {
		h, p, _ := strings.Cut(rest, "]")
		return h, strings.TrimPrefix(p, ":")
	}
	if strings.Count(v, ":") == 1 {
		h, p, _ := strings.Cut(v, ":")
		return h, p
	}
	return v, ""
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "," + b
}

// last is the last element of a comma-separated list, trimmed.
func last(list string) string {
	if i := strings.LastIndexByte(list, ','); i >= 0 {
		list = list[i+1:]
	}
	return strings.TrimSpace(list)
}
