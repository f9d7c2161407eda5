/* internal.h — shared by the .c files of package cpython; not seen by Go. */
#ifndef POGO_INTERNAL_H
#define POGO_INTERNAL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "pogo.h"

struct pogo_thread {
	PyThreadState *ts;
	uintptr_t handle; /* Go's cgo.Handle for the running call, passed to callbacks */
	/* On a pool thread, the job it runs (NULL between jobs): what the call
	 * needs from Go goes through its mailbox instead of a callback. */
	pogo_job *job;
	/* The running call's result (NULL between calls), where its hand-offs
	 * to Go are published as they happen (pogo_result.to_go_since). */
	pogo_result *out;
	int64_t gil_ns;     /* the running call's GIL waits so far */
	int64_t handoff_ns; /* and its time handed off to Go (GIL waits after included) */
	/* The last request's start_response and wsgi.input, for the next one
	 * (gateway.c); GIL-protected, NULL when in use or given up. */
	PyObject *gate, *input;
};

struct pogo_app {
	PyObject *callable;
	PyObject *base; /* environ entries that are the same for every request, and the reserved keys */
};

/* State set up by pogo_init (module types, interned names); GIL-protected. */
extern PyObject *pogo_module;     /* the _pogo module */
extern PyObject **pogo_keys;      /* interned environ keys, 1-based */
extern Py_ssize_t pogo_nkeys;
extern int pogo_nreserved;        /* keys 1..pogo_nreserved are in every base environ */
extern PyObject *pogo_errors_obj; /* the shared wsgi.errors object */

/* fault.c: set while a thread of Go's (the main thread, a direct thread)
 * runs Go rather than pogo's C or the app's Python. A fatal signal on a
 * thread with a Python thread state where it is not set is the app's,
 * and Python's faulthandler reports it; any other goes to Go.
 * pogo_faults_install (GIL held) puts the handler in front of Go's. */
extern __thread int pogo_go_side;
int pogo_faults_install(void);

/* fault.c: set while the calling thread runs a request (pogo_call). In a
 * request, os._exit(n) ends the request instead of the process (a
 * SystemExit the gateway answers with a 500) and sets pogo_exit_status
 * (pogo.h); pogo_exit_init gives module its replacement for os._exit. */
extern __thread int pogo_in_request;
int pogo_exit_init(PyObject *module);

/* interp.c: a thread state for the calling OS thread, kept for its life
 * (or until pogo_thread_end, on the same thread). */
pogo_thread *pogo_thread_new(uintptr_t handle);
void pogo_thread_end(pogo_thread *t);

/* pool.c: on a pool thread running a job, ask Go to do op (the job's
 * arguments set) and wait for its answer; call with the GIL released.
 * The arguments may be set only once a posted write is settled: call
 * pogo_settle before. Returns -1 without asking if a write has failed,
 * except for POGO_OP_LOG. */
int64_t pogo_ask(pogo_job *j, int op);

/* pogo_post_write, on a pool thread running job j, copies head and the n
 * bytes at p and posts a POGO_OP_WRITE of them without waiting for Go's
 * answer, so the thread goes on with the app while Go writes; at most one
 * is outstanding: it first waits for the last one (pogo_settle), and so
 * do pogo_ask and the end of the job. Returns -1 if a write has failed
 * (the client is gone), else 0. Call with the GIL released, or held if
 * !pogo_write_pending() (then it does not block). */
int pogo_post_write(pogo_job *j, const char *head, size_t head_len, const char *p, size_t n);
/* pogo_write_pending reports whether the calling pool thread has a posted
 * write Go has not answered yet. */
int pogo_write_pending(void);
/* pogo_settle waits for the posted write, if any: -1 if a write failed. */
int pogo_settle(pogo_job *j);

/* pogo_take_gil is PyEval_RestoreThread(ts), marked on a pool thread as
 * a wait for the GIL (pogo_pool_sample). */
void pogo_take_gil(PyThreadState *ts);

/* The job the calling pool thread runs, NULL on any other thread. */
extern __thread pogo_job *pogo_current_job;

/* The time helpers of every call. */
int64_t pogo_now_ns(void);
/* pogo_sched_times reads the calling thread's CPU time and the time it
 * has spent runnable but waiting for a CPU (preempted), in ns, the second
 * from /proc/thread-self/schedstat (about 1.2 µs for both); without it, a
 * delay of 0. pogo_sched_close closes the thread's file. */
void pogo_sched_times(int64_t *cpu, int64_t *delay);
void pogo_sched_close(void);

/* gateway.c */
int pogo_gateway_init(PyObject *module);
PyObject *pogo_base_environ(int mode);

/* interp.c: with the GIL held and an exception set, clear it and return its
 * formatted traceback (malloc'd UTF-8), or a fallback message. */
char *pogo_format_exception(size_t *len);
char *pogo_strdup(const char *s, size_t *len);

#endif
