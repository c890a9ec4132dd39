/* What differs between processor architectures, for every file: each architecture's folder has one header
 * (x86/x86.h, arm/arm.h) that defines
 *   FR_SIMD            the attribute of hot loops (x86: compiled for several vector levels, picked at load)
 *   FR_SPIN_HINT()     the hint inside spin-waits
 *   FR_ARCH_VB         vector bytes of the per-step templates (fused_step.inc, packed_gemm.inc)
 *   enum fr_isa        the names FASTRNN_ISA accepts, narrowest first (FR_ISA_BASELINE = 0, FR_ISA_COUNT)
 *   FR_ARCH_GEMM_KERNELS(K)   the packed GEMM kernel (gemm_isas.inc) of each ISA, in enum order
 *   FR_ARCH_BENCH_ISAS 1 when the ISAs differ in vector width, so that isa.c times them against each other
 *   FR_ARCH_DETECTS    defined when the folder's isa.c provides the detection declared in gemm.h
 * and its folder holds the CPU detection (isa.c) and the kernels that need instructions beyond the baseline.
 * Other architectures get the plain C code at one ISA. */
#ifndef FASTRNN_ARCH_H
#define FASTRNN_ARCH_H

#if defined(__x86_64__) || defined(__i386__)
#include "x86/x86.h"
#elif defined(__aarch64__)
#include "arm/arm.h"
#else
#define FR_SIMD
#define FR_SPIN_HINT() ((void)0)
#define FR_ARCH_VB 32
enum fr_isa { FR_ISA_BASELINE = 0, FR_ISA_COUNT = 1 };
#define FR_ARCH_GEMM_KERNELS(K) K(baseline)
#define FR_ARCH_BENCH_ISAS 0
#endif

#endif
