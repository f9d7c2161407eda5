package cli

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/pogoserver/pogo/internal/metrics"
	"github.com/pogoserver/pogo/internal/server"
)

// figures returns what /metrics shows: the request figures, the master's
// worker figures (nil without a master), and whether pogo is ready.
type figures func() (metrics.Snapshot, *metrics.Workers, bool)

// serveMetrics serves --metrics-bind: /metrics in the Prometheus text
// format, /healthz (liveness: the process answers) and /readyz (readiness:
// the app is serving and pogo is not shutting down). It returns a
// function that stops it.
func serveMetrics(addr string, get figures, log *slog.Logger) (func(), error) {
	ls, err := server.Listen([]string{addr}, 0)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		s, workers, _ := get()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		metrics.Write(w, &s, workers)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if _, _, ready := get(); !ready {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	log.Info("Metrics on " + urls([]net.Addr{ls[0].Addr()}, false)[0] + " (/metrics, /healthz, /readyz)")
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ls[0]); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server failed", "err", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}
