// The `hash` fast path against the reference path: SHA-1 (SHA-NI lanes and portable) against
// OpenSSL, the one-pass line scan against strip + normalize_for_dedup, and hash_record()
// against record_to_document() + hash_lines() on random bodies full of faults.
#define OPENSSL_API_COMPAT 0x10100000L
#include <openssl/sha.h>

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "record_hashes.hpp"
#include "scorekit/text/dedup.hpp"
#include "scorekit/text/document.hpp"
#include "scorekit/text/unicode.hpp"
#include "sha1.hpp"

using namespace scorekit::text;

namespace {

std::uint64_t openssl_prefix64(const std::string& bytes) {
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
    std::uint64_t value = 0;
    for (int i = 7; i >= 0; --i) value = (value << 8) | digest[i];
    return value;
}

std::vector<std::uint64_t> padded_hashes(const std::vector<std::string>& messages, Sha1Backend backend) {
    std::vector<std::vector<unsigned char>> buffers;
    std::vector<const unsigned char*> pointers;
    std::vector<std::size_t> sizes;
    for (const std::string& message : messages) {
        buffers.emplace_back(message.begin(), message.end());
        buffers.back().resize(message.size() + kSha1PadRoom);
    }
    for (std::size_t i = 0; i < messages.size(); ++i) {
        sizes.push_back(sha1_pad(buffers[i].data(), messages[i].size()));
        pointers.push_back(buffers[i].data());
    }
    std::vector<std::uint64_t> out(messages.size());
    sha1_prefix64_padded(pointers.data(), sizes.data(), messages.size(), out.data(), backend);
    return out;
}

// Pieces that random lines and bodies are glued from. They cover ASCII words and digits, the
// scripts that the SIMD run copies and others, every kind of whitespace and line end, the
// deleted punctuation, final sigma, U+0130, control bytes and ill-formed UTF-8.
const std::vector<std::string>& pieces() {
    static const std::vector<std::string> all = {
        "word", "Word", "UPPER", "x", "2019", " ", "  ", "\t", ".", ",", "!", "-", "(", "'", "\"",
        "é", "ä", "ß", "ÿ", "×", "É", "À", "Ä",                    // Latin-1: lowercase copied, uppercase lowered
        "привет", "мир", "ёж", "Привет", "МИР", "Ё", "ѐ", "Ѡѡ",     // Cyrillic
        "中文", "漢字", "一", "鿿", "㐀", "，", "。", "、", "「", "」",  // CJK and its punctuation
        "αβγ", "ΟΔΥΣΣΕΥΣ", "Σ", "ς", "ΣΑ Σ.", "İ", "ǅ", "Ⱥ",        // Greek, sigma, special lowercase
        "١٢٣", "٣", "\u0966", "\U0001D7CE", "\U0001F600",            // Nd digits, 4-byte code points
        "\u00A0", "\u3000", "\u2003", "\u0085", "\u2028", "\u200B", "\u00AD",  // spaces and format characters
        "\u0080", "\u009F", "—", "–", "…", "’", "“", "”", "«", "»", "％", "►",
        "\n", "\r", "\r\n", "\n\n", "\r\r\n",
        "\x01", "\x7F", "\x0B", "\x0C", "\x1C", "\x1F", "\0",       // control bytes
        "\xFF", "\xC0\xAF", "\xE0\x80\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xC3", "\xE4\xB8", "\x80",
    };
    return all;
}

std::string random_text(std::mt19937& rng, std::size_t pieces_count, bool clean) {
    const auto& all = pieces();
    std::string text;
    for (std::size_t i = 0; i < pieces_count; ++i) {
        const std::string& piece = all[rng() % all.size()];
        bool control = piece.size() == 1 && (static_cast<unsigned char>(piece[0]) < 0x20 || piece[0] == 0x7F) &&
                       piece != "\t" && piece != "\n" && piece != "\r";
        bool invalid = !is_valid_utf8(piece);
        if (clean && (control || invalid || piece.find_first_of("\r\n") != std::string::npos)) continue;
        text += piece;
    }
    return text;
}

}  // namespace

TEST_CASE("SHA-1 of every length from 0 to 300 equals OpenSSL", "[text][sha1]") {
    std::mt19937 rng(7);
    std::vector<std::string> messages;
    for (std::size_t length = 0; length <= 300; ++length) {
        std::string message(length, '\0');
        for (char& c : message) c = static_cast<char>(rng());
        messages.push_back(message);
    }
    std::vector<std::uint64_t> portable = padded_hashes(messages, Sha1Backend::portable);
    std::vector<std::uint64_t> automatic = padded_hashes(messages, Sha1Backend::automatic);
    for (std::size_t i = 0; i < messages.size(); ++i) {
        INFO("length " << i);
        CHECK(portable[i] == openssl_prefix64(messages[i]));
        CHECK(automatic[i] == openssl_prefix64(messages[i]));
    }
}

TEST_CASE("SHA-1 lanes equal OpenSSL in any order", "[text][sha1]") {
    struct Backend {
        Sha1Backend backend;
        bool present;
        const char* name;
    };
    for (Backend b : {Backend{Sha1Backend::sha_ni, cpu_has_sha_ni(), "SHA-NI"},
                      Backend{Sha1Backend::avx512, cpu_has_avx512(), "AVX-512"}}) {
        INFO(b.name);
        if (!b.present) {
            WARN(b.name << " is not available on this CPU: only its rejection is tested");
            CHECK_THROWS(padded_hashes({"x"}, b.backend));
            continue;
        }
        // Mixed lengths, so that lanes finish at different blocks and take new messages
        // mid-batch, and batch sizes that leave idle lanes at the end.
        std::mt19937 rng(11);
        for (std::size_t count : {1u, 3u, 8u, 9u, 17u, 33u, 200u}) {
            std::vector<std::string> messages;
            for (std::size_t i = 0; i < count; ++i) {
                std::string message(rng() % 260, '\0');
                for (char& c : message) c = static_cast<char>(rng());
                messages.push_back(message);
            }
            std::vector<std::uint64_t> hashes = padded_hashes(messages, b.backend);
            for (std::size_t i = 0; i < count; ++i) {
                INFO("batch of " << count << ", message " << i << " of " << messages[i].size() << " bytes");
                CHECK(hashes[i] == openssl_prefix64(messages[i]));
            }
        }
    }
}

TEST_CASE("SHA-1 reference vectors on every backend", "[text][sha1]") {
    // FIPS 180-4 examples: SHA-1("abc") = a9993e36 4706816a ..., and the 448-bit message.
    std::vector<std::string> messages = {"abc", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", ""};
    std::vector<std::uint64_t> expected = {0x6a810647363e99a9ULL, 0x6ed23b1c443e9884ULL, 0x0d4b6b5eeea339daULL};
    CHECK(padded_hashes(messages, Sha1Backend::portable) == expected);
    CHECK(padded_hashes(messages, Sha1Backend::automatic) == expected);
    if (cpu_has_sha_ni()) CHECK(padded_hashes(messages, Sha1Backend::sha_ni) == expected);
    if (cpu_has_avx512()) CHECK(padded_hashes(messages, Sha1Backend::avx512) == expected);
    CHECK(sha1_prefix64("") == 957977401221134810ULL);  // DESIGN's vector for the empty line
}

TEST_CASE("line scan equals strip and normalize_for_dedup", "[text][dedup]") {
    std::mt19937 rng(3);
    std::vector<char> out;
    for (int trial = 0; trial < 20000; ++trial) {
        std::string line = random_text(rng, rng() % 40, true);
        // Each line ends in LF, in CRLF followed by more text, or at the end of the body.
        static const char* const kEndings[] = {"\n", "\r\nnext", ""};
        static const std::size_t kEndingSizes[] = {1, 2, 0};
        std::string body = line + kEndings[trial % 3];
        out.assign(2 * body.size() + 16, '\0');
        DedupLineScan scan;
        INFO("line \"" << line << "\"");
        REQUIRE(scan_dedup_line(body.data(), body.data() + body.size(), out.data(), scan));
        std::string expected;
        normalize_for_dedup(line, expected);
        std::string_view stripped = strip_whitespace(line);
        CHECK(std::string(out.data(), scan.size) == expected);
        CHECK(scan.code_points == count_code_points(stripped));
        CHECK(scan.blank == stripped.empty());
        CHECK(scan.text == (line.find_first_not_of(" \t") != std::string::npos));
        CHECK(scan.next == line.size() + kEndingSizes[trial % 3]);
    }
}

TEST_CASE("line scan rejects control bytes and invalid UTF-8", "[text][dedup]") {
    std::vector<char> out(256);
    DedupLineScan scan;
    for (std::string line : {"ab\x01" "cd", "abc\x7F", "\xFF", "abc\xC3", "x\xED\xA0\x80y", "\x0B text",
                             "a long ASCII line of text before the bad byte \x1F"}) {
        INFO("line \"" << line << "\"");
        CHECK_FALSE(scan_dedup_line(line.data(), line.data() + line.size(), out.data(), scan));
    }
}

TEST_CASE("hash_record equals record_to_document and hash_lines", "[text][dedup]") {
    std::mt19937 rng(5);
    for (int trial = 0; trial < 4000; ++trial) {
        WarcRecord record;
        record.type = trial % 50 == 0 ? "response" : "conversion";
        record.url = trial % 61 == 0 ? "" : "http://example.com/" + std::to_string(trial);
        record.date = "2019-03-18T13:22:20Z";
        record.content_length = trial % 71 == 0 ? 0 : 1000;
        bool clean = trial % 4 != 0;
        std::string body;
        std::size_t lines = rng() % 12;
        for (std::size_t i = 0; i < lines; ++i) {
            body += random_text(rng, rng() % 12, clean);
            if (i % 5 == 4) {
                body += "\r\n";
            } else if (i % 7 == 6) {
                body += "\r";
            } else {
                body += "\n";
            }
        }
        if (trial % 3 == 0) body += "\r\n\r\n";  // the WARC record separator
        if (trial % 97 == 0) body = " \t\r\n  \n";
        int min_length = trial % 2 ? 0 : 40;

        ReaderFaults faults_fast, faults_reference;
        ReadCounts counts_fast, counts_reference;
        std::vector<std::uint64_t> hashes_fast;
        bool kept = hash_record(record, body, "file", min_length, faults_fast, counts_fast, hashes_fast);

        RecordBatch batch;
        batch.records.push_back(record);
        batch.bodies.push_back(body);
        std::vector<Document> documents;
        records_to_documents(batch, {"file"}, min_length, faults_reference, documents, counts_reference);
        std::vector<std::uint64_t> hashes_reference;
        if (!documents.empty()) hash_lines(documents[0].raw_content, hashes_reference);

        INFO("trial " << trial << ", body \"" << body << "\"");
        CHECK(kept == !documents.empty());
        CHECK(hashes_fast == hashes_reference);
        CHECK(counts_fast.records == counts_reference.records);
        CHECK(counts_fast.documents == counts_reference.documents);
        CHECK(counts_fast.short_documents == counts_reference.short_documents);
        CHECK(counts_fast.lines == counts_reference.lines);
        CHECK(counts_fast.chars == counts_reference.chars);
        CHECK(faults_fast.invalid_utf8_sequences == faults_reference.invalid_utf8_sequences);
        CHECK(faults_fast.control_character_records == faults_reference.control_character_records);
        CHECK(faults_fast.empty_body == faults_reference.empty_body);
        CHECK(faults_fast.missing_headers == faults_reference.missing_headers);
        CHECK(faults_fast.binary_records == faults_reference.binary_records);
    }
}
