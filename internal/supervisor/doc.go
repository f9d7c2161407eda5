// Package supervisor is pogo's process model: a master that starts worker
// processes by re-executing the binary (Go cannot fork safely), hands them
// its listening sockets, and watches over them.
//
// Workers live in slots, one per worker wanted. Each slot has its own
// listening socket for every TCP bind, all in one SO_REUSEPORT group, so
// the kernel spreads connections evenly over the workers, bursts
// included (through one shared socket the worker already running takes a
// whole burst: measured, wrk's 8 connections all went to one of two
// workers). Unix sockets cannot be grouped; every slot shares the one.
// The master keeps each slot's sockets open while the slot exists, so a
// connection waiting in a queue is not lost when its worker dies or is
// replaced: the worker that takes the slot next accepts it. When the master
// stops (or a slot goes, on TTOU), it closes the sockets' gates first:
// new connections are held off, the workers accept the ones already
// queued before they close their copies, and later clients are refused.
//
// The master and a worker share a link (a socketpair, the worker's fd 3)
// carrying one-line messages from the worker: "ready" once it serves,
// "retire" when it wants replacing (--max-requests), and "stats N" with its
// request count, once a second and when it stops. A worker whose link ends
// has lost its master and stops gracefully; before it is ready, at once.
// That is also how the master stops a worker that is not ready yet: it
// closes the link rather than signal a process that may not catch signals
// yet, and a worker still booting when its master is killed outright
// (SIGKILL) dies with it instead of living on as an orphan.
//
// Signals to the master:
//
//	TERM       graceful stop: workers close their listeners and finish
//	           in-flight requests within the graceful timeout, then exit
//	INT, QUIT  fast stop
//	HUP        replace the workers one by one (each new one re-imports the
//	           app); an old worker stops only once its replacement is ready
//	USR1       reopen log files, in the master and every worker
//	TTIN/TTOU  one worker more / one fewer (the last slot goes)
//
// The caller may catch these from the start of the process and hand them
// over (Options.Signals); those that came before Run are acted on before
// the first worker starts, so a stop then starts none.
//
// The first worker starts alone, so an app that cannot load says so once;
// the others follow when it is ready. A worker that dies is replaced at
// once and the log says how it ended.
// One that dies before it is ready (an app that fails to import) is retried
// with a growing delay while the running workers keep serving; if no worker
// has ever been ready, the master stops with that worker's exit code. One
// that a signal from outside ends before it is ready (exit code 0, or
// killed by TERM, INT, QUIT or HUP before its runtime could catch it) is
// retried the same way but never stops the master: such a signal mostly
// goes to every pogo process (systemd stops a service through its control
// group, a terminal signals its process group), and stops the master too.
package supervisor
