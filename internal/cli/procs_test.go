package cli

import (
	"testing"

	"github.com/pogoserver/pogo/internal/config"
)

func TestGoProcs(t *testing.T) {
	for _, c := range []struct {
		tls           bool
		workers, cpus int
		want          int
	}{
		{false, 0, 8, 1}, // cleartext: one P, whatever the machine
		{false, 4, 8, 1},
		{true, 0, 8, 8}, // TLS: the process's share of the CPUs
		{true, 3, 8, 2},
		{true, 16, 8, 1},
	} {
		cfg := &config.Config{Workers: c.workers}
		if c.tls {
			cfg.CertFiles, cfg.KeyFiles = []string{"c.pem"}, []string{"k.pem"}
		}
		if got := goProcs(cfg, c.cpus); got != c.want {
			t.Errorf("tls=%v workers=%d cpus=%d: %d, want %d", c.tls, c.workers, c.cpus, got, c.want)
		}
	}
}
