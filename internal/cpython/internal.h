/* internal.h — shared by the .c files of package cpython; not seen by Go. */
#ifndef POGO_INTERNAL_H
#define POGO_INTERNAL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "pogo.h"

struct pogo_thread {
	PyThreadState *ts;
	uintptr_t handle; /* Go's cgo.Handle for this thread, passed to callbacks */
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

/* interp.c: a thread state for the calling OS thread, kept for its life. */
pogo_thread *pogo_thread_new(uintptr_t handle);

/* gateway.c */
int pogo_gateway_init(PyObject *module);
PyObject *pogo_base_environ(int multiprocess);

/* interp.c: with the GIL held and an exception set, clear it and return its
 * formatted traceback (malloc'd UTF-8), or a fallback message. */
char *pogo_format_exception(size_t *len);
char *pogo_strdup(const char *s, size_t *len);

#endif
