#include "cblas_functions.hpp"

#include <dlfcn.h>

#include <mutex>
#include <string>
#include <type_traits>

#include "scorekit/error.hpp"

namespace scorekit {
namespace {

// The names under which Debian installs a BLAS with the CBLAS interface: the alternative that
// libblas.so.3 points to (OpenBLAS or the reference BLAS), then OpenBLAS by its own name.
constexpr const char* kLibraries[] = {"libblas.so.3", "libopenblas.so.0", "libblas.so"};

struct Loaded {
    CblasFunctions functions;
    std::string failure;  // reason that loading failed, empty on success
};

Loaded load() {
    Loaded loaded;
    void* library = nullptr;
    std::string tried;
    for (const char* name : kLibraries) {
        library = dlopen(name, RTLD_NOW | RTLD_LOCAL);
        if (library) break;
        const char* reason = dlerror();
        tried += std::string(tried.empty() ? "" : "; ") + (reason ? reason : name);
    }
    if (!library) {
        loaded.failure = tried;
        return loaded;
    }
    auto resolve = [&](auto& slot, const char* symbol) {
        slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(dlsym(library, symbol));
        if (!slot && loaded.failure.empty()) loaded.failure = std::string("the library has no ") + symbol;
    };
    resolve(loaded.functions.dgemm, "cblas_dgemm");
    resolve(loaded.functions.sgemm, "cblas_sgemm");
    resolve(loaded.functions.dsyrk, "cblas_dsyrk");
    resolve(loaded.functions.ssyrk, "cblas_ssyrk");
    resolve(loaded.functions.dsyr2k, "cblas_dsyr2k");
    return loaded;
}

}  // namespace

const CblasFunctions& cblas() {
    static Loaded loaded;
    static std::once_flag once;
    std::call_once(once, [] { loaded = load(); });
    if (!loaded.failure.empty()) {
        throw Error(describe("cannot load BLAS", kLibraries[0], loaded.failure,
                             "install libopenblas0 (or libblas3), which .ci/setup installs"));
    }
    return loaded.functions;
}

}  // namespace scorekit
