/* aarch64: the per-architecture definitions of arch.h. The build targets ARMv8.0 (no -march: a Cortex-A53 or
 * A72 never meets an illegal instruction); NEON (Advanced SIMD) is part of ARMv8.0, so the templates' 16-byte GCC
 * vectors compile to NEON everywhere. Anything newer (dot product, int8 matrix multiply, bfloat16) lives in its
 * own file compiled for that feature (setup.py's per-file flags) and runs only after arm/isa.c found it. */
#ifndef FASTRNN_ARM_H
#define FASTRNN_ARM_H

/* One compilation: NEON is the baseline, and GCC's aarch64 target_clones cannot add the newer features. */
#define FR_SIMD

/* `isb` waits for the pipeline to drain (tens of cycles) without giving up the core; `yield` is a no-op on most
 * cores, so a spin loop with it would hammer the shared line as hard as one without. */
#define FR_SPIN_HINT() __asm__ __volatile__("isb" ::: "memory")

/* 16-byte NEON vectors for the per-step products: the fused step's 12 accumulators + 4 weight vectors and the
 * packed kernel's 2 x 6 take about half of the 32 registers. */
#define FR_ARCH_VB 16

/* FASTRNN_ISA's names, each a level that includes the ones before it: what runs is
 *   baseline  the generic C templates (GCC vectors: still NEON code, the plain GEMM tile, the C int8/bf16/f16)
 *   neon      the NEON GEMM tile (8 x 12 fp32), int8 by SMLAL, bfloat16 and float16 widened on load
 *   dotprod   + int8 by SDOT (ARMv8.2 dotprod; Cortex-A55/A76, Neoverse N1)
 *   i8mm      + int8 by SMMLA (ARMv8.6 int8 matrix multiply; Neoverse V1/V2, Cortex-A510/A710/X2)
 *   bf16      + bfloat16 by BFDOT (ARMv8.6 bf16; Neoverse V1/V2, Apple M2)
 * The float kernels are the same from neon up. */
enum fr_isa {
    FR_ISA_BASELINE = 0,
    FR_ISA_NEON = 1,
    FR_ISA_DOTPROD = 2,
    FR_ISA_I8MM = 3,
    FR_ISA_BF16 = 4,
    FR_ISA_COUNT = 5
};
#define FR_ARCH_GEMM_KERNELS(K) K(baseline), K(neon), K(neon), K(neon), K(neon)
#define FR_ARCH_BENCH_ISAS 0   /* one vector width: nothing to time against each other */
#define FR_ARCH_DETECTS

/* The CPU features arm/isa.c detects (fr_arm_features), as bits. */
enum {
    FR_ARM_ASIMD = 1,     /* NEON (every ARMv8-A Linux system) */
    FR_ARM_DOTPROD = 2,   /* SDOT/UDOT */
    FR_ARM_I8MM = 4,      /* SMMLA/UMMLA/USMMLA */
    FR_ARM_BF16 = 8,      /* BFDOT/BFMMLA/BFCVT */
    FR_ARM_ASIMDHP = 16,  /* half-precision arithmetic (detected and reported; no kernel uses it) */
    FR_ARM_SVE = 32       /* detected and reported; no kernel uses it */
};
int fr_arm_features(void);
/* The features an ISA level (enum fr_isa) needs. */
int fr_arm_level_features(int isa);

#endif
