package cli

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// handledSignals are the signals pogo acts on: TERM stops it gracefully,
// INT and QUIT at once; HUP replaces a master's workers, and in a process
// that has none reloads the TLS certificates, or stops it without TLS;
// USR1 reopens the log files; TTIN and TTOU add
// and remove a master's workers.
var handledSignals = []os.Signal{
	syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP,
	syscall.SIGUSR1, syscall.SIGTTIN, syscall.SIGTTOU,
}

// catchSignals catches handledSignals from now until signal.Stop. Run
// calls it before anything else: left to its default action, each of
// these signals ends or suspends the process on the spot, which during
// start-up leaves a pid file, a unix socket or, in a master, workers
// being born. A signal that comes while pogo starts waits in the channel
// until the stage of start-up that looks next, or the server's loop, takes
// it. (One that comes while the Go runtime starts, before Run, still ends
// the process; pogo has made nothing by then.)
func catchSignals() chan os.Signal {
	c := make(chan os.Signal, 16)
	signal.Notify(c, handledSignals...)
	return c
}

// stops reports whether sig stops a pogo that serves, itself or as a
// worker, and whether at once. A worker leaves HUP to its master; a
// process without workers has nothing to reload, and stops.
func stops(sig os.Signal, worker bool) (stop, fast bool) {
	switch sig {
	case syscall.SIGTERM:
		return true, false
	case syscall.SIGINT, syscall.SIGQUIT:
		return true, true
	case syscall.SIGHUP:
		return !worker, false
	}
	return false, false
}

// startup is what stops pogo before it serves: a stop signal, ctx done,
// or, in a worker, its link to the master closing (the master stopped
// before the worker was ready, or died). Nothing is in flight yet, so a
// stop is immediate, whatever the signal.
type startup struct {
	ctx  context.Context
	sigs <-chan os.Signal
	gone <-chan struct{} // closed when the master has let go; nil if not a worker
	log  *slog.Logger
}

// stopped reports whether start-up must stop, without waiting, and logs
// why. Signals that do not stop pogo are dropped: there is nothing yet to
// reopen or reload.
func (s *startup) stopped() bool {
	for {
		select {
		case sig := <-s.sigs:
			if s.stopBy(sig) {
				return true
			}
		case <-s.gone:
			return s.stopBy(nil)
		case <-s.ctx.Done():
			return s.stopBy(nil)
		default:
			return false
		}
	}
}

// wait waits for done and reports false, or reports true if start-up
// must stop first.
func (s *startup) wait(done <-chan struct{}) bool {
	for {
		select {
		case <-done:
			return s.stopped()
		case sig := <-s.sigs:
			if s.stopBy(sig) {
				return true
			}
		case <-s.gone:
			return s.stopBy(nil)
		case <-s.ctx.Done():
			return s.stopBy(nil)
		}
	}
}

// stopBy logs why start-up stops and reports true, or reports false for
// a signal that does not stop pogo. sig is nil when the master let go or
// ctx is done.
func (s *startup) stopBy(sig os.Signal) bool {
	switch {
	case sig != nil:
		if stop, _ := stops(sig, s.gone != nil); !stop {
			return false
		}
		s.log.Info("Shutting down before serving", "signal", sig.String())
	case s.ctx.Err() != nil:
		s.log.Info("Shutting down before serving", "err", s.ctx.Err())
	default:
		s.log.Info("Shutting down before serving: the link to the master has closed")
	}
	return true
}
