// Command h3load loads an HTTP/3 server as h2load loads an HTTP/2 one:
// -c connections (each its own QUIC connection), -m requests in flight on
// each, for -D seconds or -n requests, over quic-go's client. Debian's
// h2load is built without QUIC, so the bench uses this in its place for
// the h3 rows; it prints h2load's summary lines, and writes h2load's
// --log-file format (the third column: microseconds from request to the
// end of its response), so the same parser reads both.
//
//	h3load [-c N] [-m N] [-D SECONDS | -n N] [--log-file FILE] URL
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

type result struct {
	start   time.Duration // since the run began
	took    time.Duration
	status  int
	bytes   int64
	failed  bool
	timeout bool
}

func main() {
	conns := flag.Int("c", 1, "QUIC connections")
	streams := flag.Int("m", 1, "requests in flight per connection")
	secs := flag.Float64("D", 0, "seconds to run (else -n requests)")
	n := flag.Int("n", 1, "requests in all, without -D")
	threads := flag.Int("t", 1, "accepted for h2load's command line; Go uses the CPUs it is given")
	reqTimeout := flag.Float64("T", 10, "seconds a request may take")
	logFile := flag.String("log-file", "", "write one line per request, h2load's format")
	flag.CommandLine.Parse(splitShort(os.Args[1:]))
	_ = threads
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: h3load [-c N] [-m N] [-D SECONDS | -n N] [--log-file FILE] URL")
		os.Exit(2)
	}
	url := flag.Arg(0)

	begin := time.Now()
	var deadline time.Time
	if *secs > 0 {
		deadline = begin.Add(time.Duration(*secs * float64(time.Second)))
	}
	var left atomic.Int64
	left.Store(int64(*n))
	more := func() bool {
		if !deadline.IsZero() {
			return time.Now().Before(deadline)
		}
		return left.Add(-1) >= 0
	}

	var mu sync.Mutex
	var results []result
	var wg sync.WaitGroup
	for range *conns {
		tr := &http3.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the bench's certificate is made per run
			QUICConfig:      &quic.Config{MaxIncomingStreams: int64(*streams) + 100},
		}
		defer tr.Close()
		client := &http.Client{Transport: tr, Timeout: time.Duration(*reqTimeout * float64(time.Second))}
		for range *streams {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []result
				for more() {
					t0 := time.Now()
					r := result{start: t0.Sub(begin)}
					resp, err := client.Get(url)
					if err == nil {
						r.status = resp.StatusCode
						r.bytes, err = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
					r.took = time.Since(t0)
					if err != nil {
						r.failed = true
						r.timeout = os.IsTimeout(err) || err == context.DeadlineExceeded
					}
					mine = append(mine, r)
				}
				mu.Lock()
				results = append(results, mine...)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	elapsed := time.Since(begin)
	report(os.Stdout, results, elapsed)
	if *logFile != "" {
		if err := writeLog(*logFile, results); err != nil {
			fmt.Fprintln(os.Stderr, "h3load:", err)
			os.Exit(1)
		}
	}
}

// splitShort splits h2load's joined short flags ("-c16") into a flag and
// its value, for package flag.
func splitShort(args []string) []string {
	var out []string
	for _, a := range args {
		if len(a) > 2 && a[0] == '-' && a[1] != '-' && strings.ContainsRune("cmDntT", rune(a[1])) {
			out = append(out, a[:2], a[2:])
			continue
		}
		out = append(out, a)
	}
	return out
}

// report prints h2load's summary lines.
func report(w io.Writer, rs []result, elapsed time.Duration) {
	var ok, failed, timeouts int
	var classes [6]int
	var data int64
	for _, r := range rs {
		if r.failed {
			failed++
			if r.timeout {
				timeouts++
			}
			continue
		}
		data += r.bytes
		if c := r.status / 100; c >= 2 && c <= 5 {
			classes[c]++
		}
		if r.status < 400 {
			ok++
		} else {
			failed++
		}
	}
	s := elapsed.Seconds()
	fmt.Fprintf(w, "finished in %.2fs, %.2f req/s, %.2fKB/s\n", s, float64(ok)/s, float64(data)/1024/s)
	fmt.Fprintf(w, "requests: %d total, %d started, %d done, %d succeeded, %d failed, %d errored, %d timeout\n",
		len(rs), len(rs), len(rs), ok, failed, failed-classes[4]-classes[5], timeouts)
	fmt.Fprintf(w, "status codes: %d 2xx, %d 3xx, %d 4xx, %d 5xx\n", classes[2], classes[3], classes[4], classes[5])
	fmt.Fprintf(w, "traffic: %dB (%d) total, 0B (0) headers (space savings 0.00%%), %dB (%d) data\n", data, data, data, data)
}

// writeLog writes h2load's per-request log: start (µs since the epoch),
// status, microseconds to the end of the response.
func writeLog(path string, rs []result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	for _, r := range rs {
		if !r.failed {
			fmt.Fprintf(bw, "%d\t%d\t%d\n", r.start.Microseconds(), r.status, r.took.Microseconds())
		}
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
