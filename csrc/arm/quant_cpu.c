/* aarch64: the reduced-precision kernel variants (quant_kernel.h) and the CPU features they need (arm/isa.c).
 *
 * Variants, best first:
 *   int8      i8mm-smmla (quant_i8mm.c)  dotprod-sdot (quant_dotprod.c)  neon-smlal (quant_neon.c)  c
 *   bfloat16  bf16-bfdot (quant_bf16.c)  neon (widened on load)  c
 *   float16   neon (widened on load by FCVTL)  c
 * FASTRNN_ISA caps the choice at a level as it does the float kernels' ("dotprod": no SMMLA, no BFDOT; "neon":
 * the NEON kernels; "baseline": the C ones). */
#if defined(__aarch64__)
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "quant_kernel.h"

FR_Q_DECLARE_RUN(int8_neon)
FR_Q_DECLARE_RUN(bf16_neon)
FR_Q_DECLARE_RUN(f16_neon)
FR_Q_DECLARE_RUN(int8_i8mm)
FR_Q_DECLARE_RUN(int8_dotprod)
FR_Q_DECLARE_RUN(bf16_bfdot)

const fr_q_variant fr_q_variants[3][FR_Q_MAX_VARIANTS] = {
    [FR_Q_INT8] = {
        {"i8mm-smmla", FR_ARM_ASIMD | FR_ARM_DOTPROD | FR_ARM_I8MM, FR_QA_INT8, qp_run_int8_i8mm},
        {"dotprod-sdot", FR_ARM_ASIMD | FR_ARM_DOTPROD, FR_QA_INT8, qp_run_int8_dotprod},
        {"neon-smlal", FR_ARM_ASIMD, FR_QA_INT8, qp_run_int8_neon},
        {"c", 0, FR_QA_INT8, qp_run_int8_c},
    },
    [FR_Q_BF16] = {
        {"bf16-bfdot", FR_ARM_ASIMD | FR_ARM_BF16, FR_QA_BF16, qp_run_bf16_bfdot},
        {"neon", FR_ARM_ASIMD, FR_QA_F32, qp_run_bf16_neon},
        {"c", 0, FR_QA_F32, qp_run_bf16_c},
    },
    [FR_Q_F16] = {
        {"neon", FR_ARM_ASIMD, FR_QA_F32, qp_run_f16_neon},
        {"c", 0, FR_QA_F32, qp_run_f16_c},
    },
};

/* The CPU's FR_ARM_* bits, capped by the level FASTRNN_ISA names (when this CPU supports it: isa.c warns
 * about the others and ignores them). */
int fr_q_cpu_features(void)
{
    const int cpu = fr_arm_features();
    const char *value = getenv("FASTRNN_ISA");
    if (value == NULL) return cpu;
    for (int isa = 0; isa < FR_ISA_COUNT; isa++)
        if (strcmp(value, fr_isa_names[isa]) == 0 && fr_isa_supported(isa)) return cpu & fr_arm_level_features(isa);
    return cpu;
}
#endif
