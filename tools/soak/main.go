// Command soak runs pogo under sustained keep-alive load and checks that it
// fails no request and does not keep growing its resident memory.
//
// Usage:
//
//	go run ./tools/soak -pogo bin/pogo [flags] -- [pogo arguments]
//
// soak starts pogo as a child with "-b 127.0.0.1:0" followed by the arguments
// after "--", learns the address from the banner pogo writes to stderr, and
// waits until it answers. It sends -warmup requests, reads pogo's resident
// set size (VmRSS in /proc/PID/status), then sends -n requests over -conns
// keep-alive connections, sampling the RSS every -sample requests. Every
// response must be 200 with the body "Hello, World!\n", what
// examples/hello.py answers. Finally it stops pogo with SIGTERM and requires
// exit status 0.
//
// soak exits 1 if a request failed, the RSS grew by more than -max-growth-mb
// between the end of the warm-up and the end of the run, pogo did not exit
// cleanly, or the whole run took longer than -timeout. It reads /proc, so it
// runs on Linux only.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1)
	}
}

// config is soak's command line.
type config struct {
	pogo        string        // path to the pogo binary
	pogoArgs    []string      // passed to pogo after "-b 127.0.0.1:0"
	n           int           // requests measured
	warmup      int           // requests before the baseline RSS; 0 for none
	conns       int           // keep-alive connections
	sample      int           // requests between RSS samples
	maxGrowthMB float64       // largest allowed RSS growth, MiB
	timeout     time.Duration // bound on the whole run
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: soak -pogo bin/pogo [flags] -- [pogo arguments]")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.pogo, "pogo", "bin/pogo", "pogo binary to run")
	fs.IntVar(&c.n, "n", 200000, "requests to send after the warm-up")
	fs.IntVar(&c.warmup, "warmup", 20000, "requests to send before taking the baseline RSS")
	fs.IntVar(&c.conns, "conns", 32, "keep-alive connections sending requests at once")
	fs.IntVar(&c.sample, "sample", 10000, "requests between RSS samples")
	fs.Float64Var(&c.maxGrowthMB, "max-growth-mb", 5, "fail if the RSS grows by more than this many MiB after the warm-up")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Minute, "bound on the whole run, from starting pogo to its exit")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.pogoArgs = fs.Args()
	switch {
	case c.n <= 0:
		return c, errors.New("soak: -n must be positive")
	case c.warmup < 0:
		return c, errors.New("soak: -warmup must not be negative")
	case c.conns <= 0:
		return c, errors.New("soak: -conns must be positive")
	case c.sample <= 0:
		return c, errors.New("soak: -sample must be positive")
	case c.maxGrowthMB < 0:
		return c, errors.New("soak: -max-growth-mb must not be negative")
	case c.timeout <= 0:
		return c, errors.New("soak: -timeout must be positive")
	}
	return c, nil
}

// sample is pogo's RSS after some number of measured requests.
type sample struct {
	requests int64
	rss      int64 // bytes
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	timeoutCtx, cancel := context.WithTimeoutCause(ctx, cfg.timeout, fmt.Errorf("soak: -timeout %s passed", cfg.timeout))
	defer cancel()

	p, err := startPogo(timeoutCtx, cfg.pogo, cfg.pogoArgs, stdout, stderr)
	if err != nil {
		return err
	}
	defer p.kill()
	// A pogo that dies under load ends the run rather than turning every
	// remaining request into a failed dial.
	ctx, cancelRun := context.WithCancelCause(timeoutCtx)
	defer cancelRun(nil)
	loaded := make(chan struct{}) // closed once pogo may exit
	go func() {
		select {
		case <-p.exited:
			cancelRun(fmt.Errorf("soak: pogo exited during the run: %w", p.err))
		case <-loaded:
		}
	}()
	if err := waitReady(ctx, p.addr); err != nil {
		return err
	}

	warm := load(ctx, p.addr, cfg.warmup, cfg.conns, 0, nil)
	if err := context.Cause(ctx); err != nil {
		return err
	}
	base, err := p.rss()
	if err != nil {
		return err
	}

	var mu sync.Mutex
	samples := []sample{{0, base}} // guarded by mu while load runs
	var sampleErr error            // guarded by mu while load runs
	start := time.Now()
	st := load(ctx, p.addr, cfg.n, cfg.conns, int64(cfg.sample), func(done int64) {
		rss, err := p.rss()
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			sampleErr = err
			return
		}
		samples = append(samples, sample{done, rss})
	})
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if sampleErr != nil {
		return sampleErr
	}
	end, err := p.rss()
	if err != nil {
		return err
	}
	slices.SortFunc(samples, func(a, b sample) int { return cmp.Compare(a.requests, b.requests) })
	if samples[len(samples)-1].requests != st.requests {
		samples = append(samples, sample{st.requests, end})
	}

	// Stop pogo before reporting, so its shutdown log does not land in the
	// middle of the report.
	close(loaded)
	stopErr := p.stop(timeoutCtx)

	r := report{cfg: cfg, warm: warm, run: st, elapsed: elapsed, samples: samples, end: end}
	r.write(stdout)
	var problems []string
	if n := warm.failures + st.failures; n > 0 {
		problems = append(problems, fmt.Sprintf("%d failed requests", n))
	}
	if g := r.growthMB(); g > cfg.maxGrowthMB {
		problems = append(problems, fmt.Sprintf("RSS grew %.1f MiB, more than -max-growth-mb %g", g, cfg.maxGrowthMB))
	}
	if stopErr != nil {
		problems = append(problems, stopErr.Error())
	}
	if len(problems) > 0 {
		fmt.Fprintln(stdout, "FAIL")
		return fmt.Errorf("soak: %s", strings.Join(problems, "; "))
	}
	fmt.Fprintln(stdout, "PASS")
	return nil
}

// report is what one run measured.
type report struct {
	cfg     config
	warm    stats
	run     stats
	elapsed time.Duration
	samples []sample // sorted; the first is the baseline after the warm-up
	end     int64    // RSS after the last request, bytes
}

const mib = 1 << 20

func (r *report) growthMB() float64 {
	return float64(r.end-r.samples[0].rss) / mib
}

func (r *report) write(w io.Writer) {
	base := r.samples[0].rss
	maxRSS := r.end
	for _, s := range r.samples {
		maxRSS = max(maxRSS, s.rss)
	}
	// Growth over the second half tells a leak (it keeps growing at the
	// same rate) from allocator and GC warm-up (it flattens out).
	mid := r.samples[len(r.samples)/2]

	fmt.Fprintf(w, "pogo        %s %s\n", r.cfg.pogo, strings.Join(r.cfg.pogoArgs, " "))
	fmt.Fprintf(w, "warm-up     %d requests, %d failures\n", r.warm.requests, r.warm.failures)
	fmt.Fprintf(w, "requests    %d over %d connections in %.1fs: %.0f req/s\n",
		r.run.requests, r.cfg.conns, r.elapsed.Seconds(), float64(r.run.requests)/r.elapsed.Seconds())
	fmt.Fprintf(w, "failures    %d\n", r.run.failures)
	for _, e := range append(r.warm.errs, r.run.errs...) {
		fmt.Fprintf(w, "            %s\n", e)
	}
	fmt.Fprintf(w, "RSS         %.1f MiB after warm-up, %.1f MiB at end, max %.1f MiB\n",
		float64(base)/mib, float64(r.end)/mib, float64(maxRSS)/mib)
	fmt.Fprintf(w, "growth      %+.2f MiB (limit %g); %+.2f MiB over the last %d requests\n",
		r.growthMB(), r.cfg.maxGrowthMB, float64(r.end-mid.rss)/mib, r.run.requests-mid.requests)
	var b strings.Builder
	for _, s := range r.samples {
		fmt.Fprintf(&b, " %.1f", float64(s.rss)/mib)
	}
	fmt.Fprintf(w, "RSS series  MiB every %d requests:%s\n", r.cfg.sample, b.String())
}
