#include "scorekit/text/unicode.hpp"

#include <cstdint>
#include <algorithm>
#include <cstring>

namespace scorekit::text {
namespace {

#include "unicode_tables.inc"
#include "accent_tables.inc"

constexpr std::uint32_t kSpace = 1u << 24;
constexpr std::uint32_t kDigit = 1u << 25;
constexpr std::uint32_t kDelete = 1u << 26;
constexpr std::uint32_t kCased = 1u << 27;
constexpr std::uint32_t kIgnorable = 1u << 28;
constexpr std::uint32_t kMulti = 1u << 29;

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

inline std::uint32_t entry(char32_t cp) { return kStage2[kStage1[cp >> 8]][cp & 0xFF]; }

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

void normalize_for_dedup(std::string_view line, std::string& output) {
    std::string_view s = strip_whitespace(line);
    // An ASCII byte gives at most 1 byte and a code point of 2 to 4 bytes gives at most 4 (U+0130
    // gives 3), so the output fits in twice the input. Writing through a pointer saves a capacity
    // check per byte.
    output.resize(2 * s.size());
    char* out = &output[0];
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
        std::size_t at = i;
        char32_t cp = decode(s, i);
        std::uint32_t e = entry(cp);
        if (e == 0) {  // no rule applies (most letters of caseless scripts, lowercase letters)
            std::memcpy(out, s.data() + at, i - at);
            out += i - at;
            continue;
        }
        if (e & kMulti) {  // U+0130 lowers to "i" + U+0307 COMBINING DOT ABOVE
            std::memcpy(out, "i\xCC\x87", 3);
            out += 3;
            continue;
        }
        if (e & kDigit) {
            *out++ = '0';
            continue;
        }
        if (e & kDelete) continue;
        char32_t lower = lower_of(cp, e);
        if (cp == 0x3A3 && is_final_sigma(s, at, i)) lower = 0x3C2;
        out = write_utf8(lower, out);
    }
    output.resize(static_cast<std::size_t>(out - output.data()));
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
