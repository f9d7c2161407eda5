package supervisor

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/pogoserver/pogo/internal/metrics"
)

// EnvWorker tells a process started by the master that it is a worker:
// "ID:N", its worker number and how many listeners it inherits. The link
// is fd 3 and the listeners follow it, in the order of the binds.
const EnvWorker = "POGO_WORKER"

// EnvWorkerCPU, if set, is the CPU the worker binds itself to once
// loaded (Options.CPUAffinity, Worker.Bind).
const EnvWorkerCPU = "POGO_WORKER_CPU"

const linkFD = 3

// Worker is a worker process's side of its link to the master. Its
// methods are safe for concurrent use.
type Worker struct {
	// ID is the worker's number, unique over the master's life.
	ID int
	// Listeners are the master's sockets, in the order of the binds.
	Listeners []net.Listener
	// Packets are the master's UDP sockets (HTTP/3), one per TCP bind.
	Packets []net.PacketConn

	cpu  int        // EnvWorkerCPU, -1 if none
	mu   sync.Mutex // serialises writes to link
	link net.Conn
	gone chan struct{}
}

// Inherited returns the link to the master if this process was started
// as a worker, and nil if it was not. It removes EnvWorker from the
// environment so that processes the app starts are not taken for workers.
func Inherited() (*Worker, error) {
	v, ok := os.LookupEnv(EnvWorker)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(EnvWorker)
	id, n, err := parseEnv(v)
	if err != nil {
		return nil, err
	}
	w := &Worker{ID: id, cpu: -1, gone: make(chan struct{})}
	if v, ok := os.LookupEnv(EnvWorkerCPU); ok {
		os.Unsetenv(EnvWorkerCPU)
		if w.cpu, err = strconv.Atoi(v); err != nil || w.cpu < 0 || w.cpu >= len(cpuMask{})*64 {
			return nil, fmt.Errorf("supervisor: bad %s=%q", EnvWorkerCPU, v)
		}
	}
	w.link, err = fileConn(linkFD)
	if err != nil {
		return nil, fmt.Errorf("supervisor: link to the master: %w", err)
	}
	for fd := linkFD + 1; fd <= linkFD+n; fd++ {
		f := os.NewFile(uintptr(fd), "listener")
		if t, _ := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TYPE); t == syscall.SOCK_DGRAM {
			pc, err := net.FilePacketConn(f) // a close-on-exec copy
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("supervisor: inherited UDP socket (fd %d): %w", fd, err)
			}
			w.Packets = append(w.Packets, pc)
			continue
		}
		l, err := net.FileListener(f) // a close-on-exec copy
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("supervisor: inherited listener (fd %d): %w", fd, err)
		}
		w.Listeners = append(w.Listeners, l)
	}
	go func() {
		// The master writes nothing: the read ends when the master does.
		io.Copy(io.Discard, w.link)
		close(w.gone)
	}()
	return w, nil
}

func parseEnv(v string) (id, n int, err error) {
	a, b, ok := strings.Cut(v, ":")
	id, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || id < 1 || n < 0 {
		return 0, 0, fmt.Errorf("supervisor: bad %s=%q", EnvWorker, v)
	}
	return id, n, nil
}

func fileConn(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "link")
	defer f.Close()
	return net.FileConn(f)
}

// Bind binds every thread of the worker to the CPU the master chose for
// its slot, if it chose one; it returns the CPU, or -1.
func (w *Worker) Bind() (int, error) {
	if w.cpu < 0 {
		return -1, nil
	}
	return w.cpu, bindThreads(w.cpu)
}

// Ready tells the master the worker is serving.
func (w *Worker) Ready() { w.send("ready") }

// Retire asks the master to replace this worker: it starts a new one and
// stops this one, with SIGTERM, once the new one is ready.
func (w *Worker) Retire() { w.send("retire") }

// Report sends the master this worker's figures.
func (w *Worker) Report(s *metrics.Snapshot) { w.send("stats " + s.Encode()) }

// Gone is closed when the master has gone away, or has closed the link to
// stop this worker before it was ready.
func (w *Worker) Gone() <-chan struct{} { return w.gone }

func (w *Worker) send(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.link.Write([]byte(msg + "\n")) // an error means the master is gone: Gone says so
}

// message is one line from a worker, parsed.
type message struct {
	kind  string           // "ready", "retire", "stats"
	stats metrics.Snapshot // for "stats"
}

// readMessages calls fn for each message read from r until it ends.
// Unknown lines are skipped: a newer worker may say more.
func readMessages(r io.Reader, fn func(message)) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		kind, arg, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case "ready", "retire":
			fn(message{kind: kind})
		case "stats":
			if st, err := metrics.Decode(arg); err == nil {
				fn(message{kind: kind, stats: st})
			}
		}
	}
}
