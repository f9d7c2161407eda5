package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/pogoserver/pogo/internal/config"
	"github.com/pogoserver/pogo/internal/cpython"
	"github.com/pogoserver/pogo/internal/dispatch"
	"github.com/pogoserver/pogo/internal/static"
)

// specs lists the distinct app specs of cfg, the main app first.
func specs(cfg *config.Config) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	add(cfg.App)
	for _, r := range cfg.Mounts {
		add(r.Value)
	}
	for _, r := range cfg.VirtualHosts {
		add(r.Value)
	}
	return out
}

// loadApps imports every app of cfg on t. The error names the spec.
func loadApps(t *cpython.Thread, cfg *config.Config, mode cpython.Mode) ([]*cpython.App, error) {
	var apps []*cpython.App
	for _, spec := range specs(cfg) {
		app, err := t.Load(spec, mode)
		if err != nil {
			return nil, fmt.Errorf("cannot load app %q: %w", describe(spec), err)
		}
		apps = append(apps, app)
	}
	return apps, nil
}

// loadFailed is loadApps for apps that failed to load on t: a stand-in
// for each that answers every request with a 500 and the debug page of
// the failure.
func loadFailed(t *cpython.Thread, cfg *config.Config, mode cpython.Mode) ([]*cpython.App, error) {
	var apps []*cpython.App
	for _, spec := range specs(cfg) {
		app, err := t.Load("failed:"+describe(spec), mode)
		if err != nil {
			return nil, err
		}
		apps = append(apps, app)
	}
	return apps, nil
}

// logLoadError logs why the apps did not load, with the traceback.
func logLoadError(log *slog.Logger, err error) {
	var pe *cpython.Error
	if errors.As(err, &pe) && pe.Traceback != "" {
		log.Error(err.Error()+"; serving its error page until the next edit", "traceback", pe.Traceback)
		return
	}
	log.Error(err.Error() + "; serving its error page until the next edit")
}

// routes builds the routing table of cfg over the apps as specs lists
// them, or nil when there is only the main app at the root.
func routes(cfg *config.Config) (*dispatch.Table[int], error) {
	if len(cfg.Mounts) == 0 && len(cfg.VirtualHosts) == 0 && cfg.RootPath == "" {
		return nil, nil
	}
	index := map[string]int{}
	for i, s := range specs(cfg) {
		index[s] = i
	}
	t := new(dispatch.Table[int])
	if cfg.App != "" {
		if err := t.SetRoot(index[cfg.App], cfg.RootPath); err != nil {
			return nil, err
		}
	}
	for _, r := range cfg.Mounts {
		if err := t.Mount(r.Key, index[r.Value]); err != nil {
			return nil, err
		}
	}
	for _, r := range cfg.VirtualHosts {
		if err := t.VirtualHost(r.Key, index[r.Value]); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// describeSite says, a line each, what cfg serves besides its main app
// at the root: static directories first, as requests meet them.
func describeSite(cfg *config.Config) []string {
	var out []string
	for _, r := range cfg.Static {
		out = append(out, fmt.Sprintf("Static files %s/ from %s", strings.TrimSuffix(r.Key, "/"), r.Value))
	}
	for _, r := range cfg.VirtualHosts {
		out = append(out, fmt.Sprintf("Virtual host %s: %s", r.Key, describe(r.Value)))
	}
	for _, r := range cfg.Mounts {
		out = append(out, fmt.Sprintf("Mount %s: %s", r.Key, describe(r.Value)))
	}
	if cfg.RootPath != "" {
		out = append(out, fmt.Sprintf("Root path %s: SCRIPT_NAME for %s", cfg.RootPath, describe(cfg.App)))
	}
	return out
}

// openStatic opens the static directories of cfg.
func openStatic(cfg *config.Config) ([]*static.Dir, error) {
	var dirs []*static.Dir
	for _, r := range cfg.Static {
		d, err := static.New(r.Key, r.Value, cfg.StaticMaxAge)
		if err != nil {
			for _, d := range dirs {
				d.Close()
			}
			return nil, fmt.Errorf("--static %s=%s: %w", r.Key, r.Value, err)
		}
		dirs = append(dirs, d)
	}
	return dirs, nil
}
