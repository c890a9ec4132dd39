/* x86-64: the per-architecture definitions of arch.h. Nothing here needs -march: hot loops are compiled for
 * x86-64-v4 (AVX-512), v3 (AVX2 + FMA) and baseline (GCC/clang target_clones) and the loader picks the best for
 * the running CPU; the wider kernels carry function-level target attributes and run after a cpuid check. */
#ifndef FASTRNN_X86_H
#define FASTRNN_X86_H

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(FASTRNN_NO_CLONES)
#define FR_SIMD __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FR_SIMD
#endif

#define FR_SPIN_HINT() __builtin_ia32_pause()   /* `pause`: yields the core to its sibling hyperthread */

/* 32-byte vectors for the per-step products: 16 ymm registers suffice under AVX2, and AMD's AVX-512 units
 * split 64-byte operations into two halves anyway (the 64-byte small_gemm path is chosen per call). */
#define FR_ARCH_VB 32

enum fr_isa {
    FR_ISA_BASELINE = 0,   /* x86-64 SSE2, 16-byte vectors */
    FR_ISA_AVX2 = 1,       /* AVX2 + FMA, 32-byte vectors, 16 registers (also Zen 4: half-width AVX-512 units) */
    FR_ISA_AVX512 = 2,     /* AVX-512 F/VL/DQ/BW, 64-byte vectors, 32 registers (full-width units) */
    FR_ISA_COUNT = 3
};
#define FR_ARCH_GEMM_KERNELS(K) K(baseline), K(avx2), K(avx512)
#define FR_ARCH_BENCH_ISAS 1
#define FR_ARCH_DETECTS

/* The 64-byte path of small_gemm.inc: its target, and whether the running CPU has it. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(FASTRNN_NO_CLONES) && !defined(FASTRNN_SMALL_GEMM_NARROW)
#define FR_SG_WIDE __attribute__((target("arch=x86-64-v4")))
#define FR_SG_WIDE_SUPPORTED()                                                                                  \
    (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&                                 \
     __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&                                \
     __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&   \
     __builtin_cpu_supports("bmi2"))
#endif

/* The packed GEMM kernels' targets (x86/gemm_isas.inc). */
#if defined(__GNUC__) && defined(__x86_64__)
#define FR_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define FR_TARGET_AVX512 __attribute__((target("avx2,fma,avx512f,avx512vl,avx512dq,avx512bw")))
#define FR_HAVE_X86_ISAS 1
#else
#define FR_HAVE_X86_ISAS 0
#endif

#endif
