// Paragraph normalisation and hashes: cc_net's normalize_for_dedup and str_hash.
#include <catch2/catch.hpp>

#include <string>

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

TEST_CASE("strip and code point count follow Python", "[text][unicode]") {
    CHECK(strip_whitespace("\x1c\t a b \u2029") == "a b");
    CHECK(strip_whitespace("\u200Bx") == "\u200Bx");  // ZERO WIDTH SPACE is not whitespace in Python
    CHECK(count_code_points("a\u00E9\u4E2D\U0001F600") == 4);
}
