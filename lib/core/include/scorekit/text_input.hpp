// Line-oriented input from a file or standard input, gzip detected by its magic bytes.
#pragma once

#include <cstdint>
#include <cstddef>
#include <string>

namespace scorekit {

class LineReader {
public:
    // Opens `path` (`-` = standard input). Throws Error if it cannot be opened and UsageError
    // if standard input is an interactive terminal (the tool would otherwise wait silently).
    explicit LineReader(const std::string& path);
    ~LineReader();
    LineReader(const LineReader&) = delete;
    LineReader& operator=(const LineReader&) = delete;

    // Reads the next line without its line ending (LF or CRLF), and the first line without a
    // UTF-8 byte order mark. Returns false at end of input. Throws Error on a read error or a
    // truncated gzip stream.
    bool next(std::string& line);

    // 1-based number of the line last returned.
    std::uint64_t line_number() const { return line_number_; }
    const std::string& name() const { return name_; }

private:
    void* file_ = nullptr;  // gzFile, kept opaque so that zlib.h stays out of this header
    std::string name_;
    std::uint64_t line_number_ = 0;
};

// True for a regular file, false for a pipe, device, directory or missing path.
bool is_regular_file(const std::string& path);

// Whether `path` exists and is a FIFO, socket or device: a file that cannot be read by seeking,
// and whose opening (a FIFO without a writer) can block.
bool is_pipe_or_device(const std::string& path);

// True if the regular file `path` starts with the `size` bytes of `magic`. False for a pipe,
// device or directory, so that sniffing a pipe does not consume its first bytes.
bool file_starts_with(const std::string& path, const void* magic, std::size_t size);

// True if the file starts with the gzip magic bytes 1f 8b. False for anything but a regular file,
// so that sniffing a pipe does not consume its first bytes.
bool has_gzip_magic(const std::string& path);

// True if the file starts with the zip magic bytes "PK\3\4", as TorchScript archives do. False for
// anything but a regular file.
bool has_zip_magic(const std::string& path);

}  // namespace scorekit
