// Gopher quality and repetition rules, each just inside and just outside its threshold.
#include <catch2/catch.hpp>

#include <string>

#include "scorekit/error.hpp"
#include "scorekit/text/quality_rules.hpp"

using namespace scorekit::text;

namespace {

const QualityMeasure& measure(const QualityReport& report, const std::string& rule) {
    for (const QualityMeasure& m : report.measures) {
        if (m.rule == rule) return m;
    }
    FAIL("no rule " << rule);
    throw std::logic_error("unreachable");
}

std::string repeat(const std::string& piece, int times, const std::string& separator = " ") {
    std::string out;
    for (int i = 0; i < times; ++i) out += (i ? separator : "") + piece;
    return out;
}

// `count` distinct five-letter words (no stop words, no repeats).
std::string distinct_words(int count) {
    std::string out;
    for (int i = 0; i < count; ++i) {
        std::string word = "w";
        for (int k = i; word.size() < 5; k /= 26) word += static_cast<char>('a' + k % 26);
        out += (i ? " " : "") + word;
    }
    return out;
}

bool passes(const std::string& text, const std::string& rule) {
    return measure(evaluate_quality(text, QualityThresholds()), rule).passed;
}

}  // namespace

TEST_CASE("word count limits", "[quality]") {
    CHECK(passes(distinct_words(50), "min_doc_words"));
    CHECK_FALSE(passes(distinct_words(49), "min_doc_words"));
    CHECK(measure(evaluate_quality(distinct_words(49) + " ... !!", QualityThresholds()), "min_doc_words").value == 49);
    QualityThresholds small;
    small.set("max_doc_words=60");
    CHECK(measure(evaluate_quality(distinct_words(60), small), "max_doc_words").passed);
    CHECK_FALSE(measure(evaluate_quality(distinct_words(61), small), "max_doc_words").passed);
}

TEST_CASE("mean word length limits", "[quality]") {
    CHECK(passes(repeat("abc", 10), "min_avg_word_length"));
    CHECK_FALSE(passes(repeat("abc", 9) + " a", "min_avg_word_length"));  // (27 + 1) / 10 = 2.8
    CHECK(passes(repeat("abcdefghij", 10), "max_avg_word_length"));
    CHECK_FALSE(passes(repeat("abcdefghij", 9) + " abcdefghijk", "max_avg_word_length"));  // 10.1
}

TEST_CASE("hash and ellipsis per word", "[quality]") {
    CHECK(passes(repeat("word", 90) + " " + repeat("#tag", 10), "max_hash_word_ratio"));        // 10 / 100
    CHECK_FALSE(passes(repeat("word", 89) + " " + repeat("#tag", 11), "max_hash_word_ratio"));  // 11 / 100
    CHECK(passes(repeat("word", 90) + " " + repeat("so...", 10), "max_ellipsis_word_ratio"));
    CHECK_FALSE(passes(repeat("word", 89) + " " + repeat("so\xE2\x80\xA6", 11), "max_ellipsis_word_ratio"));
}

TEST_CASE("bullet and ellipsis lines", "[quality]") {
    std::string nine_bullets = repeat("\xE2\x80\xA2 item", 9, "\n") + "\nplain line";
    CHECK(passes(nine_bullets, "max_bullet_lines_ratio"));                               // 9 / 10
    CHECK_FALSE(passes(repeat("\xE2\x80\xA2 item", 10, "\n"), "max_bullet_lines_ratio"));  // 10 / 10
    CHECK(passes(repeat("ends so...", 3, "\n") + "\n" + repeat("plain", 7, "\n"), "max_ellipsis_lines_ratio"));
    CHECK_FALSE(passes(repeat("ends so...", 4, "\n") + "\n" + repeat("plain", 6, "\n"), "max_ellipsis_lines_ratio"));
}

TEST_CASE("alphabetic words and stop words", "[quality]") {
    CHECK(passes(repeat("word", 8) + " 12 34", "min_alpha_words_ratio"));            // 8 / 10
    CHECK_FALSE(passes(repeat("word", 7) + " 12 34 56", "min_alpha_words_ratio"));   // 7 / 10
    CHECK(passes("the cat with a hat", "min_stop_words"));
    CHECK_FALSE(passes("the cat in a hat", "min_stop_words"));
    CHECK_FALSE(passes("The cat in a hat", "min_stop_words"));
}

TEST_CASE("duplicate lines and paragraphs", "[quality]") {
    // 10 non-blank lines, 3 of them repeats: 0.3 passes; 4 repeats fail. Blank lines are never
    // repeats, but the empty last piece of re.split("\\n+") is a line for the fraction.
    std::string three = "a1\na2\na3\na4\na5\na6\na7\na1\na1\na1";
    CHECK(measure(evaluate_quality(three + "\n\n\n\n", QualityThresholds()), "dup_line_frac").value == Approx(3.0 / 11));
    CHECK(measure(evaluate_quality(three, QualityThresholds()), "dup_line_frac").value == Approx(0.3));
    CHECK(passes(three, "dup_line_frac"));
    CHECK_FALSE(passes("a1\na2\na3\na4\na5\na6\na1\na1\na1\na1", "dup_line_frac"));
    // Paragraphs are separated by blank lines: 3 of 4 are repeats.
    CHECK_FALSE(passes("para one\n\npara one\n\n\npara one\n\npara one", "dup_para_frac"));
    // Character share: "xxxxxxxxxx" repeated once in 10 + 1 + 10 + 1 + 9 = 31 characters.
    std::string text = "xxxxxxxxxx\nxxxxxxxxxx\nyyyyyyyyy";
    CHECK(measure(evaluate_quality(text, QualityThresholds()), "dup_line_char_frac").value == Approx(10.0 / 31));
}

TEST_CASE("top and duplicated n-grams", "[quality]") {
    // "a b a b a b": 2-grams "a b" x3 and "b a" x2; top share = 3 * 3 / 11 characters.
    QualityReport report = evaluate_quality("a b a b a b", QualityThresholds());
    CHECK(measure(report, "top_2_gram").value == Approx(9.0 / 11));
    CHECK_FALSE(measure(report, "top_2_gram").passed);
    // Five distinct words twice: the second "abcde"-glued 5-gram repeats; 5 of 19 characters.
    QualityReport twice = evaluate_quality("a b c d e a b c d e", QualityThresholds());
    CHECK(measure(twice, "dup_5_gram").value == Approx(5.0 / 19));
    CHECK_FALSE(measure(twice, "dup_5_gram").passed);
    CHECK(measure(evaluate_quality(distinct_words(60), QualityThresholds()), "dup_5_gram").value == 0.0);
}

TEST_CASE("empty document has no division by zero", "[quality]") {
    QualityReport report = evaluate_quality("", QualityThresholds());
    CHECK_FALSE(report.passed);
    CHECK(report.first_failure == "min_doc_words");
    for (const QualityMeasure& m : report.measures) CHECK(m.value == m.value);  // no NaN
    CHECK(measure(report, "dup_line_frac").passed);
}

TEST_CASE("threshold override by name", "[quality]") {
    QualityThresholds thresholds;
    thresholds.set("min_doc_words=3");
    CHECK(measure(evaluate_quality("one two three", thresholds), "min_doc_words").passed);
    CHECK_THROWS_AS(thresholds.set("no_such_rule=1"), scorekit::UsageError);
    CHECK_THROWS_AS(thresholds.set("min_doc_words=many"), scorekit::UsageError);
}

TEST_CASE("threshold override rejects NaN", "[quality]") {
    QualityThresholds thresholds;
    CHECK_THROWS_AS(thresholds.set("min_doc_words=nan"), scorekit::UsageError);
    CHECK_THROWS_AS(thresholds.set("max_avg_word_length=NAN"), scorekit::UsageError);
    // An infinite maximum turns the bound off.
    thresholds.set("max_avg_word_length=inf");
    CHECK(measure(evaluate_quality(std::string(500, 'a'), thresholds), "max_avg_word_length").passed);
}

TEST_CASE("a verdict alone stops early with the same result", "[quality]") {
    // Without every rule, evaluation may stop at the first failure. The verdict and the failed
    // rule must still equal the full evaluation's, on documents that fail each kind of rule or none.
    const std::string prose = distinct_words(80) + " the of and to";
    const std::vector<std::string> texts = {
        "", prose, "a b a b a b", prose + "\n" + prose + "\n" + prose, distinct_words(30),
        prose + " " + prose, std::string(500, 'a'), prose + "\n\n" + prose + "\n\n" + distinct_words(70)};
    for (const std::string& text : texts) {
        QualityReport full = evaluate_quality(text, QualityThresholds());
        QualityReport verdict = evaluate_quality(text, QualityThresholds(), false);
        CHECK(verdict.passed == full.passed);
        CHECK(verdict.first_failure == full.first_failure);
        CHECK(verdict.measures.size() <= full.measures.size());
        if (full.passed) CHECK(verdict.measures.size() == full.measures.size());
    }
}

TEST_CASE("hyphen lines are bullets", "[quality]") {
    // U+2022 and "-" after leading whitespace both start a bullet line: 9 of 10 pass, 10 fail.
    std::string nine = repeat("  - item", 5, "\n") + "\n" + repeat("\xE2\x80\xA2 item", 4, "\n") + "\nplain line";
    CHECK(measure(evaluate_quality(nine, QualityThresholds()), "max_bullet_lines_ratio").value == Approx(0.9));
    CHECK(passes(nine, "max_bullet_lines_ratio"));
    CHECK_FALSE(passes(repeat("- item", 10, "\n"), "max_bullet_lines_ratio"));
}

TEST_CASE("lines split as str.splitlines", "[quality]") {
    // A final line break adds no line, CRLF is one break, and U+2028 also ends a line:
    // 3 ellipsis lines of 10 pass (0.3), and 4 of 13 "\n"-terminated lines fail (4 / 13 > 0.3).
    std::string crlf = repeat("ends so...", 3, "\r\n") + "\r\n" + repeat("plain", 6, "\r\n") + "\xE2\x80\xA8plain\n";
    CHECK(measure(evaluate_quality(crlf, QualityThresholds()), "max_ellipsis_lines_ratio").value == Approx(0.3));
    CHECK(passes(crlf, "max_ellipsis_lines_ratio"));
    std::string trailing = repeat("ends so...", 4, "\n") + "\n" + repeat("plain", 9, "\n") + "\n";
    CHECK(measure(evaluate_quality(trailing, QualityThresholds()), "max_ellipsis_lines_ratio").value == Approx(4.0 / 13));
    CHECK_FALSE(passes(trailing, "max_ellipsis_lines_ratio"));
}

TEST_CASE("punctuation-only words", "[quality]") {
    // "...", "--", U+2014 EM DASH and U+2026 ELLIPSIS are made of datatrove's punctuation, so they
    // are no words for the count and the mean length, but they still count as words per "#".
    std::string text = distinct_words(49) + " ... -- \xE2\x80\x94 \xE2\x80\xA6";
    CHECK(measure(evaluate_quality(text, QualityThresholds()), "min_doc_words").value == 49);
    CHECK_FALSE(passes(text, "min_doc_words"));
    CHECK(passes(distinct_words(50) + " \xE2\x80\x94", "min_doc_words"));
    // "e.g." and "x-ray" hold a letter: words. Mean length (4 + 5) / 2 with "--" left out.
    QualityReport report = evaluate_quality("e.g. x-ray --", QualityThresholds());
    CHECK(measure(report, "min_doc_words").value == 2);
    CHECK(measure(report, "min_avg_word_length").value == Approx(4.5));
}

TEST_CASE("words split at Unicode spaces", "[quality]") {
    // U+00A0 NO-BREAK SPACE and U+3000 IDEOGRAPHIC SPACE separate words as in str.split().
    std::string text = distinct_words(25) + "\xC2\xA0" + distinct_words(24) + "\xE3\x80\x80" "extra";
    CHECK(measure(evaluate_quality(text, QualityThresholds()), "min_doc_words").value == 50);
    CHECK(passes(text, "min_doc_words"));
}

TEST_CASE("letters as str.isalpha", "[quality]") {
    // U+00E9, U+4E2D and U+0416 are letters; U+00A9 COPYRIGHT SIGN, Arabic-Indic digits and
    // U+00BD are not.
    std::string letters = "caf\xC3\xA9 \xE4\xB8\xAD \xD0\x96 " + repeat("word", 5);
    CHECK(passes(letters + " \xC2\xA9 12", "min_alpha_words_ratio"));  // 8 / 10
    CHECK(measure(evaluate_quality(letters + " \xC2\xA9 12", QualityThresholds()), "min_alpha_words_ratio").value ==
          Approx(0.8));
    std::string seven = "caf\xC3\xA9 \xE4\xB8\xAD " + repeat("word", 5) + " \xC2\xA9 \xD9\xA1\xD9\xA2 \xC2\xBD";
    CHECK_FALSE(passes(seven, "min_alpha_words_ratio"));  // 7 / 10
}

TEST_CASE("stop words counted once each", "[quality]") {
    CHECK(measure(evaluate_quality("the the the cat", QualityThresholds()), "min_stop_words").value == 1);
    CHECK_FALSE(passes("the the the cat", "min_stop_words"));
    CHECK(measure(evaluate_quality("the cat of the hat", QualityThresholds()), "min_stop_words").value == 2);
    CHECK(passes("the cat of the hat", "min_stop_words"));
}

TEST_CASE("duplicate fractions count every piece", "[quality]") {
    // re.split("\n+") of text with a leading and a final newline has empty first and last pieces:
    // 3 repeats among 8 + 2 pieces pass (0.3); 3 repeats among 8 + 1 pieces fail (1 / 3).
    std::string framed = "\na1\na2\na3\na4\na5\na1\na1\na1\n";
    CHECK(measure(evaluate_quality(framed, QualityThresholds()), "dup_line_frac").value == Approx(0.3));
    CHECK(passes(framed, "dup_line_frac"));
    CHECK_FALSE(passes("a1\na2\na3\na4\na5\na1\na1\na1\n", "dup_line_frac"));
    // A blank paragraph is a piece but never a repeat: 1 repeat of 3 pieces fails (> 0.3).
    QualityReport report = evaluate_quality("para one\n\n \n\npara one", QualityThresholds());
    CHECK(measure(report, "dup_para_frac").value == Approx(1.0 / 3));
    CHECK_FALSE(measure(report, "dup_para_frac").passed);
}

TEST_CASE("top n-gram ties go to the first", "[quality]") {
    // "aa bb" and "c d" both occur twice, and "c d" reaches two first. "aa bb" occurred first, so
    // it wins, as Counter.most_common picks it: 5 characters x 2 over the 19 of the text.
    QualityReport report = evaluate_quality("aa bb c d c d aa bb", QualityThresholds());
    CHECK(measure(report, "top_2_gram").value == Approx(10.0 / 19));
}

TEST_CASE("glued n-grams ignore word boundaries", "[quality]") {
    // datatrove joins the words of a 5-gram without spaces, so "ab c d e f" and "a bc d e f" are
    // the same 5-gram "abcdef": the second counts as a repeat, 6 of the 21 characters.
    QualityReport report = evaluate_quality("ab c d e f a bc d e f", QualityThresholds());
    CHECK(measure(report, "dup_5_gram").value == Approx(6.0 / 21));
    // The spaced 2-grams tell the two apart: no 2-gram occurs twice except "d e" and "e f".
    CHECK(measure(report, "top_2_gram").value == Approx(3.0 * 2 / 21));
}

TEST_CASE("n-gram counts on a long repetitive text", "[quality]") {
    // 3,000 words of a 7-word cycle: every 5- to 10-gram after the first cycle's repeats, and the
    // top 2-gram occurs about 3000 / 7 times. The values are those of datatrove's definitions
    // computed by hand for this text.
    std::string cycle = "alpha beta gamma delta epsilon zeta theta";
    std::string text = repeat(cycle, 3000 / 7 + 1);
    std::size_t words = 7 * (3000 / 7 + 1);
    auto characters = static_cast<double>(text.size());
    QualityReport report = evaluate_quality(text, QualityThresholds());
    // "alpha beta" (10 characters) is the first of the seven 2-grams that all occur 429 times.
    CHECK(measure(report, "top_2_gram").value == Approx(10.0 * (words / 7) / characters));
    // The first 5-gram is new; from word 7 on, every 5-gram repeats and the scan skips 5 words.
    // Repeated characters: the words from index 7 to the last full 5-gram, glued.
    std::size_t first_repeat = 7, repeated_words = (words - first_repeat) / 5 * 5;
    std::string glued;
    std::vector<std::string> names = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "theta"};
    for (std::size_t i = first_repeat; i < first_repeat + repeated_words; ++i) glued += names[i % 7];
    CHECK(measure(report, "dup_5_gram").value == Approx(static_cast<double>(glued.size()) / characters));
}
