/* x86-64: the reduced-precision kernel variants (quant_kernel.h) and the CPU features they need, from cpuid
 * and xgetbv (the instruction sets, and the OS saving their registers).
 *
 * Variants, best first:
 *   int8      amx (tdpbsud, 1 KiB tiles)  avx512-vnni (vpdpbusd, 64-byte)  avx2 (vpmaddubsw)  c
 *   bfloat16  amx (tdpbf16ps)  avx512-bf16 (vdpbf16ps)  avx512 (widened on load)  avx2 (widened on load)  c
 *   float16   avx512 (vcvtph2ps, 64-byte)  avx2-f16c  c
 * FASTRNN_ISA=avx2 or baseline caps the choice as it does the float kernels'. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <stdlib.h>
#include <string.h>

#include <cpuid.h>
#ifdef __linux__
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "quant_kernel.h"

enum {
    FR_CPU_AVX2 = 1, FR_CPU_F16C = 2, FR_CPU_AVX512 = 4, FR_CPU_VNNI = 8, FR_CPU_BF16 = 16, FR_CPU_AMX_INT8 = 32,
    FR_CPU_AMX_BF16 = 64
};

FR_Q_DECLARE_RUN(int8_amx)
FR_Q_DECLARE_RUN(bf16_amx)
FR_Q_DECLARE_RUN(int8_vnni)
FR_Q_DECLARE_RUN(int8_avx2)
FR_Q_DECLARE_RUN(bf16_dp)
FR_Q_DECLARE_RUN(bf16_avx512)
FR_Q_DECLARE_RUN(bf16_avx2)
FR_Q_DECLARE_RUN(f16_avx512)
FR_Q_DECLARE_RUN(f16_avx2)

const fr_q_variant fr_q_variants[3][FR_Q_MAX_VARIANTS] = {
    [FR_Q_INT8] = {
        {"amx", FR_CPU_AVX512 | FR_CPU_VNNI | FR_CPU_AMX_INT8, FR_QA_INT8_TILE, qp_run_int8_amx},
        {"avx512-vnni", FR_CPU_AVX512 | FR_CPU_VNNI, FR_QA_INT8_OFFSET, qp_run_int8_vnni},
        {"avx2", FR_CPU_AVX2, FR_QA_INT8, qp_run_int8_avx2},
        {"c", 0, FR_QA_INT8, qp_run_int8_c},
    },
    [FR_Q_BF16] = {
        {"amx", FR_CPU_AVX512 | FR_CPU_BF16 | FR_CPU_AMX_BF16, FR_QA_BF16, qp_run_bf16_amx},
        {"avx512-bf16", FR_CPU_AVX512 | FR_CPU_BF16, FR_QA_BF16, qp_run_bf16_dp},
        {"avx512", FR_CPU_AVX512, FR_QA_F32, qp_run_bf16_avx512},
        {"avx2", FR_CPU_AVX2, FR_QA_F32, qp_run_bf16_avx2},
        {"c", 0, FR_QA_F32, qp_run_bf16_c},
    },
    [FR_Q_F16] = {
        {"avx512", FR_CPU_AVX512 | FR_CPU_F16C, FR_QA_F32, qp_run_f16_avx512},
        {"avx2-f16c", FR_CPU_AVX2 | FR_CPU_F16C, FR_QA_F32, qp_run_f16_avx2},
        {"c", 0, FR_QA_F32, qp_run_f16_c},
    },
};

/* Linux hands out AMX's 8 KiB of tile state per process on request (arch_prctl, since 5.16); without it the first
 * tile instruction faults. */
static int fr_q_tiles_granted(void)
{
#ifdef __linux__
    enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
    return 0;
#endif
}

/* The CPU's FR_CPU_* bits. */
static int fr_q_cpu_bits(void)
{
    int f = 0;
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0;   /* OSXSAVE */
    const int f16c = (c >> 29) & 1, fma = (c >> 12) & 1;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    const int ymm_os = (lo & 0x6u) == 0x6u, zmm_os = (lo & 0xE6u) == 0xE6u;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    const int avx2 = (b >> 5) & 1, avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1);
    const int vnni = (c >> 11) & 1;
    unsigned a1 = 0, b1, c1, d1;
    __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1);
    const int bf16 = (a1 >> 5) & 1;
    const int tiles = (d >> 24) & 1, amx_int8 = (d >> 25) & 1, amx_bf16 = (d >> 22) & 1;
    if (ymm_os && avx2 && fma) f |= FR_CPU_AVX2;
    if (ymm_os && f16c) f |= FR_CPU_F16C;
    if ((f & FR_CPU_AVX2) && (f & FR_CPU_F16C) && zmm_os && avx512) {
        f |= FR_CPU_AVX512;
        if (vnni) f |= FR_CPU_VNNI;
        if (bf16) f |= FR_CPU_BF16;
        if (tiles && (amx_int8 || amx_bf16) && (lo & 0x60000u) == 0x60000u && fr_q_tiles_granted()) {
            if (vnni && amx_int8) f |= FR_CPU_AMX_INT8;
            if (bf16 && amx_bf16) f |= FR_CPU_AMX_BF16;
        }
    }
    return f;
}

/* The bits capped by FASTRNN_ISA (isa.c), as for the float kernels: "avx2" keeps the AVX2 and C kernels,
 * "baseline" the C ones. */
int fr_q_cpu_features(void)
{
    const int cpu = fr_q_cpu_bits();
    const char *isa = getenv("FASTRNN_ISA");
    if (isa != NULL && strcmp(isa, "avx2") == 0) return cpu & (FR_CPU_AVX2 | FR_CPU_F16C);
    if (isa != NULL && strcmp(isa, "baseline") == 0) return 0;
    return cpu;
}
#endif
