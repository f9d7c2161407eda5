package cli

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/pogoserver/pogo/internal/config"
	"github.com/pogoserver/pogo/internal/paste"
)

// applyPaste reads cfg.Paste's [server:NAME] section into cfg, for what
// no flag set (set holds the flags given, by first name), and makes
// cfg.App the spec that loads the file's app with PasteDeploy. Keys pogo
// has no use for go to cfg.Notes, for the log.
func applyPaste(cfg *config.Config, set map[string]bool) error {
	if cfg.App != "" {
		return fmt.Errorf("give an app or a config file, not both (%s, %s)", cfg.App, cfg.Paste)
	}
	if cfg.PasteApp == "" {
		cfg.PasteApp = "main"
	}
	if cfg.PasteServer == "" {
		cfg.PasteServer = "main"
	}
	f, err := paste.Read(cfg.Paste, cfg.PasteVars)
	if err != nil {
		return err
	}
	cfg.Paste = f.Path
	spec, _ := json.Marshal(map[string]any{"path": f.Path, "name": cfg.PasteApp, "vars": cfg.PasteVars})
	cfg.App = pastePrefix + string(spec)
	if cfg.CGI && !set["--server-name"] {
		return nil // the CGI host is the server
	}

	conf, ok, err := f.Server(cfg.PasteServer)
	switch {
	case err != nil:
		return err
	case !ok && set["--server-name"]:
		return fmt.Errorf("%s has no [server:%s] section", f.Path, cfg.PasteServer)
	case !ok:
		return nil
	}
	var unused []string
	for _, k := range paste.Keys(conf) {
		handled, err := serverKey(cfg, set, conf, k)
		if err != nil {
			return fmt.Errorf("%s [server:%s] %s = %s: %v", f.Path, cfg.PasteServer, k, conf[k], err)
		}
		if !handled {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		cfg.Notes = append(cfg.Notes, fmt.Sprintf("%s [server:%s]: pogo does not use %s", f.Path, cfg.PasteServer, strings.Join(unused, ", ")))
	}
	return nil
}

// pastePrefix marks an app spec that is a PasteDeploy file, with its
// app name and variables as JSON (cpython's bootstrap loads it).
const pastePrefix = "paste:"

// describe names an app spec for messages.
func describe(spec string) string {
	if js, ok := strings.CutPrefix(spec, pastePrefix); ok {
		var p struct{ Path, Name string }
		json.Unmarshal([]byte(js), &p)
		return p.Path + "#" + p.Name
	}
	return spec
}

// serverKey applies one key of a server section: the keys of waitress,
// gunicorn, CherryPy and paste.httpserver that pogo has an equivalent
// for. It reports false for keys it does not use. A flag given on the
// command line wins over the file.
func serverKey(cfg *config.Config, set map[string]bool, conf map[string]string, k string) (bool, error) {
	v := strings.TrimSpace(conf[k])
	num := func(flag string, dst *int) (bool, error) {
		if set[flag] {
			return true, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return true, fmt.Errorf("not a whole number")
		}
		*dst = n
		return true, nil
	}
	secs := func(flag string, dst *time.Duration) (bool, error) {
		if set[flag] {
			return true, nil
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			return true, fmt.Errorf("not a number of seconds")
		}
		*dst = time.Duration(f * float64(time.Second))
		return true, nil
	}
	bind := func(addrs ...string) (bool, error) {
		if !set["-b"] {
			cfg.Binds = append(cfg.Binds, addrs...)
		}
		return true, nil
	}
	switch k {
	case "use", "paste.server_factory", "paste.server_runner":
		return true, nil // which server the file names: pogo is the server
	case "host", "port":
		// Both make one address; host defaults to all interfaces and
		// port to 8080, as in waitress and paste.httpserver.
		if k == "port" && conf["host"] != "" {
			return true, nil // done with host
		}
		host, port := strings.TrimSpace(conf["host"]), strings.TrimSpace(conf["port"])
		if host == "" {
			host = "0.0.0.0"
		}
		if port == "" {
			port = "8080"
		}
		return bind(net.JoinHostPort(strings.Trim(host, "[]"), port))
	case "listen", "bind": // waitress: "host:port ..."; gunicorn: "host:port"
		var addrs []string
		for _, a := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == '\n' }) {
			if rest, ok := strings.CutPrefix(a, "*:"); ok {
				a = "0.0.0.0:" + rest
			}
			addrs = append(addrs, a)
		}
		return bind(addrs...)
	case "unix_socket":
		return bind("unix:" + v)
	case "threads", "numthreads", "threadpool_workers":
		return num("--threads", &cfg.Threads)
	case "workers":
		return num("-w", &cfg.Workers)
	case "backlog", "request_queue_size":
		return num("--backlog", &cfg.Backlog)
	case "connection_limit", "worker_connections":
		return num("--worker-connections", &cfg.MaxConnections)
	case "max_requests":
		return num("--max-requests", &cfg.MaxRequests)
	case "max_requests_jitter":
		return num("--max-requests-jitter", &cfg.MaxRequestsJitter)
	case "max_memory", "reload_on_rss":
		return num("--max-memory", &cfg.MaxMemoryMB)
	case "channel_timeout", "keepalive":
		return secs("--keep-alive", &cfg.KeepAlive)
	case "graceful_timeout":
		return secs("--graceful-timeout", &cfg.GracefulTimeout)
	case "timeout":
		if !strings.Contains(conf["use"], "gunicorn") {
			return false, nil // CherryPy's and paste's mean a socket timeout
		}
		return secs("-t", &cfg.Timeout)
	case "max_request_body_size":
		if set["--limit-request-body"] {
			return true, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return true, fmt.Errorf("not a whole number")
		}
		cfg.LimitRequestBody = n
		return true, nil
	case "trusted_proxy", "forwarded_allow_ips": // waitress, gunicorn
		if !set["--forwarded-allow-ips"] {
			cfg.ForwardedAllowIPs = v
		}
		return true, nil
	case "proxy_protocol": // gunicorn
		if !set["--proxy-protocol"] {
			cfg.ProxyProtocol = v == "true" || v == "1" || v == "yes" || v == "on"
		}
		return true, nil
	case "url_prefix":
		if !set["--root-path"] {
			cfg.RootPath = v
		}
		return true, nil
	}
	return false, nil
}
