package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// wantBody is what examples/hello.py answers.
const wantBody = "Hello, World!\n"

var request = []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")

// maxErrs is how many failures a stats keeps the text of.
const maxErrs = 5

// stats is what one load phase did.
type stats struct {
	requests int64    // sent, failed or not
	failures int64    // I/O errors, statuses other than 200 and wrong bodies
	errs     []string // the first maxErrs failures
}

// load sends n requests to addr over conns keep-alive connections. After
// every request whose number is a multiple of every (if every > 0) it calls
// onEvery with that number, from the goroutine that sent it. It stops early
// when ctx ends.
func load(ctx context.Context, addr string, n, conns int, every int64, onEvery func(done int64)) stats {
	var (
		next, done, failures atomic.Int64
		mu                   sync.Mutex
		errs                 []string // guarded by mu
		wg                   sync.WaitGroup
	)
	for range min(conns, n) {
		wg.Go(func() {
			c := &client{addr: addr}
			defer c.close()
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				if err := c.get(ctx); err != nil {
					failures.Add(1)
					mu.Lock()
					if len(errs) < maxErrs {
						errs = append(errs, err.Error())
					}
					mu.Unlock()
				}
				if d := done.Add(1); every > 0 && d%every == 0 {
					onEvery(d)
				}
			}
		})
	}
	wg.Wait()
	return stats{requests: done.Load(), failures: failures.Load(), errs: errs}
}

// client is one keep-alive connection, used by one goroutine at a time. It
// dials on first use and again after an error or "Connection: close".
type client struct {
	addr string
	nc   net.Conn      // nil when not connected
	br   *bufio.Reader // reads nc
	stop func() bool   // stops closing nc when the context ends
}

// get sends one request and checks the response.
func (c *client) get(ctx context.Context) error {
	if c.nc == nil {
		var d net.Dialer
		nc, err := d.DialContext(ctx, "tcp", c.addr)
		if err != nil {
			return err
		}
		c.nc = nc
		// Unblocks a read from a pogo that stopped answering when -timeout passes.
		c.stop = context.AfterFunc(ctx, func() { nc.Close() })
		if c.br == nil {
			c.br = bufio.NewReader(nc)
		} else {
			c.br.Reset(nc)
		}
	}
	if _, err := c.nc.Write(request); err != nil {
		c.close()
		return err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.close()
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		c.close()
	}
	switch {
	case err != nil:
		return err
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("status %s, body %.100q", resp.Status, body)
	case string(body) != wantBody:
		return fmt.Errorf("body %.100q, want %q", body, wantBody)
	}
	return nil
}

func (c *client) close() {
	if c.nc != nil {
		c.stop()
		c.nc.Close()
		c.nc = nil
	}
}
