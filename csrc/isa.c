/* Which vector width the packed product uses (gemm.h): decided once per process, on first use.
 *
 * 1. FASTRNN_ISA, when set to "baseline", "avx2" or "avx512" and supported here, forces that choice ("auto" or
 *    empty: no preference). An unknown or unsupported value prints one warning to stderr and is ignored; it
 *    never selects code the CPU cannot run.
 * 2. Otherwise the CPU model gives the preferred width: 64 bytes where the AVX-512 units are full width (Intel
 *    Ice Lake and later cores, AMD Zen 5), 32 bytes on AMD Zen 4 (whose AVX-512 units split each 64-byte
 *    operation in two) and on AVX2 CPUs; baseline without AVX2 + FMA.
 * 3. A micro-benchmark then times each supported vector ISA on the same product (min of several interleaved
 *    runs) and keeps the preferred one unless another is more than FR_ISA_MARGIN faster: it catches a model the
 *    table does not know, or one it misjudges.
 * Support is what the CPU reports and the OS enables (GCC/clang __builtin_cpu_supports check both).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gemm.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <cpuid.h>
#define FR_X86 1
#else
#define FR_X86 0
#endif

#define FR_ISA_MARGIN 0.10     /* another ISA must be this much faster than the model's choice to replace it */
#define FR_ISA_BENCH_RUNS 5    /* interleaved runs per ISA; the minimum counts */

static const char *const isa_names[FR_ISA_COUNT] = {"baseline", "avx2", "avx512"};

static struct {
    pthread_once_t once;
    int isa;
    const char *reason;
} choice = {.once = PTHREAD_ONCE_INIT};

const char *fr_isa_name(int isa)
{
    return isa >= 0 && isa < FR_ISA_COUNT ? isa_names[isa] : NULL;
}

int fr_isa_supported(int isa)
{
#if FR_X86
    __builtin_cpu_init();
    switch (isa) {
    case FR_ISA_BASELINE: return 1;
    case FR_ISA_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case FR_ISA_AVX512:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw");
    default: return 0;
    }
#else
    return isa == FR_ISA_BASELINE;
#endif
}

void fr_cpu_identify(char *brand, int *family, int *model)
{
    strcpy(brand, "unknown");
    *family = *model = -1;
#if FR_X86
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    const int base_family = (int)((a >> 8) & 0xf), base_model = (int)((a >> 4) & 0xf);
    const int extended_family = (int)((a >> 20) & 0xff), extended_model = (int)((a >> 16) & 0xf);
    *family = base_family == 0xf ? base_family + extended_family : base_family;
    *model = base_family == 0x6 || base_family == 0xf ? (extended_model << 4) + base_model : base_model;
    if ((unsigned)__get_cpuid_max(0x80000000, NULL) >= 0x80000004u) {
        unsigned words[12];
        for (unsigned leaf = 0; leaf < 3; leaf++)
            __get_cpuid(0x80000002 + leaf, &words[4 * leaf], &words[4 * leaf + 1], &words[4 * leaf + 2],
                        &words[4 * leaf + 3]);
        memcpy(brand, words, 48);
        brand[48] = 0;
        const char *start = brand;   /* vendors pad the string with leading spaces */
        while (*start == ' ') start++;
        memmove(brand, start, strlen(start) + 1);
    }
#endif
}

/* 1 for CPUs whose AVX-512 units are known to be full width, 0 for half width (AMD Zen 4), -1 unknown. */
static int full_width_avx512(void)
{
#if FR_X86
    char brand[49];
    int family, model;
    fr_cpu_identify(brand, &family, &model);
    if (__builtin_cpu_is("amd")) {
        if (family == 0x19) return 0;    /* Zen 4 (the Zen 3 parts of family 0x19 have no AVX-512) */
        if (family >= 0x1a) return 1;    /* Zen 5 and later */
        return -1;
    }
    if (__builtin_cpu_is("intel") && family == 6) {
        switch (model) {
        case 0x6a: case 0x6c: case 0x7d: case 0x7e:   /* Ice Lake server / client */
        case 0x8c: case 0x8d: case 0xa7:              /* Tiger Lake, Rocket Lake */
        case 0x8f: case 0xcf: case 0xad: case 0xae:   /* Sapphire / Emerald Rapids, Granite Rapids */
            return 1;
        default: return -1;                           /* Skylake-X: one or two 512-bit FMA units by SKU */
        }
    }
#endif
    return -1;
}

static int model_choice(void)
{
    if (fr_isa_supported(FR_ISA_AVX512) && full_width_avx512() == 1) return FR_ISA_AVX512;
    if (fr_isa_supported(FR_ISA_AVX2)) return FR_ISA_AVX2;
    return FR_ISA_BASELINE;
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
        if (strcmp(value, isa_names[isa]) != 0) continue;
        if (fr_isa_supported(isa)) return isa;
        fprintf(stderr, "fastrnn: warning: FASTRNN_ISA=%s is not supported by this CPU; choosing automatically\n",
                value);
        return -1;
    }
    fprintf(stderr, "fastrnn: warning: FASTRNN_ISA=%s is unknown (expected auto, baseline, avx2 or avx512); "
                    "choosing automatically\n", value);
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
    choice.isa = model_choice();
    choice.reason = "cpu model";
    if (choice.isa == FR_ISA_BASELINE) return;   /* nothing wider to compare */
    double seconds[FR_ISA_COUNT];
    bench_all(seconds);
    for (int isa = FR_ISA_AVX2; isa < FR_ISA_COUNT; isa++)
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

int fr_isa_set(int isa)
{
    pthread_once(&choice.once, decide);
    if (isa < 0 || isa >= FR_ISA_COUNT || !fr_isa_supported(isa)) return -1;
    choice.isa = isa;
    choice.reason = "fr_isa_set";
    return 0;
}
