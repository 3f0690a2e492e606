// Function multiversioning for the float32 kernels (private to the core library).
#pragma once

// GCC and Clang build a function marked with this for AVX-512, AVX2 + FMA and baseline x86-64,
// and an ifunc resolver picks the best one that the CPU supports when the library is loaded.
// Other compilers and targets get the baseline build only.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__INTEL_COMPILER)
#define SCOREKIT_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SCOREKIT_SIMD_CLONES
#endif
