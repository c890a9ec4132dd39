/* fastrnn's worker pool: runs fn(ctx, i, n) for i in [0, n), i = 0 on the calling thread.
 *
 * Hand-offs happen every time step (tens of microseconds apart), so idle workers spin for a short while
 * (FR_SPIN_NS) and then block on a condition variable: they never busy-wait for long, which matters when
 * another process holds the other core. One call at a time owns the pool; a concurrent caller (another Python
 * thread) runs its work on its own thread instead of waiting. Workers start on first use, never at import,
 * and a forked child starts its own.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "fastrnn.h"

#define FR_MAX_WORKERS 63
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
    atomic_uint generation;          /* bumped once per task */
    atomic_int pending;              /* workers still running the current task */
    atomic_int sleepers;             /* workers blocked on `wake` */
    int started;                     /* workers running (in process `pid`) */
    pid_t pid;
    int max_threads;                 /* 0: not set, use the number of online CPUs */
    unsigned start_generation[FR_MAX_WORKERS + 1];
    fr_task_fn fn;
    void *ctx;
    int count;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .owner = PTHREAD_MUTEX_INITIALIZER};

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static unsigned wait_for_task(unsigned seen)
{
    const long long deadline = now_ns() + FR_SPIN_NS;
    for (int spins = 0;; spins++) {
        const unsigned gen = atomic_load(&pool.generation);
        if (gen != seen) return gen;
        if ((spins & 63) == 63 && now_ns() > deadline) break;
        FR_PAUSE();
    }
    pthread_mutex_lock(&pool.lock);
    atomic_fetch_add(&pool.sleepers, 1);
    unsigned gen;
    while ((gen = atomic_load(&pool.generation)) == seen) pthread_cond_wait(&pool.wake, &pool.lock);
    atomic_fetch_sub(&pool.sleepers, 1);
    pthread_mutex_unlock(&pool.lock);
    return gen;
}

static void *worker_main(void *arg)
{
    const int index = (int)(ptrdiff_t)arg;
    unsigned seen = pool.start_generation[index];   /* the task generation before this worker existed */
    for (;;) {
        seen = wait_for_task(seen);
        if (index < pool.count) pool.fn(pool.ctx, index, pool.count);
        atomic_fetch_sub(&pool.pending, 1);
    }
    return NULL;
}

int fr_max_threads(void)
{
    if (pool.max_threads > 0) return pool.max_threads;
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus < 1 ? 1 : cpus > FR_MAX_WORKERS + 1 ? FR_MAX_WORKERS + 1 : (int)cpus;
}

void fr_set_max_threads(int n)
{
    pool.max_threads = n < 1 ? 1 : n > FR_MAX_WORKERS + 1 ? FR_MAX_WORKERS + 1 : n;
}

/* Starts workers up to n - 1 (caller holds `owner`); returns how many threads can take part. */
static int ensure_workers(int n)
{
    if (pool.pid != getpid()) {   /* first use, or a forked child: the parent's workers do not exist here */
        pool.pid = getpid();
        pool.started = 0;
    }
    while (pool.started < n - 1) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pool.start_generation[pool.started + 1] = atomic_load(&pool.generation);
        const int failed = pthread_create(&thread, &attr, worker_main, (void *)(ptrdiff_t)(pool.started + 1));
        pthread_attr_destroy(&attr);
        if (failed) break;
        pool.started++;
    }
    return pool.started + 1 < n ? pool.started + 1 : n;
}

void fr_parallel_run(int n, fr_task_fn fn, void *ctx)
{
    if (n > fr_max_threads()) n = fr_max_threads();
    if (n <= 1 || pthread_mutex_trylock(&pool.owner) != 0) {
        fn(ctx, 0, 1);
        return;
    }
    n = ensure_workers(n);
    if (n <= 1) {
        pthread_mutex_unlock(&pool.owner);
        fn(ctx, 0, 1);
        return;
    }
    pool.fn = fn;
    pool.ctx = ctx;
    pool.count = n;
    atomic_store(&pool.pending, pool.started);
    atomic_fetch_add(&pool.generation, 1);
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
    }
    fn(ctx, 0, n);
    for (int spins = 0; atomic_load(&pool.pending) > 0; spins++) {
        if ((spins & 1023) == 1023) sched_yield();   /* a worker descheduled by another process: let it run */
        FR_PAUSE();
    }
    pthread_mutex_unlock(&pool.owner);
}
