// Modified Kneser-Ney estimation: discounts, adjusted counts and interpolated probabilities
// worked out by hand on a three-sentence corpus.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "scorekit/error.hpp"
#include "scorekit/text/kneser_ney.hpp"
#include "scorekit/text/language_model.hpp"
#include "text_test_support.hpp"

using namespace scorekit::text;

namespace {

// Padded with <s> and </s>, the bigrams and their counts are: <s> a 2, <s> b 1, a b 3, a </s> 1,
// b a 1, b c 3, c a 1, c </s> 2. Word ids: <unk> 0, <s> 1, </s> 2, a 3, b 4, c 5.
const char* kCorpus = "a b a b c\na b c\nb c a\n";

KneserNeyModel estimate(const text_test::TempDir& dir, bool fallback) {
    text_test::write_file(dir.file("corpus.txt"), kCorpus);
    KneserNeyOptions options;
    options.order = 2;
    options.discount_fallback = fallback;
    return estimate_kneser_ney({dir.file("corpus.txt")}, options);
}

float log_probability(const NgramModel& model, const std::vector<std::string>& ngram) {
    float probability = 0, backoff = 0;
    REQUIRE(model.find(ngram, probability, backoff));
    return probability;
}

float backoff_weight(const NgramModel& model, const std::vector<std::string>& ngram) {
    float probability = 0, backoff = 0;
    REQUIRE(model.find(ngram, probability, backoff));
    return backoff;
}

}  // namespace

TEST_CASE("Kneser-Ney adjusted counts and discounts", "[kneser-ney]") {
    text_test::TempDir dir;
    KneserNeyModel model = estimate(dir, true);
    REQUIRE(model.vocabulary == std::vector<std::string>{"<unk>", "<s>", "</s>", "a", "b", "c"});
    // Unigram adjusted counts are distinct left neighbours: a {<s>, b, c} = 3, b {<s>, a} = 2,
    // </s> {a, c} = 2, c {b} = 1; <unk> and <s> have 0.
    CHECK(model.adjusted_counts[0] == std::vector<std::uint64_t>{0, 0, 2, 3, 2, 1});
    // The bigrams keep raw counts: n1 = 4, n2 = 2, n3 = 2, n4 = 0, so Y = 4 / (4 + 2 * 2) = 0.5,
    // D1 = 1 - 2 Y n2 / n1 = 0.5, D2 = 2 - 3 Y n3 / n2 = 0.5, D3+ = 3 - 4 Y n4 / n3 = 3.
    CHECK(model.counts_of_counts[1] == std::vector<std::uint64_t>{0, 4, 2, 2, 0});
    CHECK(model.discounts[1][1] == Approx(0.5f));
    CHECK(model.discounts[1][2] == Approx(0.5f));
    CHECK(model.discounts[1][3] == Approx(3.0f));
    // As in lmplz, the last unigram in suffix order (c, from the window "b c") enters the
    // statistics with its raw count 3, so no unigram has count 1 and the fallback applies.
    CHECK(model.counts_of_counts[0] == std::vector<std::uint64_t>{2, 0, 2, 2, 0});
    CHECK(model.discounts[0][1] == 0.5f);
    CHECK(model.discounts[0][2] == 1.0f);
    CHECK(model.discounts[0][3] == 1.5f);
}

TEST_CASE("Kneser-Ney without fallback rejects small corpus", "[kneser-ney]") {
    text_test::TempDir dir;
    CHECK_THROWS_AS(estimate(dir, false), scorekit::Error);
}

TEST_CASE("Kneser-Ney interpolated probabilities", "[kneser-ney]") {
    text_test::TempDir dir;
    KneserNeyModel estimated = estimate(dir, true);
    text_test::write_file(dir.file("model.arpa"), format_arpa(estimated));
    NgramModel model = NgramModel::load(dir.file("model.arpa"));

    // Unigrams: denominator 3 + 2 + 2 + 1 = 8, gamma = (0.5 * 1 + 1 * 2 + 1.5 * 1) / 8 = 0.5,
    // uniform 1 / 5 (the vocabulary without <s>), so each word gets 0.5 * 0.2 = 0.1 on top.
    CHECK(log_probability(model, {"<unk>"}) == Approx(std::log10(0.1)).margin(1e-6));
    CHECK(log_probability(model, {"a"}) == Approx(std::log10((3 - 1.5) / 8 + 0.1)).margin(1e-6));
    CHECK(log_probability(model, {"b"}) == Approx(std::log10((2 - 1.0) / 8 + 0.1)).margin(1e-6));
    CHECK(log_probability(model, {"c"}) == Approx(std::log10((1 - 0.5) / 8 + 0.1)).margin(1e-6));
    CHECK(log_probability(model, {"<s>"}) == 0.0f);

    // Context a: a b 3, a </s> 1; denominator 4, gamma = (0.5 * 1 + 3 * 1) / 4 = 0.875.
    CHECK(log_probability(model, {"a", "b"}) == Approx(std::log10((3 - 3) / 4.0 + 0.875 * 0.225)).margin(1e-6));
    CHECK(log_probability(model, {"a", "</s>"}) == Approx(std::log10((1 - 0.5) / 4.0 + 0.875 * 0.225)).margin(1e-6));
    CHECK(backoff_weight(model, {"a"}) == Approx(std::log10(0.875)).margin(1e-6));
    // Context <s>: <s> a 2, <s> b 1; denominator 3, gamma = (0.5 + 0.5) / 3.
    CHECK(log_probability(model, {"<s>", "a"}) == Approx(std::log10(1.5 / 3 + 0.2875 / 3)).margin(1e-6));
    CHECK(backoff_weight(model, {"<s>"}) == Approx(std::log10(1.0 / 3)).margin(1e-6));
    // Context c: c </s> 2, c a 1; denominator 3, gamma = 1 / 3.
    CHECK(log_probability(model, {"c", "</s>"}) == Approx(std::log10(1.5 / 3 + 0.225 / 3)).margin(1e-6));
    // </s> and <unk> are never contexts.
    CHECK(backoff_weight(model, {"</s>"}) == 0.0f);

    // "a b": p(a | <s>) p(b | a), then </s> | b backs off: p(</s>) * gamma(b), gamma(b) = 0.875.
    double expected = std::log10(1.5 / 3 + 0.2875 / 3) + std::log10(0.875 * 0.225) + std::log10(0.225 * 0.875);
    CHECK(model.score_sentence({"a", "b"}) == Approx(expected).margin(1e-5));
}

// A fallback discount above its adjusted count made probabilities negative, which came out as
// NaN back-off weights and log10 probabilities of 0 in the ARPA file.
TEST_CASE("Kneser-Ney rejects invalid fallback discounts", "[kneser-ney]") {
    text_test::TempDir dir;
    text_test::write_file(dir.file("corpus.txt"), kCorpus);
    KneserNeyOptions options;
    options.order = 2;
    options.discount_fallback = true;
    const std::vector<std::array<float, 3>> invalid = {
        {0.5f, 1.0f, 9.0f}, {-1.0f, 1.0f, 1.5f}, {1.5f, 1.0f, 1.5f}, {0.5f, 2.5f, 1.5f}, {std::nanf(""), 1.0f, 1.5f}};
    for (const auto& discounts : invalid) {
        INFO(discounts[0] << " " << discounts[1] << " " << discounts[2]);
        options.fallback = discounts;
        CHECK_THROWS_AS(estimate_kneser_ney({dir.file("corpus.txt")}, options), scorekit::UsageError);
    }
    options.fallback = {1.0f, 2.0f, 3.0f};  // the largest valid values
    KneserNeyModel model = estimate_kneser_ney({dir.file("corpus.txt")}, options);
    CHECK(model.discounts[0][3] == 3.0f);
}

// Order 1 was rejected although lmplz estimates it. The raw counts are a 4, b 4, c 3, </s> 3
// (14 in all), so no count is 1 or 2 and the fallback D3+ = 1.5 applies to every word. Then
// gamma = 1.5 * 4 / 14 and the uniform share is 1 / 5 (<unk>, </s>, a, b, c), 1.2 / 14 each.
TEST_CASE("Kneser-Ney unigram model", "[kneser-ney]") {
    text_test::TempDir dir;
    text_test::write_file(dir.file("corpus.txt"), kCorpus);
    KneserNeyOptions options;
    options.order = 1;
    options.discount_fallback = true;
    KneserNeyModel estimated = estimate_kneser_ney({dir.file("corpus.txt")}, options);
    REQUIRE(estimated.order == 1);
    CHECK(estimated.adjusted_counts[0] == std::vector<std::uint64_t>{0, 0, 3, 4, 4, 3});
    text_test::write_file(dir.file("model.arpa"), format_arpa(estimated));
    NgramModel model = NgramModel::load(dir.file("model.arpa"));
    CHECK(model.order() == 1);
    CHECK(log_probability(model, {"<unk>"}) == Approx(std::log10(1.2 / 14)).margin(1e-6));
    CHECK(log_probability(model, {"a"}) == Approx(std::log10(3.7 / 14)).margin(1e-6));
    CHECK(log_probability(model, {"c"}) == Approx(std::log10(2.7 / 14)).margin(1e-6));
    CHECK(log_probability(model, {"</s>"}) == Approx(std::log10(2.7 / 14)).margin(1e-6));
    CHECK(log_probability(model, {"<s>"}) == 0.0f);
    double expected = 2 * std::log10(3.7 / 14) + std::log10(2.7 / 14);
    CHECK(model.score_sentence({"a", "b"}) == Approx(expected).margin(1e-5));
    options.order = 0;
    CHECK_THROWS_AS(estimate_kneser_ney({dir.file("corpus.txt")}, options), scorekit::UsageError);
}

TEST_CASE("Kneser-Ney rejects special words in text", "[kneser-ney]") {
    text_test::TempDir dir;
    text_test::write_file(dir.file("corpus.txt"), "a <s> b\n");
    KneserNeyOptions options;
    options.order = 2;
    options.discount_fallback = true;
    CHECK_THROWS_AS(estimate_kneser_ney({dir.file("corpus.txt")}, options), scorekit::Error);
}

TEST_CASE("Kneser-Ney rejects text without words", "[kneser-ney]") {
    text_test::TempDir dir;
    KneserNeyOptions options;
    options.order = 2;
    options.discount_fallback = true;
    // With fallback discounts, such text gave a model without </s>, which the ARPA reader rejects.
    for (const char* text : {"", "\n \n\t\n"}) {
        INFO("text \"" << text << "\"");
        text_test::write_file(dir.file("corpus.txt"), text);
        CHECK_THROWS_WITH(estimate_kneser_ney({dir.file("corpus.txt")}, options),
                          Catch::Contains("contains no words"));
    }
}

TEST_CASE("float formatting as lmplz", "[kneser-ney]") {
    CHECK(format_float_shortest(-0.30103f) == "-0.30103");
    CHECK(format_float_shortest(0.0f) == "0");
    CHECK(format_float_shortest(-1.0f) == "-1");
    CHECK(format_float_shortest(-99.0f) == "-99");
    CHECK(format_float_shortest(1.5e-7f) == "1.5e-7");
    CHECK(format_float_shortest(0.000015f) == "0.000015");
}
