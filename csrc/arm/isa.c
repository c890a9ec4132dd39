/* aarch64 CPU detection for the ISA choice (isa.c) and the reduced-precision kernels (arm/quant_cpu.c).
 *
 * Linux: the kernel's hardware capability words, getauxval(AT_HWCAP / AT_HWCAP2): what the CPU has and the
 * kernel enables (the same bits /proc/cpuinfo's "Features" line prints: asimd, asimddp, i8mm, bf16, asimdhp,
 * sve). Apple: sysctlbyname("hw.optional.arm.FEAT_*"), 1 when present (untested here: no Apple machine).
 * Elsewhere: NEON only (ARMv8.0 has it). The CPU model (MIDR implementer and part) is read for reports only: the
 * choice is the highest level whose features are all present. */
#if defined(__aarch64__)
#include <stdio.h>
#include <string.h>

#include "gemm.h"

#if defined(__linux__)
#include <sys/auxv.h>
/* The bits of arch/arm64/include/uapi/asm/hwcap.h (older C libraries lack the newer names). */
#define FR_HWCAP_ASIMD (1UL << 1)
#define FR_HWCAP_ASIMDHP (1UL << 10)
#define FR_HWCAP_ASIMDDP (1UL << 20)
#define FR_HWCAP_SVE (1UL << 22)
#define FR_HWCAP2_I8MM (1UL << 13)
#define FR_HWCAP2_BF16 (1UL << 14)
#elif defined(__APPLE__)
#include <sys/sysctl.h>
#include <sys/types.h>
#endif

const char *const fr_isa_names[FR_ISA_COUNT] = {"baseline", "neon", "dotprod", "i8mm", "bf16"};

#if defined(__APPLE__)
static int apple_has(const char *name)
{
    int value = 0;
    size_t size = sizeof value;
    return sysctlbyname(name, &value, &size, NULL, 0) == 0 && value == 1;
}
#endif

int fr_arm_features(void)
{
    int f = 0;
#if defined(__linux__)
    const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    if (hw & FR_HWCAP_ASIMD) f |= FR_ARM_ASIMD;
    if (hw & FR_HWCAP_ASIMDDP) f |= FR_ARM_DOTPROD;
    if (hw & FR_HWCAP_ASIMDHP) f |= FR_ARM_ASIMDHP;
    if (hw & FR_HWCAP_SVE) f |= FR_ARM_SVE;
    if (hw2 & FR_HWCAP2_I8MM) f |= FR_ARM_I8MM;
    if (hw2 & FR_HWCAP2_BF16) f |= FR_ARM_BF16;
#elif defined(__APPLE__)
    f |= FR_ARM_ASIMD;
    if (apple_has("hw.optional.arm.FEAT_DotProd")) f |= FR_ARM_DOTPROD;
    if (apple_has("hw.optional.arm.FEAT_I8MM")) f |= FR_ARM_I8MM;
    if (apple_has("hw.optional.arm.FEAT_BF16")) f |= FR_ARM_BF16;
    if (apple_has("hw.optional.arm.FEAT_FP16")) f |= FR_ARM_ASIMDHP;
#else
    f |= FR_ARM_ASIMD;
#endif
    return f;
}

int fr_arm_level_features(int isa)
{
    static const int needs[FR_ISA_COUNT] = {
        [FR_ISA_BASELINE] = 0,
        [FR_ISA_NEON] = FR_ARM_ASIMD,
        [FR_ISA_DOTPROD] = FR_ARM_ASIMD | FR_ARM_DOTPROD,
        [FR_ISA_I8MM] = FR_ARM_ASIMD | FR_ARM_DOTPROD | FR_ARM_I8MM,
        [FR_ISA_BF16] = FR_ARM_ASIMD | FR_ARM_DOTPROD | FR_ARM_I8MM | FR_ARM_BF16,
    };
    return isa >= 0 && isa < FR_ISA_COUNT ? needs[isa] : -1;
}

int fr_isa_supported(int isa)
{
    const int needs = fr_arm_level_features(isa);
    return needs >= 0 && (fr_arm_features() & needs) == needs;
}

int fr_isa_preferred(void)
{
    int best = FR_ISA_BASELINE;
    for (int isa = FR_ISA_BASELINE + 1; isa < FR_ISA_COUNT; isa++)
        if (fr_isa_supported(isa)) best = isa;
    return best;
}

/* brand: the feature list ("aarch64 asimd asimddp i8mm bf16"); family, model: MIDR implementer and part number
 * (Linux sysfs; -1 where unreadable). */
void fr_cpu_identify(char *brand, int *family, int *model)
{
    static const struct { int bit; const char *name; } names[] = {
        {FR_ARM_ASIMD, " asimd"}, {FR_ARM_ASIMDHP, " asimdhp"}, {FR_ARM_DOTPROD, " asimddp"},
        {FR_ARM_I8MM, " i8mm"}, {FR_ARM_BF16, " bf16"}, {FR_ARM_SVE, " sve"}};
    const int f = fr_arm_features();
    strcpy(brand, "aarch64");   /* at most 7 + 34 characters: fits the 49 bytes */
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (f & names[i].bit) strcat(brand, names[i].name);
    *family = *model = -1;
#if defined(__linux__)
    FILE *file = fopen("/sys/devices/system/cpu/cpu0/regs/identification/midr_el1", "r");
    unsigned long long midr;
    if (file == NULL) return;
    if (fscanf(file, "%llx", &midr) == 1) {
        *family = (int)((midr >> 24) & 0xff);
        *model = (int)((midr >> 4) & 0xfff);
    }
    fclose(file);
#endif
}
#endif
