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
    std::string nine_bullets = repeat("\xE2\x80\xA2 item", 9, "\n") + "\n- plain line";
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
    // 10 non-blank lines, 3 of them repeats: 0.3 passes; 4 repeats fail. Blank lines never count.
    std::string three = "a1\na2\na3\na4\na5\na6\na7\na1\na1\na1\n\n\n\n";
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
