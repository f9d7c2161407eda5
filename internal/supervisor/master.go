package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/pogoserver/pogo/internal/metrics"
)

// Options configures a master.
type Options struct {
	// Signals, if set, delivers the signals the master acts on (see the
	// package doc), caught by the caller from the start of the process;
	// those that came before Run are acted on before a worker starts. If
	// nil, Run catches them itself.
	Signals <-chan os.Signal
	// Workers is how many workers to run; at least 1.
	Workers int
	// Exe and Args are the command a worker runs (Args without the
	// program name); Env is added to the master's environment for it.
	Exe  string
	Args []string
	Env  []string
	// Dir is the workers' working directory; "" = the master's.
	Dir string
	// CPUAffinity binds each worker slot to one of the CPUs the master
	// may run on, round robin (slot i on the i-th), as uWSGI's
	// --cpu-affinity does: a worker's threads, and the GIL handed among
	// them, stay on one CPU's caches. By default (AffinityAuto) it does
	// when there are as many workers as CPUs. A worker binds itself once
	// its app is loaded (Worker.Bind).
	CPUAffinity Affinity
	// Sockets opens the listening sockets of one more worker slot: a slot
	// is a place for one worker, whose replacements inherit the same
	// sockets. The master keeps them open while the slot exists, so no
	// connection waiting in them is lost when a worker dies or is
	// replaced, and closes them when the slot goes away (TTOU, exit).
	Sockets func() ([]*os.File, error)
	// CloseGates, if set, stops a slot's sockets from taking new
	// connections while keeping those already queued, just before the
	// master closes its copies for good (stop, TTOU): the slot's worker,
	// told to stop, then accepts what is queued before it closes its own
	// (see package server), so no connection is reset.
	CloseGates func(files []*os.File)
	// Stdout and Stderr are the workers'. If nil, os.Stdout and os.Stderr.
	Stdout, Stderr io.Writer
	// GracefulTimeout is how long a stopping worker gets to finish its
	// requests before it is killed (it enforces this itself; the master
	// kills it a second later). If zero, 30s.
	GracefulTimeout time.Duration
	// Log receives the master's messages. If nil, slog.Default().
	Log *slog.Logger
	// Reopen, if set, is called on SIGUSR1 to reopen the master's logs.
	Reopen func()

	// Publish, if set, receives the summed figures of the workers (see
	// package metrics) whenever they change, and ready: whether a worker
	// is serving and the master is not stopping. It is called from the
	// master's loop and must not block.
	Publish func(s metrics.Snapshot, w metrics.Workers, ready bool)

	// Reload, for development, replaces the workers as on SIGHUP when a
	// .py file under ReloadDirs, or one of ReloadFiles, changes. Files
	// are polled once a second.
	Reload      bool
	ReloadDirs  []string
	ReloadFiles []string

	// Credential, if set, is the user and groups the workers run as
	// (gunicorn's --user and --group): the master keeps its own.
	Credential *syscall.Credential

	// Hooks, if set, are told what the master does, from its loop (which
	// waits for them): gunicorn's server hooks.
	Hooks Hooks
}

// Hooks are called by the master as it runs its workers. Each may be nil.
type Hooks struct {
	// PreFork is called before worker id starts.
	PreFork func(id int)
	// ChildExit is called after worker id, process pid, has exited.
	ChildExit func(id, pid int)
	// WorkersChanged is called when TTIN or TTOU changes the number of
	// workers wanted from old to n.
	WorkersChanged func(n, old int)
	// Reloading is called on SIGHUP, before the workers are replaced.
	Reloading func()
}

// BootError is returned by Run when the first worker could not start:
// Code is its exit code (4 when the app cannot be imported), or 128 plus
// the signal that killed it.
type BootError struct {
	Code int
	Err  error
}

func (e *BootError) Error() string { return e.Err.Error() }

// Timing of the master's decisions.
const (
	tick           = 100 * time.Millisecond // how often deadlines are checked
	fastStopWait   = 2 * time.Second        // after INT/QUIT, before SIGKILL
	killMargin     = time.Second            // after the graceful timeout, before SIGKILL
	maxBootBackoff = 30 * time.Second
)

type state int

const (
	booting  state = iota // started, not yet ready
	ready                 // serving
	stopping              // signalled to stop
)

// worker is the master's view of one worker process.
type worker struct {
	id     int
	slot   int // index into master.slots
	cmd    *exec.Cmd
	link   net.Conn
	state  state
	retire bool             // to be replaced once a new worker is ready
	killAt time.Time        // when stopping: SIGKILL after this
	cut    bool             // stopped before it was ready: by closing its link, not a signal
	stats  metrics.Snapshot // last reported
}

func (w *worker) String() string { return fmt.Sprintf("worker %d (pid %d)", w.id, w.cmd.Process.Pid) }

// event is something a worker did, sent to the master's loop.
type event struct {
	w   *worker
	msg message // when exit is false
	// exit is set when the process has ended: err is cmd.Wait's.
	exit bool
	err  error
}

type master struct {
	opts      Options
	log       *slog.Logger
	n         int          // workers wanted
	slots     [][]*os.File // sockets per slot; len(slots) >= n
	seq       int          // last worker id
	workers   map[*worker]struct{}
	events    chan event
	everReady bool
	backoff   time.Duration // before the next start after a boot failure
	nextStart time.Time
	stopping  bool
	bootErr   *BootError

	cpus     []int            // with CPUAffinity: the master's CPUs, for the slots in turn
	slotUsed []bool           // per slot: a worker has started in it
	gone     metrics.Snapshot // the counters of exited workers
	figures  metrics.Workers
}

// Run starts the workers and supervises them until a TERM, INT or QUIT
// arrives or ctx is done (a graceful stop), and every worker has exited.
func Run(ctx context.Context, opts Options) error {
	m := &master{
		opts:    opts,
		log:     opts.Log,
		n:       max(opts.Workers, 1),
		workers: map[*worker]struct{}{},
		events:  make(chan event),
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if opts.CPUAffinity != AffinityOff {
		mask, err := affinity(0)
		switch {
		case err != nil && opts.CPUAffinity == AffinityOn:
			return err
		case err != nil:
			m.log.Debug("Workers not bound to CPUs: " + err.Error())
		case opts.CPUAffinity == AffinityOn:
			m.cpus = mask.cpus()
		case m.n > 1 && m.n == len(mask.cpus()):
			m.cpus = mask.cpus()
			m.log.Info(fmt.Sprintf("Workers bound one to each of the %d CPUs (--no-cpu-affinity: not bound)", m.n))
		}
	}
	defer m.closeSlots(0)
	if err := m.openSlots(); err != nil {
		return err
	}
	if m.opts.GracefulTimeout <= 0 {
		m.opts.GracefulTimeout = 30 * time.Second
	}
	sigs := opts.Signals
	if sigs == nil {
		c := make(chan os.Signal, 16)
		signal.Notify(c, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP,
			syscall.SIGUSR1, syscall.SIGTTIN, syscall.SIGTTOU)
		defer signal.Stop(c)
		sigs = c
	}

	var watch *watcher
	if opts.Reload {
		watch = &watcher{dirs: opts.ReloadDirs, files: opts.ReloadFiles}
		watch.changed()
	}
	lastScan := time.Now()

	// Signals that came while pogo started go first: after a stop, no
	// worker starts.
	for pending := true; pending; {
		select {
		case sig := <-sigs:
			m.signal(sig.(syscall.Signal))
		default:
			pending = false
		}
	}
	m.reconcile()
	t := time.NewTicker(tick)
	defer t.Stop()
	done := ctx.Done()
	for !m.stopping || len(m.workers) > 0 {
		select {
		case sig := <-sigs:
			m.signal(sig.(syscall.Signal))
		case <-done:
			done = nil
			m.log.Info("Shutting down: stopping workers gracefully", "graceful_timeout", m.opts.GracefulTimeout.String())
			m.stop(syscall.SIGTERM)
		case ev := <-m.events:
			m.event(ev)
		case now := <-t.C:
			m.deadlines()
			if watch != nil && !m.stopping && now.Sub(lastScan) >= time.Second {
				if path := watch.changed(); path != "" {
					m.log.Info("Reloading: " + path + " changed")
					m.reload()
				}
				lastScan = time.Now()
			}
		}
		m.reconcile()
		m.publish()
	}
	if m.bootErr != nil {
		return m.bootErr
	}
	return nil
}

func (m *master) signal(sig syscall.Signal) {
	switch sig {
	case syscall.SIGTERM:
		if !m.stopping {
			m.log.Info("Shutting down: stopping workers gracefully", "graceful_timeout", m.opts.GracefulTimeout.String())
			m.stop(syscall.SIGTERM)
		}
	case syscall.SIGINT, syscall.SIGQUIT:
		m.log.Info("Shutting down: stopping workers now", "signal", sig.String())
		m.stop(syscall.SIGQUIT)
	case syscall.SIGHUP:
		if m.stopping {
			return
		}
		m.log.Info("Reloading: replacing workers one by one")
		if f := m.opts.Hooks.Reloading; f != nil {
			f()
		}
		m.reload()
	case syscall.SIGUSR1:
		m.log.Info("Reopening log files")
		if m.opts.Reopen != nil {
			m.opts.Reopen()
		}
		for w := range m.workers {
			w.cmd.Process.Signal(syscall.SIGUSR1)
		}
	case syscall.SIGTTIN:
		if !m.stopping {
			m.n++
			if err := m.openSlots(); err != nil {
				m.n--
				m.log.Error("Cannot add a worker", "err", err)
				return
			}
			m.log.Info("One more worker", "workers", m.n)
			m.workersChanged(m.n - 1)
		}
	case syscall.SIGTTOU:
		if m.stopping {
			return
		}
		if m.n <= 1 {
			m.log.Warn("Not removing the last worker")
			return
		}
		m.n--
		m.log.Info("One fewer worker", "workers", m.n)
		m.workersChanged(m.n + 1)
		// The last slot goes: reconcile stops its workers, which accept
		// what is queued in its sockets first. Their gates close now;
		// a new connection the kernel still gives them retries its SYN
		// and, once they are closed, reaches another slot.
		m.closeSlots(m.n)
	}
}

func (m *master) workersChanged(old int) {
	if f := m.opts.Hooks.WorkersChanged; f != nil {
		f(m.n, old)
	}
}

// reload marks every worker for replacement, and retries a failed boot
// at once.
func (m *master) reload() {
	for w := range m.workers {
		w.retire = true
	}
	m.nextStart = time.Time{}
}

// stop signals every worker with sig (SIGTERM: graceful, SIGQUIT: fast)
// and starts no more.
func (m *master) stop(sig syscall.Signal) {
	m.stopping = true
	// The listeners close first: once the workers close their copies,
	// new connections are refused instead of queueing for no one.
	m.closeSlots(0)
	wait := m.opts.GracefulTimeout + killMargin
	if sig != syscall.SIGTERM {
		wait = fastStopWait
	}
	for w := range m.workers {
		m.halt(w, sig, wait)
	}
}

// halt signals w to stop and sets its kill deadline; a fast stop may
// shorten a graceful one. A worker that is not ready yet is told by
// closing its link instead, which it sees at whatever stage of start-up
// it is, even one before it catches signals, and it has no requests to
// finish.
func (m *master) halt(w *worker, sig syscall.Signal, wait time.Duration) {
	killAt := time.Now().Add(wait)
	if w.state == stopping && !killAt.Before(w.killAt) {
		return
	}
	switch {
	case w.state == booting:
		w.cut = true
		w.link.Close()
	case !w.cut:
		w.cmd.Process.Signal(sig)
	}
	w.state = stopping
	w.killAt = killAt
}

func (m *master) event(ev event) {
	w := ev.w
	if !ev.exit {
		switch ev.msg.kind {
		case "ready":
			if w.state == booting {
				w.state = ready
				m.everReady = true
				m.backoff = 0
			}
		case "retire":
			if !w.retire {
				m.log.Info(w.String()+" asks to be replaced", "requests", w.stats.Total())
				w.retire = true
			}
		case "stats":
			w.stats = ev.msg.stats
		}
		return
	}
	delete(m.workers, w)
	m.gone.Add(ptr(w.stats.Counters()))
	if f := m.opts.Hooks.ChildExit; f != nil {
		f(w.id, w.cmd.Process.Pid)
	}
	how := exitReason(ev.err)
	switch {
	case w.state == stopping:
		m.log.Info(w.String()+" stopped", "requests", w.stats.Total(), "exit", how)
	case w.state == booting && stoppedFromOutside(ev.err):
		// Not the app's failure. Most likely the signal went to every
		// pogo process (systemd's control group, a terminal's process
		// group), and the master's own copy of it stops the master too;
		// if not, another worker starts, after the delay of a failed
		// boot.
		m.backoff = min(max(2*m.backoff, time.Second), maxBootBackoff)
		m.nextStart = time.Now().Add(m.backoff)
		m.log.Info(w.String()+" stopped before it was ready, by a signal the master did not send", "exit", how, "retry_in", m.backoff.String())
	case w.state == booting && !m.everReady:
		// The first workers cannot start: the app or the config is broken.
		code := 1
		var ee *exec.ExitError
		if errors.As(ev.err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int(ws.Signal())
			} else if ee.ExitCode() > 0 {
				code = ee.ExitCode()
			}
		}
		if m.bootErr == nil {
			m.bootErr = &BootError{Code: code, Err: fmt.Errorf("%s failed to boot: %s", w, how)}
			m.stop(syscall.SIGTERM)
		}
	case w.state == booting:
		m.backoff = min(max(2*m.backoff, time.Second), maxBootBackoff)
		m.nextStart = time.Now().Add(m.backoff)
		m.log.Error(w.String()+" failed to boot; the running workers keep serving", "exit", how, "retry_in", m.backoff.String())
	default:
		m.figures.Died++
		m.log.Error(w.String()+" died", "exit", how, "requests", w.stats.Total())
	}
}

func ptr[T any](v T) *T { return &v }

// publish hands the summed figures to Options.Publish.
func (m *master) publish() {
	if m.opts.Publish == nil {
		return
	}
	sum := m.gone
	serving := false
	m.figures.Each = m.figures.Each[:0]
	for w := range m.workers {
		sum.Add(&w.stats)
		serving = serving || w.state == ready
		m.figures.Each = append(m.figures.Each, metrics.Worker{ID: w.id, Requests: w.stats.Total()})
	}
	slices.SortFunc(m.figures.Each, func(a, b metrics.Worker) int { return a.ID - b.ID })
	m.figures.Running = len(m.workers)
	m.figures.Wanted = m.n
	w := m.figures
	w.Each = slices.Clone(w.Each) // the receiver keeps it
	m.opts.Publish(sum, w, serving && !m.stopping)
}

// stoppedFromOutside reports whether a worker that ended before it was
// ready, not stopped by the master (which closes its link), was stopped
// by a signal sent to it: it exited 0, as a worker told to stop before it
// serves does, or it was killed by a signal that it would have caught a
// moment later, once its runtime had started.
func stoppedFromOutside(err error) bool {
	if err == nil {
		return true
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return false
	}
	switch ws.Signal() {
	case syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP:
		return true
	}
	return false
}

// exitReason says how a process ended, from cmd.Wait's error.
func exitReason(err error) string {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		if err != nil {
			return err.Error()
		}
		return "exit code 0"
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		s := "killed by signal " + ws.Signal().String()
		if ws.CoreDump() {
			s += " (core dumped)"
		}
		return s
	}
	return fmt.Sprintf("exit code %d", ee.ExitCode())
}

// deadlines kills workers that overran their stop deadline.
func (m *master) deadlines() {
	now := time.Now()
	for w := range m.workers {
		if w.state == stopping && now.After(w.killAt) {
			m.log.Warn(w.String()+" did not stop in time; killing it", "requests", w.stats.Total())
			w.cmd.Process.Kill()
			w.killAt = now.Add(time.Hour) // once
		}
	}
}

// reconcile brings the workers to what is wanted: in each of the m.n
// slots one worker serving, not marked to retire, and none in the slots
// beyond. A retiring worker is stopped once the new worker in its slot is
// ready, so capacity never drops, and replacements start one at a time.
// Otherwise missing workers start at once, except the very first, which
// starts alone so that an app that cannot load says so once.
func (m *master) reconcile() {
	if m.stopping {
		return
	}
	current := make([]*worker, m.n)
	var retiring []*worker
	starting := 0
	for w := range m.workers {
		switch {
		case w.state == stopping:
		case w.slot >= m.n:
			m.halt(w, syscall.SIGTERM, m.opts.GracefulTimeout+killMargin)
		case w.retire:
			retiring = append(retiring, w)
		default:
			current[w.slot] = w
			if w.state == booting {
				starting++
			}
		}
	}
	for _, w := range retiring {
		if c := current[w.slot]; c != nil && c.state == ready {
			m.halt(w, syscall.SIGTERM, m.opts.GracefulTimeout+killMargin)
		}
	}
	if time.Now().Before(m.nextStart) {
		return
	}
	for slot, w := range current {
		if w != nil {
			continue
		}
		if (len(retiring) > 0 || !m.everReady) && starting > 0 {
			return
		}
		if err := m.start(slot); err != nil {
			if !m.everReady && len(m.workers) == 0 {
				// The first worker cannot even start (--user without
				// the right to run pogo, say): no retry would help.
				m.log.Error("cannot start a worker", "err", err)
				m.bootErr = &BootError{Code: 1, Err: err}
				m.stop(syscall.SIGTERM)
				return
			}
			m.backoff = min(max(2*m.backoff, time.Second), maxBootBackoff)
			m.nextStart = time.Now().Add(m.backoff)
			m.log.Error("cannot start a worker", "err", err, "retry_in", m.backoff.String())
			return
		}
		starting++
	}
}

// openSlots opens sockets for the slots up to m.n.
func (m *master) openSlots() error {
	for len(m.slots) < m.n {
		files, err := m.opts.Sockets()
		if err != nil {
			return err
		}
		m.slots = append(m.slots, files)
		m.slotUsed = append(m.slotUsed, false)
	}
	return nil
}

// closeSlots closes the gates and the master's copies of the sockets of
// the slots from i on.
func (m *master) closeSlots(i int) {
	for _, files := range m.slots[i:] {
		if m.opts.CloseGates != nil {
			m.opts.CloseGates(files)
		}
		for _, f := range files {
			f.Close()
		}
	}
	m.slots = m.slots[:i]
	m.slotUsed = m.slotUsed[:i]
}

// start starts one worker in slot.
func (m *master) start(slot int) error {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socketpair", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "link"), os.NewFile(uintptr(fds[1]), "link")
	defer theirs.Close()
	link, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		return err
	}
	m.seq++
	w := &worker{id: m.seq, slot: slot, link: link}
	if f := m.opts.Hooks.PreFork; f != nil {
		f(w.id)
	}
	files := m.slots[slot]
	cmd := exec.Command(m.opts.Exe, m.opts.Args...)
	cmd.Env = append(append(os.Environ(), m.opts.Env...), fmt.Sprintf("%s=%d:%d", EnvWorker, w.id, len(files)))
	cmd.Dir = m.opts.Dir
	cmd.Stdout, cmd.Stderr = orFile(m.opts.Stdout, os.Stdout), orFile(m.opts.Stderr, os.Stderr)
	cmd.ExtraFiles = append([]*os.File{theirs}, files...)
	if m.opts.Credential != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: m.opts.Credential}
	}
	if cpus := m.cpus; len(cpus) > 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d", EnvWorkerCPU, cpus[slot%len(cpus)]))
	}
	if err := cmd.Start(); err != nil {
		link.Close()
		return err
	}
	w.cmd = cmd
	m.workers[w] = struct{}{}
	m.figures.Started++
	if m.slotUsed[slot] {
		m.figures.Restarts++
	}
	m.slotUsed[slot] = true
	m.log.Debug("Started " + w.String())
	go m.watch(w)
	return nil
}

// watch relays w's messages, then its exit, to the master's loop.
func (m *master) watch(w *worker) {
	read := make(chan struct{})
	go func() {
		defer close(read)
		readMessages(w.link, func(msg message) { m.events <- event{w: w, msg: msg} })
	}()
	err := w.cmd.Wait()
	// What the worker said last is read to the end, unless a child of the
	// worker holds its end of the link open.
	w.link.SetReadDeadline(time.Now().Add(time.Second))
	<-read
	w.link.Close()
	m.events <- event{w: w, exit: true, err: err}
}

func orFile(w io.Writer, f *os.File) io.Writer {
	if w == nil {
		return f
	}
	return w
}
