// Tokens as fastText's Dictionary::getLine reads them, and the byte helpers of the language
// identifier's per-token cache. Internal to the text library. It is a header so that the tests
// can check the vectorised scan and the short loads against plain code.
#pragma once

#include <fasttext/dictionary.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string_view>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace scorekit::text {

inline bool is_token_separator(char c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f' || c == '\0';
}

// Calls `add(token)` for each token of `text` as Dictionary::getLine splits a line: runs of
// bytes other than " \n\r\t\v\f\0", then (when `last`) the end-of-sentence token for the final
// newline.
// Separators are found 16 bytes at a time, because this scan runs over every byte that language
// identification reads.
template <typename Add>
inline void for_each_token(std::string_view text, Add&& add, bool last = true) {
    const char* data = text.data();
    const std::size_t size = text.size();
    std::size_t start = 0, i = 0;
    auto separator_at = [&](std::size_t at) {
        if (at > start) add(std::string_view(data + start, at - start));
        start = at + 1;
    };
#if defined(__SSE2__)
    const __m128i space = _mm_set1_epi8(' '), nul = _mm_setzero_si128();
    const __m128i tab = _mm_set1_epi8('\t'), four = _mm_set1_epi8(4);
    for (; i + 16 <= size; i += 16) {
        const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
        // '\t' to '\r' are the bytes whose unsigned distance above '\t' is at most 4.
        const __m128i above_tab = _mm_sub_epi8(bytes, tab);
        const __m128i controls = _mm_cmpeq_epi8(_mm_min_epu8(above_tab, four), above_tab);
        const __m128i separators =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(bytes, space), _mm_cmpeq_epi8(bytes, nul)), controls);
        auto mask = static_cast<unsigned>(_mm_movemask_epi8(separators));
        while (mask != 0) {
            separator_at(i + static_cast<std::size_t>(__builtin_ctz(mask)));
            mask &= mask - 1;
        }
    }
#endif
    for (; i < size; ++i) {
        if (is_token_separator(data[i])) separator_at(i);
    }
    separator_at(size);
    if (last) add(std::string_view(fasttext::Dictionary::EOS));
}

// Returns where the piece of `text` that starts at `start` ends: `size` bytes later, or further at
// the end of the token there, so that no token is split between two pieces.
inline std::size_t piece_end(std::string_view text, std::size_t start, std::size_t size) {
    std::size_t end = std::min(text.size(), start + size);
    while (end < text.size() && !is_token_separator(text[end])) ++end;
    return end;
}

// Reads the `length` (below 8) bytes at `source` as a little-endian word without calling memcpy.
// Bytes 0, length / 2 and length - 1 cover a word of 1 to 3 bytes, and two overlapping 4-byte
// loads cover 4 to 7 bytes.
inline std::uint64_t load_short(const char* source, std::size_t length) {
    if (length >= 4) {
        std::uint32_t low, high;
        std::memcpy(&low, source, 4);
        std::memcpy(&high, source + length - 4, 4);
        return low | (std::uint64_t(high) << (8 * (length - 4)));
    }
    if (length == 0) return 0;
    const auto byte = [source](std::size_t at) { return std::uint64_t(static_cast<unsigned char>(source[at])); };
    return byte(0) | (byte(length / 2) << (8 * (length / 2))) | (byte(length - 1) << (8 * (length - 1)));
}

inline std::uint64_t load_word(const char* source) {
    std::uint64_t word;
    std::memcpy(&word, source, 8);
    return word;
}

// Returns whether the `length` bytes at `left` and `right` are equal (the short tokens of the
// LID cache).
inline bool same_bytes(const char* left, const char* right, std::size_t length) {
    if (length < 8) return load_short(left, length) == load_short(right, length);
    std::uint64_t differ = 0;
    for (std::size_t i = 0; i + 8 <= length; i += 8) differ |= load_word(left + i) ^ load_word(right + i);
    // The last, overlapping word covers the bytes after the last whole one.
    differ |= load_word(left + length - 8) ^ load_word(right + length - 8);
    return differ == 0;
}

// A 64-bit hash of a token, 8 bytes per step, to pick a cache slot and to reject most other
// tokens in it before their bytes are compared.
inline std::uint64_t token_slot_hash(std::string_view token) {
    constexpr std::uint64_t kMultiplier = 0x9E3779B97F4A7C15ULL;
    std::uint64_t h = token.size() * kMultiplier;
    std::size_t i = 0;
    for (; i + 8 <= token.size(); i += 8) {
        h = (h ^ load_word(token.data() + i)) * kMultiplier;
        h ^= h >> 29;
    }
    if (i < token.size()) h = (h ^ load_short(token.data() + i, token.size() - i)) * kMultiplier;
    h ^= h >> 32;
    h *= kMultiplier;
    h ^= h >> 29;
    return h;
}

}  // namespace scorekit::text
