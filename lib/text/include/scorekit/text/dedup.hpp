// Paragraph hashes for cc_net's deduplication and the set that stores them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace scorekit::text {

// First 8 bytes of the SHA-1 digest of `bytes`, read as a little-endian integer (cc_net's
// str_hash). Hash a line with line_hash(), which normalises it first.
std::uint64_t sha1_prefix64(std::string_view bytes);

// cc_net's paragraph hash: sha1_prefix64(normalize_for_dedup(line)). `scratch` is reused
// between calls to avoid allocations. Input must be valid UTF-8.
std::uint64_t line_hash(std::string_view line, std::string& scratch);

// Hashes of every line of `text` split on "\n" (Python's str.split("\n"), so an empty text gives
// one hash, that of the empty line). The lines are normalised first and then hashed together,
// several at a time.
void hash_lines(std::string_view text, std::vector<std::uint64_t>& hashes);

// A set of 64-bit hashes, each with a flag "seen in two or more documents". Open addressing with
// linear probing over a flat array of 8-byte keys plus a bit array of flags, so a slot costs
// 8.125 bytes. At the maximum load factor of 0.8 that is about 10.2 bytes per hash.
// Keys are SHA-1 prefixes, uniformly distributed, so the slot is taken from the key itself.
// Not thread-safe for writes; concurrent lookups are safe once writing has finished.
class DedupHashSet {
public:
    DedupHashSet() = default;

    // Makes room for `count` hashes in total without further growth.
    void reserve(std::size_t count);

    // Adds the hashes of one document: a hash already present from an earlier document gets its
    // flag set, repeats inside `hashes` do not (cc_net's HashesCollector).
    void add_document(const std::uint64_t* hashes, std::size_t count);
    void add_document(const std::vector<std::uint64_t>& hashes) { add_document(hashes.data(), hashes.size()); }

    // Merges one entry of another set: a hash present in both gets the flag; a new one keeps
    // `flag` (cc_net's FlatHashSet.merge).
    void merge(std::uint64_t hash, bool flag);

    // Returns true if the hash is in the set with its flag set (a line to remove).
    bool is_duplicate(std::uint64_t hash) const;
    bool contains(std::uint64_t hash) const;

    // Starts loading the slot of `hash` into the cache: lookups of a document's lines are random
    // reads from a table much larger than the cache, so callers prefetch a few lines ahead.
    void prefetch(std::uint64_t hash) const {
        if (capacity_) __builtin_prefetch(keys_.data() + slot_of(hash));
    }

    std::size_t size() const { return size_; }
    std::size_t capacity() const { return capacity_; }

    // Bytes held by the table (keys and flags).
    std::size_t memory_bytes() const;

    // All entries sorted by hash.
    void sorted_entries(std::vector<std::uint64_t>& hashes, std::vector<bool>& flags) const;

private:
    std::size_t slot_of(std::uint64_t hash) const {
        return static_cast<std::size_t>((static_cast<unsigned __int128>(hash) * capacity_) >> 64);
    }
    // Returns the slot of `hash`, or of the empty slot where it would go.
    std::size_t find_slot(std::uint64_t hash) const;
    void rehash(std::size_t new_capacity);
    bool flag_at(std::size_t slot) const { return (flags_[slot >> 6] >> (slot & 63)) & 1; }
    void set_flag(std::size_t slot) { flags_[slot >> 6] |= std::uint64_t(1) << (slot & 63); }
    // Inserts or finds `hash`; returns its slot and sets `inserted`.
    std::size_t insert(std::uint64_t hash, bool& inserted);
    static constexpr std::size_t kNoSlot = ~std::size_t(0);

    // Slot value 0 marks an empty slot, so the hash 0 lives outside the table.
    std::vector<std::uint64_t> keys_;
    std::vector<std::uint64_t> flags_;
    std::size_t capacity_ = 0;
    std::size_t size_ = 0;
    bool has_zero_ = false;
    bool zero_flag_ = false;
};

// The binary hash file written by `ccnet-filter hash` (format version 2, little-endian):
//   offset  size  field
//   0       8     magic "SKCCHASH"
//   8       4     format version (2, and version 1 files, whose field at 44 is 0, are read too)
//   12      4     header size in bytes (48)
//   16      8     number of hashes n
//   24      8     number of documents hashed
//   32      8     number of lines hashed
//   40      4     CRC-32 (zlib) of the payload: keys, then flag bytes
//   44      4     --min-len of the run: documents with fewer code points were not hashed
//   48      8n    hashes, uint64, strictly ascending
//   48+8n   ceil(n/8)  flags, bit i (least significant bit first) set when hash i occurs in two
//                      or more documents of the shard
struct HashFileHeader {
    std::uint32_t version = 2;
    std::uint64_t count = 0;
    std::uint64_t documents = 0;
    std::uint64_t lines = 0;
    std::uint32_t crc32 = 0;
    std::int64_t min_length = -1;  // -1 in a version 1 file, which does not record it
};

constexpr std::uint32_t kHashFileVersion = 2;
constexpr std::size_t kHashFileHeaderSize = 48;

// Writes `set` to `path` under a temporary name, renamed to `path` when complete. Throws Error
// naming `path` on I/O failure.
void write_hash_file(const std::string& path, const DedupHashSet& set, std::uint64_t documents,
                     std::uint64_t lines, int min_length);

// Reads and checks the header of a hash file. Throws Error if it is not a valid hash file.
HashFileHeader read_hash_file_header(const std::string& path);

// Merges the hashes of the file into `set`, checking the CRC-32. Throws Error on a damaged file.
HashFileHeader load_hash_file(const std::string& path, DedupHashSet& set);

}  // namespace scorekit::text
