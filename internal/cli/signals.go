package cli

import (
	"os"
	"os/signal"
	"syscall"
)

// handledSignals are the signals pogo acts on: TERM stops it gracefully,
// INT and QUIT at once; HUP replaces a master's workers and stops a
// process that has none; USR1 reopens the log files; TTIN and TTOU add
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
// for the server's loop, or the master's, to take it. (One that comes
// while the Go runtime starts, before Run, still ends the process; pogo
// has made nothing by then.)
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
