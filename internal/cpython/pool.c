/*
 * pool.c — Python threads that never run Go code (see pogo.h).
 *
 * A request that waits (on a database, a socket, time.sleep) must not hold
 * one of Go's Ps: a cgo call keeps its P until Go's sysmon takes it back,
 * and so does a thread that called back into Go and returned to C. So the
 * pool's threads are started here, with pthread_create, and never enter
 * Go: Go hands them jobs through a queue and learns what they need from it
 * through an event queue and an eventfd that its netpoller watches.
 *
 * Threads start on demand, up to cap, and the most recently idle one takes
 * the next job (LIFO), so that under light load few threads stay warm and
 * the others time out and end. A thread that finishes a job takes the next
 * pending one itself, without sleeping.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* worker is a pool thread's place in the idle stack; it lives on the
 * thread's own stack. */
typedef struct worker {
	uint32_t wake;       /* bumped to wake the thread from its idle wait (futex) */
	pogo_job *job;       /* handed over by submit (atomic; set under mu) */
	struct worker *next; /* idle stack; guarded by mu */
	struct worker *prev_all, *next_all; /* every thread; guarded by mu */
	pid_t tid;
	int busy;   /* running a job; guarded by mu */
	int64_t asking; /* since when it waits for Go in pogo_ask, 0 if it does not (atomic) */
	/* A write posted by pogo_post_write, not yet answered: the reply
	 * count it waits to change, and the copy it sent. */
	int posted;
	uint32_t posted_seq;
	int write_failed; /* a posted write failed: the client is gone */
	char *wbuf;
	size_t wcap;
	int taking; /* waiting for the GIL in pogo_take_gil (atomic) */
} worker;

/* The calling pool thread's worker, NULL on any other thread. */
static __thread worker *self;

void pogo_take_gil(PyThreadState *ts)
{
	if (self != NULL)
		__atomic_store_n(&self->taking, 1, __ATOMIC_RELAXED);
	PyEval_RestoreThread(ts);
	if (self != NULL)
		__atomic_store_n(&self->taking, 0, __ATOMIC_RELAXED);
}

struct pogo_pool {
	pthread_mutex_t mu; /* the fields down to events */
	pogo_job *pend_head, *pend_tail;
	int pending;
	worker *idle; /* LIFO: the most recently idle thread first */
	int nidle;
	worker *all;  /* every thread, for pogo_pool_sample */
	unsigned sample_from; /* where the next sample starts */
	unsigned long gil_word; /* the futex word GIL waiters were seen on (atomic) */
	int threads;  /* running or starting */
	int starting; /* started, not yet looking for a job */
	int busy;
	int cap, keep;
	int64_t idle_ns;
	uint64_t started, ended, failed;

	pthread_mutex_t evmu; /* the event queue */
	pogo_job *ev_head, *ev_tail;
	int armed; /* Go found the queue empty: the next event writes efd */
	int efd;
};

int64_t pogo_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t pogo_clock_ns(int64_t clock)
{
	struct timespec ts;
	if (clock_gettime((clockid_t)clock, &ts) < 0)
		return -1;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The calling thread's /proc/thread-self/schedstat, opened on first use:
 * -2 before, -1 if it cannot be. */
static __thread int schedstat_fd = -2;

void pogo_sched_times(int64_t *cpu, int64_t *delay)
{
	if (schedstat_fd == -2)
		schedstat_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	/* The CPU time from the clock: schedstat's is updated only when the
	 * thread is switched out, so it lags for a thread that runs. */
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	*cpu = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	*delay = 0;
	char b[96];
	ssize_t n = schedstat_fd >= 0 ? pread(schedstat_fd, b, sizeof b - 1, 0) : -1;
	if (n > 0) {
		/* "TIME_ON_CPU RUNQUEUE_WAIT TIMESLICES\n", in ns; the wait is
		 * counted each time the thread gets a CPU back. */
		b[n] = '\0';
		char *end;
		strtoll(b, &end, 10);
		*delay = strtoll(end, NULL, 10);
	}
}

void pogo_sched_close(void)
{
	if (schedstat_fd >= 0)
		close(schedstat_fd);
	schedstat_fd = -2;
}

static void futex_wait(uint32_t *addr, uint32_t val)
{
	syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

/* futex_wait_for waits at most ns; returns early when woken. */
static void futex_wait_for(uint32_t *addr, uint32_t val, int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
	syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

static void futex_wake(uint32_t *addr)
{
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* post puts j on the event queue for Go (or, with j NULL, only wakes Go:
 * the last thread of a closed pool has ended). */
static void post(pogo_pool *p, pogo_job *j)
{
	pthread_mutex_lock(&p->evmu);
	if (j != NULL) {
		j->next = NULL;
		if (p->ev_tail != NULL)
			p->ev_tail->next = j;
		else
			p->ev_head = j;
		p->ev_tail = j;
	}
	int wake = p->armed;
	p->armed = 0;
	pthread_mutex_unlock(&p->evmu);
	if (wake) {
		uint64_t one = 1;
		while (write(p->efd, &one, sizeof one) < 0 && errno == EINTR)
			;
	}
}

int pogo_pool_events(pogo_pool *p, uintptr_t *out, int cap)
{
	int n = 0;
	pthread_mutex_lock(&p->evmu);
	while (n < cap && p->ev_head != NULL) {
		pogo_job *j = p->ev_head;
		p->ev_head = j->next;
		out[n++] = j->handle;
	}
	if (p->ev_head == NULL)
		p->ev_tail = NULL;
	if (n == 0)
		p->armed = 1;
	pthread_mutex_unlock(&p->evmu);
	return n;
}

/* await waits for Go's answer to j's op, posted when its reply count was
 * seq, marking the thread as waiting for Go. */
static void await(pogo_job *j, uint32_t seq)
{
	if (__atomic_load_n(&j->reply, __ATOMIC_ACQUIRE) != seq)
		return;
	if (self != NULL)
		__atomic_store_n(&self->asking, pogo_now_ns(), __ATOMIC_RELAXED);
	while (__atomic_load_n(&j->reply, __ATOMIC_ACQUIRE) == seq)
		futex_wait(&j->reply, seq);
	if (self != NULL)
		__atomic_store_n(&self->asking, 0, __ATOMIC_RELAXED);
}

int pogo_write_pending(void)
{
	worker *w = self;
	return w != NULL && w->posted &&
	       __atomic_load_n(&pogo_current_job->reply, __ATOMIC_ACQUIRE) == w->posted_seq;
}

int pogo_settle(pogo_job *j)
{
	worker *w = self;
	if (w == NULL || !w->posted)
		return w != NULL && w->write_failed ? -1 : 0;
	await(j, w->posted_seq);
	w->posted = 0;
	if (j->ret < 0)
		w->write_failed = 1;
	return w->write_failed ? -1 : 0;
}

int pogo_post_write(pogo_job *j, const char *head, size_t head_len, const char *p, size_t n)
{
	worker *w = self;
	if (pogo_settle(j) < 0)
		return -1;
	size_t need = head_len + n;
	if (need > w->wcap) {
		char *b = realloc(w->wbuf, need);
		if (b == NULL) {
			/* No room for a copy: the write waits instead. */
			j->head = (char *)head;
			j->head_len = head_len;
			j->p = (char *)p;
			j->n = n;
			return (int)pogo_ask(j, POGO_OP_WRITE);
		}
		w->wbuf = b;
		w->wcap = need;
	}
	if (head_len > 0)
		memcpy(w->wbuf, head, head_len);
	memcpy(w->wbuf + head_len, p, n);
	j->head = head_len > 0 ? w->wbuf : NULL;
	j->head_len = head_len;
	j->p = w->wbuf + head_len;
	j->n = n;
	w->posted_seq = __atomic_load_n(&j->reply, __ATOMIC_ACQUIRE);
	w->posted = 1;
	j->op = POGO_OP_WRITE;
	post(j->pool, j);
	return 0;
}

int64_t pogo_ask(pogo_job *j, int op)
{
	if (pogo_settle(j) < 0 && op != POGO_OP_LOG)
		return -1; /* the client is gone: nothing more to read or write */
	uint32_t seq = __atomic_load_n(&j->reply, __ATOMIC_ACQUIRE);
	j->op = op;
	post(j->pool, j);
	await(j, seq);
	return j->ret;
}

void pogo_job_reply(pogo_job *j, int64_t ret)
{
	j->ret = ret;
	j->op = 0;
	__atomic_add_fetch(&j->reply, 1, __ATOMIC_RELEASE);
	futex_wake(&j->reply);
}

__thread pogo_job *pogo_current_job;

/* run calls the app for j on t, then gives j back to Go. */
static void run(pogo_pool *p, pogo_thread *t, pogo_job *j)
{
	int64_t start = pogo_now_ns();
	t->job = j;
	pogo_current_job = j;
	pogo_call(t, j->app, j->env, j->env_len, j->body, j->body_len, j->flags,
	          j->scratch, j->scratch_cap, &j->out);
	pogo_settle(j); /* the last posted write: done before the job is Go's */
	self->posted = self->write_failed = 0;
	pogo_current_job = NULL;
	t->job = NULL;
	j->out.queue_ns = start - j->submitted_ns;
	j->op = POGO_OP_DONE;
	post(p, j); /* j is Go's from here on */
}

/* take pops the first pending job; mu held. */
static pogo_job *take(pogo_pool *p)
{
	pogo_job *j = p->pend_head;
	if (j != NULL) {
		p->pend_head = j->next;
		if (p->pend_head == NULL)
			p->pend_tail = NULL;
		p->pending--;
	}
	return j;
}

static void unidle(pogo_pool *p, worker *w)
{
	for (worker **pw = &p->idle; *pw != NULL; pw = &(*pw)->next) {
		if (*pw == w) {
			*pw = w->next;
			p->nidle--;
			return;
		}
	}
}

/* hand gives idle thread w the job j; mu held. */
static void hand(pogo_pool *p, worker *w, pogo_job *j)
{
	p->nidle--;
	p->busy++;
	w->busy = 1;
	__atomic_store_n(&w->job, j, __ATOMIC_RELEASE);
	__atomic_add_fetch(&w->wake, 1, __ATOMIC_RELEASE);
}

/*
 * A pool thread. Between jobs it waits on its own futex, not on a
 * condition of the pool's mutex: a woken thread runs the job it was handed
 * without taking the mutex, which hundreds of threads and Go would
 * otherwise queue for (measured: most of the lock waits of a 512-thread
 * pool were threads taking it back on wake-up). It takes the mutex once
 * per job, to take the next pending job or go idle.
 */
static void *thread_main(void *arg)
{
	pogo_pool *p = arg;
	pogo_thread *t = pogo_thread_new(0);
	worker w = {.job = NULL, .next = NULL, .tid = (pid_t)syscall(SYS_gettid)};
	self = &w;
	prctl(PR_SET_NAME, "pogo-python"); /* so top -H and ps -L tell them from Go's */

	pthread_mutex_lock(&p->mu);
	p->starting--;
	w.next_all = p->all;
	if (p->all != NULL)
		p->all->prev_all = &w;
	p->all = &w;
	for (;;) {
		pogo_job *j = take(p);
		if (j != NULL) {
			p->busy++;
			w.busy = 1;
		} else {
			if (p->threads > p->cap)
				break;
			w.next = p->idle;
			p->idle = &w;
			p->nidle++;
			uint32_t seq = __atomic_load_n(&w.wake, __ATOMIC_ACQUIRE);
			int64_t until = pogo_now_ns() + p->idle_ns;
			pthread_mutex_unlock(&p->mu);
			int timedout = 0;
			for (;;) {
				if ((j = __atomic_load_n(&w.job, __ATOMIC_ACQUIRE)) != NULL)
					break;
				if (__atomic_load_n(&w.wake, __ATOMIC_ACQUIRE) != seq)
					break; /* told to look: over the cap */
				int64_t left = until - pogo_now_ns();
				if (left <= 0) {
					timedout = 1;
					break;
				}
				futex_wait_for(&w.wake, seq, left);
			}
			if (j == NULL) {
				pthread_mutex_lock(&p->mu);
				j = __atomic_load_n(&w.job, __ATOMIC_ACQUIRE);
				if (j == NULL) {
					unidle(p, &w);
					if (timedout && p->threads > p->keep)
						break;
					continue; /* over the cap: the loop ends us if there is nothing to do */
				}
				pthread_mutex_unlock(&p->mu);
			}
			/* Handed a job: taken off the idle stack and counted busy. */
			__atomic_store_n(&w.job, NULL, __ATOMIC_RELAXED);
			run(p, t, j);
			pthread_mutex_lock(&p->mu);
			w.busy = 0;
			p->busy--;
			continue;
		}
		pthread_mutex_unlock(&p->mu);
		run(p, t, j);
		pthread_mutex_lock(&p->mu);
		w.busy = 0;
		p->busy--;
	}
	if (w.prev_all != NULL)
		w.prev_all->next_all = w.next_all;
	else
		p->all = w.next_all;
	if (w.next_all != NULL)
		w.next_all->prev_all = w.prev_all;
	pthread_mutex_unlock(&p->mu);
	/* Counted until its thread state is cleared: until then its
	 * threading.local data is there. */
	pogo_thread_end(t);
	pogo_sched_close();
	free(w.wbuf);
	self = NULL;
	pthread_mutex_lock(&p->mu);
	p->threads--;
	p->ended++;
	int last = p->threads == 0 && p->cap == 0;
	pthread_mutex_unlock(&p->mu);
	if (last)
		post(p, NULL);
	return NULL;
}

/* spawn starts a thread; mu held, threads and starting already counted. */
static int spawn(pogo_pool *p)
{
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t tid;
	int rc = pthread_create(&tid, &attr, thread_main, p);
	pthread_attr_destroy(&attr);
	if (rc == 0) {
		p->started++;
		return 0;
	}
	p->threads--;
	p->starting--;
	p->failed++;
	return -1;
}

int pogo_pool_submit(pogo_pool *p, pogo_job *j)
{
	j->pool = p;
	j->op = 0;
	j->next = NULL;
	j->submitted_ns = pogo_now_ns();
	pthread_mutex_lock(&p->mu);
	worker *w = p->idle;
	if (w != NULL) {
		p->idle = w->next;
		hand(p, w, j);
		pthread_mutex_unlock(&p->mu);
		futex_wake(&w->wake);
		return 0;
	}
	if (p->pend_tail != NULL)
		p->pend_tail->next = j;
	else
		p->pend_head = j;
	p->pend_tail = j;
	p->pending++;
	int rc = 0;
	/* One new thread per job no thread is on its way to. */
	if (p->threads < p->cap && p->pending > p->starting) {
		p->threads++;
		p->starting++;
		if (spawn(p) < 0 && p->threads == 0 && p->pend_head == j) {
			/* No thread runs, so nothing was pending before j (threads
			 * idle only when nothing is): nobody would ever take it. */
			p->pend_head = p->pend_tail = NULL;
			p->pending = 0;
			rc = -1;
		}
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

pogo_pool *pogo_pool_new(int cap, int keep, int64_t idle_ns, int *notify_fd)
{
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0)
		return NULL;
	pogo_pool *p = calloc(1, sizeof *p);
	if (p == NULL)
		abort();
	pthread_mutex_init(&p->mu, NULL);
	pthread_mutex_init(&p->evmu, NULL);
	p->cap = cap;
	p->keep = keep;
	p->idle_ns = idle_ns;
	p->efd = efd;
	*notify_fd = efd;
	/* The threads kept for good start now. */
	pthread_mutex_lock(&p->mu);
	while (p->threads < keep) {
		p->threads++;
		p->starting++;
		if (spawn(p) < 0)
			break;
	}
	pthread_mutex_unlock(&p->mu);
	return p;
}

void pogo_pool_set(pogo_pool *p, int cap, int keep, int64_t idle_ns)
{
	pthread_mutex_lock(&p->mu);
	p->cap = cap;
	p->keep = keep;
	p->idle_ns = idle_ns;
	/* Wake the idle threads over the cap: they end. */
	int over = p->threads - cap;
	for (worker *w = p->idle; w != NULL && over > 0; w = w->next, over--) {
		__atomic_add_fetch(&w->wake, 1, __ATOMIC_RELEASE);
		futex_wake(&w->wake);
	}
	pthread_mutex_unlock(&p->mu);
}

/* state reads what thread tid is doing from /proc: running (or
 * runnable), blocked in futex (a lock, a condition, the GIL) on the word
 * at *addr, or blocked in another system call (I/O, a sleep). Returns -1
 * if it cannot tell. */
enum { RUNNING, FUTEX, IO };

/* runnable reports whether thread tid is running or waits only for a CPU
 * (state R): in a system call that does not block (clock_gettime for
 * time.thread_time, say), preempted there on a busy machine, it is not
 * waiting on I/O. */
static int runnable(pid_t tid)
{
	char path[64], b[256];
	snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, b, sizeof b - 1);
	close(fd);
	if (n <= 0)
		return 0;
	b[n] = '\0';
	char *p = strrchr(b, ')'); /* "TID (COMM) STATE ...", COMM may hold ')' */
	return p != NULL && p[1] == ' ' && p[2] == 'R';
}

static uint64_t state_reads; /* pogo_state_reads */

uint64_t pogo_state_reads(void) { return __atomic_load_n(&state_reads, __ATOMIC_RELAXED); }

static int state(pid_t tid, unsigned long *addr)
{
	__atomic_fetch_add(&state_reads, 1, __ATOMIC_RELAXED);
	char path[64], b[64];
	snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, b, sizeof b - 1);
	close(fd);
	if (n <= 0)
		return -1;
	b[n] = '\0';
	if (strncmp(b, "running", 7) == 0)
		return RUNNING;
	char *end;
	long nr = strtol(b, &end, 10);
	if (nr < 0)
		return RUNNING; /* preempted in user space */
	if (nr != SYS_futex)
		return runnable(tid) ? RUNNING : IO;
	*addr = strtoul(end, NULL, 16); /* "NR 0xADDR 0xOP ..." */
	return FUTEX;
}

/* near_gil reports whether futex word addr is one of the GIL's: its
 * condition (gil), or next to it its mutex and the pair a thread told to
 * drop the GIL waits on until another has taken it (CPython keeps the
 * four together). */
static int near_gil(unsigned long addr, unsigned long gil)
{
	return gil != 0 && addr + 256 > gil && addr < gil + 256;
}

int pogo_pool_waits(pogo_pool *p, int32_t tid)
{
	unsigned long addr = 0;
	switch (state((pid_t)tid, &addr)) {
	case IO:
		return 1;
	case FUTEX:
		return !near_gil(addr, __atomic_load_n(&p->gil_word, __ATOMIC_RELAXED));
	default:
		return 0;
	}
}

void pogo_pool_sample(pogo_pool *p, int max, pogo_pool_sample_counts *c)
{
	memset(c, 0, sizeof *c);
	if (max > 64)
		max = 64;
	pid_t tids[64];
	int64_t asking[64];
	int taking[64];
	int n = 0;
	pthread_mutex_lock(&p->mu);
	/* Start where the last sample ended, so that every busy thread is
	 * looked at in turn. */
	int busy = 0;
	for (worker *w = p->all; w != NULL; w = w->next_all)
		busy += w->busy;
	unsigned skip = busy > 0 ? p->sample_from % (unsigned)busy : 0;
	for (worker *w = p->all; w != NULL && n < max; w = w->next_all) {
		if (!w->busy)
			continue;
		if (skip > 0) {
			skip--;
			continue;
		}
		tids[n] = w->tid;
		asking[n] = __atomic_load_n(&w->asking, __ATOMIC_RELAXED);
		taking[n] = __atomic_load_n(&w->taking, __ATOMIC_RELAXED);
		n++;
	}
	p->sample_from += (unsigned)n;
	pthread_mutex_unlock(&p->mu);
	int64_t now = pogo_now_ns();
	int st[64];
	unsigned long addr[64];
	for (int i = 0; i < n; i++) {
		st[i] = asking[i] != 0 ? -1 : state(tids[i], &addr[i]);
		/* A thread in pogo_take_gil blocked in futex waits on the
		 * GIL's condition: the word every thread waiting for the GIL
		 * waits on, in the app too (after a sleep, or told to drop
		 * it), where nothing else marks it. */
		if (st[i] == FUTEX && taking[i])
			__atomic_store_n(&p->gil_word, addr[i], __ATOMIC_RELAXED);
	}
	unsigned long gil = __atomic_load_n(&p->gil_word, __ATOMIC_RELAXED);
	c->gil_known = gil != 0;
	for (int i = 0; i < n; i++) {
		if (asking[i] != 0) {
			/* Waiting for Go: for the client's socket if for long, else
			 * only for Go's turn to write what it was given. */
			if (now - asking[i] > 1000000)
				c->client++;
			else
				c->running++;
			continue;
		}
		switch (st[i]) {
		case RUNNING:
			c->running++;
			break;
		case FUTEX:
			if (taking[i] || near_gil(addr[i], gil))
				c->gil++;
			else
				c->futex++;
			break;
		case IO:
			c->io++;
			break;
		}
	}
}

void pogo_pool_stats_get(pogo_pool *p, pogo_pool_stats *s)
{
	pthread_mutex_lock(&p->mu);
	s->threads = p->threads;
	s->idle = p->nidle;
	s->busy = p->busy;
	s->pending = p->pending;
	s->cap = p->cap;
	s->started = p->started;
	s->ended = p->ended;
	s->failed = p->failed;
	pthread_mutex_unlock(&p->mu);
}
