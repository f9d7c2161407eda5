/*
 * pogo.h — the contract between Go (package cpython) and the C side that
 * talks to CPython. Only the .c files of this package include Python.h; Go
 * sees opaque handles and plain C types.
 *
 * Threads and the GIL: every function below that takes a pogo_thread must be
 * called on the OS thread that created it (Go: a goroutine locked with
 * runtime.LockOSThread), without the GIL; it takes the GIL on entry and
 * releases it before returning. Callbacks into Go (pogoRead, pogoWrite,
 * pogoSendFile, pogoLog) are made with the GIL released.
 *
 * Memory: strings passed in are borrowed for the duration of the call only;
 * C never keeps a pointer to Go memory. Every char* handed back to Go
 * (errors, pogo_result.head/body/err) is malloc'd by C and owned by Go,
 * which frees it with pogo_free.
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
};

/* pogo_result.kind */
enum {
	POGO_BUFFERED = 1,     /* head and body are complete: Go writes them */
	POGO_STREAMED = 2,     /* the response was written through pogoWrite/pogoSendFile */
	POGO_ERROR_BEFORE = 3, /* the app failed before headers were sent: answer 500; err is set */
	POGO_ERROR_AFTER = 4,  /* the app failed after headers were sent: abort the connection; err is set */
	POGO_GONE = 5,         /* the client went away while the response was written */
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
	/* Python's thread ident (threading.get_ident()) of the thread running
	 * the call, set before the app starts, so that a watchdog can ask for
	 * the traceback of a call that runs too long (pogo_exec_str,
	 * "traceback_of"). */
	unsigned long ident;
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

/*
 * pogo_load imports the app named by spec ("module:callable",
 * "module:factory(args)") and builds its base environ. multiprocess sets
 * wsgi.multiprocess. On failure returns NULL with *err set as pogo_exec.
 */
pogo_app *pogo_load(pogo_thread *t, const char *spec, int multiprocess, char **err);

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
 * back to Go in the callbacks of this call.
 */
int pogo_call_here(uintptr_t handle, pogo_app *app, const char *env, size_t env_len,
                   const char *body, size_t body_len, int flags,
                   char *scratch, size_t scratch_cap, pogo_result *out);

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

#endif
