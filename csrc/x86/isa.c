/* x86-64 CPU detection for the ISA choice (isa.c): what the CPU and OS support, the CPUID identity, and the
 * width the CPU model prefers: 64 bytes where the AVX-512 units are full width (Intel Ice Lake and later cores,
 * AMD Zen 5), 32 bytes on AMD Zen 4 (whose AVX-512 units split each 64-byte operation in two) and on AVX2 CPUs;
 * baseline without AVX2 + FMA. Support is what the CPU reports and the OS enables (GCC/clang
 * __builtin_cpu_supports check both). */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <string.h>

#include <cpuid.h>

#include "gemm.h"

const char *const fr_isa_names[FR_ISA_COUNT] = {"baseline", "avx2", "avx512"};

int fr_isa_supported(int isa)
{
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
}

void fr_cpu_identify(char *brand, int *family, int *model)
{
    strcpy(brand, "unknown");
    *family = *model = -1;
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
}

/* 1 for CPUs whose AVX-512 units are known to be full width, 0 for half width (AMD Zen 4), -1 unknown. */
static int full_width_avx512(void)
{
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
    return -1;
}

int fr_isa_preferred(void)
{
    if (fr_isa_supported(FR_ISA_AVX512) && full_width_avx512() == 1) return FR_ISA_AVX512;
    if (fr_isa_supported(FR_ISA_AVX2)) return FR_ISA_AVX2;
    return FR_ISA_BASELINE;
}
#endif
