/* fastrnn's worker pool: runs fn(ctx, i, n) for every part i in [0, n), on the caller and idle workers.
 *
 * Parts are claimed, not assigned: the caller and each awake worker take an unclaimed part, so when another
 * process holds a core and a worker is slow to wake, the caller simply does that part itself. Each participant
 * tries its own part first (the caller part 0, worker k part k), so a thread keeps working on the same slice of
 * the weights step after step and finds it in its own cache.
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

static struct {
    pthread_mutex_t lock;            /* guards sleeping workers' wake-up */
    pthread_cond_t wake;
    pthread_mutex_t owner;           /* held by the call that uses the pool */
    atomic_uint generation;          /* bumped once per task */
    atomic_uint claimed[FR_MAX_THREADS];   /* the generation that last claimed each part */
    atomic_int done;                 /* parts finished of the current task */
    atomic_int sleepers;             /* workers blocked on `wake` */
    atomic_uint nudges;              /* bumped (under `lock`) by fr_pool_nudge: sleepers go back to spinning */
    atomic_uint wakeups;             /* times a worker left its sleep (for a task or a nudge) */
    atomic_int low_latency;          /* 1: idle workers spin until it is 0 again (fr_set_low_latency) */
    atomic_int workers;              /* workers running in this process (a forked child starts with none) */
    atomic_int max_threads;          /* 0: not known yet (then the number of online CPUs) */
    unsigned start_generation[FR_MAX_THREADS];
    fr_task_fn fn;                   /* fn, ctx: written by the owner before the release of `generation` */
    void *ctx;
    atomic_int parts;                /* also read by a worker still finishing the last task: atomic, relaxed */
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .owner = PTHREAD_MUTEX_INITIALIZER};

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Memory order (what a weakly ordered CPU holds the code to; ThreadSanitizer checks it on x86):
 * - the owner writes fn, ctx and parts, then bumps `generation` (release); a worker that loads the new
 *   generation (acquire) sees them;
 * - a worker adds to `done` after its part (release); the owner returns once it loads done == n (acquire), so
 *   every part's writes are visible to the caller and fn/ctx are not rewritten while a part still reads them;
 * - `generation` and `sleepers` are also a store-then-load pair on each side (the owner stores generation and
 *   loads sleepers; a worker going to sleep adds to sleepers and loads generation): seq_cst on both, so one of
 *   them sees the other and no wake-up is lost. */
static unsigned generation(void) { return atomic_load_explicit(&pool.generation, memory_order_acquire); }

/* An unclaimed part of task `gen`, trying `first` first; -1 when none is left or the task is over.
 * A claim made with a stale `gen` never runs: after the claim the task must still be `gen`, and a task cannot
 * end while one of its parts is claimed and not done. A stale claim of a part that the current task has not
 * claimed yet leaves it claimable by the current task (its stamp stays older than the current generation). */
static int claim(unsigned gen, int first)
{
    const int parts = atomic_load_explicit(&pool.parts, memory_order_relaxed);
    for (int i = 0; i < parts; i++) {
        const int part = (first + i) % parts;
        unsigned old = atomic_load_explicit(&pool.claimed[part], memory_order_relaxed);
        /* Claims only move forward: a stale claimer must not overwrite a newer task's claim. */
        if ((int)(gen - old) > 0 && atomic_compare_exchange_strong_explicit(&pool.claimed[part], &old, gen,
                                                                            memory_order_acq_rel,
                                                                            memory_order_relaxed))
            return atomic_load_explicit(&pool.generation, memory_order_seq_cst) == gen ? part : -1;
    }
    return -1;
}

static void run_parts(unsigned gen, int first)
{
    for (int part; (part = claim(gen, first)) >= 0;) {
        pool.fn(pool.ctx, part, atomic_load_explicit(&pool.parts, memory_order_relaxed));
        atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
    }
}

/* Spins for FR_SPIN_NS, then sleeps until a task or a nudge (which starts another spell of spinning). `nudges` is
 * read and bumped under `lock`, so a nudge between the read and the wait is not lost. */
static unsigned wait_for_task(unsigned seen)
{
    for (;;) {
        const long long deadline = now_ns() + FR_SPIN_NS;
        for (int spins = 0;; spins++) {
            const unsigned gen = generation();
            if (gen != seen) return gen;
            if ((spins & 63) == 63 && now_ns() > deadline &&
                !atomic_load_explicit(&pool.low_latency, memory_order_relaxed))
                break;
            FR_SPIN_HINT();
        }
        pthread_mutex_lock(&pool.lock);
        atomic_fetch_add_explicit(&pool.sleepers, 1, memory_order_seq_cst);
        const unsigned nudge = atomic_load_explicit(&pool.nudges, memory_order_relaxed);
        unsigned gen;
        while ((gen = atomic_load_explicit(&pool.generation, memory_order_seq_cst)) == seen &&
               atomic_load_explicit(&pool.nudges, memory_order_relaxed) == nudge)
            pthread_cond_wait(&pool.wake, &pool.lock);
        atomic_fetch_sub_explicit(&pool.sleepers, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&pool.wakeups, 1, memory_order_relaxed);
        pthread_mutex_unlock(&pool.lock);
        if (gen != seen) return gen;
    }
}

static void *worker_main(void *arg)
{
    const int index = (int)(uintptr_t)arg;               /* 1, 2, ...: the part this worker tries first */
    unsigned seen = pool.start_generation[index];         /* the generation when this worker was started */
    for (;;) {
        seen = wait_for_task(seen);
        run_parts(seen, index % atomic_load_explicit(&pool.parts, memory_order_relaxed));
    }
    return NULL;
}

int fr_max_threads(void)
{
    int n = atomic_load_explicit(&pool.max_threads, memory_order_relaxed);
    if (n == 0) {   /* sysconf reads /sys: once, not per call (two threads may both ask: same answer) */
        const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus < 1 ? 1 : cpus > FR_MAX_THREADS ? FR_MAX_THREADS : (int)cpus;
        int unset = 0;
        if (!atomic_compare_exchange_strong_explicit(&pool.max_threads, &unset, n, memory_order_relaxed,
                                                     memory_order_relaxed))
            n = unset;   /* set meanwhile by fr_set_max_threads */
    }
    return n;
}

void fr_set_max_threads(int n)
{
    atomic_store_explicit(&pool.max_threads, n < 1 ? 1 : n > FR_MAX_THREADS ? FR_MAX_THREADS : n,
                          memory_order_relaxed);
}

void fr_set_low_latency(int on)
{
    atomic_store(&pool.low_latency, on != 0);
}

int fr_low_latency(void)
{
    return atomic_load(&pool.low_latency);
}

void fr_pool_nudge(void)
{
    if (atomic_load_explicit(&pool.sleepers, memory_order_relaxed) == 0) return;   /* none asleep: no system call */
    pthread_mutex_lock(&pool.lock);
    atomic_fetch_add_explicit(&pool.nudges, 1, memory_order_relaxed);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
}

unsigned fr_pool_tasks(void)
{
    return atomic_load_explicit(&pool.generation, memory_order_relaxed);
}

unsigned fr_pool_wakeups(void)
{
    return atomic_load_explicit(&pool.wakeups, memory_order_relaxed);
}

/* No system call: asked on every step of a paced caller. */
int fr_pool_asleep(void)
{
    return atomic_load_explicit(&pool.workers, memory_order_relaxed) == 0 ||
           atomic_load_explicit(&pool.sleepers, memory_order_relaxed) > 0;
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
    atomic_store_explicit(&pool.sleepers, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.workers, 0, memory_order_relaxed);
}

static void register_fork_handlers(void)
{
    pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
}

/* Starts workers until n - 1 run (the caller holds `owner`). The fork handlers are registered before the first
 * worker starts, so every child of a process with workers resets `workers` itself: no getpid() per call. */
static void ensure_workers(int n)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_fork_handlers);
    /* workers: written only here, by the owner; read without the lock by fr_pool_asleep (relaxed: a hint) */
    for (int w; (w = atomic_load_explicit(&pool.workers, memory_order_relaxed)) < n - 1;) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pool.start_generation[w + 1] = generation();   /* handed over by pthread_create */
        const int failed = pthread_create(&thread, &attr, worker_main, (void *)(uintptr_t)(w + 1));
        pthread_attr_destroy(&attr);
        if (failed) return;
        atomic_store_explicit(&pool.workers, w + 1, memory_order_relaxed);
    }
}

void fr_spin_pause(int round)
{
    if ((round & 1023) == 1023) sched_yield();
    FR_SPIN_HINT();
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
    atomic_store_explicit(&pool.parts, n, memory_order_relaxed);
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    const unsigned gen = atomic_load_explicit(&pool.generation, memory_order_relaxed) + 1;
    atomic_store_explicit(&pool.generation, gen, memory_order_seq_cst);   /* releases fn, ctx, parts, done */
    if (atomic_load_explicit(&pool.sleepers, memory_order_seq_cst) > 0) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
    }
    run_parts(gen, 0);
    /* parts a worker claimed and still runs */
    for (int spins = 1; atomic_load_explicit(&pool.done, memory_order_acquire) < n; spins++) fr_spin_pause(spins);
    pthread_mutex_unlock(&pool.owner);
}
