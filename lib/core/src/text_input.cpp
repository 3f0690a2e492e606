#include "scorekit/text_input.hpp"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "scorekit/error.hpp"

namespace scorekit {

LineReader::LineReader(const std::string& path) : name_(path == "-" ? "standard input" : path) {
    gzFile file;
    if (path == "-") {
        if (isatty(STDIN_FILENO)) {
            throw UsageError("no input: standard input is a terminal; give an input file or pipe data in");
        }
        file = gzdopen(dup(STDIN_FILENO), "rb");
    } else {
        // gzopen opens a directory and fails only at the first read, with a misleading message.
        struct stat status {};
        if (stat(path.c_str(), &status) == 0 && S_ISDIR(status.st_mode)) {
            throw Error(describe("cannot read", path, "it is a directory", "give a file"));
        }
        file = gzopen(path.c_str(), "rb");
    }
    if (!file) throw Error(describe("cannot open", path, std::strerror(errno), "check the path"));
    gzbuffer(file, 1 << 17);
    file_ = file;
}

LineReader::~LineReader() {
    if (file_) gzclose(static_cast<gzFile>(file_));
}

bool LineReader::next(std::string& line) {
    auto file = static_cast<gzFile>(file_);
    line.clear();
    char buffer[8192];
    bool any = false;
    for (z_off_t start = gztell(file); gzgets(file, buffer, sizeof buffer); start = gztell(file)) {
        any = true;
        // gzgets copies NUL bytes too, so the length is the count of bytes read, not strlen, which
        // would drop the rest of the line after a NUL and join it to the next line.
        const z_off_t end = gztell(file);
        size_t length = std::strlen(buffer);
        if (start >= 0 && end > start && end - start < static_cast<z_off_t>(sizeof buffer)) length = end - start;
        line.append(buffer, length);
        if (length && buffer[length - 1] == '\n') break;
    }
    // zlib reports input that ends inside a gzip stream as Z_BUF_ERROR, possibly after handing
    // out the partial last line, so the check comes before that line is returned. zlib inflates
    // ahead of the lines handed out, so the error can come before lines that were decompressed,
    // and the message gives no line number.
    int code = 0;
    const char* message = gzerror(file, &code);
    if (code == Z_BUF_ERROR) {
        throw Error(describe("cannot read", name_, "unexpected end of gzip data",
                             "the file is truncated; recompress or download it again"));
    }
    if (code != Z_OK) {
        throw Error(describe("cannot read", name_, message, "the file may be truncated or corrupt"));
    }
    if (!any) return false;
    if (!line.empty() && line.back() == '\n') line.pop_back();
    if (!line.empty() && line.back() == '\r') line.pop_back();
    ++line_number_;
    // Windows editors, Excel's "CSV UTF-8" and Python's utf-8-sig start a UTF-8 file with a byte
    // order mark, which would otherwise become part of the first word, name or number.
    if (line_number_ == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    return true;
}

bool is_regular_file(const std::string& path) {
    struct stat info{};
    return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

bool is_pipe_or_device(const std::string& path) {
    struct stat info {};
    return ::stat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode) && !S_ISDIR(info.st_mode);
}

bool file_starts_with(const std::string& path, const void* magic, std::size_t size) {
    if (!is_regular_file(path)) return false;
    FILE* file = std::fopen(path.c_str(), "rb");
    if (!file) return false;
    std::vector<unsigned char> head(size);
    const std::size_t got = std::fread(head.data(), 1, size, file);
    std::fclose(file);
    return got == size && std::memcmp(head.data(), magic, size) == 0;
}

bool has_gzip_magic(const std::string& path) { return file_starts_with(path, "\x1f\x8b", 2); }

bool has_zip_magic(const std::string& path) { return file_starts_with(path, "PK\3\4", 4); }

}  // namespace scorekit
