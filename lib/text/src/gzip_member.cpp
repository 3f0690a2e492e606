// Whole-buffer gzip compression of the JSON Lines output.
#include <libdeflate.h>

#include <map>
#include <memory>

#include "scorekit/error.hpp"
#include "shard_input.hpp"

namespace scorekit::text {
namespace {

struct CompressorDeleter {
    void operator()(libdeflate_compressor* compressor) const { libdeflate_free_compressor(compressor); }
};
using Compressor = std::unique_ptr<libdeflate_compressor, CompressorDeleter>;

// One compressor per thread and level: allocating one costs more than compressing a small batch.
libdeflate_compressor* compressor_for(int level) {
    thread_local std::map<int, Compressor> compressors;
    Compressor& compressor = compressors[level];
    if (!compressor) {
        compressor.reset(libdeflate_alloc_compressor(level));
        if (!compressor) {
            throw Error(describe("cannot compress output", "level " + std::to_string(level),
                                 "libdeflate could not allocate a compressor", "check free memory"));
        }
    }
    return compressor.get();
}

}  // namespace

std::string gzip_member(const std::string& data, int level) {
    libdeflate_compressor* compressor = compressor_for(level);
    std::string out(libdeflate_gzip_compress_bound(compressor, data.size()), '\0');
    std::size_t size = libdeflate_gzip_compress(compressor, data.data(), data.size(), &out[0], out.size());
    // libdeflate documents gzip_compress_bound() as the worst case, so 0 (no room) means a
    // libdeflate fault.
    if (size == 0) throw Error("cannot compress output: libdeflate found no room in a buffer of its own bound");
    out.resize(size);
    return out;
}

}  // namespace scorekit::text
