/*
 * gateway.c — the WSGI call: environ from Go's encoded buffer, wsgi.input,
 * start_response/write, wsgi.errors, wsgi.file_wrapper, and consuming the
 * response iterable. See pogo.h for the contract.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "_cgo_export.h"

#define READ_CHUNK (64 * 1024)

static PyObject *k_input, *k_scheme, *s_http, *s_https;
PyObject *pogo_errors_obj;

/* ---- a growable byte buffer (malloc'd) ---- */

typedef struct {
	char *p;
	size_t n, cap;
} buf;

static void buf_put(buf *b, const void *src, size_t n)
{
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		while (cap < b->n + n)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL)
			abort();
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, src, n);
	b->n += n;
}

/* latin1 returns the latin-1 bytes of a str without copying, or NULL with
 * an exception set if obj is not a str or has characters above U+00FF. */
static const char *latin1(PyObject *obj, Py_ssize_t *n, const char *what)
{
	if (!PyUnicode_Check(obj)) {
		PyErr_Format(PyExc_TypeError, "%s must be str, not %.100s", what,
		             Py_TYPE(obj)->tp_name);
		return NULL;
	}
#if PY_VERSION_HEX < 0x030C0000
	if (PyUnicode_READY(obj) < 0)
		return NULL;
#endif
	if (PyUnicode_KIND(obj) != PyUnicode_1BYTE_KIND) {
		PyErr_Format(PyExc_ValueError, "%s is not latin-1: %R", what, obj);
		return NULL;
	}
	*n = PyUnicode_GET_LENGTH(obj);
	return (const char *)PyUnicode_1BYTE_DATA(obj);
}

static int is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A hand-off to Go, with the GIL released: handoff() begins it, regain()
 * takes the GIL back, counting the time it took and the wait for the GIL. */
typedef struct {
	PyThreadState *save;
	int64_t start;
} gone_to_go;

static gone_to_go handoff(pogo_thread *t)
{
	PyThreadState *ts = PyEval_SaveThread();
	int64_t now = pogo_now_ns();
	if (t->out != NULL)
		__atomic_store_n(&t->out->to_go_since, now, __ATOMIC_RELAXED);
	return (gone_to_go){ts, now};
}

static void regain(pogo_thread *t, gone_to_go h)
{
	int64_t t1 = pogo_now_ns();
	pogo_take_gil(h.save);
	int64_t t2 = pogo_now_ns();
	t->gil_ns += t2 - t1;
	t->handoff_ns += t2 - h.start;
	if (t->out != NULL) {
		__atomic_store_n(&t->out->handoff_ns, t->handoff_ns, __ATOMIC_RELAXED);
		__atomic_store_n(&t->out->to_go_since, 0, __ATOMIC_RELAXED);
	}
}

/* ---- wsgi.input ---- */

typedef struct {
	PyObject_HEAD
	pogo_thread *t;
	const char *p; /* unread window p[pos:len]: Go's body (borrowed) or buf */
	Py_ssize_t pos, len;
	char *buf;     /* read-ahead storage once the borrowed body is used up */
	int more;      /* Go may have more body to read */
	int active;    /* cleared when the request ends */
} Input;

static PyTypeObject InputType;

static int input_check(Input *in)
{
	if (!in->active) {
		PyErr_SetString(PyExc_ValueError, "wsgi.input used after the request ended");
		return -1;
	}
	return 0;
}

/* read_go reads up to n bytes from the rest of the body into dst (C memory)
 * with the GIL released. Returns bytes read, 0 at the end, -1 with an
 * exception set. */
static Py_ssize_t read_go(Input *in, char *dst, Py_ssize_t n)
{
	if (!in->more)
		return 0;
	pogo_thread *t = in->t;
	ssize_t r;
	gone_to_go save = handoff(t);
	if (t->job != NULL) {
		pogo_settle(t->job); /* before the job's arguments change */
		t->job->p = dst;
		t->job->n = (size_t)n;
		r = (ssize_t)pogo_ask(t->job, POGO_OP_READ);
	} else {
		pogo_go_side = 1;
		r = pogoRead(t->handle, dst, (size_t)n);
		pogo_go_side = 0;
	}
	regain(t, save);
	if (r > 0)
		return r;
	in->more = 0;
	if (r == 0)
		return 0;
	PyErr_SetString(PyExc_OSError, "pogo: client disconnected while the request body was read");
	return -1;
}

/* fill makes sure the window has unread bytes: 1 if so, 0 at the end of
 * the body, -1 on error. */
static int fill(Input *in)
{
	if (in->pos < in->len)
		return 1;
	if (!in->more)
		return 0;
	if (in->buf == NULL && (in->buf = malloc(READ_CHUNK)) == NULL)
		abort();
	Py_ssize_t n = read_go(in, in->buf, READ_CHUNK);
	if (n <= 0)
		return (int)n;
	in->p = in->buf;
	in->pos = 0;
	in->len = n;
	return 1;
}

static int size_arg(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t *size)
{
	*size = -1;
	if (nargs > 1) {
		PyErr_SetString(PyExc_TypeError, "expected at most one argument");
		return -1;
	}
	if (nargs == 1 && args[0] != Py_None) {
		*size = PyNumber_AsSsize_t(args[0], PyExc_OverflowError);
		if (*size == -1 && PyErr_Occurred())
			return -1;
	}
	return 0;
}

static PyObject *input_read(Input *in, PyObject *const *args, Py_ssize_t nargs)
{
	Py_ssize_t size;
	if (input_check(in) < 0 || size_arg(args, nargs, &size) < 0)
		return NULL;
	Py_ssize_t avail = in->len - in->pos;
	if (size >= 0 && avail >= size) {
		PyObject *r = PyBytes_FromStringAndSize(in->p + in->pos, size);
		in->pos += size;
		return r;
	}
	if (size < 0 && !in->more) {
		PyObject *r = PyBytes_FromStringAndSize(in->p + in->pos, avail);
		in->pos = in->len;
		return r;
	}
	/* Copy what is buffered, then read the rest straight into the result. */
	Py_ssize_t cap = size >= 0 ? size : avail + READ_CHUNK;
	PyObject *r = PyBytes_FromStringAndSize(NULL, cap);
	if (r == NULL)
		return NULL;
	memcpy(PyBytes_AS_STRING(r), in->p + in->pos, (size_t)avail);
	in->pos = in->len;
	Py_ssize_t got = avail;
	for (;;) {
		if (got == cap) {
			if (size >= 0)
				break;
			cap *= 2;
			if (_PyBytes_Resize(&r, cap) < 0)
				return NULL;
		}
		Py_ssize_t n = read_go(in, PyBytes_AS_STRING(r) + got, cap - got);
		if (n < 0) {
			Py_DECREF(r);
			return NULL;
		}
		if (n == 0)
			break;
		got += n;
	}
	if (got != cap && _PyBytes_Resize(&r, got) < 0)
		return NULL;
	return r;
}

static PyObject *readline(Input *in, Py_ssize_t size)
{
	int rc = fill(in);
	if (rc <= 0)
		return rc < 0 ? NULL : PyBytes_FromStringAndSize("", 0);
	/* Fast path: the whole line is in the window. */
	Py_ssize_t avail = in->len - in->pos;
	Py_ssize_t lim = (size >= 0 && size < avail) ? size : avail;
	const char *start = in->p + in->pos;
	const char *nl = memchr(start, '\n', (size_t)lim);
	if (nl != NULL || lim == size) {
		Py_ssize_t take = nl ? nl - start + 1 : lim;
		in->pos += take;
		return PyBytes_FromStringAndSize(start, take);
	}
	buf b = {0};
	for (;;) {
		rc = fill(in);
		if (rc < 0) {
			free(b.p);
			return NULL;
		}
		if (rc == 0)
			break;
		avail = in->len - in->pos;
		lim = size >= 0 ? size - (Py_ssize_t)b.n : avail;
		if (lim > avail)
			lim = avail;
		start = in->p + in->pos;
		nl = memchr(start, '\n', (size_t)lim);
		Py_ssize_t take = nl ? nl - start + 1 : lim;
		buf_put(&b, start, (size_t)take);
		in->pos += take;
		if (nl != NULL || (size >= 0 && (Py_ssize_t)b.n >= size))
			break;
	}
	PyObject *r = PyBytes_FromStringAndSize(b.p ? b.p : "", (Py_ssize_t)b.n);
	free(b.p);
	return r;
}

static PyObject *input_readline(Input *in, PyObject *const *args, Py_ssize_t nargs)
{
	Py_ssize_t size;
	if (input_check(in) < 0 || size_arg(args, nargs, &size) < 0)
		return NULL;
	return readline(in, size);
}

static PyObject *input_readlines(Input *in, PyObject *const *args, Py_ssize_t nargs)
{
	Py_ssize_t hint;
	if (input_check(in) < 0 || size_arg(args, nargs, &hint) < 0)
		return NULL;
	PyObject *list = PyList_New(0);
	if (list == NULL)
		return NULL;
	Py_ssize_t total = 0;
	for (;;) {
		PyObject *line = readline(in, -1);
		if (line == NULL) {
			Py_DECREF(list);
			return NULL;
		}
		Py_ssize_t n = PyBytes_GET_SIZE(line);
		if (n == 0) {
			Py_DECREF(line);
			break;
		}
		int err = PyList_Append(list, line);
		Py_DECREF(line);
		if (err < 0) {
			Py_DECREF(list);
			return NULL;
		}
		total += n;
		if (hint > 0 && total >= hint)
			break;
	}
	return list;
}

static PyObject *input_next(Input *in)
{
	if (input_check(in) < 0)
		return NULL;
	PyObject *line = readline(in, -1);
	if (line != NULL && PyBytes_GET_SIZE(line) == 0) {
		Py_DECREF(line);
		return NULL; /* StopIteration */
	}
	return line;
}

static void input_dealloc(Input *in)
{
	free(in->buf);
	Py_TYPE(in)->tp_free((PyObject *)in);
}

static PyMethodDef input_methods[] = {
	{"read", (PyCFunction)(void (*)(void))input_read, METH_FASTCALL, "read([size]) -> bytes"},
	{"readline", (PyCFunction)(void (*)(void))input_readline, METH_FASTCALL, "readline([size]) -> bytes"},
	{"readlines", (PyCFunction)(void (*)(void))input_readlines, METH_FASTCALL, "readlines([hint]) -> list"},
	{NULL},
};

static PyTypeObject InputType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "pogo.Input",
	.tp_basicsize = sizeof(Input),
	.tp_dealloc = (destructor)input_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "wsgi.input: the request body",
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = (iternextfunc)input_next,
	.tp_methods = input_methods,
};

/* ---- start_response and write ---- */

typedef struct {
	PyObject_HEAD
	vectorcallfunc vectorcall; /* start_response(status, headers, exc_info=None) */
	PyObject *write;   /* the write callable start_response returns, made once */
	pogo_thread *t;
	char *head;        /* validated "STATUS\0Name\0Value\0..." */
	size_t head_len;
	int started;       /* start_response was called */
	int sent;          /* head was handed to Go */
	int whole;         /* the whole body was kept for a buffered response, before close() */
	int head_only;     /* HEAD request: count body bytes, send none */
	int gone;          /* the client went away */
	int active;        /* cleared when the request ends */
	/* The app's Content-Length bounds the body (see send): clen is it, -1
	 * if the head has none (or one Go will refuse); body_sent is the body
	 * bytes passed on so far (or counted, for HEAD), never more than clen. */
	long long clen;
	long long body_sent;
	int over;          /* the app's body went past clen: the excess was dropped */
	int quiet;         /* a file_wrapper: clen bounding it is no fault of the app's */
	char *scratch;     /* the caller's buffer for a buffered response (pogo_call) */
	size_t scratch_cap;
	size_t scratch_used; /* the body's bytes at its start */
	PyObject *environ; /* with POGO_DEBUG, the request's (borrowed), for the debug page */
} Gate;

static PyTypeObject GateType;

/* content_length parses a Content-Length value: 1*DIGIT between optional
 * spaces and tabs. Returns -1 for anything else (Go refuses the head). */
static long long content_length(const char *v, Py_ssize_t n)
{
	Py_ssize_t i = 0;
	while (i < n && (v[i] == ' ' || v[i] == '\t'))
		i++;
	while (n > i && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (i == n)
		return -1;
	long long cl = 0;
	for (; i < n; i++) {
		if (v[i] < '0' || v[i] > '9' || cl > (LLONG_MAX - 9) / 10)
			return -1;
		cl = cl * 10 + (v[i] - '0');
	}
	return cl;
}

/* build_head validates status and headers and encodes them for Go, and
 * sets *clen to the app's Content-Length: -1 if none, or if Go will refuse
 * the head for it (not a number, two that differ). */
static int build_head(PyObject *status, PyObject *headers, buf *b, long long *clen)
{
	int clens = 0, bad_clen = 0; /* Content-Length headers seen; one Go refuses */
	*clen = -1;
	Py_ssize_t n;
	const char *s = latin1(status, &n, "status");
	if (s == NULL)
		return -1;
	int ok = n >= 3 && s[0] >= '1' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' &&
	         s[2] >= '0' && s[2] <= '9' && (n == 3 || s[3] == ' ');
	for (Py_ssize_t i = 3; ok && i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			ok = 0;
	if (!ok || s[0] == '1') {
		PyErr_Format(PyExc_ValueError, "invalid status %R: want a 3-digit code >= 200 and a reason", status);
		return -1;
	}
	buf_put(b, s, (size_t)n);
	buf_put(b, "", 1);

	PyObject *seq = PySequence_Fast(headers, "response headers must be a list of (name, value) tuples");
	if (seq == NULL)
		return -1;
	Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
	PyObject **items = PySequence_Fast_ITEMS(seq);
	for (Py_ssize_t i = 0; i < count; i++) {
		PyObject *h = items[i];
		if (!PyTuple_Check(h) || PyTuple_GET_SIZE(h) != 2) {
			PyErr_Format(PyExc_TypeError, "response header must be a (name, value) tuple, not %R", h);
			goto fail;
		}
		Py_ssize_t kn, vn;
		const char *k = latin1(PyTuple_GET_ITEM(h, 0), &kn, "header name");
		if (k == NULL)
			goto fail;
		const char *v = latin1(PyTuple_GET_ITEM(h, 1), &vn, "header value");
		if (v == NULL)
			goto fail;
		ok = kn > 0;
		for (Py_ssize_t j = 0; ok && j < kn; j++)
			ok = is_tchar((unsigned char)k[j]);
		if (!ok) {
			PyErr_Format(PyExc_ValueError, "invalid header name %R", PyTuple_GET_ITEM(h, 0));
			goto fail;
		}
		for (Py_ssize_t j = 0; j < vn; j++) {
			unsigned char c = (unsigned char)v[j];
			if ((c < 0x20 && c != '\t') || c == 0x7f) {
				PyErr_Format(PyExc_ValueError, "invalid character in header %R: %R",
				             PyTuple_GET_ITEM(h, 0), PyTuple_GET_ITEM(h, 1));
				goto fail;
			}
		}
		if (kn == 14 && strncasecmp(k, "content-length", 14) == 0) {
			long long cl = content_length(v, vn);
			if (cl < 0 || (clens > 0 && cl != *clen))
				bad_clen = 1;
			clens++;
			*clen = bad_clen ? -1 : cl;
		}
		buf_put(b, k, (size_t)kn);
		buf_put(b, "", 1);
		buf_put(b, v, (size_t)vn);
		buf_put(b, "", 1);
	}
	Py_DECREF(seq);
	return 0;
fail:
	Py_DECREF(seq);
	return -1;
}

/* The largest chunk (with the head) a pool thread copies to write it
 * while the app goes on. */
#define POSTED_WRITE_MAX (64 * 1024)

/* body_full: the body has reached the app's Content-Length, so the rest
 * of the iterable is not asked for (PEP 3333: the server "should stop
 * iterating over the response when enough data has been sent"). */
static int body_full(Gate *g)
{
	return g->started && g->clen >= 0 && g->body_sent >= g->clen;
}

/* send hands a body chunk (and the head, the first time) to Go with the
 * GIL released. Returns 0, or -1 if the client is gone. No more than the
 * app's Content-Length goes: bytes past it are dropped (g->over), so the
 * response stays framed and the connection stays in step. */
static int send(Gate *g, const char *data, size_t n)
{
	if (g->clen >= 0 && (long long)n > g->clen - g->body_sent) {
		n = (size_t)(g->clen - g->body_sent);
		if (!g->quiet)
			g->over = 1;
	}
	g->body_sent += (long long)n;
	if (n == 0 || g->head_only)
		return 0;
	const char *head = NULL;
	size_t head_len = 0;
	if (!g->sent) {
		head = g->head;
		head_len = g->head_len;
		g->sent = 1;
	}
	pogo_thread *t = g->t;
	int rc;
	if (t->job != NULL && head_len + n <= POSTED_WRITE_MAX) {
		/* A pool thread posts a copy and goes on with the app: a stream
		 * of small chunks (server-sent events) costs one take of the GIL
		 * per chunk, not two, and no wait for Go. */
		gone_to_go save;
		int waits = pogo_write_pending();
		if (waits)
			save = handoff(t);
		rc = pogo_post_write(t->job, head, head_len, data, n);
		if (waits)
			regain(t, save);
		if (rc < 0)
			g->gone = 1;
		return rc;
	}
	gone_to_go save = handoff(t);
	if (t->job != NULL) {
		pogo_settle(t->job);
		t->job->head = (char *)head;
		t->job->head_len = head_len;
		t->job->p = (char *)data;
		t->job->n = n;
		rc = (int)pogo_ask(t->job, POGO_OP_WRITE);
	} else {
		pogo_go_side = 1;
		rc = pogoWrite(t->handle, (char *)head, head_len, (char *)data, n);
		pogo_go_side = 0;
	}
	regain(t, save);
	if (rc < 0)
		g->gone = 1;
	return rc;
}

static PyObject *gate_write(Gate *g, PyObject *data)
{
	if (!g->active) {
		PyErr_SetString(PyExc_ValueError, "write() called after the request ended");
		return NULL;
	}
	if (!g->started) {
		PyErr_SetString(PyExc_AssertionError, "write() before start_response()");
		return NULL;
	}
	Py_buffer view;
	if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
		return NULL;
	int rc = view.len > 0 ? send(g, view.buf, (size_t)view.len) : 0;
	PyBuffer_Release(&view);
	if (rc < 0) {
		PyErr_SetString(PyExc_OSError, "pogo: client disconnected");
		return NULL;
	}
	Py_RETURN_NONE;
}

static PyMethodDef write_def = {"write", (PyCFunction)gate_write, METH_O, "write(data): send body bytes"};

static PyObject *start_response(Gate *g, PyObject *status, PyObject *headers, PyObject *exc_info)
{
	if (!g->active) {
		PyErr_SetString(PyExc_ValueError, "start_response() called after the request ended");
		return NULL;
	}
	if (exc_info != Py_None) {
		if (g->sent) {
			/* Too late to change the response: re-raise the app's error. */
			if (!PyTuple_Check(exc_info) || PyTuple_GET_SIZE(exc_info) != 3) {
				PyErr_SetString(PyExc_TypeError, "exc_info must be a (type, value, traceback) tuple");
				return NULL;
			}
			PyObject *type = PyTuple_GET_ITEM(exc_info, 0);
			PyObject *value = PyTuple_GET_ITEM(exc_info, 1);
			PyObject *tb = PyTuple_GET_ITEM(exc_info, 2);
			Py_INCREF(type);
			Py_INCREF(value);
			Py_INCREF(tb);
			PyErr_Restore(type, value, tb == Py_None ? (Py_DECREF(tb), NULL) : tb);
			return NULL;
		}
	} else if (g->started) {
		PyErr_SetString(PyExc_AssertionError, "start_response() called twice without exc_info");
		return NULL;
	}
	buf b = {0};
	long long clen;
	if (build_head(status, headers, &b, &clen) < 0) {
		free(b.p);
		return NULL;
	}
	free(g->head);
	g->head = b.p;
	g->head_len = b.n;
	g->started = 1;
	/* A new head (exc_info) starts the body again: nothing was sent, but a
	 * HEAD request may have counted some. */
	g->clen = clen;
	g->body_sent = 0;
	g->over = 0;
	if (g->write == NULL && (g->write = PyCFunction_New(&write_def, (PyObject *)g)) == NULL)
		return NULL;
	Py_INCREF(g->write);
	return g->write;
}

/* gate_vectorcall parses start_response's arguments without building a
 * tuple: it is called once per request. */
static PyObject *gate_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
	static const char *names[] = {"status", "headers", "exc_info"};
	PyObject *arg[3] = {NULL, NULL, Py_None};
	Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
	if (nargs > 3) {
		PyErr_Format(PyExc_TypeError, "start_response() takes at most 3 arguments (%zd given)", nargs);
		return NULL;
	}
	for (Py_ssize_t i = 0; i < nargs; i++)
		arg[i] = args[i];
	Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
	for (Py_ssize_t i = 0; i < nkw; i++) {
		PyObject *name = PyTuple_GET_ITEM(kwnames, i);
		int j = 0;
		while (j < 3 && PyUnicode_CompareWithASCIIString(name, names[j]) != 0)
			j++;
		if (j == 3 || j < nargs) {
			PyErr_Format(PyExc_TypeError, j == 3 ? "start_response() got an unexpected keyword argument %R"
			                                     : "start_response() got multiple values for argument %R", name);
			return NULL;
		}
		arg[j] = args[nargs + i];
	}
	if (arg[0] == NULL || arg[1] == NULL) {
		PyErr_SetString(PyExc_TypeError, "start_response() missing required argument 'status' or 'headers'");
		return NULL;
	}
	return start_response((Gate *)self, arg[0], arg[1], arg[2]);
}

static void gate_dealloc(Gate *g)
{
	free(g->head);
	Py_XDECREF(g->write);
	Py_TYPE(g)->tp_free((PyObject *)g);
}

static PyTypeObject GateType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "pogo.start_response",
	.tp_basicsize = sizeof(Gate),
	.tp_dealloc = (destructor)gate_dealloc,
	.tp_vectorcall_offset = offsetof(Gate, vectorcall),
	.tp_call = PyVectorcall_Call,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
	.tp_doc = "start_response(status, headers, exc_info=None) -> write",
};

/* ---- wsgi.errors ---- */

typedef struct {
	PyObject_HEAD
} Errors;

static PyObject *errors_write(PyObject *self, PyObject *s)
{
	if (!PyUnicode_Check(s)) {
		PyErr_Format(PyExc_TypeError, "write() argument must be str, not %.100s", Py_TYPE(s)->tp_name);
		return NULL;
	}
	PyObject *b = PyUnicode_AsEncodedString(s, "utf-8", "backslashreplace");
	if (b == NULL)
		return NULL;
	pogo_job *j = pogo_current_job;
	Py_BEGIN_ALLOW_THREADS
	if (j != NULL) {
		/* A pool thread never runs Go: its job's goroutine writes it. */
		pogo_settle(j);
		j->p = PyBytes_AS_STRING(b);
		j->n = (size_t)PyBytes_GET_SIZE(b);
		pogo_ask(j, POGO_OP_LOG);
	} else {
		pogo_go_side = 1;
		pogoLog(PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
		pogo_go_side = 0;
	}
	Py_END_ALLOW_THREADS
	Py_DECREF(b);
	return PyLong_FromSsize_t(PyUnicode_GET_LENGTH(s));
}

static PyObject *errors_writelines(PyObject *self, PyObject *lines)
{
	PyObject *it = PyObject_GetIter(lines);
	if (it == NULL)
		return NULL;
	PyObject *line;
	while ((line = PyIter_Next(it)) != NULL) {
		PyObject *r = errors_write(self, line);
		Py_DECREF(line);
		if (r == NULL) {
			Py_DECREF(it);
			return NULL;
		}
		Py_DECREF(r);
	}
	Py_DECREF(it);
	if (PyErr_Occurred())
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *errors_flush(PyObject *self, PyObject *unused) { Py_RETURN_NONE; }

static PyMethodDef errors_methods[] = {
	{"write", errors_write, METH_O, "write(str): append to the error log"},
	{"writelines", errors_writelines, METH_O, "writelines(lines)"},
	{"flush", errors_flush, METH_NOARGS, "flush()"},
	{NULL},
};

static PyTypeObject ErrorsType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "pogo.Errors",
	.tp_basicsize = sizeof(Errors),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "wsgi.errors: the server's error log",
	.tp_methods = errors_methods,
};

/* ---- wsgi.file_wrapper ---- */

typedef struct {
	PyObject_HEAD
	PyObject *filelike;
	Py_ssize_t blksize;
} FileWrapper;

static int fw_init(FileWrapper *fw, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"filelike", "blksize", NULL};
	PyObject *filelike;
	fw->blksize = 8192;
	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|n:file_wrapper", kwlist, &filelike, &fw->blksize))
		return -1;
	if (fw->blksize <= 0)
		fw->blksize = 8192;
	Py_INCREF(filelike);
	Py_XSETREF(fw->filelike, filelike);
	return 0;
}

static PyObject *fw_next(FileWrapper *fw)
{
	PyObject *data = PyObject_CallMethod(fw->filelike, "read", "n", fw->blksize);
	if (data == NULL)
		return NULL;
	Py_ssize_t n = PyObject_Length(data);
	if (n <= 0) {
		Py_DECREF(data);
		return NULL; /* end of file (StopIteration), or the error from len() */
	}
	return data;
}

static PyObject *fw_close(FileWrapper *fw, PyObject *unused)
{
	if (PyObject_HasAttrString(fw->filelike, "close"))
		return PyObject_CallMethod(fw->filelike, "close", NULL);
	Py_RETURN_NONE;
}

static void fw_dealloc(FileWrapper *fw)
{
	Py_XDECREF(fw->filelike);
	Py_TYPE(fw)->tp_free((PyObject *)fw);
}

static PyMethodDef fw_methods[] = {
	{"close", (PyCFunction)fw_close, METH_NOARGS, "close the wrapped file"},
	{NULL},
};

static PyTypeObject FileWrapperType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "pogo.FileWrapper",
	.tp_basicsize = sizeof(FileWrapper),
	.tp_dealloc = (destructor)fw_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "wsgi.file_wrapper(filelike, blksize=8192): sent with sendfile when it has a fileno",
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = (iternextfunc)fw_next,
	.tp_methods = fw_methods,
	.tp_init = (initproc)fw_init,
	.tp_new = PyType_GenericNew,
};

/* ---- the call ---- */

int pogo_gateway_init(PyObject *module)
{
	PyTypeObject *types[] = {&InputType, &GateType, &ErrorsType, &FileWrapperType};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (PyType_Ready(types[i]) < 0)
			return -1;
	Py_INCREF(&FileWrapperType);
	if (PyModule_AddObject(module, "FileWrapper", (PyObject *)&FileWrapperType) < 0)
		return -1;
	pogo_errors_obj = PyObject_New(PyObject, &ErrorsType);
	if (pogo_errors_obj == NULL)
		return -1;
	Py_INCREF(pogo_errors_obj);
	if (PyModule_AddObject(module, "errors", pogo_errors_obj) < 0)
		return -1;
	k_input = PyUnicode_InternFromString("wsgi.input");
	k_scheme = PyUnicode_InternFromString("wsgi.url_scheme");
	s_http = PyUnicode_InternFromString("http");
	s_https = PyUnicode_InternFromString("https");
	return (k_input && k_scheme && s_http && s_https) ? 0 : -1;
}

PyObject *pogo_base_environ(int mode)
{
	PyObject *version = Py_BuildValue("(ii)", 1, 0);
	if (version == NULL)
		return NULL;
	PyObject *d = Py_BuildValue("{sNsOsOsOsOsOsO}",
	                            "wsgi.version", version,
	                            "wsgi.multithread", mode == POGO_RUN_ONCE ? Py_False : Py_True,
	                            "wsgi.multiprocess", mode == POGO_THREADS ? Py_False : Py_True,
	                            "wsgi.run_once", mode == POGO_RUN_ONCE ? Py_True : Py_False,
	                            "wsgi.errors", pogo_errors_obj,
	                            "wsgi.file_wrapper", (PyObject *)&FileWrapperType,
	                            "wsgi.input_terminated", Py_True);
	if (d == NULL)
		return NULL;
	/* Every request sets these: holding them here sizes the table of each
	 * copy for them (PyDict_Copy clones a dense table), so a request's
	 * environ is built by replacing values, not by growing the dict twice.
	 * None stands for "not set yet"; pogo_call sets or removes each. */
	for (int k = 1; k <= pogo_nreserved; k++)
		if (PyDict_SetItem(d, pogo_keys[k], Py_None) < 0)
			goto fail;
	if (PyDict_SetItem(d, k_input, Py_None) < 0 || PyDict_SetItem(d, k_scheme, Py_None) < 0)
		goto fail;
	return d;
fail:
	Py_DECREF(d);
	return NULL;
}

/* The last value of each reserved key, reused while the next request sends
 * the same bytes (the method, protocol, server name and port, SCRIPT_NAME,
 * Host, often the client address: str objects are immutable). GIL-protected. */
static PyObject *last_value[65];

static PyObject *reserved_value(int k, const char *p, uint32_t n)
{
	PyObject *v = last_value[k];
	if (v != NULL && PyUnicode_GET_LENGTH(v) == (Py_ssize_t)n && memcmp(PyUnicode_1BYTE_DATA(v), p, n) == 0) {
		Py_INCREF(v);
		return v;
	}
	v = PyUnicode_DecodeLatin1(p, n, NULL);
	if (v != NULL && PyUnicode_KIND(v) == PyUnicode_1BYTE_KIND) {
		PyObject *old = last_value[k];
		Py_INCREF(v);
		last_value[k] = v;
		Py_XDECREF(old);
	}
	return v;
}

static int decode_env(PyObject *env, const char *p, size_t len)
{
	const char *end = p + len;
	uint64_t set = 0; /* reserved keys set: bit k-1 */
	while (p < end) {
		unsigned k = (unsigned char)*p++;
		PyObject *key;
		if (k == 0) {
			uint16_t kl;
			memcpy(&kl, p, 2);
			p += 2;
			key = PyUnicode_DecodeLatin1(p, kl, NULL);
			p += kl;
		} else if ((Py_ssize_t)k <= pogo_nkeys) {
			key = pogo_keys[k];
			Py_INCREF(key);
		} else {
			PyErr_Format(PyExc_SystemError, "pogo: environ key index %u out of range", k);
			return -1;
		}
		uint32_t vl;
		memcpy(&vl, p, 4);
		p += 4;
		PyObject *val = NULL;
		if (key != NULL && k >= 1 && (int)k <= pogo_nreserved) {
			set |= (uint64_t)1 << (k - 1);
			val = reserved_value((int)k, p, vl);
		} else if (key != NULL) {
			val = PyUnicode_DecodeLatin1(p, vl, NULL);
		}
		p += vl;
		int rc = val ? PyDict_SetItem(env, key, val) : -1;
		Py_XDECREF(key);
		Py_XDECREF(val);
		if (rc < 0)
			return -1;
	}
	/* A reserved key this request did not send (Host, in HTTP/1.0). */
	for (int k = 1; k <= pogo_nreserved; k++)
		if (!(set & ((uint64_t)1 << (k - 1))) && PyDict_DelItem(env, pogo_keys[k]) < 0)
			return -1;
	return 0;
}

/* debug_page renders the pending exception, which stays pending, as the
 * debug page of the request (_pogo.debug_page) into out->page. */
static void debug_page(Gate *g, pogo_result *out)
{
	PyObject *type, *value, *tb;
	PyErr_Fetch(&type, &value, &tb);
	PyErr_NormalizeException(&type, &value, &tb);
	if (tb != NULL && value != NULL)
		PyException_SetTraceback(value, tb);
	PyObject *r = PyObject_CallMethod(pogo_module, "debug_page", "OO", g->environ, value ? value : Py_None);
	const char *ctype, *body;
	Py_ssize_t clen, blen;
	if (r != NULL && PyArg_ParseTuple(r, "s#y#", &ctype, &clen, &body, &blen)) {
		out->page_len = (size_t)clen + 1 + (size_t)blen;
		if ((out->page = malloc(out->page_len)) == NULL)
			abort();
		memcpy(out->page, ctype, (size_t)clen);
		out->page[clen] = '\0';
		memcpy(out->page + clen + 1, body, (size_t)blen);
	} else {
		PyErr_WriteUnraisable(pogo_module); /* the page's own failure, on wsgi.errors' stream */
	}
	Py_XDECREF(r);
	PyErr_Restore(type, value, tb);
}

/* fail records the pending exception in out. */
static void fail(Gate *g, pogo_result *out)
{
	if (g->gone) {
		PyErr_Clear();
		out->kind = POGO_GONE;
		return;
	}
	if (g->environ != NULL && !g->sent && !g->whole && out->err == NULL && out->page == NULL)
		debug_page(g, out);
	size_t n;
	char *text = pogo_format_exception(&n);
	if (out->err == NULL) {
		out->err = text;
		out->err_len = n;
		/* close() failing after the whole body was kept: the response
		 * stands, as it would had it gone out before close(). */
		if (!g->whole)
			out->kind = g->sent ? POGO_ERROR_AFTER : POGO_ERROR_BEFORE;
		return;
	}
	/* A second error (from close()): keep both tracebacks. */
	char *both = realloc(out->err, out->err_len + n + 1);
	if (both == NULL)
		abort();
	memcpy(both + out->err_len, text, n + 1);
	out->err = both;
	out->err_len += n;
	free(text);
}

static void close_result(Gate *g, PyObject *result, pogo_result *out)
{
	if (PyList_CheckExact(result) || PyTuple_CheckExact(result))
		return;
	PyObject *close = PyObject_GetAttrString(result, "close");
	if (close == NULL) {
		if (PyErr_ExceptionMatches(PyExc_AttributeError))
			PyErr_Clear();
		else
			fail(g, out);
		return;
	}
	PyObject *r = PyObject_CallNoArgs(close);
	Py_DECREF(close);
	if (r == NULL)
		fail(g, out);
	Py_XDECREF(r);
}

static int no_start(void)
{
	PyErr_SetString(PyExc_AssertionError, "the application returned a body before calling start_response()");
	return -1;
}

/* The largest body of an iterable's one chunk kept as a buffered response
 * (finish). */
#define KEEP_MAX (1 << 20)

/* body_buffer returns where a buffered body of n bytes goes: the scratch
 * buffer if it fits, else malloc'd memory (Go frees it). */
static char *body_buffer(Gate *g, size_t n)
{
	if (n <= g->scratch_cap) {
		g->scratch_used = n; /* the head may follow it: see buffered() */
		return g->scratch;
	}
	char *body = malloc(n);
	if (body == NULL)
		abort();
	return body;
}

/* finish_sequence handles a list or tuple of bytes: one buffer, a known
 * length, and the Python thread free before the bytes hit the socket. */
static int finish_sequence(Gate *g, PyObject *result, pogo_result *out)
{
	Py_ssize_t n = PySequence_Fast_GET_SIZE(result);
	PyObject **items = PySequence_Fast_ITEMS(result);
	size_t total = 0;
	for (Py_ssize_t i = 0; i < n; i++) {
		if (!PyBytes_Check(items[i])) {
			PyErr_Format(PyExc_TypeError, "response body items must be bytes, not %.100s",
			             Py_TYPE(items[i])->tp_name);
			return -1;
		}
		total += (size_t)PyBytes_GET_SIZE(items[i]);
	}
	if (!g->started)
		return no_start();
	/* No more than the app's Content-Length, as in send (a HEAD request
	 * may have counted what write() was given). */
	if (g->clen >= 0 && (long long)total > g->clen - g->body_sent) {
		total = (size_t)(g->clen - g->body_sent);
		g->over = 1;
	}
	g->body_sent += (long long)total;
	if (!g->head_only && total > 0) {
		char *body = body_buffer(g, total);
		size_t off = 0;
		for (Py_ssize_t i = 0; i < n && off < total; i++) {
			size_t m = (size_t)PyBytes_GET_SIZE(items[i]);
			if (m > total - off)
				m = total - off;
			memcpy(body + off, PyBytes_AS_STRING(items[i]), m);
			off += m;
		}
		out->body = body;
	}
	out->body_len = (size_t)g->body_sent;
	return 0;
}

/* finish_file sends a wsgi.file_wrapper over a regular file with sendfile:
 * from the file object's position to the end of the file, or as much of it
 * as the app's Content-Length says (a Range response: Falcon positions the
 * file and sets Content-Length to the range's length). A file shorter than
 * Content-Length is sent as it is; Go ends the response short. Returns 1
 * if it did, 0 if the generic path must be used, -1 on error. */
static int finish_file(Gate *g, FileWrapper *fw, pogo_result *out)
{
	int fd = PyObject_AsFileDescriptor(fw->filelike);
	if (fd < 0) {
		PyErr_Clear();
		return 0;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	long long off;
	PyObject *pos = PyObject_CallMethod(fw->filelike, "tell", NULL);
	if (pos != NULL) {
		off = PyLong_AsLongLong(pos);
		Py_DECREF(pos);
	} else {
		off = -1;
	}
	if (off < 0) {
		PyErr_Clear();
		off = (long long)lseek(fd, 0, SEEK_CUR);
		if (off < 0)
			return 0;
	}
	if (!g->started)
		return no_start();
	long long count = (long long)st.st_size > off ? (long long)st.st_size - off : 0;
	if (g->clen >= 0 && count > g->clen - g->body_sent)
		count = g->clen - g->body_sent;
	g->body_sent += count;
	if (g->head_only) {
		out->kind = POGO_BUFFERED;
		out->body_len = (size_t)g->body_sent;
		return 1;
	}
	pogo_thread *t = g->t;
	int rc;
	g->sent = 1;
	gone_to_go save = handoff(t);
	if (t->job != NULL) {
		pogo_settle(t->job);
		t->job->head = g->head;
		t->job->head_len = g->head_len;
		t->job->fd = fd;
		t->job->off = off;
		t->job->count = count;
		rc = (int)pogo_ask(t->job, POGO_OP_SENDFILE);
	} else {
		pogo_go_side = 1;
		rc = pogoSendFile(t->handle, g->head, g->head_len, fd, off, count);
		pogo_go_side = 0;
	}
	regain(t, save);
	if (rc < 0)
		g->gone = 1;
	out->kind = rc < 0 ? POGO_GONE : POGO_STREAMED;
	return 1;
}

/* finish consumes the response iterable. Returns 0 or -1 with an exception. */
static int finish(Gate *g, PyObject *result, pogo_result *out)
{
	if (!g->sent && (PyList_CheckExact(result) || PyTuple_CheckExact(result))) {
		if (finish_sequence(g, result, out) < 0)
			return -1;
		out->kind = POGO_BUFFERED;
		return 0;
	}
	if (Py_IS_TYPE(result, &FileWrapperType)) {
		g->quiet = 1;
		if (!g->sent) {
			int rc = finish_file(g, (FileWrapper *)result, out);
			if (rc != 0)
				return rc < 0 ? -1 : 0;
		}
	}
	PyObject *it = PyObject_GetIter(result);
	if (it == NULL)
		return -1;
	PyObject *item;
	while (!body_full(g) && (item = PyIter_Next(it)) != NULL) {
		if (!PyBytes_Check(item)) {
			PyErr_Format(PyExc_TypeError, "response body items must be bytes, not %.100s",
			             Py_TYPE(item)->tp_name);
			Py_DECREF(item);
			break;
		}
		Py_ssize_t n = PyBytes_GET_SIZE(item);
		int rc = 0;
		if (n > 0 && !g->started) {
			rc = no_start();
		} else if (n > 0 && !g->sent && !g->head_only && g->clen > 0 && g->clen <= KEEP_MAX && n >= g->clen) {
			/* The first chunk is all that Content-Length says there is
			 * (Werkzeug's and Django's responses): kept as a buffered
			 * response, like a list, so the call ends without a
			 * hand-off to Go and the bytes go out after it. (A larger
			 * body is sent from the bytes object, not copied.) */
			size_t total = (size_t)g->clen;
			if (n > g->clen && !g->quiet)
				g->over = 1;
			out->body = body_buffer(g, total);
			memcpy(out->body, PyBytes_AS_STRING(item), total);
			g->body_sent = g->clen;
			g->whole = 1;
		} else if (n > 0) {
			rc = send(g, PyBytes_AS_STRING(item), (size_t)n);
		}
		Py_DECREF(item);
		if (rc < 0)
			break;
	}
	Py_DECREF(it);
	if (g->gone) {
		PyErr_Clear();
		out->kind = POGO_GONE;
		return 0;
	}
	if (PyErr_Occurred())
		return -1;
	if (g->sent && !g->head_only) {
		out->kind = POGO_STREAMED;
		return 0;
	}
	if (!g->started)
		return no_start();
	out->kind = POGO_BUFFERED;
	out->body_len = (size_t)g->body_sent;
	return 0;
}

/* A thread keeps the start_response and wsgi.input objects of its last
 * request for the next one when nothing else refers to them any more (the
 * app may keep either, which then stays as it was: ended). */

static Gate *take_gate(pogo_thread *t)
{
	Gate *g = (Gate *)t->gate;
	t->gate = NULL;
	if (g == NULL && (g = PyObject_New(Gate, &GateType)) != NULL) {
		g->vectorcall = gate_vectorcall;
		g->write = NULL;
	}
	return g;
}

static void release_gate(pogo_thread *t, Gate *g)
{
	g->active = 0;
	g->environ = NULL;
	g->scratch = NULL; /* Go's: not kept past the call */
	g->scratch_cap = 0;
	free(g->head);
	g->head = NULL;
	/* Ours, and write's if write is only ours. */
	if (t->gate == NULL && (g->write == NULL || Py_REFCNT(g->write) == 1) &&
	    Py_REFCNT(g) == 1 + (g->write != NULL)) {
		t->gate = (PyObject *)g;
		return;
	}
	/* write keeps g alive for whoever holds it; g must not keep write. */
	PyObject *w = g->write;
	g->write = NULL;
	Py_XDECREF(w);
	Py_DECREF(g);
}

static Input *take_input(pogo_thread *t)
{
	Input *in = (Input *)t->input;
	t->input = NULL;
	return in != NULL ? in : PyObject_New(Input, &InputType);
}

static void release_input(pogo_thread *t, Input *in)
{
	in->active = 0;
	in->p = NULL;
	in->pos = in->len = 0;
	in->more = 0;
	free(in->buf);
	in->buf = NULL;
	if (t->input == NULL && Py_REFCNT(in) == 1) {
		t->input = (PyObject *)in;
		return;
	}
	Py_DECREF(in);
}

/* buffered hands a buffered response's head to Go: after the body in the
 * scratch buffer if it fits, else the malloc'd one. */
static void buffered(Gate *g, pogo_result *out)
{
	if (g->scratch_used + g->head_len <= g->scratch_cap) {
		out->head = g->scratch + g->scratch_used;
		memcpy(out->head, g->head, g->head_len);
		free(g->head);
	} else {
		out->head = g->head; /* ownership passes to Go */
	}
	out->head_len = g->head_len;
	g->head = NULL;
}

void pogo_free2(void *a, void *b)
{
	free(a);
	free(b);
}

int pogo_call(pogo_thread *t, pogo_app *app, const char *env, size_t env_len,
              const char *body, size_t body_len, int flags,
              char *scratch, size_t scratch_cap, pogo_result *out)
{
	memset(out, 0, sizeof *out);
	__atomic_store_n(&out->ident, PyThread_get_thread_ident(), __ATOMIC_RELEASE);
	clockid_t clock;
	if (pthread_getcpuclockid(pthread_self(), &clock) == 0)
		__atomic_store_n(&out->cpu_clock, (int64_t)clock, __ATOMIC_RELEASE);
	static __thread int32_t tid;
	if (tid == 0)
		tid = (int32_t)syscall(SYS_gettid);
	__atomic_store_n(&out->tid, tid, __ATOMIC_RELEASE);
	int64_t t0 = pogo_now_ns();
	pogo_take_gil(t->ts);
	pogo_in_request = 1;
	int64_t t1 = pogo_now_ns();
	int64_t cpu0 = 0, delay0 = 0;
	if (flags & POGO_CPU_TIME)
		pogo_sched_times(&cpu0, &delay0);
	t->gil_ns = t1 - t0;
	t->handoff_ns = 0;
	__atomic_store_n(&out->handoff_ns, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&out->to_go_since, 0, __ATOMIC_RELAXED);
	t->out = out;

	Input *in = NULL;
	PyObject *environ = NULL;
	Gate *g = take_gate(t);
	if (g == NULL)
		goto internal;
	g->t = t;
	g->head = NULL;
	g->head_len = 0;
	g->started = g->sent = g->whole = g->gone = 0;
	g->head_only = (flags & POGO_HEAD) != 0;
	g->active = 1;
	g->clen = -1;
	g->body_sent = 0;
	g->over = g->quiet = 0;
	g->scratch = scratch;
	g->scratch_cap = scratch_cap;
	g->scratch_used = 0;
	g->environ = NULL;
	environ = PyDict_Copy(app->base);
	if (environ == NULL)
		goto internal;

	in = take_input(t);
	if (in == NULL)
		goto internal;
	in->t = t;
	in->p = body;
	in->pos = 0;
	in->len = (Py_ssize_t)body_len;
	in->buf = NULL;
	in->more = (flags & POGO_MORE_BODY) != 0;
	in->active = 1;

	if (decode_env(environ, env, env_len) < 0 ||
	    PyDict_SetItem(environ, k_input, (PyObject *)in) < 0 ||
	    PyDict_SetItem(environ, k_scheme, (flags & POGO_HTTPS) ? s_https : s_http) < 0)
		goto internal;

	if (flags & POGO_DEBUG)
		g->environ = environ;
	PyObject *args[2] = {environ, (PyObject *)g};
	PyObject *result = PyObject_Vectorcall(app->callable, args, 2, NULL);
	if (result == NULL) {
		fail(g, out);
	} else {
		if (finish(g, result, out) < 0)
			fail(g, out);
		close_result(g, result, out);
		Py_DECREF(result);
	}
	out->over = g->over;
	if (out->kind == POGO_BUFFERED)
		buffered(g, out);
	goto done;

internal:
	fail(g ? g : &(Gate){.sent = 0}, out);
done:
	Py_XDECREF(environ); /* first: it holds the input */
	if (in != NULL)
		release_input(t, in);
	if (g != NULL)
		release_gate(t, g);
	int64_t t2 = pogo_now_ns();
	out->cpu_ns = out->preempted_ns = -1;
	if (flags & POGO_CPU_TIME) {
		int64_t cpu1, delay1;
		pogo_sched_times(&cpu1, &delay1);
		out->cpu_ns = cpu1 - cpu0;
		out->preempted_ns = delay1 - delay0;
	}
	t->out = NULL;
	out->gil_ns = t->gil_ns;
	__atomic_store_n(&out->handoff_ns, t->handoff_ns, __ATOMIC_RELAXED);
	out->wall_ns = t2 - t1;
	pogo_in_request = 0;
	PyEval_SaveThread();
	return out->kind;
}

/* The OS threads that have a thread state of their own for pogo_call_here,
 * and how many may. */
static int direct_threads, direct_max;

void pogo_set_direct_max(int n) { __atomic_store_n(&direct_max, n, __ATOMIC_RELEASE); }

int pogo_direct_threads(void) { return __atomic_load_n(&direct_threads, __ATOMIC_ACQUIRE); }

int pogo_call_here(uintptr_t handle, pogo_app *app, const char *env, size_t env_len,
                   const char *body, size_t body_len, int flags,
                   char *scratch, size_t scratch_cap, pogo_result *out)
{
	static __thread pogo_thread *here;
	if (here == NULL) {
		if (__atomic_add_fetch(&direct_threads, 1, __ATOMIC_ACQ_REL) > __atomic_load_n(&direct_max, __ATOMIC_ACQUIRE)) {
			__atomic_sub_fetch(&direct_threads, 1, __ATOMIC_ACQ_REL);
			memset(out, 0, sizeof *out);
			out->kind = POGO_NO_THREAD;
			return POGO_NO_THREAD;
		}
		here = pogo_thread_new(0);
	}
	here->handle = handle;
	pogo_go_side = 0; /* the app's, but in its callbacks to Go (fault.c) */
	int kind = pogo_call(here, app, env, env_len, body, body_len, flags, scratch, scratch_cap, out);
	pogo_go_side = 1;
	return kind;
}
