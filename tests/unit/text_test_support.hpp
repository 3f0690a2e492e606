// Helpers shared by the text-layer unit tests: fixture paths, temporary directories, gzip.
#pragma once

#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace text_test {

inline std::string fixture(const std::string& name) { return std::string(SCOREKIT_TEXT_FIXTURES) + "/" + name; }

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

inline void write_file(const std::string& path, const std::string& data) {
    std::ofstream out(path, std::ios::binary);
    out << data;
    if (!out) throw std::runtime_error("cannot write " + path);
}

// A fresh directory under $TMPDIR, removed when the object goes away.
class TempDir {
public:
    TempDir() {
        const char* base = std::getenv("TMPDIR");
        std::string pattern = std::string(base ? base : "/tmp") + "/scorekit-text-test.XXXXXX";
        std::vector<char> buffer(pattern.begin(), pattern.end());
        buffer.push_back('\0');
        if (!mkdtemp(buffer.data())) throw std::runtime_error("mkdtemp failed");
        path_ = buffer.data();
    }
    ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
    std::string file(const std::string& name) const { return path_ + "/" + name; }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// One complete gzip member holding `data`.
inline std::string gzip_member(const std::string& data) {
    z_stream stream{};
    deflateInit2(&stream, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    std::string out(deflateBound(&stream, data.size()) + 32, '\0');
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    stream.avail_in = static_cast<uInt>(data.size());
    stream.next_out = reinterpret_cast<Bytef*>(&out[0]);
    stream.avail_out = static_cast<uInt>(out.size());
    deflate(&stream, Z_FINISH);
    out.resize(stream.total_out);
    deflateEnd(&stream);
    return out;
}

// Decompresses a whole gzip file (all members).
inline std::string gunzip_file(const std::string& path) {
    gzFile file = gzopen(path.c_str(), "rb");
    if (!file) throw std::runtime_error("cannot open " + path);
    std::string out;
    char buffer[65536];
    int n;
    while ((n = gzread(file, buffer, sizeof buffer)) > 0) out.append(buffer, static_cast<std::size_t>(n));
    gzclose(file);
    return out;
}

// A WET record with CRLF headers, as Common Crawl writes them; `extra_headers` are full lines.
inline std::string wet_record(const std::string& url, const std::string& body, const std::string& date = "2024-05-18T01:58:10Z",
                              long content_length = -1, const std::string& extra_headers = "") {
    std::string out = "WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: " + url + "\r\nWARC-Date: " + date +
                      "\r\nWARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-000000000000>\r\n"
                      "WARC-Block-Digest: sha1:AAAA\r\n" + extra_headers + "Content-Type: text/plain\r\n" +
                      "Content-Length: " + std::to_string(content_length < 0 ? static_cast<long>(body.size()) : content_length) +
                      "\r\n\r\n" + body + "\r\n\r\n";
    return out;
}

}  // namespace text_test
