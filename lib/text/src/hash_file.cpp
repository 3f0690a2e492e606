// Reading and writing the versioned binary hash file (layout in dedup.hpp).
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <memory>

#include "scorekit/atomic_file.hpp"
#include "scorekit/error.hpp"
#include "scorekit/text/dedup.hpp"

namespace scorekit::text {
namespace {

constexpr char kMagic[8] = {'S', 'K', 'C', 'C', 'H', 'A', 'S', 'H'};
constexpr std::size_t kChunk = 1 << 16;

struct FileCloser {
    void operator()(std::FILE* file) const { std::fclose(file); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

void put_u32(unsigned char* at, std::uint32_t value) {
    for (int i = 0; i < 4; ++i) at[i] = static_cast<unsigned char>(value >> (8 * i));
}
void put_u64(unsigned char* at, std::uint64_t value) {
    for (int i = 0; i < 8; ++i) at[i] = static_cast<unsigned char>(value >> (8 * i));
}
std::uint32_t get_u32(const unsigned char* at) {
    std::uint32_t value = 0;
    for (int i = 3; i >= 0; --i) value = (value << 8) | at[i];
    return value;
}
std::uint64_t get_u64(const unsigned char* at) {
    std::uint64_t value = 0;
    for (int i = 7; i >= 0; --i) value = (value << 8) | at[i];
    return value;
}

void write_all(std::FILE* file, const void* data, std::size_t size, const std::string& path) {
    if (std::fwrite(data, 1, size, file) != size) {
        throw Error(describe("cannot write hash file", path, std::strerror(errno), "check free disk space"));
    }
}

Error damaged(const std::string& path, const std::string& reason) {
    return Error(describe("invalid hash file", path, reason,
                          "run 'ccnet-filter hash' again for this shard"));
}

File open_for_reading(const std::string& path) {
    File file(std::fopen(path.c_str(), "rb"));
    if (!file) throw Error(describe("cannot open hash file", path, std::strerror(errno), "check the path"));
    return file;
}

HashFileHeader parse_header(std::FILE* file, const std::string& path) {
    unsigned char raw[kHashFileHeaderSize];
    if (std::fread(raw, 1, sizeof raw, file) != sizeof raw) throw damaged(path, "shorter than its header");
    if (std::memcmp(raw, kMagic, 8) != 0) throw damaged(path, "no SKCCHASH magic bytes");
    HashFileHeader header;
    header.version = get_u32(raw + 8);
    if (header.version != 1 && header.version != kHashFileVersion) {
        throw Error(describe("unsupported hash file version", path,
                             "version " + std::to_string(header.version) + ", this build reads versions 1 to " +
                                 std::to_string(kHashFileVersion),
                             "rerun 'ccnet-filter hash' with this version"));
    }
    if (get_u32(raw + 12) != kHashFileHeaderSize) throw damaged(path, "unexpected header size");
    header.count = get_u64(raw + 16);
    header.documents = get_u64(raw + 24);
    header.lines = get_u64(raw + 32);
    header.crc32 = get_u32(raw + 40);
    if (header.version >= 2) header.min_length = get_u32(raw + 44);
    return header;
}

}  // namespace

void write_hash_file(const std::string& path, const DedupHashSet& set, std::uint64_t documents,
                     std::uint64_t lines, int min_length) {
    std::vector<std::uint64_t> hashes;
    std::vector<bool> flags;
    set.sorted_entries(hashes, flags);

    std::vector<unsigned char> keys(hashes.size() * 8);
    for (std::size_t i = 0; i < hashes.size(); ++i) put_u64(keys.data() + 8 * i, hashes[i]);
    std::vector<unsigned char> bits((hashes.size() + 7) / 8, 0);
    for (std::size_t i = 0; i < flags.size(); ++i) {
        if (flags[i]) bits[i >> 3] |= static_cast<unsigned char>(1u << (i & 7));
    }
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32_z(crc, keys.data(), keys.size());
    crc = crc32_z(crc, bits.data(), bits.size());

    unsigned char header[kHashFileHeaderSize] = {};
    std::memcpy(header, kMagic, 8);
    put_u32(header + 8, kHashFileVersion);
    put_u32(header + 12, kHashFileHeaderSize);
    put_u64(header + 16, hashes.size());
    put_u64(header + 24, documents);
    put_u64(header + 32, lines);
    put_u32(header + 40, static_cast<std::uint32_t>(crc));
    put_u32(header + 44, static_cast<std::uint32_t>(min_length));

    AtomicFile output(path);
    File file(std::fopen(output.temporary_path().c_str(), "wb"));
    if (!file) throw Error(describe("cannot create hash file", path, std::strerror(errno), "check the directory"));
    write_all(file.get(), header, sizeof header, path);
    write_all(file.get(), keys.data(), keys.size(), path);
    write_all(file.get(), bits.data(), bits.size(), path);
    if (std::fflush(file.get()) != 0 || std::ferror(file.get()) || std::fclose(file.release()) != 0) {
        throw Error(describe("cannot write hash file", path, std::strerror(errno), "check free disk space"));
    }
    output.commit();
}

HashFileHeader read_hash_file_header(const std::string& path) {
    File file = open_for_reading(path);
    return parse_header(file.get(), path);
}

HashFileHeader load_hash_file(const std::string& path, DedupHashSet& set) {
    File file = open_for_reading(path);
    HashFileHeader header = parse_header(file.get(), path);

    // The count is checked against the file's size before anything is allocated from it, which
    // also keeps the offsets below from wrapping around.
    if (fseeko(file.get(), 0, SEEK_END) != 0) throw damaged(path, "cannot seek");
    const auto file_size = static_cast<std::uint64_t>(ftello(file.get()));
    if (header.count > file_size / 8) throw damaged(path, "truncated: fewer bytes than its header announces");

    // The flags (n/8 bytes) are read first so that the keys can be merged while streaming.
    std::vector<unsigned char> bits((header.count + 7) / 8);
    off_t flags_at = static_cast<off_t>(kHashFileHeaderSize + 8 * header.count);
    if (fseeko(file.get(), flags_at, SEEK_SET) != 0 ||
        std::fread(bits.data(), 1, bits.size(), file.get()) != bits.size()) {
        throw damaged(path, "truncated: fewer bytes than its header announces");
    }
    if (std::fgetc(file.get()) != EOF) throw damaged(path, "trailing bytes after the flag bits");
    if (fseeko(file.get(), static_cast<off_t>(kHashFileHeaderSize), SEEK_SET) != 0) {
        throw damaged(path, "cannot seek");
    }

    uLong crc = crc32(0L, Z_NULL, 0);
    std::vector<unsigned char> buffer(kChunk * 8);
    std::uint64_t previous = 0;
    for (std::uint64_t done = 0; done < header.count;) {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, header.count - done));
        if (std::fread(buffer.data(), 8, n, file.get()) != n) throw damaged(path, "truncated hash list");
        crc = crc32_z(crc, buffer.data(), n * 8);
        for (std::size_t i = 0; i < n; ++i) {
            std::uint64_t key = get_u64(buffer.data() + 8 * i);
            std::uint64_t index = done + i;
            if (index > 0 && key <= previous) throw damaged(path, "hashes not in ascending order");
            previous = key;
            set.merge(key, (bits[index >> 3] >> (index & 7)) & 1);
        }
        done += n;
    }
    crc = crc32_z(crc, bits.data(), bits.size());
    // NOTE: the CRC is known only after merging; a damaged file fails the run, so the partly
    // merged set is never used.
    if (static_cast<std::uint32_t>(crc) != header.crc32) throw damaged(path, "CRC-32 mismatch");
    return header;
}

}  // namespace scorekit::text
