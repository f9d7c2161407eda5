package wsgi

import (
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
	got, err := readFull(req.Body, c.body[:want])
	c.body = c.body[:got]
	switch {
	case err == io.EOF && n < 0:
		return int64(got), nil // all of a chunked body
	case err == io.EOF:
		return n, io.ErrUnexpectedEOF // shorter than its Content-Length
	case err != nil && n < 0:
		return -1, err
	case err != nil:
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

// readFull reads into p until it is full (then the error is nil) or r
// fails. Unlike io.ReadFull it keeps r's own errors apart from the end of
// r: io.EOF here is always r's clean end, where io.ReadFull turns that into
// io.ErrUnexpectedEOF after a short read, the error a body reader returns
// for a body cut off before its end.
func readFull(r io.Reader, p []byte) (int, error) {
	got := 0
	for got < len(p) {
		n, err := r.Read(p[got:])
		got += n
		if err != nil {
			if got == len(p) && err == io.EOF {
				break
			}
			return got, err
		}
	}
	return got, nil
}

// closeSpool removes the spool file, if any.
func (c *call) closeSpool() {
	if c.spool != nil {
		c.spool.Close()
		c.spool = nil
	}
	c.rest = nil
}
