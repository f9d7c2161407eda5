/*
 * fault.c — a fatal signal in the app is reported as Python reports it.
 *
 * Go owns SIGSEGV, SIGBUS, SIGFPE and SIGILL (a nil dereference in Go is a
 * panic it may recover from) and SIGABRT. When one of them hits a thread
 * that is running the app (a pool thread, a thread the app started, a
 * direct thread inside its call but not in its callbacks to Go), Go would print every goroutine and
 * nothing a Python developer can use. So pogo puts a handler in front of
 * Go's that sends such signals to Python's faulthandler instead (a
 * thread with a Python thread state is the app's, but while a thread of
 * Go's runs Go, pogo_go_side): it writes
 * "Fatal Python error: Segmentation fault" and the Python stack of the
 * faulting thread to stderr, restores the default action and raises the
 * signal again, so that the process dies of it (and the master, with
 * --workers, logs which signal and starts another worker). Signals on
 * threads running Go go to Go's handler, as os/signal asks of C code that
 * installs handlers for these signals.
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

__thread int pogo_go_side;

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

/* The handlers pogo dispatches to, indexed like fatal_signals. */
static struct sigaction go_action[5], python_action[5];

static void run(const struct sigaction *a, int sig, siginfo_t *info, void *uc)
{
	if (a->sa_flags & SA_SIGINFO) {
		a->sa_sigaction(sig, info, uc);
		return;
	}
	if (a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN) {
		a->sa_handler(sig);
		return;
	}
	/* The default action, whatever was there: die of the signal. */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigaction(sig, &dfl, NULL);
	raise(sig);
}

static void on_fatal(int sig, siginfo_t *info, void *uc)
{
	for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++) {
		if (fatal_signals[i] == sig) {
			int app = !pogo_go_side && PyGILState_GetThisThreadState() != NULL;
			run(app ? &python_action[i] : &go_action[i], sig, info, uc);
			return;
		}
	}
}

int pogo_faults_install(void)
{
	const size_t n = sizeof fatal_signals / sizeof fatal_signals[0];
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	/* faulthandler chains to what it finds: let it find the default, so
	 * that after its report the signal kills the process. */
	for (size_t i = 0; i < n; i++) {
		if (sigaction(fatal_signals[i], NULL, &go_action[i]) < 0 || sigaction(fatal_signals[i], &dfl, NULL) < 0)
			goto restore;
	}
	PyObject *fh = PyImport_ImportModule("faulthandler");
	PyObject *r = NULL;
	if (fh != NULL) {
		PyObject *args = Py_BuildValue("(i)", 2);
		PyObject *kw = Py_BuildValue("{s:O}", "all_threads", Py_False);
		PyObject *enable = PyObject_GetAttrString(fh, "enable");
		if (args != NULL && kw != NULL && enable != NULL)
			r = PyObject_Call(enable, args, kw);
		Py_XDECREF(enable);
		Py_XDECREF(kw);
		Py_XDECREF(args);
		Py_DECREF(fh);
	}
	if (r == NULL) {
		PyErr_Clear();
		goto restore;
	}
	Py_DECREF(r);
	struct sigaction mine;
	memset(&mine, 0, sizeof mine);
	mine.sa_sigaction = on_fatal;
	mine.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigfillset(&mine.sa_mask);
	for (size_t i = 0; i < n; i++) {
		sigaction(fatal_signals[i], NULL, &python_action[i]);
		sigaction(fatal_signals[i], &mine, NULL);
	}
	return 0;

restore:
	for (size_t i = 0; i < n; i++)
		sigaction(fatal_signals[i], &go_action[i], NULL);
	return -1;
}

/* ---- os._exit in a request ---- */

__thread int pogo_in_request;
int pogo_exit_status = -1;
static pid_t pogo_pid;

/* _pogo.exit_in_request(n), os._exit while pogo runs: in one of pogo's requests, in
 * pogo's own process (not in a child forked by the app, which must exit
 * as it asked), the request ends with SystemExit(n) and the process is
 * asked to end with n once its other requests are done; anywhere else,
 * _exit(n) as os._exit does. */
static PyObject *exit_in_request(PyObject *self, PyObject *arg)
{
	(void)self;
	long status = PyLong_AsLong(arg);
	if (status == -1 && PyErr_Occurred())
		return NULL;
	if (!pogo_in_request || getpid() != pogo_pid)
		_exit((int)status);
	int none = -1;
	__atomic_compare_exchange_n(&pogo_exit_status, &none, (int)(status & 0xff), 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
	PyErr_SetObject(PyExc_SystemExit, arg);
	return NULL;
}

static PyMethodDef exit_def = {"exit_in_request", exit_in_request, METH_O,
                               "os._exit(n) in a request: end the request, then the process, with n"};

int pogo_exit_init(PyObject *module)
{
	pogo_pid = getpid();
	PyObject *f = PyCFunction_NewEx(&exit_def, NULL, NULL);
	if (f == NULL)
		return -1;
	int rc = PyModule_AddObject(module, "exit_in_request", f);
	if (rc < 0)
		Py_DECREF(f);
	return rc;
}
