/*
 * pogo.h — the contract between Go (package cpython) and the C side that
 * talks to CPython. Only the .c files of this package include Python.h; Go
 * sees opaque handles and plain C types.
 *
 * Threads and the GIL: every function below that takes a pogo_thread must be
 * called on the OS thread that created it (Go: a goroutine locked with
 * runtime.LockOSThread), without the GIL; it takes the GIL on entry and
 * releases it before returning.
 *
 * Requests run Python in one of two places:
 * - directly, on the calling OS thread (pogo_call_here), with that thread's
 *   own thread state: the connection goroutine calls Python itself. Its
 *   callbacks into Go (pogoRead, pogoWrite, pogoSendFile, pogoLog) are made
 *   with the GIL released, on that thread.
 * - on a pool thread (pogo_pool): a thread C starts, which never runs Go
 *   code, so a request that waits never holds one of Go's Ps. Go hands it a
 *   pogo_job; whatever the request needs from Go (reading the body, writing
 *   the response, logging) the thread asks through the job's mailbox and
 *   waits for the answer, and Go learns of it from the pool's event queue.
 *
 * Memory: strings passed in are borrowed for the duration of the call only,
 * except a job's buffers (pogo_job), which Go pins from pogo_pool_submit
 * until the job's POGO_OP_DONE event. Every char* handed back to Go
 * (errors, pogo_result.head/body/err) is either inside the caller's scratch
 * buffer or malloc'd by C and owned by Go, which frees it with pogo_free or
 * pogo_free2.
 */
#ifndef POGO_H
#define POGO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One Python thread state bound for life to one OS thread. Owned by C;
 * never freed (threads live as long as the process). */
typedef struct pogo_thread pogo_thread;

/* A loaded WSGI application and its base environ. Owned by C; never freed. */
typedef struct pogo_app pogo_app;

/* pogo_call flags. */
enum {
	POGO_HEAD = 1,      /* HEAD request: consume the response, send no body */
	POGO_HTTPS = 2,     /* wsgi.url_scheme is "https" */
	POGO_MORE_BODY = 4, /* body holds only the start; read the rest via pogoRead */
	POGO_CPU_TIME = 8,  /* measure the call's CPU and preempted time (pogo_result.cpu_ns) */
	POGO_DEBUG = 16,    /* an exception before the head was sent renders a debug page (pogo_result.page) */
};

/* pogo_result.kind */
enum {
	POGO_BUFFERED = 1,     /* head and body are complete: Go writes them */
	POGO_STREAMED = 2,     /* the response was written through pogoWrite/pogoSendFile */
	POGO_ERROR_BEFORE = 3, /* the app failed before headers were sent: answer 500; err is set */
	POGO_ERROR_AFTER = 4,  /* the app failed after headers were sent: abort the connection; err is set */
	POGO_GONE = 5,         /* the client went away while the response was written */
	POGO_NO_THREAD = 6,    /* pogo_call_here: this OS thread has no thread state and may not make one */
};

/*
 * The outcome of one request. head is "STATUS\0Name\0Value\0..." (latin-1,
 * validated), body is the buffered body. Both are set only for
 * POGO_BUFFERED, each either inside the caller's scratch buffer (see
 * pogo_call) or malloc'd; err holds a traceback (UTF-8) for the error kinds,
 * malloc'd. Go owns what is malloc'd and frees it with free (pogo_free2).
 */
typedef struct {
	int kind;
	char *head;
	size_t head_len;
	char *body;
	size_t body_len;
	char *err;
	size_t err_len;
	/* With POGO_DEBUG, for POGO_ERROR_BEFORE: the debug page of the
	 * exception, "CONTENT-TYPE\0BODY", malloc'd; NULL if it could not be
	 * rendered. */
	char *page;
	size_t page_len;
	/* The app's Content-Length bounds the body on every path: no more
	 * than it is handed to Go (pogoWrite, pogoSendFile, body), and the
	 * response iterable is not iterated further once it is reached. over
	 * is set when the app's body went past it (a list, an iterable,
	 * write()) and the excess was dropped; a wsgi.file_wrapper that goes
	 * past it does not set it: bounding a file by Content-Length is how
	 * part of one is sent. A body shorter than Content-Length is handed
	 * on as it is, for Go to end the response short. */
	int over;
	/* Python's thread ident (threading.get_ident()) of the thread running
	 * the call, set before the app starts, so that a watchdog can ask for
	 * the traceback of a call that runs too long (pogo_exec_str,
	 * "traceback_of"). */
	unsigned long ident;
	/* How the call spent its time, in ns: waiting for the GIL (at the start
	 * and after each hand-off to Go), in the app from the moment it had the
	 * GIL, and over that time the thread's CPU time and the time it was
	 * runnable but had no CPU (both -1 unless POGO_CPU_TIME; preempted_ns
	 * is 0 where the kernel does not tell), and the part of it handed off
	 * to Go (reading the body, writing the response, with the GIL waits
	 * that followed). A pool job also says how long it waited for a
	 * thread. */
	int64_t gil_ns, wall_ns, cpu_ns, preempted_ns, handoff_ns, queue_ns;
	/* The CPU clock (a clockid_t) of the thread running the call, set
	 * before the app starts, so that a controller can see how much CPU a
	 * long call uses (pogo_clock_ns). */
	int64_t cpu_clock;
	/* The OS thread id (gettid) of the thread running the call, set with
	 * cpu_clock, so that a controller can see whether a long call waits
	 * (pogo_pool_waits). */
	int32_t tid;
	/* While the call runs: when its current hand-off to Go began (reading
	 * the body, writing the response: pogo_now_ns), 0 if it is not in
	 * one, and handoff_ns is kept up to date at the end of each. So a
	 * controller can tell a call waiting on its client from one waiting
	 * in the app. */
	int64_t to_go_since;
} pogo_result;

/*
 * pogo_init starts the interpreter on the calling OS thread, which becomes
 * Python's main thread, and returns its pogo_thread (GIL released). program
 * is the python executable whose prefix (or virtualenv) to use; argv sets
 * sys.argv; keys is a NUL-separated list of environ key names that
 * pogo_call's env buffer refers to by index (1-based), of which the first
 * `reserved` (at most 64) come with nearly every request: base environs hold
 * them (see pogo_call); bootstrap is the Python source of the _pogo helper
 * module. On failure returns NULL and sets *err.
 */
pogo_thread *pogo_init(const char *program, const char *argv, size_t argv_len,
                       const char *keys, size_t keys_len, int reserved,
                       const char *bootstrap, uintptr_t handle, char **err);

/*
 * pogo_exec calls _pogo.<func>(arg) for setup work (not on the request
 * path). Returns 0, or -1 with *err set: a one-line message, and for
 * unexpected exceptions a newline and the traceback.
 */
int pogo_exec(pogo_thread *t, const char *func, const char *arg, char **err);

/*
 * pogo_exec_str is pogo_exec for a helper that returns a str: returns it,
 * UTF-8, malloc'd (free with pogo_free), or NULL with *err set.
 */
char *pogo_exec_str(pogo_thread *t, const char *func, const char *arg, char **err);

/* pogo_load modes: how the app is served, as wsgi.multithread,
 * wsgi.multiprocess and wsgi.run_once tell it. */
enum {
	POGO_THREADS = 0,   /* threads in one process */
	POGO_PROCESSES = 1, /* threads in each of several processes */
	POGO_RUN_ONCE = 2,  /* one request in this process (CGI) */
};

/*
 * pogo_load imports the app named by spec ("module:callable",
 * "module:factory(args)") and builds its base environ for mode. On failure
 * returns NULL with *err set as pogo_exec.
 */
pogo_app *pogo_load(pogo_thread *t, const char *spec, int mode, char **err);

/*
 * pogo_call runs one request. env is the encoded environ: a sequence of
 * entries, each a key (one byte index into keys, or 0 followed by a
 * native-endian uint16 length and the name) and a value (native-endian
 * uint32 length and latin-1 bytes). The environ starts as a copy of the
 * app's base environ, which holds the reserved keys (pogo_init) so that
 * setting them does not grow the dict; a reserved key the buffer does not
 * set is removed. body holds the request body read so far
 * (all of it unless POGO_MORE_BODY). scratch (scratch_cap bytes, the
 * caller's, borrowed for the call) takes a buffered response's head and
 * body when they fit, so that most responses need no malloc and no free.
 * Fills *out; returns out->kind.
 */
int pogo_call(pogo_thread *t, pogo_app *app, const char *env, size_t env_len,
              const char *body, size_t body_len, int flags,
              char *scratch, size_t scratch_cap, pogo_result *out);

/*
 * pogo_call_here is pogo_call on the calling OS thread's own thread state,
 * made on its first call and kept for the thread's life. handle is passed
 * back to Go in the callbacks of this call. At most pogo_set_direct_max
 * OS threads get a thread state this way: on any other, pogo_call_here
 * runs nothing and returns POGO_NO_THREAD.
 */
int pogo_call_here(uintptr_t handle, pogo_app *app, const char *env, size_t env_len,
                   const char *body, size_t body_len, int flags,
                   char *scratch, size_t scratch_cap, pogo_result *out);

/* pogo_set_direct_max sets how many OS threads pogo_call_here may give a
 * thread state (never fewer than it already has). Default 0. */
void pogo_set_direct_max(int n);

/* pogo_direct_threads is how many OS threads have one. */
int pogo_direct_threads(void);

/* ---- the pool: Python threads that never run Go ---- */

typedef struct pogo_pool pogo_pool;

/* What a pool thread asks of Go (pogo_job.op). */
enum {
	POGO_OP_DONE = 1,     /* the call ended: out is set; the job is Go's again */
	POGO_OP_READ = 2,     /* read up to n body bytes into p; ret = bytes, 0 at the end, -1 on error */
	POGO_OP_WRITE = 3,    /* write head (if not NULL) then the n bytes at p; ret = 0 or -1 */
	POGO_OP_SENDFILE = 4, /* write head, then count bytes of fd from off; ret = 0 or -1 */
	POGO_OP_LOG = 5,      /* append the n bytes at p to the error log (wsgi.errors); ret = 0 */
};

/*
 * pogo_job is one request for a pool thread. Go allocates it (calloc),
 * reuses it for request after request and never frees it while a pool
 * thread might see it. Go fills the first block, submits it, and then
 * reads nothing but op until it sees the job in an event; everything the
 * job points to must stay valid (pinned) until POGO_OP_DONE.
 */
typedef struct pogo_job {
	/* Set by Go before pogo_pool_submit. */
	pogo_app *app;
	const char *env;
	size_t env_len;
	const char *body;
	size_t body_len;
	int flags;
	char *scratch;
	size_t scratch_cap;
	uintptr_t handle; /* Go's name for the job, given back by pogo_pool_events */

	/* Set by the pool thread. out is Go's to read after POGO_OP_DONE;
	 * op and its arguments when the job comes out of pogo_pool_events. */
	pogo_result out;
	int op;
	char *p;
	size_t n;
	char *head;
	size_t head_len;
	int fd;
	int64_t off, count;

	/* Go's answer to op, given with pogo_job_reply. */
	int64_t ret;
	uint32_t reply; /* bumped by pogo_job_reply: the pool thread waits on it */

	/* The pool's. */
	int64_t submitted_ns;
	struct pogo_pool *pool;
	struct pogo_job *next; /* in the pending or the event queue */
} pogo_job;

/*
 * pogo_pool_new makes a pool that starts threads on demand, at most cap at
 * a time (pogo_pool_set), keeping `keep` of them for good (started at
 * once) and ending others
 * that have been idle for idle_ns (their thread state is cleared, so their
 * threading.local data goes). Go learns of events through *notify_fd (an
 * eventfd, non-blocking, owned by Go from here on): when pogo_pool_events
 * returned 0, the next event writes to it. The pool is never freed.
 */
pogo_pool *pogo_pool_new(int cap, int keep, int64_t idle_ns, int *notify_fd);

/* pogo_pool_set changes the limits. A lower cap ends idle threads above it. */
void pogo_pool_set(pogo_pool *p, int cap, int keep, int64_t idle_ns);

/*
 * pogo_pool_submit gives j to an idle thread, or queues it and starts a
 * thread if the pool is under its cap. Returns 0, or -1 if no thread could
 * be started and none runs (j is not queued).
 */
int pogo_pool_submit(pogo_pool *p, pogo_job *j);

/*
 * pogo_pool_events takes up to cap jobs whose op is set, in order, and
 * writes their handles to out. Returns how many; 0 arms notify_fd.
 */
int pogo_pool_events(pogo_pool *p, uintptr_t *out, int cap);

/* pogo_job_reply answers the op of a job taken from pogo_pool_events
 * (not POGO_OP_DONE) with ret, and lets its thread go on. A thread may
 * post a small POGO_OP_WRITE and go on with the app before the answer
 * (p and head then point to the thread's own copy, valid until the
 * reply); it posts nothing more for the job until the answer has come. */
void pogo_job_reply(pogo_job *j, int64_t ret);

typedef struct {
	int threads, idle, busy, pending, cap;
	uint64_t started, ended, failed; /* threads started, ended (idle), failed to start */
} pogo_pool_stats;

void pogo_pool_stats_get(pogo_pool *p, pogo_pool_stats *s);

/* What busy pool threads are doing, from /proc/self/task/TID/syscall. */
typedef struct {
	int running; /* on a CPU or runnable */
	int gil;     /* blocked taking the GIL: to start the call, after asking Go, or in the app */
	int futex;   /* blocked on another lock or condition: the app's (or the GIL, before gil_known) */
	int io;      /* blocked in another system call: I/O, a sleep */
	int client;  /* waiting for Go for over a ms: the client's socket (a shorter wait counts as running) */
	int gil_known; /* the GIL's futex word has been seen: waits for it in the app count as gil */
} pogo_pool_sample_counts;

/* pogo_pool_sample looks at up to max (at most 64) busy threads, taking
 * the next ones each time, and counts what they do (a few µs a thread). */
void pogo_pool_sample(pogo_pool *p, int max, pogo_pool_sample_counts *c);

/* pogo_now_ns is CLOCK_MONOTONIC in ns, the clock of pogo_job.submitted_ns. */
int64_t pogo_now_ns(void);

/* pogo_pool_waits reports whether OS thread tid is blocked, waiting on
 * I/O or on the app (a lock, a condition, a sleep), rather than running,
 * runnable or waiting for the GIL (as far as p's sampling knows the
 * GIL's futex word). */
int pogo_pool_waits(pogo_pool *p, int32_t tid);

/* pogo_state_reads counts the threads' states read from /proc
 * (pogo_pool_waits, pogo_pool_sample), in the process. */
uint64_t pogo_state_reads(void);

/* pogo_clock_ns reads a clock (pogo_result.cpu_clock), in ns; -1 if it
 * cannot (the thread has ended). */
int64_t pogo_clock_ns(int64_t clock);

/* pogo_free2 frees a and b (either may be NULL): one call for a result's
 * head and body. */
void pogo_free2(void *a, void *b);

/* pogo_finalize runs atexit functions and flushes sys.stdout/stderr. The
 * interpreter is not torn down: the process is about to exit. */
void pogo_finalize(pogo_thread *t);

/* pogo_version returns the running Python's version string (static). */
const char *pogo_version(void);

/* The Python version of the headers pogo was compiled with. */
int pogo_build_major(void);
int pogo_build_minor(void);

void pogo_free(void *p);

/* The code an app asked the process to end with by calling os._exit in a
 * request (that request ends with SystemExit instead), or -1. Set once. */
extern int pogo_exit_status;

#endif
