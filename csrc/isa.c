/* Which vector width the packed product uses (gemm.h): decided once per process, on first use.
 *
 * 1. FASTRNN_ISA, when set to one of the architecture's ISA names (x86-64: "baseline", "avx2" or "avx512") and
 *    supported here, forces that choice ("auto" or empty: no preference). An unknown or unsupported value prints
 *    one warning to stderr and is ignored; it never selects code the CPU cannot run.
 * 2. Otherwise the architecture's detection (x86/isa.c) gives the ISA the CPU model prefers.
 * 3. Where the architecture has several vector widths (FR_ARCH_BENCH_ISAS), a micro-benchmark then times each
 *    supported ISA on the same product (min of several interleaved runs) and keeps the preferred one unless
 *    another is more than FR_ISA_MARGIN faster: it catches a model the table does not know, or one it misjudges.
 * The detection of each architecture (its folder) provides fr_isa_names, fr_isa_supported, fr_cpu_identify and
 * fr_isa_preferred; elsewhere the one baseline ISA is all there is.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gemm.h"

#define FR_ISA_MARGIN 0.10     /* another ISA must be this much faster than the model's choice to replace it */
#define FR_ISA_BENCH_RUNS 5    /* interleaved runs per ISA; the minimum counts */

#ifndef FR_ARCH_DETECTS
const char *const fr_isa_names[FR_ISA_COUNT] = {"baseline"};
int fr_isa_supported(int isa) { return isa == FR_ISA_BASELINE; }
int fr_isa_preferred(void) { return FR_ISA_BASELINE; }
void fr_cpu_identify(char *brand, int *family, int *model)
{
    strcpy(brand, "unknown");
    *family = *model = -1;
}
#endif

static struct {
    pthread_once_t once;
    int isa;
    const char *reason;
} choice = {.once = PTHREAD_ONCE_INIT};

const char *fr_isa_name(int isa)
{
    return isa >= 0 && isa < FR_ISA_COUNT ? fr_isa_names[isa] : NULL;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* The fixed product: f32 C [96, 128] = A [96, 256] B [256, 128] (6.3 MFLOP, about 60 us on one Zen 4 core at
 * 32-byte width), inputs in L2, whole tiles for every ISA. */
enum { BENCH_M = 96, BENCH_N = 128, BENCH_K = 256 };

static double bench_one(int isa, const float *A, const float *B, float *C)
{
    const double start = now_seconds();
    fr_gemm_serial_f32(isa, 0, 0, BENCH_M, BENCH_N, BENCH_K, A, BENCH_K, B, BENCH_N, 0, C, BENCH_N);
    return now_seconds() - start;
}

static void bench_all(double seconds[FR_ISA_COUNT])
{
    float *A = malloc(sizeof(float) * (BENCH_M * BENCH_K + BENCH_K * BENCH_N + BENCH_M * BENCH_N));
    for (int isa = 0; isa < FR_ISA_COUNT; isa++) seconds[isa] = -1;
    if (A == NULL) return;
    float *B = A + BENCH_M * BENCH_K, *C = B + BENCH_K * BENCH_N;
    for (int i = 0; i < BENCH_M * BENCH_K + BENCH_K * BENCH_N; i++) A[i] = (float)(i % 7) * 0.25f - 0.5f;
    for (int run = 0; run <= FR_ISA_BENCH_RUNS; run++)    /* run 0 warms caches and scratch up */
        for (int isa = 0; isa < FR_ISA_COUNT; isa++) {
            if (!fr_isa_supported(isa)) continue;
            const double t = bench_one(isa, A, B, C);
            if (run > 0 && (seconds[isa] < 0 || t < seconds[isa])) seconds[isa] = t;
        }
    free(A);
}

double fr_isa_benchmark(int isa)
{
    double seconds[FR_ISA_COUNT];
    bench_all(seconds);
    return isa >= 0 && isa < FR_ISA_COUNT ? seconds[isa] : -1;
}

static int parse_environment(void)
{
    const char *value = getenv("FASTRNN_ISA");
    if (value == NULL || value[0] == 0 || strcmp(value, "auto") == 0) return -1;
    for (int isa = 0; isa < FR_ISA_COUNT; isa++) {
        if (strcmp(value, fr_isa_names[isa]) != 0) continue;
        if (fr_isa_supported(isa)) return isa;
        fprintf(stderr, "fastrnn: warning: FASTRNN_ISA=%s is not supported by this CPU; choosing automatically\n",
                value);
        return -1;
    }
    char expected[160] = "auto";
    for (int isa = 0; isa < FR_ISA_COUNT; isa++) {
        strcat(expected, isa == FR_ISA_COUNT - 1 ? " or " : ", ");
        strcat(expected, fr_isa_names[isa]);
    }
    fprintf(stderr, "fastrnn: warning: FASTRNN_ISA=%s is unknown (expected %s); choosing automatically\n", value,
            expected);
    return -1;
}

static void decide(void)
{
    const int forced = parse_environment();
    if (forced >= 0) {
        choice.isa = forced;
        choice.reason = "FASTRNN_ISA";
        return;
    }
    choice.isa = fr_isa_preferred();
    choice.reason = "cpu model";
    if (!FR_ARCH_BENCH_ISAS || choice.isa == FR_ISA_BASELINE) return;   /* nothing wider to compare */
    double seconds[FR_ISA_COUNT];
    bench_all(seconds);
    for (int isa = FR_ISA_BASELINE + 1; isa < FR_ISA_COUNT; isa++)
        if (seconds[isa] > 0 && seconds[isa] * (1 + FR_ISA_MARGIN) < seconds[choice.isa]) {
            choice.isa = isa;
            choice.reason = "micro-benchmark";
        }
}

int fr_isa(void)
{
    pthread_once(&choice.once, decide);
    return choice.isa;
}

const char *fr_isa_reason(void)
{
    pthread_once(&choice.once, decide);
    return choice.reason;
}

/* The per-step packed product's width, fixed at the first call: packed panels keep their layout for the life of
 * the process, whatever fr_isa_set does later. */
static struct {
    pthread_once_t once;
    int wide;
} step_width = {PTHREAD_ONCE_INIT, 0};

static void decide_step_width(void)
{
#if FR_HAVE_X86_ISAS
    step_width.wide = fr_isa() == FR_ISA_AVX512;
#endif
}

int fr_step_wide(void)
{
    pthread_once(&step_width.once, decide_step_width);
    return step_width.wide;
}

int fr_isa_set(int isa)
{
    pthread_once(&choice.once, decide);
    if (isa < 0 || isa >= FR_ISA_COUNT || !fr_isa_supported(isa)) return -1;
    choice.isa = isa;
    choice.reason = "fr_isa_set";
    return 0;
}
