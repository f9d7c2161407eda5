package server

import (
	"io"
	"net/http"

	"github.com/pogoserver/pogo/internal/http1"
	"github.com/pogoserver/pogo/internal/static"
	"github.com/pogoserver/pogo/internal/wsgi"
)

var notFound = &static.Response{
	Status: http.StatusNotFound,
	Header: []static.Header{{Name: "Content-Type", Value: "text/plain; charset=utf-8"}},
	Length: int64(len("404 Not Found\n")),
	Body:   "404 Not Found\n",
}

// route decides who answers req. It returns a response for Go to send (a
// static file, or 404 when nothing serves the path), or nil after setting
// the app, SCRIPT_NAME and PATH_INFO on req. path is scratch space for the
// decoded path, which req.PathInfo may point into: it must stay unchanged
// until the request is done.
func (s *Server) route(req *wsgi.Request, path *[]byte) *static.Response {
	if len(s.opts.Static) == 0 && s.opts.Routes == nil {
		return nil
	}
	*path = wsgi.DecodePath((*path)[:0], req.RequestURI)
	p := str(*path)
	for _, d := range s.opts.Static {
		if r := d.Serve(req.Method, p, func(name string) string { return fieldList(req.Header).Get(name) }); r != nil {
			return r
		}
	}
	if s.opts.Routes == nil {
		return nil
	}
	app, scriptName, pathInfo, ok := s.opts.Routes.Route(req.Host, p)
	if !ok {
		return notFound
	}
	req.App, req.ScriptName, req.PathInfo, req.Routed = app, scriptName, pathInfo, true
	return nil
}

// sendStatic writes a Go-made response on HTTP/1.1.
func (x *exchange) sendStatic(r *static.Response) {
	if r.File != nil {
		defer r.File.Close()
	}
	for _, h := range r.Header {
		x.out = append(x.out, http1.HeaderField{Name: h.Name, Value: h.Value})
	}
	if err := x.w.WriteHeader(r.Status, http.StatusText(r.Status), x.out, r.Length, false); err != nil || x.req.Method == "HEAD" {
		return
	}
	var err error
	if r.File != nil {
		err = x.w.SendFile(r.File, r.Offset, r.Length)
	} else {
		_, err = io.WriteString(x.w, r.Body)
	}
	if err != nil {
		x.w.Abort()
	}
}
