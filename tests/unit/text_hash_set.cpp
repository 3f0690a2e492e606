// The dedup hash set and the binary hash file.
#include <catch2/catch.hpp>

#include <cstdio>
#include <map>
#include <random>
#include <vector>

#include "scorekit/error.hpp"
#include "scorekit/text/dedup.hpp"
#include "text_test_support.hpp"

using namespace scorekit::text;

TEST_CASE("hash set flags hashes seen in two documents", "[text][hashset]") {
    DedupHashSet set;
    set.add_document({1, 2, 2, 3});  // 2 repeats inside one document: not a duplicate
    set.add_document({3, 4});        // 3 is in two documents
    set.add_document({0, 0});        // the hash 0 is stored outside the table
    CHECK(set.size() == 5);
    CHECK_FALSE(set.is_duplicate(1));
    CHECK_FALSE(set.is_duplicate(2));
    CHECK(set.is_duplicate(3));
    CHECK_FALSE(set.is_duplicate(4));
    CHECK_FALSE(set.is_duplicate(0));
    CHECK_FALSE(set.contains(5));
    set.add_document({0});
    CHECK(set.is_duplicate(0));
}

TEST_CASE("hash set merge is cc_net's contains-or-flag", "[text][hashset]") {
    DedupHashSet set;
    set.merge(10, false);
    set.merge(11, true);
    set.merge(10, false);  // in two shards: duplicate
    set.merge(12, false);
    CHECK(set.is_duplicate(10));
    CHECK(set.is_duplicate(11));
    CHECK_FALSE(set.is_duplicate(12));
}

TEST_CASE("hash set grows and keeps every key", "[text][hashset]") {
    DedupHashSet set;
    std::uint64_t x = 88172645463325252ULL;
    std::vector<std::uint64_t> keys;
    for (int i = 0; i < 100000; ++i) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift64
        keys.push_back(x);
        set.merge(x, i % 3 == 0);
    }
    CHECK(set.size() == keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) REQUIRE(set.is_duplicate(keys[i]) == (i % 3 == 0));
    // Growth by doubling keeps the load between 0.4 and 0.8: at most about 20.3 bytes per hash.
    double per_hash = static_cast<double>(set.memory_bytes()) / set.size();
    CHECK(per_hash <= 8.125 / 0.4 + 0.1);
    DedupHashSet reserved;
    reserved.reserve(keys.size());
    for (std::uint64_t key : keys) reserved.merge(key, false);
    CHECK(static_cast<double>(reserved.memory_bytes()) / reserved.size() <= 8.125 / 0.8 + 0.1);
}

TEST_CASE("hash set documents match a reference model", "[text][hashset]") {
    // Random documents with repeats inside a document, across documents and of the hash 0, so
    // that the table grows in the middle of documents. They are checked against cc_net's rule,
    // computed with std::map: a hash is flagged when it was present before the document began.
    std::mt19937_64 rng(9);
    DedupHashSet set;
    std::map<std::uint64_t, bool> model;
    for (int document = 0; document < 3000; ++document) {
        std::vector<std::uint64_t> hashes(rng() % 40);
        for (std::uint64_t& hash : hashes) {
            const std::uint64_t pick = rng() % 4;
            if (pick == 0) {
                hash = rng() % 500;  // shared with other documents
            } else if (pick == 1) {
                hash = 0;
            } else {
                hash = rng() >> 1 | 1;  // fresh
            }
        }
        std::map<std::uint64_t, bool> before = model;
        for (std::uint64_t hash : hashes) model[hash] = model[hash] || before.count(hash);
        set.add_document(hashes);
        // Checked at once: the next growth would move a misplaced key to its right slot.
        for (std::uint64_t hash : hashes) {
            INFO("document " << document << ", hash " << hash);
            REQUIRE(set.contains(hash));
            REQUIRE(set.is_duplicate(hash) == model[hash]);
        }
    }
    CHECK(set.size() == model.size());
    for (const auto& [hash, flagged] : model) {
        INFO("hash " << hash);
        CHECK(set.contains(hash));
        CHECK(set.is_duplicate(hash) == flagged);
    }
}

TEST_CASE("hash file round trip and union", "[text][hashset]") {
    text_test::TempDir dir;
    DedupHashSet a, b;
    a.add_document({5, 6, 7});
    a.add_document({7});
    b.add_document({6, 8});
    write_hash_file(dir.file("a.bin"), a, 2, 4, 300);
    write_hash_file(dir.file("b.bin"), b, 1, 2, 300);

    HashFileHeader header = read_hash_file_header(dir.file("a.bin"));
    CHECK(header.version == 2);
    CHECK(header.count == 3);
    CHECK(header.documents == 2);
    CHECK(header.lines == 4);
    CHECK(header.min_length == 300);
    std::string bytes = text_test::read_file(dir.file("a.bin"));
    CHECK(bytes.size() == 48 + 3 * 8 + 1);
    CHECK(bytes.compare(0, 8, "SKCCHASH") == 0);
    CHECK(static_cast<unsigned char>(bytes[44]) == 300 % 256);  // --min-len, little-endian
    CHECK(static_cast<unsigned char>(bytes[45]) == 300 / 256);
    CHECK(static_cast<unsigned char>(bytes[48]) == 5);       // smallest hash first, little-endian
    CHECK(static_cast<unsigned char>(bytes[48 + 24]) == 4);  // flags: only hash 7 (index 2)

    DedupHashSet group;
    load_hash_file(dir.file("a.bin"), group);
    load_hash_file(dir.file("b.bin"), group);
    CHECK(group.size() == 4);
    CHECK_FALSE(group.is_duplicate(5));
    CHECK(group.is_duplicate(6));  // one document in each shard
    CHECK(group.is_duplicate(7));  // two documents of shard a
    CHECK_FALSE(group.is_duplicate(8));

    // A version 1 file (reserved 0 where version 2 keeps --min-len) loads the same hashes.
    std::string old = bytes;
    old[8] = 1;
    old[44] = old[45] = 0;
    text_test::write_file(dir.file("v1.bin"), old);
    HashFileHeader old_header = read_hash_file_header(dir.file("v1.bin"));
    CHECK(old_header.version == 1);
    CHECK(old_header.min_length == -1);
    DedupHashSet from_old;
    load_hash_file(dir.file("v1.bin"), from_old);
    CHECK(from_old.size() == 3);
    CHECK(from_old.is_duplicate(7));
}

TEST_CASE("damaged hash files are rejected", "[text][hashset]") {
    text_test::TempDir dir;
    DedupHashSet set;
    set.add_document({1, 2, 3});
    write_hash_file(dir.file("h.bin"), set, 1, 3, 0);
    std::string bytes = text_test::read_file(dir.file("h.bin"));

    std::string flipped = bytes;
    flipped.back() ^= 2;  // a flag bit
    text_test::write_file(dir.file("flipped.bin"), flipped);
    DedupHashSet target;
    CHECK_THROWS_WITH(load_hash_file(dir.file("flipped.bin"), target), Catch::Contains("CRC-32"));

    text_test::write_file(dir.file("short.bin"), bytes.substr(0, bytes.size() - 3));
    CHECK_THROWS_WITH(load_hash_file(dir.file("short.bin"), target), Catch::Contains("truncated"));

    // A count of 2^40 hashes (the uint64 at byte 16), which the reader allocated flag bits for
    // (128 GiB) before it compared the count with the file's size.
    std::string huge_count = bytes;
    for (int i = 0; i < 8; ++i) huge_count[16 + i] = i == 5 ? 1 : 0;  // little-endian 2^40
    text_test::write_file(dir.file("huge_count.bin"), huge_count);
    CHECK_THROWS_WITH(load_hash_file(dir.file("huge_count.bin"), target), Catch::Contains("truncated"));

    std::string version = bytes;
    version[8] = 9;
    text_test::write_file(dir.file("version.bin"), version);
    CHECK_THROWS_WITH(read_hash_file_header(dir.file("version.bin")), Catch::Contains("version 9"));

    text_test::write_file(dir.file("text.bin"), "not a hash file at all, just some text here......");
    CHECK_THROWS_AS(read_hash_file_header(dir.file("text.bin")), scorekit::Error);
}
