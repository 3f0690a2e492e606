// Interpolated modified Kneser-Ney estimation as KenLM's lmplz does it (no pruning).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace scorekit::text {

struct KneserNeyOptions {
    int order = 5;
    // Use `fallback` for an order whose discounts cannot be computed (a count of counts is zero or
    // a discount falls outside [0, k]); without it that case throws Error, as lmplz does.
    bool discount_fallback = false;
    std::array<float, 3> fallback = {0.5f, 1.0f, 1.5f};  // D1, D2, D3+ (lmplz's defaults)
};

// An estimated model. `grams[n - 1]` lists the n-grams as word ids in lexicographic id order;
// ids 0, 1, 2 are <unk>, <s>, </s>, then words in order of first appearance.
struct KneserNeyModel {
    int order = 0;
    std::vector<std::string> vocabulary;
    std::vector<std::array<float, 4>> discounts;                  // per order: 0, D1, D2, D3+
    std::vector<std::vector<std::uint64_t>> counts_of_counts;     // per order: n[0..4] of adjusted counts
    std::vector<std::vector<std::uint32_t>> grams;                // per order, n ids per n-gram
    std::vector<std::vector<std::uint64_t>> adjusted_counts;      // per order, one per n-gram
    std::vector<std::vector<float>> log_probabilities;            // log10, per order
    std::vector<std::vector<float>> backoffs;                     // log10, per order (0 at the top order)
    std::uint64_t tokens = 0;                                     // corpus words, without </s>
    std::uint64_t sentences = 0;
};

// Throws UsageError for an order outside 1..6 or a fallback discount D_k outside [0, k].
void check_kneser_ney_options(const KneserNeyOptions& options);

// Estimates a model from whitespace-tokenised sentences, one per line. Words are separated by
// spaces, tabs, CR or NUL as in lmplz. Checks `options` as check_kneser_ney_options does.
// Throws Error when a line contains <s>, </s> or <unk>,
// and when discounts cannot be computed without `discount_fallback`.
KneserNeyModel estimate_kneser_ney(const std::vector<std::string>& input_files, const KneserNeyOptions& options);

// Writes the model in ARPA form, with numbers in lmplz's shortest single-precision form, to
// `sink` in parts of about 1 MiB.
void write_arpa(const KneserNeyModel& model, const std::function<void(const std::string&)>& sink);

// The whole ARPA text of the model (write_arpa into one string).
std::string format_arpa(const KneserNeyModel& model);

// KenLM's float formatting (double-conversion ToShortestSingle, decimal from 1e-6 to 1e21).
std::string format_float_shortest(float value);

}  // namespace scorekit::text
