/* interp.c — interpreter start-up, thread states, app loading, errors. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

PyObject *pogo_module;
PyObject **pogo_keys;
Py_ssize_t pogo_nkeys;
int pogo_nreserved;

static PyInterpreterState *interp;
static PyObject *format_exception_fn; /* traceback.format_exception */
static PyObject *app_error;           /* _pogo.AppError */

void pogo_free(void *p) { free(p); }

const char *pogo_version(void) { return Py_GetVersion(); }
int pogo_build_major(void) { return PY_MAJOR_VERSION; }
int pogo_build_minor(void) { return PY_MINOR_VERSION; }

char *pogo_strdup(const char *s, size_t *len)
{
	size_t n = strlen(s);
	char *p = malloc(n + 1);
	if (p == NULL)
		abort();
	memcpy(p, s, n + 1);
	if (len != NULL)
		*len = n;
	return p;
}

static char *utf8_dup(PyObject *str, size_t *len)
{
	Py_ssize_t n;
	const char *s = PyUnicode_AsUTF8AndSize(str, &n);
	if (s == NULL) {
		PyErr_Clear();
		return NULL;
	}
	char *p = malloc((size_t)n + 1);
	if (p == NULL)
		abort();
	memcpy(p, s, (size_t)n + 1);
	if (len != NULL)
		*len = (size_t)n;
	return p;
}

char *pogo_format_exception(size_t *len)
{
	PyObject *type, *value, *tb;
	PyErr_Fetch(&type, &value, &tb);
	if (type == NULL)
		return pogo_strdup("pogo: no exception set\n", len);
	PyErr_NormalizeException(&type, &value, &tb);
	if (tb != NULL && value != NULL)
		PyException_SetTraceback(value, tb);

	char *out = NULL;
	PyObject *lines = PyObject_CallFunctionObjArgs(format_exception_fn, type,
	                                               value ? value : Py_None,
	                                               tb ? tb : Py_None, NULL);
	if (lines != NULL) {
		PyObject *empty = PyUnicode_FromStringAndSize("", 0);
		PyObject *text = empty ? PyUnicode_Join(empty, lines) : NULL;
		if (text != NULL)
			out = utf8_dup(text, len);
		Py_XDECREF(text);
		Py_XDECREF(empty);
		Py_DECREF(lines);
	}
	PyErr_Clear();
	Py_XDECREF(type);
	Py_XDECREF(value);
	Py_XDECREF(tb);
	return out ? out : pogo_strdup("pogo: unprintable exception\n", len);
}

/* setup_error turns the pending exception into pogo_exec's error text: an
 * AppError's message alone, anything else "Type: message\n" + traceback. */
static char *setup_error(void)
{
	PyObject *type, *value, *tb;
	PyErr_Fetch(&type, &value, &tb);
	PyErr_NormalizeException(&type, &value, &tb);
	if (value != NULL && PyObject_IsInstance(value, app_error) == 1) {
		char *out = NULL;
		PyObject *s = PyObject_Str(value);
		if (s != NULL)
			out = utf8_dup(s, NULL);
		Py_XDECREF(s);
		Py_XDECREF(type);
		Py_XDECREF(value);
		Py_XDECREF(tb);
		PyErr_Clear();
		return out ? out : pogo_strdup("pogo: error", NULL);
	}
	PyObject *summary = NULL;
	if (value != NULL) {
		PyObject *s = PyObject_Str(value);
		PyObject *name = PyObject_GetAttrString(type, "__name__");
		if (s != NULL && name != NULL)
			summary = PyUnicode_FromFormat("%U: %U\n", name, s);
		Py_XDECREF(s);
		Py_XDECREF(name);
	}
	PyErr_Clear();
	PyErr_Restore(type, value, tb);
	size_t tlen = 0, slen = 0;
	char *trace = pogo_format_exception(&tlen);
	char *head = summary ? utf8_dup(summary, &slen) : NULL;
	Py_XDECREF(summary);
	if (head == NULL)
		return trace;
	char *out = malloc(slen + tlen + 1);
	if (out == NULL)
		abort();
	memcpy(out, head, slen);
	memcpy(out + slen, trace, tlen + 1);
	free(head);
	free(trace);
	return out;
}

static pogo_thread *thread_wrap(PyThreadState *ts, uintptr_t handle)
{
	pogo_thread *t = calloc(1, sizeof *t);
	if (t == NULL)
		abort();
	t->ts = ts;
	t->handle = handle;
	return t;
}

static int init_module(const char *keys, size_t keys_len, const char *bootstrap)
{
	pogo_module = PyImport_AddModule("_pogo"); /* borrowed, kept by sys.modules */
	if (pogo_module == NULL)
		return -1;
	Py_INCREF(pogo_module);
	PyObject *dict = PyModule_GetDict(pogo_module);
	if (PyDict_GetItemString(dict, "__builtins__") == NULL &&
	    PyDict_SetItemString(dict, "__builtins__", PyEval_GetBuiltins()) < 0)
		return -1;
	if (pogo_gateway_init(pogo_module) < 0 || pogo_exit_init(pogo_module) < 0)
		return -1;
	PyObject *code = Py_CompileString(bootstrap, "<pogo bootstrap>", Py_file_input);
	if (code == NULL)
		return -1;
	PyObject *r = PyEval_EvalCode(code, dict, dict);
	Py_DECREF(code);
	if (r == NULL)
		return -1;
	Py_DECREF(r);
	app_error = PyDict_GetItemString(dict, "AppError");
	if (app_error == NULL) {
		PyErr_SetString(PyExc_RuntimeError, "bootstrap defines no AppError");
		return -1;
	}
	Py_INCREF(app_error);

	PyObject *tbmod = PyImport_ImportModule("traceback");
	if (tbmod == NULL)
		return -1;
	format_exception_fn = PyObject_GetAttrString(tbmod, "format_exception");
	Py_DECREF(tbmod);
	if (format_exception_fn == NULL)
		return -1;

	/* Interned environ keys, indexed from 1 as the env buffer refers to them. */
	Py_ssize_t n = 0;
	for (size_t i = 0; i < keys_len; i++)
		if (keys[i] == '\0')
			n++;
	pogo_keys = calloc((size_t)n + 1, sizeof *pogo_keys);
	if (pogo_keys == NULL)
		abort();
	const char *p = keys;
	for (Py_ssize_t i = 1; i <= n; i++) {
		pogo_keys[i] = PyUnicode_InternFromString(p);
		if (pogo_keys[i] == NULL)
			return -1;
		p += strlen(p) + 1;
	}
	pogo_nkeys = n;
	if (pogo_nreserved > n)
		pogo_nreserved = (int)n;
	return 0;
}

pogo_thread *pogo_init(const char *program, const char *argv, size_t argv_len,
                       const char *keys, size_t keys_len, int reserved,
                       const char *bootstrap, uintptr_t handle, char **err)
{
	PyConfig config;
	PyStatus st;
	PyConfig_InitPythonConfig(&config);
	config.install_signal_handlers = 0; /* Go owns signals */
	config.parse_argv = 0;

	if (program[0] != '\0') {
		st = PyConfig_SetBytesString(&config, &config.program_name, program);
		if (PyStatus_Exception(st))
			goto fail;
	}

	int argc = 0;
	for (size_t i = 0; i < argv_len; i++)
		if (argv[i] == '\0')
			argc++;
	char **av = calloc((size_t)argc + 1, sizeof *av);
	if (av == NULL)
		abort();
	const char *p = argv;
	for (int i = 0; i < argc; i++) {
		av[i] = (char *)p;
		p += strlen(p) + 1;
	}
	st = PyConfig_SetBytesArgv(&config, argc, av);
	free(av);
	if (PyStatus_Exception(st))
		goto fail;

	st = Py_InitializeFromConfig(&config);
	if (PyStatus_Exception(st))
		goto fail;
	PyConfig_Clear(&config);

	PyThreadState *main = PyThreadState_Get();
	interp = PyThreadState_GetInterpreter(main);
	if (reserved < 0 || reserved > 64)
		reserved = 0;
	pogo_nreserved = reserved;
	if (init_module(keys, keys_len, bootstrap) < 0) {
		*err = setup_error();
		PyEval_SaveThread();
		return NULL;
	}
	pogo_faults_install(); /* if it cannot, Go reports such crashes */
	pogo_go_side = 1; /* the main thread is Go's but in pogo_exec and pogo_load */
	return thread_wrap(PyEval_SaveThread(), handle);

fail:
	PyConfig_Clear(&config);
	*err = pogo_strdup(st.err_msg ? st.err_msg : "Python initialization failed", NULL);
	return NULL;
}

pogo_thread *pogo_thread_new(uintptr_t handle)
{
	PyThreadState *ts = PyThreadState_New(interp);
	if (ts == NULL)
		abort();
	return thread_wrap(ts, handle);
}

void pogo_thread_end(pogo_thread *t)
{
	PyEval_RestoreThread(t->ts);
	Py_CLEAR(t->gate);
	Py_CLEAR(t->input);
	PyThreadState_Clear(t->ts); /* its threading.local data goes */
	PyThreadState_DeleteCurrent(); /* and the GIL with it */
	free(t);
}

int pogo_exec(pogo_thread *t, const char *func, const char *arg, char **err)
{
	PyEval_RestoreThread(t->ts);
	pogo_go_side = 0;
	int rc = 0;
	PyObject *r = PyObject_CallMethod(pogo_module, func, "s", arg);
	if (r == NULL) {
		*err = setup_error();
		rc = -1;
	}
	Py_XDECREF(r);
	pogo_go_side = 1;
	PyEval_SaveThread();
	return rc;
}

char *pogo_exec_str(pogo_thread *t, const char *func, const char *arg, char **err)
{
	PyEval_RestoreThread(t->ts);
	pogo_go_side = 0;
	char *out = NULL;
	PyObject *r = PyObject_CallMethod(pogo_module, func, "s", arg);
	if (r == NULL)
		*err = setup_error();
	else if (!PyUnicode_Check(r))
		*err = pogo_strdup("pogo: helper did not return a str", NULL);
	else if ((out = utf8_dup(r, NULL)) == NULL)
		*err = pogo_strdup("pogo: helper returned an unencodable str", NULL);
	Py_XDECREF(r);
	pogo_go_side = 1;
	PyEval_SaveThread();
	return out;
}

pogo_app *pogo_load(pogo_thread *t, const char *spec, int mode, char **err)
{
	PyEval_RestoreThread(t->ts);
	pogo_go_side = 0;
	pogo_app *app = NULL;
	PyObject *callable = PyObject_CallMethod(pogo_module, "load", "s", spec);
	if (callable == NULL) {
		*err = setup_error();
		goto out;
	}
	PyObject *base = pogo_base_environ(mode);
	if (base == NULL) {
		Py_DECREF(callable);
		*err = setup_error();
		goto out;
	}
	app = calloc(1, sizeof *app);
	if (app == NULL)
		abort();
	app->callable = callable;
	app->base = base;
out:
	pogo_go_side = 1;
	PyEval_SaveThread();
	return app;
}

void pogo_finalize(pogo_thread *t)
{
	/* The GIL is kept: the process exits next, and no other thread may run
	 * Python after atexit functions have run. */
	PyEval_RestoreThread(t->ts);
	PyObject *r = PyObject_CallMethod(pogo_module, "finalize", NULL);
	if (r == NULL)
		PyErr_Print();
	Py_XDECREF(r);
}
