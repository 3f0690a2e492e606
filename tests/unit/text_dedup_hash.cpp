// Paragraph normalisation and hashes: cc_net's normalize_for_dedup and str_hash.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "scorekit/text/dedup.hpp"
#include "scorekit/text/unicode.hpp"

using namespace scorekit::text;

namespace {

std::string normalized(const std::string& line) {
    std::string out;
    normalize_for_dedup(line, out);
    return out;
}

std::uint64_t hash_of(const std::string& line) {
    std::string scratch;
    return line_hash(line, scratch);
}

}  // namespace

TEST_CASE("line hash reference vectors", "[text][dedup]") {
    CHECK(hash_of("") == 957977401221134810ULL);
    CHECK(normalized("Hello, World 2019!") == "hello, world 0000!");
    CHECK(hash_of("Hello, World 2019!") == 1714268150457487379ULL);
    CHECK(hash_of("Don't part with your illusions.") == 17407445193365150540ULL);
    CHECK(normalized("\u0661\u0662\u0663 Arabic-Indic digits") == "000 arabic-indic digits");
    CHECK(hash_of("\u0661\u0662\u0663 Arabic-Indic digits") == 7238691350537429841ULL);
    CHECK(normalized("tab\there\abell") == "tabherebell");
    CHECK(hash_of("tab\there\abell") == 4984261812524520259ULL);
}

TEST_CASE("normalisation deletes the 34 punctuation marks", "[text][dedup]") {
    const std::string punctuation = "，。、„”“«»」「《》´∶：？！（）；–—．～’…━〈〉【】％►";
    CHECK(normalized("a" + punctuation + "b") == "ab");
    // U+FF11 FULLWIDTH DIGIT ONE is in cc_net's list but is a digit first: it becomes "0".
    CHECK(normalized("\uFF11") == "0");
    CHECK(normalized("ASCII punctuation: kept!?") == "ascii punctuation: kept!?");
}

TEST_CASE("normalisation matches Python lower and strip", "[text][dedup]") {
    CHECK(normalized("  \u3000Straße\u00A0 ") == "straße");  // no case folding of ß, Unicode spaces stripped
    CHECK(normalized("\u0130stanbul") == "i\u0307stanbul");  // U+0130 lowers to two code points
    CHECK(normalized("ΟΔΥΣΣΕΥΣ") == "οδυσσευς");              // final sigma
    CHECK(normalized("ΣΑ Σ.") == "σα σ.");                   // a lone sigma is not final
    CHECK(normalized("Éléphant") == "éléphant");             // accents kept
    CHECK(normalized("x\u0085y\u009Fz") == "xyz");           // C1 controls deleted
    CHECK(normalized("\u00BD \u00B2") == "\u00BD \u00B2");   // No, not Nd: kept
    CHECK(normalized("\u0966\u0967 \U0001D7CE") == "00 0");  // Devanagari and math digits are Nd
    CHECK(normalized("\u023A\u023A\u023A") == "\u2C65\u2C65\u2C65");  // 2-byte letters lower to 3 bytes
    CHECK(normalized("\u0130\u0130") == "i\u0307i\u0307");  // 2 bytes to 3, twice
    CHECK(normalized("Ա Русский 中文") == "ա русский 中文");  // letters that need no change
}

TEST_CASE("normalisation of every ASCII byte", "[text][dedup]") {
    // Each byte at offsets 1 to 18 of a 20-byte line (strip would take the ends), so that it
    // falls in every position of the 8-byte ASCII path and in the byte-by-byte tail.
    for (int c = 0; c < 128; ++c) {
        char expected_byte = static_cast<char>(c);
        if (c >= 'A' && c <= 'Z') expected_byte = static_cast<char>(c + 32);
        if (c >= '0' && c <= '9') expected_byte = '0';
        bool deleted = c < 32 || c == 127;
        for (std::size_t offset = 1; offset < 19; ++offset) {
            INFO("byte " << c << " at offset " << offset);
            std::string line(20, 'a');
            line[offset] = static_cast<char>(c);
            std::string expected(20, 'a');
            if (deleted) {
                expected.erase(offset, 1);
            } else {
                expected[offset] = expected_byte;
            }
            CHECK(normalized(line) == expected);
        }
    }
}

TEST_CASE("UTF-8 repair replaces maximal subparts", "[text][unicode]") {
    std::string out;
    CHECK(append_repaired_utf8("ok \xC3\xA9", out) == 0);
    CHECK(out == "ok \xC3\xA9");
    out.clear();
    // Truncated 3-byte sequence, a lone continuation byte and an overlong form.
    CHECK(append_repaired_utf8("a\xE2\x82" "b\x80" "c\xC0\xAF", out) == 4);
    CHECK(out == "a\uFFFD" "b\uFFFD" "c\uFFFD\uFFFD");
    CHECK(is_valid_utf8(out));
    CHECK_FALSE(is_valid_utf8("\xED\xA0\x80"));  // a surrogate
}

TEST_CASE("UTF-8 validation at every position", "[text][unicode]") {
    // Each ill-formed sequence after ASCII runs of every length from 0 to 17, so that it falls
    // at each offset of the 8-byte ASCII skip, and at the end of the text.
    const std::vector<std::string> invalid = {"\xC0\xAF", "\xC3", "\xE2\x82", "\xED\xA0\x80", "\xF4\x90\x80\x80",
                                              "\x80", "\xFF", "\xE0\x80\x80", "\xF0\x80\x80\x80"};
    const std::vector<std::string> valid = {"\xC3\xA9", "\xD0\x96", "\xE4\xB8\xAD", "\xEF\xBF\xBD", "\xE0\xA0\x80",
                                            "\xED\x9F\xBF", "\xF0\x9F\x98\x80", "\xF4\x8F\xBF\xBF"};
    for (std::size_t run = 0; run < 18; ++run) {
        std::string ascii(run, 'a');
        for (const std::string& sequence : invalid) {
            INFO("ASCII run " << run << ", invalid sequence of " << sequence.size() << " bytes");
            CHECK_FALSE(is_valid_utf8(ascii + sequence));
            CHECK_FALSE(is_valid_utf8(ascii + sequence + "tail of ascii text"));
        }
        for (const std::string& sequence : valid) {
            INFO("ASCII run " << run << ", valid sequence of " << sequence.size() << " bytes");
            CHECK(is_valid_utf8(ascii + sequence));
            CHECK(is_valid_utf8(ascii + sequence + sequence + "tail of ascii text"));
        }
    }
}

TEST_CASE("strip and code point count follow Python", "[text][unicode]") {
    CHECK(strip_whitespace("\x1c\t a b \u2029") == "a b");
    CHECK(strip_whitespace("\u200Bx") == "\u200Bx");  // ZERO WIDTH SPACE is not whitespace in Python
    CHECK(count_code_points("a\u00E9\u4E2D\U0001F600") == 4);
}
