// SPDX-License-Identifier: MIT
/* The system backend: getaddrinfo() on a small pool of worker threads.
 *
 * Each worker thread owns a job queue (it is its single consumer) and all of
 * them push into one result queue that the loop watches. A job is given to
 * the worker with the fewest outstanding jobs; results of cancelled lookups
 * are discarded. The pool is reference counted and its threads detached, so
 * freeing the resolver never waits for a getaddrinfo() stuck on a slow name
 * server.
 */
#include "core/resolver/resolver_int.h"

#include "platform/loop.h"
#include "platform/queue.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define RESULTS_PER_WAKE 64

/* ---- messages between the loop and the workers ---- */

struct job {
	uint64_t seq;
	bool quit;
	int family; /* AF_UNSPEC, AF_INET or AF_INET6 */
	char name[NT_DNS_NAME_MAX + 2];
};

struct result {
	uint64_t seq;
	unsigned worker;
	int status;
	size_t n[SLOT_N];
	uint8_t addrs[SLOT_N][NT_RESOLVER_MAX_ADDRS][16];
};

struct worker {
	struct pool *pool;
	unsigned index;
	struct nt_queue *jobs;
	size_t outstanding; /* loop thread only */
	bool started;
};

struct pool {
	atomic_uint refs;
	atomic_bool stopping;
	atomic_ullong dropped; /* results refused by a full queue */
	struct nt_queue *results;
	size_t per_worker; /* outstanding jobs allowed per worker */
	size_t n_workers;
	struct worker workers[];
};

/* ---- the workers ---- */

static int eai_errno(int rc, int saved_errno)
{
	switch (rc) {
	case EAI_NONAME:
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
	case EAI_ADDRFAMILY:
#endif
		return -ENOENT;
	case EAI_AGAIN:
		return -ETIMEDOUT;
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_SYSTEM:
		return saved_errno > 0 ? -saved_errno : -EIO;
	default:
		return -EIO;
	}
}

static void system_resolve(const struct job *job, struct result *res)
{
	struct addrinfo hints, *list, *ai;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = job->family;
	hints.ai_socktype = SOCK_STREAM; /* one entry per address, not per socket type */
	rc = getaddrinfo(job->name, NULL, &hints, &list);
	if (rc) {
		res->status = eai_errno(rc, errno);
		return;
	}
	for (ai = list; ai; ai = ai->ai_next) {
		uint8_t addr[16] = {0};
		int s;
		bool dup = false;

		if (ai->ai_family == AF_INET && ai->ai_addrlen >= sizeof(struct sockaddr_in)) {
			s = SLOT_A;
			memcpy(addr, &((const struct sockaddr_in *)ai->ai_addr)->sin_addr, 4);
		} else if (ai->ai_family == AF_INET6 &&
			   ai->ai_addrlen >= sizeof(struct sockaddr_in6)) {
			s = SLOT_AAAA;
			memcpy(addr, &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, 16);
		} else {
			continue;
		}
		for (size_t i = 0; i < res->n[s] && !dup; i++)
			dup = memcmp(res->addrs[s][i], addr, 16) == 0;
		if (!dup && res->n[s] < NT_RESOLVER_MAX_ADDRS)
			memcpy(res->addrs[s][res->n[s]++], addr, 16);
	}
	freeaddrinfo(list);
	res->status = res->n[SLOT_A] + res->n[SLOT_AAAA] ? 0 : -ENOENT;
}

static void pool_unref(struct pool *p)
{
	if (atomic_fetch_sub(&p->refs, 1) != 1)
		return;
	for (size_t i = 0; i < p->n_workers; i++)
		nt_queue_free(p->workers[i].jobs);
	nt_queue_free(p->results);
	free(p);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct pool *p = w->pool;
	struct job job;
	struct result res;

	for (;;) {
		if (nt_queue_pop(w->jobs, &job) != 0) {
			/* Readable exactly while the queue holds a job. */
			struct pollfd pfd = {.fd = nt_queue_fd(w->jobs), .events = POLLIN};

			(void)poll(&pfd, 1, -1);
			continue;
		}
		if (job.quit)
			break;
		if (atomic_load(&p->stopping))
			continue;
		memset(&res, 0, sizeof(res));
		res.seq = job.seq;
		res.worker = w->index;
		system_resolve(&job, &res);
		if (nt_queue_push(p->results, &res) != 0)
			atomic_fetch_add(&p->dropped, 1);
	}
	pool_unref(p);
	return NULL;
}

/* Tells the workers to exit and drops the loop's reference: the last
 * thread out frees the pool, so nothing here waits for getaddrinfo(). */
static void pool_stop(struct pool *p)
{
	struct job quit;

	memset(&quit, 0, sizeof(quit));
	quit.quit = true;
	atomic_store(&p->stopping, true);
	for (size_t i = 0; i < p->n_workers; i++) {
		/* Never full: a worker holds at most per_worker jobs and its
		 * queue has room for one more. */
		if (p->workers[i].started)
			(void)nt_queue_push(p->workers[i].jobs, &quit);
	}
	pool_unref(p);
}

static int pool_start_threads(struct pool *p)
{
	pthread_attr_t attr;
	sigset_t all, old;
	int err;

	err = -pthread_attr_init(&attr);
	if (err)
		return err;
	err = -pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* Workers inherit a full mask: signals belong to the loop's signalfd. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (size_t i = 0; i < p->n_workers && !err; i++) {
		pthread_t tid;

		atomic_fetch_add(&p->refs, 1);
		err = -pthread_create(&tid, &attr, worker_main, &p->workers[i]);
		if (err)
			atomic_fetch_sub(&p->refs, 1);
		else
			p->workers[i].started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return err;
}

static int pool_new(size_t n_workers, size_t per_worker, struct pool **out)
{
	struct pool *p;
	int err;

	p = calloc(1, sizeof(*p) + n_workers * sizeof(p->workers[0]));
	if (!p)
		return -ENOMEM;
	atomic_init(&p->refs, 1);
	atomic_init(&p->stopping, false);
	atomic_init(&p->dropped, 0);
	p->n_workers = n_workers;
	p->per_worker = per_worker;
	err = nt_queue_new(&p->results, n_workers * per_worker, sizeof(struct result));
	if (err)
		goto err_pool;
	for (size_t i = 0; i < n_workers; i++) {
		p->workers[i].pool = p;
		p->workers[i].index = (unsigned)i;
		err = nt_queue_new(&p->workers[i].jobs, per_worker + 1, sizeof(struct job));
		if (err)
			goto err_queues;
	}
	err = pool_start_threads(p);
	if (err) {
		pool_stop(p);
		return err;
	}
	*out = p;
	return 0;

err_queues:
	for (size_t i = 0; i < n_workers; i++)
		nt_queue_free(p->workers[i].jobs);
	nt_queue_free(p->results);
err_pool:
	free(p);
	return err;
}

int nt_resolver_sys_submit(struct nt_resolver *r, struct nt_resolver_req *q, bool absolute)
{
	struct pool *p = r->pool;
	struct worker *best = NULL;
	struct job job;

	for (size_t i = 0; i < p->n_workers; i++) {
		struct worker *w = &p->workers[i];

		if (w->started && (!best || w->outstanding < best->outstanding))
			best = w;
	}
	if (!best || best->outstanding >= p->per_worker)
		return -EAGAIN; /* every worker is stuck on earlier names */
	memset(&job, 0, sizeof(job));
	job.seq = ++r->next_job;
	job.family = q->family == NT_RESOLVER_V4_ONLY	? AF_INET
		     : q->family == NT_RESOLVER_V6_ONLY ? AF_INET6
							: AF_UNSPEC;
	snprintf(job.name, sizeof(job.name), "%s%s", q->name, absolute ? "." : "");
	if (nt_queue_push(best->jobs, &job) != 0)
		return -EAGAIN;
	best->outstanding++;
	q->job = job.seq;
	return 0;
}

static struct nt_resolver_req *req_by_job(struct nt_resolver *r, uint64_t seq)
{
	for (struct list *it = r->active.next; it != &r->active; it = it->next) {
		struct nt_resolver_req *q = list_entry(it, struct nt_resolver_req, link);

		if (q->job == seq)
			return q;
	}
	return NULL;
}

static void results_cb(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct nt_resolver *r = arg;
	struct pool *p = r->pool;
	struct result res;

	(void)loop;
	(void)fd;
	(void)events;
	/* Bounded per wake-up; the fd stays readable while results remain. */
	for (int k = 0; k < RESULTS_PER_WAKE && nt_queue_pop(p->results, &res) == 0; k++) {
		struct nt_resolver_req *q;

		if (res.worker < p->n_workers && p->workers[res.worker].outstanding > 0)
			p->workers[res.worker].outstanding--;
		q = req_by_job(r, res.seq);
		if (!q)
			continue; /* cancelled */
		for (int i = 0; i < SLOT_N; i++) {
			if (q->slot[i].wanted)
				nt_resolver_slot_set(&q->slot[i], res.n[i] ? 0 : -ENOENT,
						     res.addrs[i], res.n[i]);
		}
		nt_resolver_req_finish(q, res.status);
	}
}

/* ---- for resolver.c ---- */

int nt_resolver_sys_start(struct nt_resolver *r)
{
	int err;

	err = pool_new(r->cfg.threads, r->cfg.max_inflight, &r->pool);
	if (err)
		return err;
	err = nt_loop_add_fd(r->loop, nt_queue_fd(r->pool->results), NT_EV_READ, results_cb, r);
	if (err)
		goto err_pool;
	return 0;

err_pool:
	pool_stop(r->pool);
	r->pool = NULL;
	return err;
}

void nt_resolver_sys_stop(struct nt_resolver *r)
{
	nt_loop_del_fd(r->loop, nt_queue_fd(r->pool->results));
	pool_stop(r->pool);
	r->pool = NULL;
}

uint64_t nt_resolver_sys_dropped(const struct nt_resolver *r)
{
	return atomic_load(&r->pool->dropped);
}
