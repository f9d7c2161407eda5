package accesslog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pogoserver/pogo/internal/testutil"
)

// TestMain fails the run if a test leaves a Logger's writer goroutine behind.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := checkNoLeakedWriters(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

func checkNoLeakedWriters() error {
	var stacks []byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		stacks = make([]byte, 1<<20)
		stacks = stacks[:runtime.Stack(stacks, true)]
		if !bytes.Contains(stacks, []byte("accesslog.(*Logger).run")) {
			return nil
		}
	}
	return fmt.Errorf("accesslog: Logger writer goroutines leaked:\n%s", stacks)
}

// syncBuffer is a buffer the test may read while the writer goroutine
// writes.
type syncBuffer = testutil.SyncBuffer

func TestLoggerWritesLines(t *testing.T) {
	var out syncBuffer
	l, err := New(&out, "%(m)s %(U)s %(s)s")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		e := testEntry()
		e.Path = fmt.Sprintf("/%d", i)
		l.Log(e)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got, want := out.String(), "GET /0 200\nGET /1 200\nGET /2 200\n"; got != want {
		t.Errorf("output = %q, want %q", got, want)
	}
	if n := l.Dropped(); n != 0 {
		t.Errorf("Dropped = %d, want 0", n)
	}
}

func TestLoggerFlushesWithoutClose(t *testing.T) {
	var out syncBuffer
	l, err := New(&out, "%(s)s")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Log(testEntry())
	for deadline := time.Now().Add(5 * time.Second); out.String() == ""; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("line not written within 5s of Log on an idle Logger")
		}
	}
	if got := out.String(); got != "200\n" {
		t.Errorf("output = %q, want %q", got, "200\n")
	}
}

func TestNewBadFormat(t *testing.T) {
	if _, err := New(&bytes.Buffer{}, "%(zz)s"); err == nil {
		t.Fatal("New with an unknown atom succeeded")
	}
}

// stuckWriter blocks every Write until release is closed.
type stuckWriter struct {
	entered chan struct{} // closed when the first Write starts
	once    sync.Once
	release chan struct{}
}

func (w *stuckWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.entered) })
	<-w.release
	return len(p), nil
}

func TestLogNeverBlocks(t *testing.T) {
	w := &stuckWriter{entered: make(chan struct{}), release: make(chan struct{})}
	l, err := New(w, DefaultFormat)
	if err != nil {
		t.Fatal(err)
	}
	l.Log(testEntry())
	<-w.entered // the writer goroutine is now stuck in Write

	const n = 2 * queueLen
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		e := testEntry()
		for range n {
			l.Log(e)
		}
	}()
	select {
	case <-logged:
	case <-time.After(10 * time.Second):
		t.Fatal("Log blocked behind a stuck writer")
	}
	// The writer holds one line and the queue at most queueLen; the rest
	// must have been dropped.
	if got := l.Dropped(); got < n-queueLen {
		t.Errorf("Dropped = %d, want at least %d", got, n-queueLen)
	}

	close(w.release)
	if err := l.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestLogAfterCloseIsDropped(t *testing.T) {
	var out syncBuffer
	l, err := New(&out, "%(s)s")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l.Log(testEntry())
	if got := l.Dropped(); got != 1 {
		t.Errorf("Dropped = %d, want 1", got)
	}
	if got := out.String(); got != "" {
		t.Errorf("output after Close = %q, want none", got)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// failingWriter fails its first Write, then succeeds.
type failingWriter struct {
	failed chan struct{} // closed after the failed Write
	once   sync.Once
	buf    syncBuffer
}

var errDiskFull = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	select {
	case <-w.failed:
		return w.buf.Write(p)
	default:
		w.once.Do(func() { close(w.failed) })
		return 0, errDiskFull
	}
}

func TestCloseReturnsFirstWriteError(t *testing.T) {
	w := &failingWriter{failed: make(chan struct{})}
	l, err := New(w, "%(U)s")
	if err != nil {
		t.Fatal(err)
	}
	e := testEntry()
	e.Path = "/lost"
	l.Log(e)
	<-w.failed

	// A passing error does not stop later lines.
	e.Path = "/kept"
	l.Log(e)
	if err := l.Close(); !errors.Is(err, errDiskFull) {
		t.Fatalf("Close = %v, want %v", err, errDiskFull)
	}
	if got, want := w.buf.String(), "/kept\n"; got != want {
		t.Errorf("output = %q, want %q", got, want)
	}
}

func TestLoggerConcurrent(t *testing.T) {
	var out syncBuffer
	l, err := New(&out, "%(U)s")
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 8, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			e := testEntry()
			for i := range each {
				e.Path = fmt.Sprintf("/%d/%d", g, i)
				l.Log(e)
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if got, want := uint64(len(lines))+l.Dropped(), uint64(goroutines*each); got != want {
		t.Errorf("written %d + dropped %d = %d, want %d", len(lines), l.Dropped(), got, want)
	}
	for _, line := range lines {
		var g, i int
		if _, err := fmt.Sscanf(line, "/%d/%d", &g, &i); err != nil {
			t.Fatalf("torn line %q: %v", line, err)
		}
	}
}

func BenchmarkLog(b *testing.B) {
	l, err := New(discard{}, DefaultFormat)
	if err != nil {
		b.Fatal(err)
	}
	e := testEntry()
	b.ReportAllocs()
	for b.Loop() {
		l.Log(e)
	}
	b.StopTimer()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(l.Dropped())/float64(b.N), "dropped/op")
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
