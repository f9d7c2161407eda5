package wsgi

import (
	"errors"
	"io"
	"os"

	"github.com/pogoserver/pogo/internal/cpython"
)

// readBody reads the request body before the call, as far as the limits
// go (Options.Prefetch, Options.SpoolMax): into c.body, and past Prefetch
// into a spool file. What it does not read the app streams (MoreBody,
// from c.rest). It returns the CONTENT_LENGTH to report: the body's
// length when it has all of it, else the request's (-1 if chunked).
func (c *call) readBody(prefetch int, spoolMax int64) (int64, error) {
	req := c.req
	c.body = c.body[:0]
	c.rest = req.Body
	n := req.ContentLength
	switch {
	case req.Body == nil || n == 0:
		return n, nil
	case req.Expect100 && spoolMax <= 0:
		// The app decides whether it wants the body: 100 Continue is
		// sent when it reads.
		c.flags |= cpython.MoreBody
		return n, nil
	case n > int64(prefetch) && (spoolMax <= 0 || n > spoolMax):
		c.flags |= cpython.MoreBody
		return n, nil
	}

	// Into memory, up to prefetch (plus one byte, to tell "exactly
	// prefetch" from "more" in a chunked body).
	want := prefetch + 1
	if n >= 0 {
		want = int(min(n, int64(prefetch)))
	}
	if cap(c.body) < want {
		c.body = make([]byte, want)
	}
	got, err := io.ReadFull(req.Body, c.body[:want])
	c.body = c.body[:got]
	if n < 0 && err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return int64(got), nil // all of a chunked body
		}
		return -1, err
	}
	if err != nil {
		return n, err
	}
	if int64(got) == n {
		return n, nil
	}

	// The rest, into the spool.
	c.flags |= cpython.MoreBody
	if spoolMax <= 0 {
		return n, nil // chunked, streamed from here
	}
	f, err := os.CreateTemp("", "pogo-body-*")
	if err != nil {
		return n, err
	}
	os.Remove(f.Name()) // gone when closed, whatever happens
	c.spool = f
	max := spoolMax - int64(got)
	if n >= 0 {
		max = n - int64(got)
	}
	// One byte more than a chunked body may have: then the rest streams.
	spooled, err := io.Copy(f, io.LimitReader(req.Body, max+1))
	if err != nil {
		return n, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return n, err
	}
	switch {
	case n >= 0 && spooled < max:
		return n, io.ErrUnexpectedEOF
	case n >= 0:
		c.rest = f
		return n, nil
	case spooled <= max:
		c.rest = f
		return int64(got) + spooled, nil
	}
	// A chunked body longer than spoolMax: what is spooled, then the
	// client.
	c.rest = io.MultiReader(f, req.Body)
	return -1, nil
}

// closeSpool removes the spool file, if any.
func (c *call) closeSpool() {
	if c.spool != nil {
		c.spool.Close()
		c.spool = nil
	}
	c.rest = nil
}
