package accesslog

import (
	"bufio"
	"io"
	"sync"
	"sync/atomic"
)

const (
	// queueLen is how many formatted lines may wait for the writer before
	// Log starts dropping them.
	queueLen = 4096

	// writeBufferSize is the writer's buffer; lines that arrive together
	// reach the io.Writer in writes of up to this size.
	writeBufferSize = 64 << 10

	// maxPooledLine is the largest line buffer returned to the pool, so that
	// one huge line does not pin its memory forever.
	maxPooledLine = 16 << 10
)

// A Logger formats entries on the caller's goroutine and writes them on its
// own, so that a slow destination never holds up a request. Its methods are
// safe for concurrent use.
type Logger struct {
	format *Format       // immutable after New
	w      io.Writer     // owned by the run goroutine
	queue  chan *[]byte  // Log -> run: one line each, ending in '\n'; never closed
	stop   chan struct{} // closed by Close: run drains queue and exits
	done   chan struct{} // closed by run on exit, after err is set

	closeOnce sync.Once
	closed    atomic.Bool   // set by Close; Log then drops
	dropped   atomic.Uint64 // lines dropped by Log
	lines     sync.Pool     // of *[]byte, shared by Log and run

	err error // first write error; written by run, read by Close after done
}

// New returns a Logger writing lines in format (see Compile) to w, and
// starts its writer goroutine; Close stops it. Only that goroutine writes
// to w.
func New(w io.Writer, format string) (*Logger, error) {
	f, err := Compile(format)
	if err != nil {
		return nil, err
	}
	l := &Logger{
		format: f,
		w:      w,
		queue:  make(chan *[]byte, queueLen),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		lines: sync.Pool{New: func() any {
			b := make([]byte, 0, 256)
			return &b
		}},
	}
	go l.run()
	return l, nil
}

// Log formats e and queues the line for writing. It never blocks: if the
// queue is full, or the Logger is closed, the line is dropped and counted
// in Dropped. Log is done with e when it returns. A line logged while Close
// is running may be lost without being counted.
func (l *Logger) Log(e *Entry) {
	if l.closed.Load() {
		l.dropped.Add(1)
		return
	}
	b := l.lines.Get().(*[]byte)
	*b = append(l.format.Append((*b)[:0], e), '\n')
	select {
	case l.queue <- b:
	default:
		l.dropped.Add(1)
		l.recycle(b)
	}
}

// Dropped returns how many lines Log has dropped.
func (l *Logger) Dropped() uint64 {
	return l.dropped.Load()
}

// Close writes the lines already queued, flushes, stops the writer
// goroutine and returns the first error the io.Writer returned over the
// Logger's life. It blocks for as long as the io.Writer does. Close does not
// close the io.Writer. Later calls return the same error.
func (l *Logger) Close() error {
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		close(l.stop)
	})
	<-l.done
	return l.err
}

// run is the writer goroutine. It writes whatever is queued, and flushes
// whenever the queue runs dry, so a quiet server's lines are not held back
// and a busy server's lines are written in large batches.
func (l *Logger) run() {
	defer close(l.done)
	bw := bufio.NewWriterSize(l.w, writeBufferSize)
	for {
		select {
		case b := <-l.queue:
			l.write(bw, b)
			l.drain(bw)
			l.flush(bw)
		case <-l.stop:
			l.drain(bw)
			l.flush(bw)
			return
		}
	}
}

// drain writes queued lines until the queue is empty.
func (l *Logger) drain(bw *bufio.Writer) {
	for {
		select {
		case b := <-l.queue:
			l.write(bw, b)
		default:
			return
		}
	}
}

func (l *Logger) write(bw *bufio.Writer, b *[]byte) {
	// Whole lines only reach the io.Writer, so that several processes
	// appending to one file (--workers) never interleave within a line.
	if len(*b) > bw.Available() && bw.Buffered() > 0 {
		l.flush(bw)
	}
	if _, err := bw.Write(*b); err != nil {
		l.fail(bw, err)
	}
	l.recycle(b)
}

func (l *Logger) flush(bw *bufio.Writer) {
	if err := bw.Flush(); err != nil {
		l.fail(bw, err)
	}
}

// fail records err and discards what is buffered, so that a passing error
// (a full disk) does not stop later lines from being written.
func (l *Logger) fail(bw *bufio.Writer, err error) {
	if l.err == nil {
		l.err = err
	}
	bw.Reset(l.w)
}

func (l *Logger) recycle(b *[]byte) {
	if cap(*b) <= maxPooledLine {
		l.lines.Put(b)
	}
}
