// Internal: the CBLAS functions of fim's stack engine, taken from the system BLAS at their first
// use instead of by linking. A linked OpenBLAS starts its worker threads in every process that
// loads the core library, and each thread spins for about 0.1 s of CPU before it sleeps. That was
// 0.12 s of a 1.2 s `ccnet-filter hash` run on 2 cores, and it grows with the number of cores.
#pragma once

#include <cblas.h>

namespace scorekit {

// Pointers to the CBLAS functions that the stack engine calls.
struct CblasFunctions {
    decltype(&cblas_dgemm) dgemm = nullptr;
    decltype(&cblas_sgemm) sgemm = nullptr;
    decltype(&cblas_dsyrk) dsyrk = nullptr;
    decltype(&cblas_ssyrk) ssyrk = nullptr;
    decltype(&cblas_dsyr2k) dsyr2k = nullptr;
};

// Returns the functions, loading the system BLAS (libblas.so.3) on the first call. Throws Error
// when no BLAS library with these functions can be loaded.
const CblasFunctions& cblas();

}  // namespace scorekit
