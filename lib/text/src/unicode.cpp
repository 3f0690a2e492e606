#include "scorekit/text/unicode.hpp"

#include <cstdint>
#include <algorithm>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace scorekit::text {
namespace {

#include "unicode_tables.inc"
#include "accent_tables.inc"
#include "alpha_ranges.inc"

constexpr std::uint32_t kSpace = 1u << 24;
constexpr std::uint32_t kDigit = 1u << 25;
constexpr std::uint32_t kDelete = 1u << 26;
constexpr std::uint32_t kCased = 1u << 27;
constexpr std::uint32_t kIgnorable = 1u << 28;
constexpr std::uint32_t kMulti = 1u << 29;
// The entry bits that change a code point in normalize_for_dedup: the lowercase delta and the
// flags of the other rules.
constexpr std::uint32_t kCopyMask = 0xFFFFFFu | kDigit | kDelete | kMulti;

// normalize_for_dedup of each ASCII byte: the output byte, or 0 to delete it.
struct AsciiNormal {
    char of[128];
    constexpr AsciiNormal() : of() {
        for (int c = 0; c < 128; ++c) {
            char out = static_cast<char>(c);
            if (c >= 'A' && c <= 'Z') out = static_cast<char>(c + 32);
            if (c >= '0' && c <= '9') out = '0';
            if (c < 32 || c == 127) out = 0;
            of[c] = out;
        }
    }
};
constexpr AsciiNormal kAsciiNormal;

constexpr std::uint64_t kOnes = 0x0101010101010101ULL, kHighBits = 0x8080808080808080ULL;

// True if each of the 8 bytes of `word` (all ASCII) is left as it is by normalize_for_dedup:
// no uppercase letter, no digit, no control character. For ASCII bytes the range tests stay
// inside each byte, so they are exact. The test for bytes below 0x20 may borrow and flag a
// neighbour of a real hit, which only sends the word to the byte path.
inline bool ascii_word_unchanged(std::uint64_t word) {
    auto between = [word](std::uint64_t low, std::uint64_t high) {  // low < byte < high
        std::uint64_t seven_bits = word & (kOnes * 127);
        return (kOnes * (127 + high) - seven_bits) & ~word & (seven_bits + kOnes * (127 - low)) & kHighBits;
    };
    std::uint64_t below_space = (word - kOnes * 0x20) & ~word & kHighBits;
    return !(below_space | between('A' - 1, 'Z' + 1) | between('0' - 1, '9' + 1) | between(0x7E, 0x80));
}

// The stage-2 row whose entries are all 0 (no rule applies), shared by most of the code space,
// CJK ideographs among it. A lookup that lands there skips reading the row: CJK text otherwise
// touches a different 1 KB row every few characters and misses the L1 cache.
const std::uint16_t kZeroRow = [] {
    constexpr std::size_t rows = sizeof(kStage2) / sizeof(kStage2[0]);
    for (std::size_t row = 0; row < rows; ++row) {
        if (std::all_of(kStage2[row], kStage2[row] + 256, [](std::uint32_t e) { return e == 0; })) {
            return static_cast<std::uint16_t>(row);
        }
    }
    return static_cast<std::uint16_t>(0xFFFF);
}();

inline std::uint32_t entry(char32_t cp) {
    std::uint16_t row = kStage1[cp >> 8];
    return row == kZeroRow ? 0 : kStage2[row][cp & 0xFF];
}

inline char32_t lower_of(char32_t cp, std::uint32_t e) {
    std::int32_t delta = static_cast<std::int32_t>(e << 8) >> 8;  // sign-extend 24 bits
    return static_cast<char32_t>(static_cast<std::int32_t>(cp) + delta);
}

void append_utf8(char32_t cp, std::string& out) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// Writes `cp` as UTF-8 at `out`; returns the position after it.
inline char* write_utf8(char32_t cp, char* out) {
    if (cp < 0x80) {
        *out++ = static_cast<char>(cp);
    } else if (cp < 0x800) {
        *out++ = static_cast<char>(0xC0 | (cp >> 6));
        *out++ = static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *out++ = static_cast<char>(0xE0 | (cp >> 12));
        *out++ = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        *out++ = static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        *out++ = static_cast<char>(0xF0 | (cp >> 18));
        *out++ = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        *out++ = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        *out++ = static_cast<char>(0x80 | (cp & 0x3F));
    }
    return out;
}

// Decodes one code point of valid UTF-8 at `i` and advances `i`.
inline char32_t decode(std::string_view s, std::size_t& i) {
    auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
        ++i;
        return b;
    }
    if (b < 0xE0) {
        char32_t cp = ((b & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
        i += 2;
        return cp;
    }
    if (b < 0xF0) {
        char32_t cp = ((b & 0x0Fu) << 12) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6) |
                      (static_cast<unsigned char>(s[i + 2]) & 0x3Fu);
        i += 3;
        return cp;
    }
    char32_t cp = ((b & 0x07u) << 18) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 12) |
                  ((static_cast<unsigned char>(s[i + 2]) & 0x3Fu) << 6) |
                  (static_cast<unsigned char>(s[i + 3]) & 0x3Fu);
    i += 4;
    return cp;
}

// Start of the code point that ends just before byte `end`.
inline std::size_t previous_start(std::string_view s, std::size_t end) {
    std::size_t i = end - 1;
    while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
    return i;
}

// Length of the valid UTF-8 sequence at `i`, or 0 if ill-formed; `bad` receives the length of
// the maximal subpart to replace when ill-formed.
std::size_t valid_sequence(std::string_view s, std::size_t i, std::size_t& bad) {
    auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char b = at(i);
    std::size_t n = s.size();
    std::size_t need;
    unsigned char low = 0x80, high = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
        need = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 2;
        if (b == 0xE0) low = 0xA0;
        if (b == 0xED) high = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3;
        if (b == 0xF0) low = 0x90;
        if (b == 0xF4) high = 0x8F;
    } else {
        bad = 1;
        return 0;
    }
    for (std::size_t k = 1; k <= need; ++k) {
        unsigned char lo = k == 1 ? low : 0x80, hi = k == 1 ? high : 0xBF;
        if (i + k >= n || at(i + k) < lo || at(i + k) > hi) {
            bad = k;
            return 0;
        }
    }
    return need + 1;
}

// Python's final-sigma rule for U+03A3 at byte `at` of `s` (which spans bytes [at, next)).
bool is_final_sigma(std::string_view s, std::size_t at, std::size_t next) {
    bool cased_before = false;
    std::size_t i = at;
    while (i > 0) {
        i = previous_start(s, i);
        std::size_t k = i;
        std::uint32_t e = entry(decode(s, k));
        if (e & kIgnorable) continue;
        cased_before = (e & kCased) != 0;
        break;
    }
    if (!cased_before) return false;
    for (std::size_t k = next; k < s.size();) {
        std::uint32_t e = entry(decode(s, k));
        if (e & kIgnorable) continue;
        return (e & kCased) == 0;
    }
    return true;
}

}  // namespace

const char* unicode_version() { return SCOREKIT_UNICODE_VERSION; }

std::size_t append_repaired_utf8(std::string_view input, std::string& output) {
    std::size_t replaced = 0;
    std::size_t i = 0, n = input.size(), run = 0;
    output.reserve(output.size() + n);
    while (i < n) {
        if (static_cast<unsigned char>(input[i]) < 0x80) {
            ++i;
            continue;
        }
        std::size_t bad = 0;
        std::size_t length = valid_sequence(input, i, bad);
        if (length) {
            i += length;
            continue;
        }
        output.append(input.data() + run, i - run);
        output.append("\xEF\xBF\xBD");
        ++replaced;
        i += bad;
        run = i;
    }
    output.append(input.data() + run, n - run);
    return replaced;
}

bool is_valid_utf8(std::string_view input) {
    const std::size_t n = input.size();
    auto byte_at = [&](std::size_t k) { return static_cast<unsigned char>(input[k]); };
    for (std::size_t i = 0; i < n;) {
        unsigned char b = byte_at(i);
        if (b < 0x80) {
            // After an ASCII byte, skip ASCII eight bytes at a time. Text in other scripts
            // rarely has eight ASCII bytes in a row, so the words are tried only here.
            ++i;
            while (i + 8 <= n) {
                std::uint64_t word;
                std::memcpy(&word, input.data() + i, 8);
                if (word & 0x8080808080808080ULL) break;
                i += 8;
            }
            continue;
        }
        // Fast paths for the common 2-byte (Latin, Cyrillic) and 3-byte (CJK) sequences whose
        // lead byte allows any continuation byte; the full check handles everything else.
        if (b >= 0xC2 && b <= 0xDF && i + 1 < n && (byte_at(i + 1) & 0xC0) == 0x80) {
            i += 2;
            continue;
        }
        if (((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) && i + 2 < n && (byte_at(i + 1) & 0xC0) == 0x80 &&
            (byte_at(i + 2) & 0xC0) == 0x80) {
            i += 3;
            continue;
        }
        std::size_t bad = 0;
        std::size_t length = valid_sequence(input, i, bad);
        if (!length) return false;
        i += length;
    }
    return true;
}

std::size_t count_code_points(std::string_view utf8) {
    std::size_t count = 0;
    for (char c : utf8) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    return count;
}

char32_t next_code_point(std::string_view utf8, std::size_t& offset) { return decode(utf8, offset); }

bool is_python_space(char32_t cp) { return (entry(cp) & kSpace) != 0; }

bool is_python_alpha(char32_t cp) {
    if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
    const auto* end = kAlphaRanges + sizeof(kAlphaRanges) / sizeof(kAlphaRanges[0]);
    // The first range whose last code point is not below cp is the only one that can contain it.
    const auto* range = std::lower_bound(kAlphaRanges, end, cp,
                                         [](const char32_t (&r)[2], char32_t value) { return r[1] < value; });
    return range != end && (*range)[0] <= cp;
}

std::string_view strip_whitespace(std::string_view s) {
    std::size_t begin = 0, end = s.size();
    while (begin < end) {
        std::size_t k = begin;
        if (!(entry(decode(s, k)) & kSpace)) break;
        begin = k;
    }
    while (end > begin) {
        std::size_t start = previous_start(s, end);
        std::size_t k = start;
        if (!(entry(decode(s, k)) & kSpace)) break;
        end = start;
    }
    return s.substr(begin, end - begin);
}

std::vector<std::string_view> split_python_lines(std::string_view text) {
    std::vector<std::string_view> lines;
    std::size_t start = 0, i = 0;
    while (i < text.size()) {
        // Every line break is below U+0020 or above U+007F.
        auto byte = static_cast<unsigned char>(text[i]);
        if (byte >= 0x20 && byte < 0x80) {
            ++i;
            continue;
        }
        std::size_t at = i;
        char32_t cp = next_code_point(text, i);
        bool line_break = cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || (cp >= 0x1C && cp <= 0x1E) ||
                          cp == 0x85 || cp == 0x2028 || cp == 0x2029;
        if (!line_break) continue;
        lines.push_back(text.substr(start, at - start));
        if (cp == '\r' && i < text.size() && text[i] == '\n') ++i;
        start = i;
    }
    if (start < text.size()) lines.push_back(text.substr(start));
    return lines;
}

void normalize_for_dedup(std::string_view line, std::string& output) {
    // An ASCII byte gives at most 1 byte and a code point of 2 to 4 bytes gives at most 4 (U+0130
    // gives 3), so the output fits in twice the input.
    output.resize(2 * line.size());
    output.resize(normalize_for_dedup_into(line, &output[0]));
}

namespace {

// Copies a UTF-8 sequence of 2 to 4 bytes. Copies of a constant size compile to plain moves,
// a variable one to a call.
inline void copy_sequence(const void* from, std::size_t length, char* to) {
    if (length == 2) {
        std::memcpy(to, from, 2);
    } else if (length == 3) {
        std::memcpy(to, from, 3);
    } else {
        std::memcpy(to, from, 4);
    }
}

// Writes the normalisation of the code point at `s[i]` (a non-ASCII lead byte of a sequence
// already known to be valid) at `out`, advances `i` and returns the position after the output.
// `s` is the stripped line, the context of the final-sigma rule.
inline char* normalize_code_point(std::string_view s, std::size_t& i, char32_t cp, std::uint32_t e, char* out) {
    std::size_t at = i;
    std::size_t length = 4;
    if (cp < 0x800) {
        length = 2;
    } else if (cp < 0x10000) {
        length = 3;
    }
    i += length;
    // The cased and case-ignorable flags only serve the final-sigma rule, so a code point
    // without a lowercase delta or another rule (a lowercase letter, most letters of caseless
    // scripts) is copied as it is.
    if ((e & kCopyMask) == 0) {
        copy_sequence(s.data() + at, length, out);
        return out + length;
    }
    if (e & kMulti) {  // U+0130 lowers to "i" + U+0307 COMBINING DOT ABOVE
        std::memcpy(out, "i\xCC\x87", 3);
        return out + 3;
    }
    if (e & kDigit) {
        *out = '0';
        return out + 1;
    }
    if (e & kDelete) return out;
    char32_t lower = lower_of(cp, e);
    if (cp == 0x3A3 && is_final_sigma(s, at, i)) lower = 0x3C2;
    return write_utf8(lower, out);
}

// Lowercases A-Z and maps 0-9 to "0" in 8 ASCII bytes that hold no control character, so
// that each byte maps to one byte.
inline std::uint64_t normalize_ascii_word(std::uint64_t word) {
    auto between = [word](std::uint64_t low, std::uint64_t high) {  // low < byte < high, exact for ASCII
        std::uint64_t seven_bits = word & (kOnes * 127);
        return (kOnes * (127 + high) - seven_bits) & ~word & (seven_bits + kOnes * (127 - low)) & kHighBits;
    };
    std::uint64_t upper = between('A' - 1, 'Z' + 1), digit = between('0' - 1, '9' + 1);
    return (word | (upper >> 2)) & ~((digit >> 7) * 0x0F);
}

// Decodes the UTF-8 sequence whose lead byte (at least 0x80) is at `p` and checks it as
// valid_sequence() does. Returns its length, or 0 when it is ill-formed or runs past `end`.
inline std::size_t decode_checked(const unsigned char* p, const unsigned char* end, char32_t& cp) {
    unsigned char b = p[0];
    std::size_t left = static_cast<std::size_t>(end - p);
    if (b >= 0xC2 && b <= 0xDF) {
        if (left < 2 || (p[1] & 0xC0) != 0x80) return 0;
        cp = ((b & 0x1Fu) << 6) | (p[1] & 0x3Fu);
        return 2;
    }
    if (b >= 0xE0 && b <= 0xEF) {
        if (left < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
        if ((b == 0xE0 && p[1] < 0xA0) || (b == 0xED && p[1] > 0x9F)) return 0;
        cp = ((b & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
        return 3;
    }
    if (b >= 0xF0 && b <= 0xF4) {
        if (left < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return 0;
        if ((b == 0xF0 && p[1] < 0x90) || (b == 0xF4 && p[1] > 0x8F)) return 0;
        cp = ((b & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
        return 4;
    }
    return 0;
}

// True if the 8 ASCII bytes of `word` hold a byte below 0x20 or DEL. A borrow may also flag
// the byte after a real hit, which only sends the word to the byte path.
inline bool has_control_byte(std::uint64_t word) {
    std::uint64_t below_space = (word - kOnes * 0x20) & ~word & kHighBits;
    std::uint64_t del = ((word ^ (kOnes * 0x7F)) - kOnes) & ~word & kHighBits;
    return (below_space | del) != 0;
}

}  // namespace

std::size_t normalize_for_dedup_into(std::string_view line, char* output) {
    std::string_view s = strip_whitespace(line);
    char* out = output;
    for (std::size_t i = 0; i < s.size();) {
        if (i + 8 <= s.size()) {  // eight ASCII bytes at a time: copied, or mapped byte by byte
            std::uint64_t word;
            std::memcpy(&word, s.data() + i, 8);
            if (!(word & kHighBits)) {
                if (ascii_word_unchanged(word)) {
                    std::memcpy(out, s.data() + i, 8);
                    out += 8;
                } else {
                    for (std::size_t k = i; k < i + 8; ++k) {
                        char normal = kAsciiNormal.of[static_cast<unsigned char>(s[k])];
                        *out = normal;
                        out += normal != 0;
                    }
                }
                i += 8;
                continue;
            }
        }
        auto byte = static_cast<unsigned char>(s[i]);
        if (byte < 0x80) {  // ASCII fast path: same rules, no multi-byte decoding
            ++i;
            char normal = kAsciiNormal.of[byte];
            *out = normal;
            out += normal != 0;
            continue;
        }
        std::size_t k = i;
        char32_t cp = decode(s, k);
        out = normalize_code_point(s, i, cp, entry(cp), out);
    }
    return static_cast<std::size_t>(out - output);
}

namespace {

// Number of bits set in a mask of up to 18 bits. __builtin_popcount is a library call unless
// the target has POPCNT, which the portable build does not assume.
inline unsigned count_bits(unsigned x) {
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    x = (x + (x >> 4)) & 0x0F0F0F0Fu;
    return (x * 0x01010101u) >> 24;
}

// Normalises the run of code points at `p` that need no decoding, 16 bytes at a time with
// SSE2, up to the first byte that needs the code point path. It also moves the marks of the
// last code point that is not a space. The run contains ASCII bytes other than control
// characters (line endings and TAB included), which are lowercased with digits mapped to "0".
// It also contains UTF-8 sequences that normalize_for_dedup leaves as they are and that are not
// whitespace, copied unchecked: U+00DF..U+00FF (Latin), U+0430..U+045F (lowercase Cyrillic)
// and U+4E00..U+9FFF (CJK ideographs). Their byte patterns are well-formed UTF-8 by
// construction. Returns the number of bytes consumed, 0 when fewer than 18 bytes are left or
// the first code point needs the code point path. May write 16 bytes at `out`, so the output
// needs that much room past the consumed bytes. Elsewhere than x86, only ASCII and 8 bytes at
// a time.
inline std::size_t normalize_simple_run(const unsigned char* p, const unsigned char* stop, char*& out,
                                        char*& kept_end, std::size_t& code_points, std::size_t& kept_code_points) {
#if defined(__SSE2__)
    // Bytes in [low, high], unsigned.
    auto in_range = [](__m128i v, int low, int high) {
        __m128i d = _mm_sub_epi8(v, _mm_set1_epi8(static_cast<char>(low)));
        return _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(static_cast<char>(high - low))), d);
    };
    auto equal = [](__m128i v, int byte) { return _mm_cmpeq_epi8(v, _mm_set1_epi8(static_cast<char>(byte))); };
    auto bits = [](__m128i m) { return static_cast<unsigned>(_mm_movemask_epi8(m)); };

    std::size_t consumed = 0;
    while (p + 16 <= stop) {
        __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        // Signed compare: bytes of 0x80 and above are negative, so they fall below 0x20 too.
        unsigned ascii = ~bits(_mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)), equal(v, 0x7F))) & 0xFFFFu;
        unsigned trail = 0, ends = ascii, bad = 0, n = 16;
        if (ascii != 0xFFFFu) {
            unsigned lead2 = 0, lead3 = 0;
            if (p + 18 <= stop) {  // the sequences are checked with the two bytes after the block
                __m128i v1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 1));
                __m128i v2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
                __m128i two = _mm_or_si128(
                    _mm_or_si128(_mm_and_si128(equal(v, 0xD0), in_range(v1, 0xB0, 0xBF)),
                                 _mm_and_si128(equal(v, 0xD1), in_range(v1, 0x80, 0x9F))),
                    _mm_and_si128(equal(v, 0xC3), in_range(v1, 0x9F, 0xBF)));
                __m128i three = _mm_or_si128(_mm_and_si128(in_range(v, 0xE5, 0xE9), in_range(v1, 0x80, 0xBF)),
                                             _mm_and_si128(equal(v, 0xE4), in_range(v1, 0xB8, 0xBF)));
                three = _mm_and_si128(three, in_range(v2, 0x80, 0xBF));
                lead2 = bits(two);
                lead3 = bits(three);
            }
            trail = (lead2 << 1) | (lead3 << 1) | (lead3 << 2);  // continuation bytes
            bad = ~(ascii | lead2 | lead3 | trail) & 0xFFFFu;
            n = bad ? static_cast<unsigned>(__builtin_ctz(bad)) : 16;
            // Stop after the last code point that ends inside the good bytes.
            ends = (ascii | (lead2 << 1) | (lead3 << 2)) & ((1u << n) - 1);
            if (!ends) break;
            n = 32 - static_cast<unsigned>(__builtin_clz(ends));
        }

        __m128i upper = in_range(v, 'A', 'Z');
        __m128i digit = in_range(v, '0', '9');
        __m128i normal = _mm_or_si128(v, _mm_and_si128(upper, _mm_set1_epi8(0x20)));
        normal = _mm_andnot_si128(_mm_and_si128(digit, _mm_set1_epi8(0x0F)), normal);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out), normal);

        unsigned kept_ends = ends & ~bits(equal(v, ' '));
        if (kept_ends) {
            unsigned last = 32 - static_cast<unsigned>(__builtin_clz(kept_ends));
            kept_end = out + last;
            kept_code_points = code_points + last;
            if (trail) kept_code_points -= count_bits(trail & ((1u << last) - 1));
        }
        out += n;
        code_points += n;
        if (trail) code_points -= count_bits(trail & ((1u << n) - 1));
        p += n;
        consumed += n;
        if (bad) break;
    }
    return consumed;
#else
    std::size_t consumed = 0;
    while (p + 8 <= stop) {
        std::uint64_t word;
        std::memcpy(&word, p, 8);
        if ((word & kHighBits) || has_control_byte(word)) break;
        std::uint64_t normal = ascii_word_unchanged(word) ? word : normalize_ascii_word(word);
        std::memcpy(out, &normal, 8);
        // Bytes other than a space set their high bit in `non_space` (exact: no borrows).
        std::uint64_t x = word ^ (kOnes * 0x20);
        std::uint64_t non_space = (((x & (kOnes * 0x7F)) + kOnes * 0x7F) | x) & kHighBits;
        if (non_space) {
            std::size_t last = (63 - static_cast<std::size_t>(__builtin_clzll(non_space))) / 8 + 1;
            kept_end = out + last;
            kept_code_points = code_points + last;
        }
        out += 8;
        code_points += 8;
        p += 8;
        consumed += 8;
    }
    return consumed;
#endif
}

}  // namespace

// One pass over the line: leading whitespace is skipped as it comes, and trailing whitespace
// is cut at the end by remembering where the output stood after the last code point that is
// not whitespace. That equals stripping first, because the normalisation maps whitespace to
// whitespace or nothing and maps no other character to whitespace.
bool scan_dedup_line(const char* begin, const char* end, char* output, DedupLineScan& scan) {
    const auto* p = reinterpret_cast<const unsigned char*>(begin);
    const auto* stop = reinterpret_cast<const unsigned char*>(end);
    char* out = output;
    char* kept_end = output;       // output end after the last code point that is not whitespace
    const unsigned char* core_begin = nullptr;  // first code point that is not whitespace
    std::size_t code_points = 0, kept_code_points = 0;  // counted from core_begin
    bool text = false;
    const unsigned char* next = stop;
    int simple_run_backoff = 0;

    bool after_run = false;  // the last step was a run, which stops only where the next one would fail
    while (p < stop) {
        bool simple_failed = false;
        // A line usually starts with a character that the run takes too.
        if (!core_begin && *p > ' ' && *p < 0x7F) {
            core_begin = p;
            text = true;
        }
        if (core_begin && !simple_run_backoff && !after_run) {
            std::size_t simple = normalize_simple_run(p, stop, out, kept_end, code_points, kept_code_points);
            if (simple) {
                p += simple;
                after_run = true;
                continue;
            }
            simple_failed = true;
        } else if (simple_run_backoff) {
            --simple_run_backoff;
        }
        after_run = false;
        unsigned char byte = *p;
        if (byte < 0x80) {
            if (byte == '\n' || byte == '\r') {
                next = p + 1;
                if (byte == '\r' && next < stop && *next == '\n') ++next;
                break;
            }
            if (byte == ' ' || byte == '\t') {  // whitespace: a space is kept inside, a tab deleted
                if (core_begin) {
                    if (byte == ' ') *out++ = ' ';
                    ++code_points;
                }
                ++p;
                continue;
            }
            if (byte < 0x20 || byte == 0x7F) return false;
            if (!core_begin) core_begin = p;
            *out++ = kAsciiNormal.of[byte];
            ++code_points;
            kept_end = out;
            kept_code_points = code_points;
            text = true;
            ++p;
            continue;
        }

        char32_t cp = 0;
        std::size_t length = decode_checked(p, stop, cp);
        if (!length) return false;
        text = true;
        std::uint32_t e = entry(cp);
        if (core_begin && (e & kCopyMask) == 0) {  // the common case, copied as it is
            // A letter that the run could not copy is of a script that it does not cover, and
            // the next ones probably are too: try the run again a few code points later.
            if (simple_failed) simple_run_backoff = 4;
            copy_sequence(p, length, out);
            out += length;
            ++code_points;
            if (!(e & kSpace)) {
                kept_end = out;
                kept_code_points = code_points;
            }
            p += length;
            continue;
        }
        bool space = (e & kSpace) != 0;
        if (!core_begin) {
            if (space) {
                p += length;
                continue;
            }
            core_begin = p;
        }
        if (cp == 0x3A3) {
            // The final-sigma rule looks at the whole stripped line, so check and strip it first.
            const unsigned char* line_end = p;
            while (line_end < stop && *line_end != '\n' && *line_end != '\r') ++line_end;
            std::string_view rest(reinterpret_cast<const char*>(p), static_cast<std::size_t>(line_end - p));
            if (!is_valid_utf8(rest)) return false;
            std::string_view line(reinterpret_cast<const char*>(core_begin), static_cast<std::size_t>(line_end - core_begin));
            std::string_view stripped = strip_whitespace(line);
            std::size_t i = static_cast<std::size_t>(p - core_begin);
            out = normalize_code_point(stripped, i, cp, e, out);
        } else {
            std::string_view here(reinterpret_cast<const char*>(p), length);
            std::size_t i = 0;
            out = normalize_code_point(here, i, cp, e, out);
        }
        ++code_points;
        if (!space) {
            kept_end = out;
            kept_code_points = code_points;
        }
        p += length;
    }
    scan.next = static_cast<std::size_t>(reinterpret_cast<const char*>(next) - begin);
    scan.size = static_cast<std::size_t>(kept_end - output);
    scan.code_points = kept_code_points;
    scan.blank = core_begin == nullptr;
    scan.text = text;
    return true;
}

namespace {

// cc_net's replace_unicode_punct table (text_normalizer.UNICODE_PUNCT); null when `cp` is not in it.
const char* punctuation_replacement(char32_t cp) {
    switch (cp) {
        case 0xFF0C: return ",";     // ，
        case 0x3002: return ".";     // 。
        case 0x3001: return ",";     // 、
        case 0x201E: return "\"";    // „
        case 0x201D: return "\"";    // ”
        case 0x201C: return "\"";    // “
        case 0x00AB: return "\"";    // «
        case 0x00BB: return "\"";    // »
        case 0xFF11: return "\"";    // １ (already "0" after the digit rule, as in cc_net)
        case 0x300D: return "\"";    // 」
        case 0x300C: return "\"";    // 「
        case 0x300A: return "\"";    // 《
        case 0x300B: return "\"";    // 》
        case 0x00B4: return "'";     // ´
        case 0x2236: return ":";     // ∶
        case 0xFF1A: return ":";     // ：
        case 0xFF1F: return "?";     // ？
        case 0xFF01: return "!";     // ！
        case 0xFF08: return "(";     // （
        case 0xFF09: return ")";     // ）
        case 0xFF1B: return ";";     // ；
        case 0x2013: return "-";     // –
        case 0x2014: return " - ";   // —
        case 0xFF0E: return ". ";    // ．
        case 0xFF5E: return "~";     // ～
        case 0x2019: return "'";     // ’
        case 0x2026: return "...";   // …
        case 0x2501: return "-";     // ━
        case 0x3008: return "<";     // 〈
        case 0x3009: return ">";     // 〉
        case 0x3010: return "[";     // 【
        case 0x3011: return "]";     // 】
        case 0xFF05: return "%";     // ％
        case 0x25BA: return "-";     // ►
        default: return nullptr;
    }
}

// Applies the digit, punctuation and control-character rules to one code point that has already
// been lowercased and stripped of accents.
void append_perplexity_code_point(char32_t cp, std::string& output) {
    if (cp < 0x80) {
        if (cp >= '0' && cp <= '9') {
            output += '0';
        } else if (cp >= 32 && cp != 127) {
            output += static_cast<char>(cp);
        }
        return;
    }
    if (cp < 0xA0) return;  // C1 control characters
    if (entry(cp) & kDigit) {
        output += '0';
        return;
    }
    if (const char* replacement = punctuation_replacement(cp)) {
        output += replacement;
        return;
    }
    append_utf8(cp, output);
}

// Appends NFD(cp) without its Mn characters, each through append_perplexity_code_point.
void append_accent_stripped(char32_t cp, std::string& output) {
    constexpr char32_t kHangulFirst = 0xAC00, kHangulLast = 0xD7A3;
    if (cp >= kHangulFirst && cp <= kHangulLast) {  // Unicode 14, section 3.12
        char32_t index = cp - kHangulFirst;
        append_utf8(0x1100 + index / 588, output);
        append_utf8(0x1161 + (index % 588) / 28, output);
        if (index % 28) append_utf8(0x11A7 + index % 28, output);
        return;
    }
    if (cp >= 0xC0) {
        const AccentStripped* end = kAccentStripped + sizeof(kAccentStripped) / sizeof(kAccentStripped[0]);
        const AccentStripped* found = std::lower_bound(
            kAccentStripped, end, cp, [](const AccentStripped& row, char32_t key) { return row.code_point < key; });
        if (found != end && found->code_point == cp) {
            std::string_view decomposed(found->utf8);
            for (std::size_t k = 0; k < decomposed.size();) append_perplexity_code_point(decode(decomposed, k), output);
            return;
        }
    }
    append_perplexity_code_point(cp, output);
}

}  // namespace

void normalize_for_perplexity(std::string_view text, std::string& output) {
    output.clear();
    std::string_view s = strip_whitespace(text);
    output.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        auto byte = static_cast<unsigned char>(s[i]);
        if (byte < 0x80) {
            ++i;
            char32_t lower = (byte >= 'A' && byte <= 'Z') ? byte + 32 : byte;
            append_perplexity_code_point(lower, output);
            continue;
        }
        std::size_t at = i;
        char32_t cp = decode(s, i);
        std::uint32_t e = entry(cp);
        if (e & kMulti) {  // U+0130 lowers to "i" + U+0307, an Mn character that is then dropped
            output += 'i';
            continue;
        }
        char32_t lower = lower_of(cp, e);
        if (cp == 0x3A3 && is_final_sigma(s, at, i)) lower = 0x3C2;
        // NOTE: NFD also reorders combining characters by canonical class. After the Mn
        // characters are dropped this matters only for the few Mc characters with a nonzero
        // class (musical symbols), which are kept in input order here.
        append_accent_stripped(lower, output);
    }
}

}  // namespace scorekit::text
