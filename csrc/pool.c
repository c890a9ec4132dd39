/* fastrnn's worker pool: runs fn(ctx, i, n) for every part i in [0, n), on the caller and idle workers.
 *
 * Parts are claimed, not assigned: the caller and each awake worker take the next unclaimed part, so when
 * another process holds a core and a worker is slow to wake, the caller simply does that part itself.
 * Hand-offs happen every time step (tens of microseconds apart), so idle workers spin for a short while
 * (FR_SPIN_NS) and then block on a condition variable; they never busy-wait for long. One call at a time owns
 * the pool; a concurrent caller (another Python thread) runs all its parts itself. Workers start on first use,
 * never at import. fork() waits for a running call to finish and the child starts with a fresh pool (its own
 * workers, unlocked locks).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "fastrnn.h"

#define FR_MAX_THREADS 64
#define FR_SPIN_NS 50000

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FR_PAUSE() _mm_pause()
#else
#define FR_PAUSE() ((void)0)
#endif

static struct {
    pthread_mutex_t lock;            /* guards sleeping workers' wake-up */
    pthread_cond_t wake;
    pthread_mutex_t owner;           /* held by the call that uses the pool */
    _Atomic uint64_t work;           /* task generation << 32 | next unclaimed part */
    atomic_int done;                 /* parts finished of the current task */
    atomic_int sleepers;             /* workers blocked on `wake` */
    int workers;                     /* workers running (in process `pid`) */
    pid_t pid;
    int max_threads;                 /* 0: not known yet (then the number of online CPUs) */
    fr_task_fn fn;
    void *ctx;
    int parts;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .owner = PTHREAD_MUTEX_INITIALIZER};

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint32_t generation(void) { return (uint32_t)(atomic_load(&pool.work) >> 32); }

/* The next part of task `gen`, or -1 when that task has none left (or is over). */
static int claim(uint32_t gen)
{
    uint64_t w = atomic_load(&pool.work);
    while ((uint32_t)(w >> 32) == gen && (int)(uint32_t)w < pool.parts) {
        if (atomic_compare_exchange_weak(&pool.work, &w, w + 1)) return (int)(uint32_t)w;
    }
    return -1;
}

static void run_parts(uint32_t gen)
{
    for (int part; (part = claim(gen)) >= 0;) {
        pool.fn(pool.ctx, part, pool.parts);
        atomic_fetch_add(&pool.done, 1);
    }
}

static uint32_t wait_for_task(uint32_t seen)
{
    const long long deadline = now_ns() + FR_SPIN_NS;
    for (int spins = 0;; spins++) {
        const uint32_t gen = generation();
        if (gen != seen) return gen;
        if ((spins & 63) == 63 && now_ns() > deadline) break;
        FR_PAUSE();
    }
    pthread_mutex_lock(&pool.lock);
    atomic_fetch_add(&pool.sleepers, 1);
    uint32_t gen;
    while ((gen = generation()) == seen) pthread_cond_wait(&pool.wake, &pool.lock);
    atomic_fetch_sub(&pool.sleepers, 1);
    pthread_mutex_unlock(&pool.lock);
    return gen;
}

static void *worker_main(void *arg)
{
    uint32_t seen = (uint32_t)(uintptr_t)arg;   /* the generation when this worker was started */
    for (;;) {
        seen = wait_for_task(seen);
        run_parts(seen);
    }
    return NULL;
}

int fr_max_threads(void)
{
    if (pool.max_threads == 0) {   /* sysconf reads /sys: once, not per call */
        const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        pool.max_threads = cpus < 1 ? 1 : cpus > FR_MAX_THREADS ? FR_MAX_THREADS : (int)cpus;
    }
    return pool.max_threads;
}

void fr_set_max_threads(int n)
{
    pool.max_threads = n < 1 ? 1 : n > FR_MAX_THREADS ? FR_MAX_THREADS : n;
}

static void before_fork(void)
{
    pthread_mutex_lock(&pool.owner);
    pthread_mutex_lock(&pool.lock);
}

static void after_fork_in_parent(void)
{
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&pool.owner);
}

static void after_fork_in_child(void)
{
    /* Only the forking thread exists here: no workers, nobody asleep, nobody holding a lock. */
    pthread_mutex_init(&pool.lock, NULL);
    pthread_mutex_init(&pool.owner, NULL);
    pthread_cond_init(&pool.wake, NULL);
    atomic_store(&pool.sleepers, 0);
    pool.workers = 0;
    pool.pid = getpid();
}

static void register_fork_handlers(void)
{
    pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
}

/* Starts workers until n - 1 run (the caller holds `owner`). */
static void ensure_workers(int n)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_fork_handlers);
    if (pool.pid != getpid()) {   /* first use (a forked child resets pid itself) */
        pool.pid = getpid();
        pool.workers = 0;
    }
    while (pool.workers < n - 1) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        const int failed = pthread_create(&thread, &attr, worker_main, (void *)(uintptr_t)generation());
        pthread_attr_destroy(&attr);
        if (failed) return;
        pool.workers++;
    }
}

void fr_parallel_run(int n, fr_task_fn fn, void *ctx)
{
    if (n > fr_max_threads()) n = fr_max_threads();
    if (n < 1) n = 1;
    if (n == 1 || pthread_mutex_trylock(&pool.owner) != 0) {
        for (int part = 0; part < n; part++) fn(ctx, part, n);
        return;
    }
    ensure_workers(n);
    pool.fn = fn;
    pool.ctx = ctx;
    pool.parts = n;
    atomic_store(&pool.done, 0);
    const uint32_t gen = generation() + 1;
    atomic_store(&pool.work, (uint64_t)gen << 32);
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
    }
    run_parts(gen);
    for (int spins = 0; atomic_load(&pool.done) < n; spins++) {   /* parts a worker claimed and still runs */
        if ((spins & 1023) == 1023) sched_yield();
        FR_PAUSE();
    }
    pthread_mutex_unlock(&pool.owner);
}
