// The vectorised token scan and the short loads of the language identifier's token cache,
// checked against plain byte-by-byte code on random text.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "fasttext_tokens.hpp"

using namespace scorekit::text;

namespace {

// Dictionary::getLine's split, one byte at a time.
std::vector<std::string> plain_tokens(const std::string& text) {
    std::vector<std::string> tokens;
    std::string token;
    for (char c : text) {
        if (is_token_separator(c)) {
            if (!token.empty()) tokens.push_back(token);
            token.clear();
        } else {
            token += c;
        }
    }
    if (!token.empty()) tokens.push_back(token);
    tokens.push_back(fasttext::Dictionary::EOS);
    return tokens;
}

std::vector<std::string> scanned_tokens(const std::string& text) {
    std::vector<std::string> tokens;
    for_each_token(text, [&](std::string_view token) { tokens.emplace_back(token); });
    return tokens;
}

}  // namespace

TEST_CASE("token scan matches fastText getLine", "[text][lid]") {
    // Every byte value, with separators and their neighbours (0x08, 0x0E, 0x1F, 0x21) and
    // bytes above 0x7F made frequent, at lengths around the 16-byte steps.
    const std::string frequent("\x20\x09\x0A\x0B\x0C\x0D\x00\x08\x0E\x1F\x21\x80\xE4\xFFx", 15);
    std::mt19937 rng(7);
    for (int round = 0; round < 2000; ++round) {
        const std::size_t size = static_cast<std::size_t>(round % 70);
        std::string text;
        for (std::size_t i = 0; i < size; ++i) {
            text += rng() % 2 ? frequent[rng() % frequent.size()] : static_cast<char>(rng() % 256);
        }
        INFO("round " << round << ", " << size << " bytes");
        REQUIRE(scanned_tokens(text) == plain_tokens(text));
    }
    CHECK(scanned_tokens("") == std::vector<std::string>{fasttext::Dictionary::EOS});
    CHECK(scanned_tokens(std::string("a\0b", 3)) == std::vector<std::string>{"a", "b", fasttext::Dictionary::EOS});
}

TEST_CASE("pieces end between tokens", "[text][lid]") {
    const std::string text = "one two\tthree  four";
    CHECK(piece_end(text, 0, 2) == 3);     // inside "one": to its end
    CHECK(piece_end(text, 0, 3) == 3);     // at the space after it
    CHECK(piece_end(text, 3, 2) == 7);     // " t" reaches into "two"
    CHECK(piece_end(text, 8, 100) == text.size());
    CHECK(piece_end(text, 13, 1) == 14);   // at the second of two spaces
    CHECK(piece_end("", 0, 4) == 0);

    // Pieces of any size cover the text, and their tokens are the whole text's.
    const std::string words = "alpha beta\vgamma delta epsilon\fzeta eta theta";
    std::vector<std::string> whole = plain_tokens(words);
    whole.pop_back();  // the end-of-sentence token
    for (std::size_t size = 1; size <= words.size(); ++size) {
        std::vector<std::string> joined;
        for (std::size_t start = 0; start < words.size();) {
            const std::size_t end = piece_end(words, start, size);
            REQUIRE(end > start);
            for_each_token(words.substr(start, end - start), [&](std::string_view token) { joined.emplace_back(token); }, false);
            start = end;
        }
        INFO("pieces of " << size << " bytes");
        CHECK(joined == whole);
    }
}

TEST_CASE("token cache short loads and compares", "[text][lid]") {
    std::mt19937 rng(11);
    std::string bytes(64, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() % 256);
    for (std::size_t length = 0; length < 8; ++length) {
        std::uint64_t expected = 0;
        std::memcpy(&expected, bytes.data() + 3, length);
        INFO(length << " bytes");
        CHECK(load_short(bytes.data() + 3, length) == expected);
    }
    // Equal copies compare equal, and one changed byte anywhere makes them differ.
    for (std::size_t length = 0; length <= 44; ++length) {
        const std::string original = bytes.substr(1, length);
        std::string changed = original;
        INFO(length << " bytes");
        CHECK(same_bytes(original.data(), changed.data(), length));
        CHECK(token_slot_hash(original) == token_slot_hash(changed));
        for (std::size_t at = 0; at < length; ++at) {
            changed[at] = static_cast<char>(changed[at] ^ 0x40);
            CHECK_FALSE(same_bytes(original.data(), changed.data(), length));
            CHECK(token_slot_hash(original) != token_slot_hash(changed));
            changed[at] = original[at];
        }
    }
}
