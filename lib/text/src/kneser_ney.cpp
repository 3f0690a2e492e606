// Modified Kneser-Ney estimation following KenLM's lmplz (lm/builder: corpus_count.cc,
// adjust_counts.cc, initial_probabilities.cc, interpolate.cc), including its single-precision
// arithmetic, so that the ARPA output agrees with lmplz's.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <unordered_map>

#include "scorekit/error.hpp"
#include "scorekit/log.hpp"
#include "scorekit/text/kneser_ney.hpp"
#include "scorekit/text_input.hpp"

namespace scorekit::text {
namespace {

constexpr int kMaxOrder = 6;  // lmplz's default KENLM_MAX_ORDER
constexpr std::uint32_t kUnknown = 0, kBegin = 1, kEnd = 2;
constexpr std::uint32_t kPad = std::numeric_limits<std::uint32_t>::max();

using Gram = std::array<std::uint32_t, kMaxOrder>;

struct Counted {
    Gram gram;
    std::uint64_t count;
};

// Sorts and merges equal n-grams, adding their counts.
void sort_and_merge(std::vector<Counted>& entries) {
    std::sort(entries.begin(), entries.end(), [](const Counted& a, const Counted& b) { return a.gram < b.gram; });
    std::size_t out = 0;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        if (out > 0 && entries[out - 1].gram == entries[i].gram) {
            entries[out - 1].count += entries[i].count;
        } else {
            entries[out++] = entries[i];
        }
    }
    entries.resize(out);
}

// Returns whether the first `n` words of `a` and `b` are equal. It is a plain loop, because
// std::equal on these arrays calls memcmp, which took a seventh of train-lm's time here.
bool same_words(const std::uint32_t* a, const std::uint32_t* b, int n) {
    for (int k = 0; k < n; ++k) {
        if (a[k] != b[k]) return false;
    }
    return true;
}

Gram make_gram(const std::uint32_t* words, int n) {
    Gram gram;
    gram.fill(kPad);
    std::copy(words, words + n, gram.begin());
    return gram;
}

// Reads the corpus into windows of `order` words over <s>^(order-1) w1 .. wk </s>, counting
// each window. A window whose second word is <s> is collapsed to the shorter n-gram that starts
// at its last <s>, with its raw count (lmplz's CollapseStream); `levels[n - 1]` receives those.
void count_windows(const std::vector<std::string>& files, int order, std::vector<std::string>& vocabulary,
                   std::vector<std::vector<Counted>>& levels, std::uint64_t& tokens, std::uint64_t& sentences) {
    std::unordered_map<std::string, std::uint32_t> ids;
    vocabulary = {"<unk>", "<s>", "</s>"};
    for (std::uint32_t id = 0; id < 3; ++id) ids.emplace(vocabulary[id], id);
    levels.assign(static_cast<std::size_t>(order), {});
    std::vector<std::uint32_t> sentence;
    std::string line;
    std::size_t merged_size = 0;  // size of the top-order list after its last merge
    for (const std::string& file : files) {
        LineReader reader(file);
        std::uint64_t line_number = 0;
        while (reader.next(line)) {
            ++line_number;
            sentence.assign(static_cast<std::size_t>(order - 1), kBegin);
            std::size_t i = 0;
            while (i < line.size()) {
                auto delimiter = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\0'; };
                while (i < line.size() && delimiter(line[i])) ++i;
                std::size_t start = i;
                while (i < line.size() && !delimiter(line[i])) ++i;
                if (i == start) break;
                std::string word = line.substr(start, i - start);
                auto found = ids.find(word);
                if (found == ids.end()) {
                    found = ids.emplace(word, static_cast<std::uint32_t>(vocabulary.size())).first;
                    vocabulary.push_back(word);
                } else if (found->second <= kEnd) {
                    throw Error(describe("invalid training text", file + ":" + std::to_string(line_number),
                                         "the special word " + word + " appears in the text",
                                         "remove <s>, </s> and <unk> from the corpus"));
                }
                sentence.push_back(found->second);
                ++tokens;
            }
            sentence.push_back(kEnd);
            ++sentences;
            for (std::size_t end = static_cast<std::size_t>(order); end <= sentence.size(); ++end) {
                const std::uint32_t* window = sentence.data() + end - order;
                int first = 0;  // position of the last leading <s>
                while (first + 1 < order && window[first + 1] == kBegin) ++first;
                int n = order - first;
                levels[static_cast<std::size_t>(n - 1)].push_back({make_gram(window + first, n), 1});
            }
            // Merge repeated windows as the list grows, so memory follows distinct n-grams.
            std::vector<Counted>& top = levels.back();
            if (top.size() > 2 * merged_size + (1u << 22)) {
                sort_and_merge(top);
                merged_size = top.size();
            }
        }
    }
    for (auto& level : levels) sort_and_merge(level);
}

bool starts_with_begin(const Gram& gram) { return gram[0] == kBegin; }

// lmplz's AdjustCounts flushes the lower-order n-grams that are still open after the last
// window (in suffix order: compared from the last word back) with their raw count in place of
// the adjusted count, and its discounts use those statistics. Returns, per order n below the
// top, the n-word suffix of that last window that this applies to, or kPad entries for none.
std::vector<Gram> last_window_suffixes(const std::vector<std::vector<Counted>>& levels, int order) {
    auto padded = [&](const Gram& gram, int n) {  // the window before collapsing
        Gram window;
        window.fill(kPad);
        for (int k = 0; k < order - n; ++k) window[static_cast<std::size_t>(k)] = kBegin;
        std::copy(gram.begin(), gram.begin() + n, window.begin() + (order - n));
        return window;
    };
    auto suffix_less = [&](const Gram& a, const Gram& b) {
        for (int k = order - 1; k >= 0; --k) {
            if (a[static_cast<std::size_t>(k)] != b[static_cast<std::size_t>(k)]) {
                return a[static_cast<std::size_t>(k)] < b[static_cast<std::size_t>(k)];
            }
        }
        return false;
    };
    bool found = false;
    Gram last;
    for (int n = 1; n <= order; ++n) {
        for (const Counted& entry : levels[static_cast<std::size_t>(n - 1)]) {
            if (n < order && !starts_with_begin(entry.gram)) continue;  // only windows, collapsed or not
            Gram window = n == order ? entry.gram : padded(entry.gram, n);
            if (!found || suffix_less(last, window)) last = window, found = true;
        }
    }
    std::vector<Gram> suffixes(static_cast<std::size_t>(order));
    for (auto& suffix : suffixes) suffix.fill(kPad);
    if (!found) return suffixes;
    int first = 0;  // index of the last leading <s>: orders 1 to order - first are still open
    while (first + 1 < order && last[static_cast<std::size_t>(first + 1)] == kBegin) ++first;
    for (int n = 1; n < order && n <= order - first; ++n) {
        Gram& suffix = suffixes[static_cast<std::size_t>(n - 1)];
        std::copy(last.begin() + (order - n), last.begin() + order, suffix.begin());
    }
    return suffixes;
}

// Number of windows (collapsed ones included) that end with the n words of `gram`.
std::uint64_t raw_count(const std::vector<std::vector<Counted>>& levels, int order, const Gram& gram, int n) {
    std::uint64_t total = 0;
    for (int m = n; m <= order; ++m) {
        for (const Counted& entry : levels[static_cast<std::size_t>(m - 1)]) {
            if (m < order && !starts_with_begin(entry.gram)) continue;
            if (std::equal(gram.begin(), gram.begin() + n, entry.gram.begin() + (m - n))) total += entry.count;
        }
    }
    return total;
}

// Chen and Goodman's equation (26) as lmplz's StatCollector::CalculateDiscounts computes it.
std::array<float, 4> compute_discounts(const std::vector<std::uint64_t>& n, int order, const KneserNeyOptions& options) {
    std::array<float, 4> discount{0.0f, 0.0f, 0.0f, 0.0f};
    std::string problem;
    for (unsigned j = 1; j < 4 && problem.empty(); ++j) {
        if (n[j] == 0) {
            problem = "no " + std::to_string(order) + "-grams have adjusted count " + std::to_string(j);
        }
    }
    if (problem.empty()) {
        float y = static_cast<float>(n[1]) / static_cast<float>(n[1] + 2.0 * n[2]);
        for (unsigned j = 1; j < 4; ++j) {
            discount[j] = static_cast<float>(j) -
                          static_cast<float>(j + 1) * y * static_cast<float>(n[j + 1]) / static_cast<float>(n[j]);
            if ((discount[j] < 0.0f || discount[j] > static_cast<float>(j)) && problem.empty()) {
                problem = "the discount for adjusted count " + std::to_string(j) + " is " +
                          format_float_shortest(discount[j]) + ", outside [0, " + std::to_string(j) + "]";
            }
        }
    }
    if (problem.empty()) return discount;
    if (!options.discount_fallback) {
        throw Error(describe("cannot estimate Kneser-Ney discounts", std::to_string(order) + "-grams", problem,
                             "use more or deduplicated text, or --discount-fallback"));
    }
    log_warning("substituting fallback discounts for " + std::to_string(order) + "-grams (" + problem + ")");
    return {0.0f, options.fallback[0], options.fallback[1], options.fallback[2]};
}

// Returns the index of the first n-gram of `level` (sorted) that does not sort before the first
// `length` words of `prefix`, searching forward from `from`, which must not be past it. From a
// known position the search gallops, so lookups in sorted order cost little more than a merge.
std::size_t lower_bound_from(const std::vector<Counted>& level, const Gram& prefix, int length, std::size_t from) {
    Gram low = prefix;
    for (int k = length; k < kMaxOrder; ++k) low[static_cast<std::size_t>(k)] = 0;
    auto before = [&](std::size_t at) { return level[at].gram < low; };
    std::size_t begin = from, end = from == 0 ? level.size() : from, step = 1;
    while (end < level.size() && before(end)) {
        begin = end + 1;
        end = from + step;
        step *= 2;
    }
    end = std::min(end, level.size());
    auto it = std::lower_bound(level.begin() + static_cast<std::ptrdiff_t>(begin), level.begin() + static_cast<std::ptrdiff_t>(end), low,
                               [](const Counted& entry, const Gram& key) { return entry.gram < key; });
    return static_cast<std::size_t>(it - level.begin());
}

// Open-addressing index of a level's n-grams for the suffix lookups of the next order, which come
// in no useful order. A lookup reads about two cache lines, where a binary search over tens of
// millions of n-grams missed the cache about a dozen times (an estimate from its depth).
class LevelIndex {
public:
    LevelIndex(const std::vector<Counted>& level, int length) : level_(level), length_(length) {
        std::size_t slots = 16;
        while (slots < level.size() + level.size() / 2) slots *= 2;
        slots_.assign(slots, kEmpty);
        mask_ = slots - 1;
        for (std::size_t i = 0; i < level.size(); ++i) {
            std::size_t slot = hash(level[i].gram) & mask_;
            while (slots_[slot] != kEmpty) slot = (slot + 1) & mask_;
            slots_[slot] = static_cast<std::uint32_t>(i);
        }
    }

    // Returns whether a level of `size` n-grams fits the 32-bit slots.
    static bool fits(std::size_t size) { return size < kEmpty; }

    // Returns the index of the n-gram whose words are the first `length` of `gram`, or the level
    // size if there is none.
    std::size_t find(const Gram& gram) const {
        for (std::size_t slot = hash(gram) & mask_; slots_[slot] != kEmpty; slot = (slot + 1) & mask_) {
            const Gram& stored = level_[slots_[slot]].gram;
            if (same_words(gram.data(), stored.data(), length_)) return slots_[slot];
        }
        return level_.size();
    }

private:
    static constexpr std::uint32_t kEmpty = std::numeric_limits<std::uint32_t>::max();

    std::size_t hash(const Gram& gram) const {
        std::uint64_t h = 0x9E3779B97F4A7C15ULL;
        for (int k = 0; k < length_; ++k) {
            h = (h ^ gram[static_cast<std::size_t>(k)]) * 0xBF58476D1CE4E5B9ULL;
            h ^= h >> 31;
        }
        return static_cast<std::size_t>(h);
    }

    const std::vector<Counted>& level_;
    int length_;
    std::vector<std::uint32_t> slots_;
    std::size_t mask_ = 0;
};

// Returns whether n-gram `at` of `level` exists and starts with the first `length` words of
// `prefix`.
bool has_prefix(const std::vector<Counted>& level, std::size_t at, const Gram& prefix, int length) {
    return at < level.size() &&
           same_words(prefix.data(), level[at].gram.data(), length);
}

}  // namespace

std::string format_float_shortest(float value) {
    if (value == 0.0f) return std::signbit(value) ? "-0" : "0";
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
    char buffer[64];
    auto result = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
    std::string scientific(buffer, result.ptr);
    std::size_t e = scientific.find('e');
    int exponent = std::atoi(scientific.c_str() + e + 1);
    std::string digits;
    for (std::size_t i = 0; i < e; ++i) {
        if (scientific[i] >= '0' && scientific[i] <= '9') digits += scientific[i];
    }
    std::string out = value < 0 ? "-" : "";
    if (exponent < -6 || exponent >= 21) {
        out += digits.substr(0, 1);
        if (digits.size() > 1) out += "." + digits.substr(1);
        return out + "e" + (exponent < 0 ? "-" : "+") + std::to_string(std::abs(exponent));
    }
    if (exponent < 0) return out + "0." + std::string(static_cast<std::size_t>(-exponent - 1), '0') + digits;
    auto integer_digits = static_cast<std::size_t>(exponent + 1);
    if (digits.size() <= integer_digits) return out + digits + std::string(integer_digits - digits.size(), '0');
    return out + digits.substr(0, integer_digits) + "." + digits.substr(integer_digits);
}

void check_kneser_ney_options(const KneserNeyOptions& options) {
    if (options.order < 1 || options.order > kMaxOrder) {
        throw UsageError(describe("invalid --order", std::to_string(options.order), "must be between 1 and 6", ""));
    }
    // A discount above its adjusted count k makes probabilities negative (NaN in the ARPA file).
    // lmplz rejects a --discount_fallback value outside [0, k] as well (lmplz_main.cc).
    for (int k = 1; k <= 3; ++k) {
        float discount = options.fallback[k - 1];
        if (!(discount >= 0.0f && discount <= static_cast<float>(k))) {
            throw UsageError(describe("invalid --fallback-discounts", format_float_shortest(discount),
                                      "D" + std::to_string(k) + (k == 3 ? "+" : "") + " must be between 0 and " + std::to_string(k),
                                      "give three discounts such as lmplz's 0.5 1 1.5"));
        }
    }
}

KneserNeyModel estimate_kneser_ney(const std::vector<std::string>& input_files, const KneserNeyOptions& options) {
    check_kneser_ney_options(options);
    const int order = options.order;
    KneserNeyModel model;
    model.order = order;
    std::vector<std::vector<Counted>> levels;
    count_windows(input_files, order, model.vocabulary, levels, model.tokens, model.sentences);
    if (model.tokens == 0) {
        std::string files;
        for (const std::string& file : input_files) files += (files.empty() ? "" : ", ") + file;
        throw Error(describe("invalid training text", files, "it contains no words",
                             "give tokenised text, one sentence per line with words separated by spaces"));
    }

    // Adjusted counts: raw at the top order and for n-grams that start with <s>; below the top
    // order, the number of distinct words seen to the left (lmplz's AdjustCounts).
    for (int n = order - 1; n >= 1; --n) {
        std::vector<Counted>& lower = levels[static_cast<std::size_t>(n - 1)];
        for (const Counted& entry : levels[static_cast<std::size_t>(n)]) {
            Gram suffix;
            suffix.fill(kPad);
            std::copy(entry.gram.begin() + 1, entry.gram.begin() + n + 1, suffix.begin());
            if (!starts_with_begin(suffix)) lower.push_back({suffix, 1});
        }
        if (n == 1) {
            lower.push_back({make_gram(&kUnknown, 1), 0});
            lower.push_back({make_gram(&kBegin, 1), 0});
        }
        sort_and_merge(lower);
    }

    // A unigram model has no lower order whose pass above adds <unk> and <s>.
    if (order == 1) {
        levels[0].push_back({make_gram(&kUnknown, 1), 0});
        levels[0].push_back({make_gram(&kBegin, 1), 0});
        sort_and_merge(levels[0]);
    }

    // Discounts from the counts of counts of adjusted counts.
    std::vector<Gram> last_suffixes = last_window_suffixes(levels, order);
    model.discounts.resize(static_cast<std::size_t>(order));
    model.counts_of_counts.resize(static_cast<std::size_t>(order));
    for (int n = 1; n <= order; ++n) {
        std::vector<std::uint64_t> counts(5, 0);
        for (const Counted& entry : levels[static_cast<std::size_t>(n - 1)]) {
            std::uint64_t count = entry.count;
            if (n < order && entry.gram == last_suffixes[static_cast<std::size_t>(n - 1)]) {
                count = raw_count(levels, order, entry.gram, n);
            }
            if (count < 5) ++counts[count];
        }
        model.counts_of_counts[static_cast<std::size_t>(n - 1)] = counts;
        model.discounts[static_cast<std::size_t>(n - 1)] = compute_discounts(counts, n, options);
    }

    // Uninterpolated probabilities and the gamma of each context (lmplz's AddRight/MergeRight).
    std::vector<std::vector<float>> uninterpolated(static_cast<std::size_t>(order));
    std::vector<std::vector<float>> context_gamma(static_cast<std::size_t>(order));  // per n-gram: gamma of its context
    for (int n = 1; n <= order; ++n) {
        const std::vector<Counted>& level = levels[static_cast<std::size_t>(n - 1)];
        const std::array<float, 4>& discount = model.discounts[static_cast<std::size_t>(n - 1)];
        std::vector<float>& probability = uninterpolated[static_cast<std::size_t>(n - 1)];
        std::vector<float>& gamma_of = context_gamma[static_cast<std::size_t>(n - 1)];
        probability.resize(level.size());
        gamma_of.resize(level.size());
        for (std::size_t begin = 0; begin < level.size();) {
            std::size_t end = begin;
            std::uint64_t denominator = 0;
            std::uint64_t with_count[4] = {0, 0, 0, 0};
            while (end < level.size() &&
                   same_words(level[begin].gram.data(), level[end].gram.data(), n - 1)) {
                denominator += level[end].count;
                if (level[end].count > 0) ++with_count[std::min<std::uint64_t>(level[end].count, 3)];
                ++end;
            }
            float denominator_float = static_cast<float>(denominator);
            float gamma = 0.0f;
            for (unsigned i = 1; i <= 3; ++i) gamma += discount[i] * static_cast<float>(with_count[i]);
            gamma += 0.0f;  // lmplz adds the pruned mass here; nothing is pruned
            gamma /= denominator_float;
            for (std::size_t k = begin; k < end; ++k) {
                std::uint64_t count = level[k].count;
                float applied = static_cast<float>(count) - discount[std::min<std::uint64_t>(count, 3)];
                probability[k] = applied / denominator_float;
                gamma_of[k] = gamma;
                if (n == 1 && level[k].gram[0] == kUnknown) probability[k] = 0.0f;
                if (n == 1 && level[k].gram[0] == kBegin) {
                    probability[k] = 1.0f;
                    gamma_of[k] = 0.0f;
                }
            }
            begin = end;
        }
    }

    // Interpolation with the lower order, down to the uniform distribution over the vocabulary
    // without <s> (lmplz's Interpolate), then log10 and the back-off weights.
    const float uniform = static_cast<float>(1.0 / static_cast<float>(levels[0].size() - 1));
    std::vector<std::vector<float>> interpolated(static_cast<std::size_t>(order));
    model.grams.resize(static_cast<std::size_t>(order));
    model.adjusted_counts.resize(static_cast<std::size_t>(order));
    model.log_probabilities.resize(static_cast<std::size_t>(order));
    model.backoffs.resize(static_cast<std::size_t>(order));
    for (int n = 1; n <= order; ++n) {
        const auto index = static_cast<std::size_t>(n - 1);
        const std::vector<Counted>& level = levels[index];
        interpolated[index].resize(level.size());
        std::unique_ptr<LevelIndex> lower_index;
        if (n > 1 && LevelIndex::fits(levels[index - 1].size())) {
            lower_index = std::make_unique<LevelIndex>(levels[index - 1], n - 1);
        }
        for (std::size_t k = 0; k < level.size(); ++k) {
            float lower = uniform;
            if (n > 1) {
                Gram suffix;
                suffix.fill(kPad);
                std::copy(level[k].gram.begin() + 1, level[k].gram.begin() + n, suffix.begin());
                std::size_t at = lower_index ? lower_index->find(suffix) : lower_bound_from(levels[index - 1], suffix, n - 1, 0);
                if (!has_prefix(levels[index - 1], at, suffix, n - 1)) {
                    throw Error("internal error: an n-gram suffix is missing from the lower order");
                }
                lower = interpolated[index - 1][at];
            }
            interpolated[index][k] = uninterpolated[index][k] + context_gamma[index][k] * lower;
        }
        model.grams[index].reserve(level.size() * static_cast<std::size_t>(n));
        model.adjusted_counts[index].reserve(level.size());
        model.log_probabilities[index].reserve(level.size());
        model.backoffs[index].reserve(level.size());
        // The contexts of the next order come in the same sorted order as this level.
        std::size_t context_at = 0;
        for (std::size_t k = 0; k < level.size(); ++k) {
            for (int w = 0; w < n; ++w) model.grams[index].push_back(level[k].gram[static_cast<std::size_t>(w)]);
            model.adjusted_counts[index].push_back(level[k].count);
            model.log_probabilities[index].push_back(std::min(0.0f, std::log10(interpolated[index][k])));
            float backoff = 1.0f;
            std::uint32_t last = level[k].gram[static_cast<std::size_t>(n - 1)];
            if (n < order && last != kUnknown && last != kEnd) {
                context_at = lower_bound_from(levels[index + 1], level[k].gram, n, context_at);
                if (has_prefix(levels[index + 1], context_at, level[k].gram, n)) backoff = context_gamma[index + 1][context_at];
            }
            model.backoffs[index].push_back(std::log10(backoff));
        }
    }
    return model;
}

void write_arpa(const KneserNeyModel& model, const std::function<void(const std::string&)>& sink) {
    std::string out = "\\data\\\n";
    for (int n = 1; n <= model.order; ++n) {
        out += "ngram " + std::to_string(n) + "=" + std::to_string(model.adjusted_counts[static_cast<std::size_t>(n - 1)].size()) + "\n";
    }
    out += "\n";
    for (int n = 1; n <= model.order; ++n) {
        const auto index = static_cast<std::size_t>(n - 1);
        out += "\\" + std::to_string(n) + "-grams:\n";
        std::size_t count = model.adjusted_counts[index].size();
        for (std::size_t k = 0; k < count; ++k) {
            out += format_float_shortest(model.log_probabilities[index][k]);
            out += '\t';
            for (int w = 0; w < n; ++w) {
                if (w) out += ' ';
                out += model.vocabulary[model.grams[index][k * static_cast<std::size_t>(n) + static_cast<std::size_t>(w)]];
            }
            if (n < model.order) {
                out += '\t';
                out += format_float_shortest(model.backoffs[index][k]);
            }
            out += '\n';
            if (out.size() > (1u << 20)) {
                sink(out);
                out.clear();
            }
        }
        out += "\n";
    }
    out += "\\end\\\n";
    sink(out);
}

std::string format_arpa(const KneserNeyModel& model) {
    std::string arpa;
    write_arpa(model, [&](const std::string& part) { arpa += part; });
    return arpa;
}

}  // namespace scorekit::text
