// Internal: read-only memory maps of model files (fastText, KenLM binaries).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace scorekit::text {

// A file mapped read-only. Pages are shared with the page cache, so mapping a 128 MB model
// allocates and zeroes no memory of its own.
class MappedFile {
public:
    // Returns null where the file cannot be mapped (a pipe, say); the caller then reads it.
    static std::unique_ptr<MappedFile> open(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const unsigned char* data() const { return data_; }
    std::size_t size() const { return size_; }

private:
    MappedFile(const unsigned char* data, std::size_t size) : data_(data), size_(size) {}
    const unsigned char* data_;
    std::size_t size_;
};

}  // namespace scorekit::text
