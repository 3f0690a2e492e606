// Gopher quality and repetition rules.
#include "scorekit/text/quality_rules.hpp"

#include <algorithm>
#include <bitset>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <string_view>
#include <unordered_set>

#include "scorekit/error.hpp"
#include "scorekit/text/document.hpp"
#include "scorekit/text/language_model.hpp"
#include "scorekit/text/unicode.hpp"

namespace scorekit::text {
namespace {

// The non-ASCII characters of datatrove's PUNCTUATION_SET (datatrove/utils/text.py, release
// 0.10.0): control characters U+0080..U+009F, CJK and typographic punctuation, and the sentence
// terminators of other scripts. Sorted, for a binary search.
constexpr char32_t kNonAsciiPunctuation[] = {
    0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8A, 0x8B, 0x8C, 0x8D, 0x8E, 0x8F, 0x90, 0x91, 0x92, 0x93,
    0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D,
    0x9E, 0x9F, 0xAB, 0xB4, 0xBB, 0x589, 0x61D, 0x61E, 0x61F, 0x6D4,
    0x700, 0x701, 0x702, 0x7F9, 0x837, 0x839, 0x83D, 0x83E, 0x964, 0x965,
    0x104A, 0x104B, 0x1362, 0x1367, 0x1368, 0x166E, 0x1735, 0x1736, 0x17D4, 0x17D5,
    0x17D6, 0x17D9, 0x17DA, 0x1803, 0x1809, 0x1944, 0x1945, 0x1AA8, 0x1AA9, 0x1AAA,
    0x1AAB, 0x1B5A, 0x1B5B, 0x1B5E, 0x1B5F, 0x1B7D, 0x1B7E, 0x1C3B, 0x1C3C, 0x1C7E,
    0x1C7F, 0x2013, 0x2014, 0x2019, 0x201C, 0x201D, 0x201E, 0x2026, 0x203C, 0x203D,
    0x2047, 0x2048, 0x2049, 0x2236, 0x2501, 0x25BA, 0x2E2E, 0x2E3C, 0x2E53, 0x2E54,
    0x3001, 0x3002, 0x3008, 0x3009, 0x300A, 0x300B, 0x300C, 0x300D, 0x3010, 0x3011,
    0xA4FF, 0xA60E, 0xA60F, 0xA6F3, 0xA6F7, 0xA876, 0xA877, 0xA8CE, 0xA8CF, 0xA92F,
    0xA9C8, 0xA9C9, 0xAA5D, 0xAA5E, 0xAA5F, 0xAAF0, 0xAAF1, 0xABEB, 0xFE52, 0xFE56,
    0xFE57, 0xFF01, 0xFF05, 0xFF08, 0xFF09, 0xFF0C, 0xFF0E, 0xFF11, 0xFF1A, 0xFF1B,
    0xFF1F, 0xFF5E, 0xFF61, 0x10A56, 0x10A57, 0x10F55, 0x10F56, 0x10F57, 0x10F58, 0x10F59,
    0x10F86, 0x10F87, 0x10F88, 0x10F89, 0x11047, 0x11048, 0x110BE, 0x110BF, 0x110C0, 0x110C1,
    0x11141, 0x11142, 0x11143, 0x111C5, 0x111C6, 0x111CD, 0x111DE, 0x111DF, 0x11238, 0x11239,
    0x1123B, 0x1123C, 0x112A9, 0x1144B, 0x1144C, 0x115C2, 0x115C3, 0x115C9, 0x115CA, 0x115CB,
    0x115CC, 0x115CD, 0x115CE, 0x115CF, 0x115D0, 0x115D1, 0x115D2, 0x115D3, 0x115D4, 0x115D5,
    0x115D6, 0x115D7, 0x11641, 0x11642, 0x1173C, 0x1173D, 0x1173E, 0x11944, 0x11946, 0x11A42,
    0x11A43, 0x11A9B, 0x11A9C, 0x11C41, 0x11C42, 0x11EF7, 0x11EF8, 0x11F43, 0x11F44, 0x16A6E,
    0x16A6F, 0x16AF5, 0x16B37, 0x16B38, 0x16B44, 0x16E98, 0x1BC9F, 0x1DA88,
};

// True for a character of datatrove's PUNCTUATION_SET: ASCII punctuation, the control characters
// other than TAB and LF, and kNonAsciiPunctuation.
bool is_punctuation(char32_t cp) {
    if (cp < 0x80) {
        static const std::string ascii = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
        return cp == 0x7F || (cp < 0x20 && cp != '\t' && cp != '\n') || ascii.find(static_cast<char>(cp)) != std::string::npos;
    }
    return std::binary_search(std::begin(kNonAsciiPunctuation), std::end(kNonAsciiPunctuation), cp);
}

// The results of is_python_space, is_punctuation and is_python_alpha for ASCII, computed once so
// that the loops over every byte of a document call no function for ASCII text.
struct AsciiClasses {
    AsciiClasses() {
        for (char32_t c = 0; c < 128; ++c) {
            space[c] = is_python_space(c);
            punctuation[c] = is_punctuation(c);
            alpha[c] = is_python_alpha(c);
        }
    }

    bool space[128];
    bool punctuation[128];
    bool alpha[128];
};

const AsciiClasses& ascii_classes() {
    static const AsciiClasses classes;
    return classes;
}

struct WordClass {
    std::size_t code_points = 0;
    bool punctuation_only = true;  // datatrove leaves such words ("...", "--") out of the word count
    bool has_letter = false;       // a character has Python's str.isalpha()
};

WordClass classify_word(std::string_view word) {
    const AsciiClasses& ascii = ascii_classes();
    WordClass word_class;
    for (std::size_t i = 0; i < word.size();) {
        auto byte = static_cast<unsigned char>(word[i]);
        ++word_class.code_points;
        if (byte < 0x80) {
            ++i;
            word_class.punctuation_only = word_class.punctuation_only && ascii.punctuation[byte];
            word_class.has_letter = word_class.has_letter || ascii.alpha[byte];
            continue;
        }
        char32_t cp = next_code_point(word, i);
        // The binary searches run only while their result can still change.
        if (word_class.punctuation_only) word_class.punctuation_only = is_punctuation(cp);
        if (!word_class.has_letter) word_class.has_letter = is_python_alpha(cp);
    }
    return word_class;
}

// Splits at runs of whitespace as Python's str.split() does, so that no-break spaces and the
// other Unicode spaces separate words too.
std::vector<std::string_view> split_words(std::string_view text) {
    const AsciiClasses& ascii = ascii_classes();
    std::vector<std::string_view> words;
    std::size_t start = 0, i = 0;
    bool in_word = false;
    while (i < text.size()) {
        std::size_t at = i;
        auto byte = static_cast<unsigned char>(text[i]);
        bool space = false;
        if (byte < 0x80) {
            space = ascii.space[byte];
            ++i;
        } else {
            space = is_python_space(next_code_point(text, i));
        }
        if (space && in_word) words.push_back(text.substr(start, at - start));
        if (!space && !in_word) start = at;
        in_word = !space;
    }
    if (in_word) words.push_back(text.substr(start));
    return words;
}

// Number of pieces of Python's re.split("\n+", text): one more than the runs of newlines.
std::size_t count_newline_run_pieces(std::string_view text) {
    std::size_t pieces = 1;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\n')) ++pieces;
    }
    return pieces;
}

// Splits at every "\n", as Python's str.split("\n") does.
std::vector<std::string_view> split_newlines(std::string_view text) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (true) {
        std::size_t at = text.find('\n', start);
        parts.push_back(text.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
        if (at == std::string_view::npos) break;
        start = at + 1;
    }
    return parts;
}

// Splits at runs of two or more newlines (datatrove's paragraph pattern "\n{2,}").
std::vector<std::string_view> split_paragraphs(std::string_view text) {
    std::vector<std::string_view> parts;
    std::size_t start = 0, i = 0;
    while (i < text.size()) {
        if (text[i] == '\n' && i + 1 < text.size() && text[i + 1] == '\n') {
            parts.push_back(text.substr(start, i - start));
            while (i < text.size() && text[i] == '\n') ++i;
            start = i;
        } else {
            ++i;
        }
    }
    parts.push_back(text.substr(start));
    return parts;
}

// datatrove's find_duplicates, skipping blank elements: (duplicate elements, their characters).
std::pair<std::size_t, std::size_t> find_duplicates(const std::vector<std::string_view>& elements) {
    std::unordered_set<std::string_view> seen;
    seen.reserve(elements.size());
    std::size_t count = 0, characters = 0;
    for (std::string_view element : elements) {
        if (strip_whitespace(element).empty()) continue;
        if (!seen.insert(element).second) {
            ++count;
            characters += count_code_points(element);
        }
    }
    return {count, characters};
}

std::size_t count_occurrences(const std::string& text, const std::string& pattern) {
    std::size_t count = 0;
    for (std::size_t at = text.find(pattern); at != std::string::npos; at = text.find(pattern, at + pattern.size())) ++count;
    return count;
}

double ratio(double part, double whole) { return whole > 0 ? part / whole : 0.0; }

// The words laid end to end in one string, each followed by `separator` (empty or one space).
// The n-gram of words [i, i + n) is then one view of it, without its last separator.
//
// Each n-gram also gets a hash in constant time, from prefix sums of a polynomial hash of the
// string modulo 2^64: the sum over its bytes of (byte + 1) * kBase^k, with k counted from the
// n-gram's first byte. Prefix sums count k from the start of the string, and multiplying by
// the inverse of kBase^start (an odd number has an inverse modulo 2^64) shifts them to the
// n-gram's start. Equal strings thus get equal hashes whatever their word boundaries, which
// the glued n-grams need ("ab" "c" equals "a" "bc", as datatrove joins them). Different strings
// may collide; the tables below compare the bytes.
class WordRun {
public:
    WordRun(const std::vector<std::string_view>& words, std::string_view separator) : gap_(separator.size()) {
        std::size_t bytes = 0;
        for (std::string_view word : words) bytes += word.size() + separator.size();
        text_.reserve(bytes);
        for (std::string_view word : words) {
            offsets_.push_back(text_.size());
            text_ += word;
            text_ += separator;
        }
        offsets_.push_back(text_.size());
        hash_prefixes();
    }

    std::string_view gram(std::size_t first, std::size_t n) const {
        return std::string_view(text_).substr(offsets_[first], offsets_[first + n] - offsets_[first] - gap_);
    }

    std::uint64_t gram_hash(std::size_t first, std::size_t n) const {
        return (end_prefix_[first + n - 1] - start_prefix_[first]) * start_inverse_[first];
    }

private:
    static constexpr std::uint64_t kBase = 0x9E3779B97F4A7C15ull;  // odd

    static std::uint64_t inverse(std::uint64_t odd) {
        std::uint64_t x = odd;  // correct to 3 bits, and each Newton step doubles them
        for (int step = 0; step < 5; ++step) x *= 2 - odd * x;
        return x;
    }

    // start_prefix_[i] is the hash sum of the bytes before word i, and end_prefix_[i] that of the
    // bytes up to the end of word i, its separator excluded. start_inverse_[i] is
    // kBase^-(start of word i).
    void hash_prefixes() {
        const std::uint64_t base_inverse = inverse(kBase);
        const std::size_t words = offsets_.size() - 1;
        start_prefix_.resize(words);
        end_prefix_.resize(words);
        start_inverse_.resize(words);
        std::uint64_t sum = 0, power = 1, inverse_power = 1;
        std::size_t k = 0;
        for (std::size_t w = 0; w < words; ++w) {
            start_prefix_[w] = sum;
            start_inverse_[w] = inverse_power;
            const std::size_t word_end = offsets_[w + 1] - gap_;
            for (; k < offsets_[w + 1]; ++k) {
                if (k == word_end) end_prefix_[w] = sum;
                sum += (static_cast<unsigned char>(text_[k]) + 1ull) * power;
                power *= kBase;
                inverse_power *= base_inverse;
            }
            if (word_end == offsets_[w + 1]) end_prefix_[w] = sum;
        }
    }

    std::size_t gap_;
    std::string text_;
    std::vector<std::size_t> offsets_;
    std::vector<std::uint64_t> start_prefix_, end_prefix_, start_inverse_;
};

// An open-addressing table of the distinct n-grams of one length, each stored as the index of
// its first occurrence, with a count. Sized once for every n-gram of the document, so it never
// grows; clear() empties it for the next length.
class GramTable {
public:
    explicit GramTable(std::size_t grams) {
        std::size_t size = 16;
        shift_ = 60;
        while (size < 2 * grams) {
            size *= 2;
            --shift_;
        }
        mask_ = size - 1;
        hashes_.resize(size);
        firsts_.assign(size, kEmpty);
        counts_.resize(size);
    }

    void clear() { std::fill(firsts_.begin(), firsts_.end(), kEmpty); }

    struct Entry {
        std::size_t first;  // index of the n-gram's first occurrence
        std::size_t count;  // occurrences so far, this one included
    };

    // Counts the n-gram of `n` words at `index` and returns its entry.
    Entry add(const WordRun& run, std::size_t index, std::size_t n) {
        const std::uint64_t hash = run.gram_hash(index, n);
        const std::string_view gram = run.gram(index, n);
        for (std::size_t slot = spread(hash);; slot = (slot + 1) & mask_) {
            if (firsts_[slot] == kEmpty) {
                hashes_[slot] = hash;
                firsts_[slot] = index;
                counts_[slot] = 1;
                return {index, 1};
            }
            if (hashes_[slot] == hash && run.gram(firsts_[slot], n) == gram) {
                return {firsts_[slot], ++counts_[slot]};
            }
        }
    }

private:
    static constexpr std::size_t kEmpty = static_cast<std::size_t>(-1);

    // The polynomial hash's low bits depend on few bytes; the high bits of a product mix them all.
    std::size_t spread(std::uint64_t hash) const {
        return static_cast<std::size_t>((hash * 0xD6E8FEB86659FD93ull) >> shift_);
    }

    std::size_t mask_ = 0;
    int shift_ = 60;
    std::vector<std::uint64_t> hashes_;
    std::vector<std::size_t> firsts_;
    std::vector<std::size_t> counts_;
};

}  // namespace

void QualityThresholds::set(const std::string& assignment) {
    std::size_t equals = assignment.find('=');
    std::string name = assignment.substr(0, equals);
    if (equals == std::string::npos || !values.count(name)) {
        throw UsageError(describe("invalid --quality-set", assignment, "expected RULE=VALUE with a known rule",
                                  "see the rule names in the man page"));
    }
    char* end = nullptr;
    double value = std::strtod(assignment.c_str() + equals + 1, &end);
    if (end == assignment.c_str() + equals + 1 || *end != '\0') {
        throw UsageError(describe("invalid --quality-set", assignment, "the value is not a number", ""));
    }
    // strtod reads "nan", and every comparison with NaN is false, so the rule would silently
    // pass or fail every document. An infinite value stays allowed: it turns a bound off.
    if (std::isnan(value)) {
        throw UsageError(describe("invalid --quality-set", assignment, "the value is NaN",
                                  "give a number, or inf to turn a maximum off"));
    }
    values[name] = value;
}

QualityReport evaluate_quality(const std::string& text, const QualityThresholds& thresholds, bool every_rule) {
    QualityReport report;
    auto threshold = [&](const char* name) { return thresholds.values.at(name); };
    auto record = [&](const std::string& rule, double value, bool passed) {
        report.measures.push_back({rule, value, passed});
        if (!passed && report.passed) {
            report.passed = false;
            report.first_failure = rule;
        }
    };

    // Quality rules (GopherQualityFilter).
    std::vector<std::string_view> words = split_words(text);
    std::size_t word_count = words.size();
    std::size_t content_words = 0, content_characters = 0, alpha_words = 0;
    // Gopher requires two different stop words, so a repeated one counts once.
    static const std::string_view kStopWords[] = {"the", "be", "to", "of", "and", "that", "have", "with"};
    unsigned stop_words_seen = 0;  // bit i: kStopWords[i] occurs
    for (std::string_view word : words) {
        WordClass word_class = classify_word(word);
        if (!word_class.punctuation_only) {
            ++content_words;
            content_characters += word_class.code_points;
        }
        alpha_words += word_class.has_letter;
        for (unsigned i = 0; i < std::size(kStopWords); ++i) {
            if (word == kStopWords[i]) stop_words_seen |= 1u << i;
        }
    }
    auto stop_words = static_cast<std::size_t>(std::bitset<std::size(kStopWords)>(stop_words_seen).count());
    record("min_doc_words", static_cast<double>(content_words), content_words >= threshold("min_doc_words"));
    record("max_doc_words", static_cast<double>(content_words), content_words <= threshold("max_doc_words"));
    double mean_length = ratio(static_cast<double>(content_characters), static_cast<double>(content_words));
    record("min_avg_word_length", mean_length, mean_length >= threshold("min_avg_word_length"));
    record("max_avg_word_length", mean_length, mean_length <= threshold("max_avg_word_length"));
    double hashes = ratio(static_cast<double>(count_occurrences(text, "#")), static_cast<double>(word_count));
    record("max_hash_word_ratio", hashes, hashes <= threshold("max_hash_word_ratio"));
    double ellipses = ratio(static_cast<double>(count_occurrences(text, "...") + count_occurrences(text, "\xE2\x80\xA6")),
                            static_cast<double>(word_count));
    record("max_ellipsis_word_ratio", ellipses, ellipses <= threshold("max_ellipsis_word_ratio"));

    // A line starts with a bullet when its first character after whitespace is U+2022 BULLET or
    // a hyphen-minus, as datatrove 0.10.0 counts them.
    std::vector<std::string_view> python_lines = split_python_lines(text);
    std::size_t bullet_lines = 0, ellipsis_lines = 0;
    for (std::string_view line : python_lines) {
        std::string_view stripped = strip_whitespace(line);
        bool bullet = stripped.rfind("\xE2\x80\xA2", 0) == 0 || stripped.rfind('-', 0) == 0;
        bool ends_ellipsis = (stripped.size() >= 3 && stripped.substr(stripped.size() - 3) == "...") ||
                             (stripped.size() >= 3 && stripped.substr(stripped.size() - 3) == "\xE2\x80\xA6");
        bullet_lines += bullet;
        ellipsis_lines += ends_ellipsis;
    }
    double bullets = ratio(static_cast<double>(bullet_lines), static_cast<double>(python_lines.size()));
    record("max_bullet_lines_ratio", bullets, bullets <= threshold("max_bullet_lines_ratio"));
    double ellipsis_line_ratio = ratio(static_cast<double>(ellipsis_lines), static_cast<double>(python_lines.size()));
    record("max_ellipsis_lines_ratio", ellipsis_line_ratio, ellipsis_line_ratio <= threshold("max_ellipsis_lines_ratio"));
    double alpha = ratio(static_cast<double>(alpha_words), static_cast<double>(word_count));
    record("min_alpha_words_ratio", alpha, alpha >= threshold("min_alpha_words_ratio"));
    record("min_stop_words", static_cast<double>(stop_words), stop_words >= threshold("min_stop_words"));

    // The repetition rules cost most, so a verdict alone stops at the first failed rule.
    if (!every_rule && !report.passed) return report;

    // Repetition rules (GopherRepetitionFilter); character fractions are over the whole text.
    // Blank lines and paragraphs are never duplicates, but the fractions by count divide by all
    // the pieces of datatrove's splits: re.split("\n{2,}", text.strip()) for paragraphs and
    // re.split("\n+", text) for lines, whose first and last pieces may be empty.
    auto text_characters = static_cast<double>(count_code_points(text));
    std::vector<std::string_view> paragraphs = split_paragraphs(strip_whitespace(text));
    auto paragraph_duplicates = find_duplicates(paragraphs);
    double para_frac = ratio(static_cast<double>(paragraph_duplicates.first), static_cast<double>(paragraphs.size()));
    record("dup_para_frac", para_frac, para_frac <= threshold("dup_para_frac"));
    double para_chars = ratio(static_cast<double>(paragraph_duplicates.second), text_characters);
    record("dup_para_char_frac", para_chars, para_chars <= threshold("dup_para_char_frac"));
    auto line_duplicates = find_duplicates(split_newlines(text));
    double line_frac =
        ratio(static_cast<double>(line_duplicates.first), static_cast<double>(count_newline_run_pieces(text)));
    record("dup_line_frac", line_frac, line_frac <= threshold("dup_line_frac"));
    double line_chars = ratio(static_cast<double>(line_duplicates.second), text_characters);
    record("dup_line_char_frac", line_chars, line_chars <= threshold("dup_line_char_frac"));

    if (!every_rule && !report.passed) return report;
    const WordRun spaced(words, " "), glued(words, "");
    GramTable table(words.size());
    for (std::size_t n = 2; n <= 4; ++n) {
        if (!every_rule && !report.passed) return report;
        // Among n-grams of equal count the first to occur wins, as in Python's Counter.most_common.
        table.clear();
        std::size_t top_count = 0, top_first = 0;
        for (std::size_t i = 0; i + n <= words.size(); ++i) {
            GramTable::Entry entry = table.add(spaced, i, n);
            if (entry.count > top_count || (entry.count == top_count && entry.first < top_first)) {
                top_count = entry.count;
                top_first = entry.first;
            }
        }
        std::size_t top_characters = top_count > 0 ? count_code_points(spaced.gram(top_first, n)) : 0;
        double share = ratio(static_cast<double>(top_characters * top_count), text_characters);
        std::string rule = "top_" + std::to_string(n) + "_gram";
        record(rule, share, share <= thresholds.values.at(rule));
    }
    for (std::size_t n = 5; n <= 10; ++n) {
        if (!every_rule && !report.passed) return report;
        // Characters of repeated n-grams (glued without spaces), skipping past each repeat.
        table.clear();
        std::size_t repeated = 0;
        for (std::size_t i = 0; i + n <= words.size();) {
            if (table.add(glued, i, n).count > 1) {
                repeated += count_code_points(glued.gram(i, n));
                i += n;
            } else {
                ++i;
            }
        }
        double share = ratio(static_cast<double>(repeated), text_characters);
        std::string rule = "dup_" + std::to_string(n) + "_gram";
        record(rule, share, share <= thresholds.values.at(rule));
    }
    return report;
}

std::string quality_report_json(const QualityReport& report) {
    std::string out = "{\"passed\": ";
    out += report.passed ? "true" : "false";
    out += ", \"failed\": [";
    bool first = true;
    for (const QualityMeasure& measure : report.measures) {
        if (measure.passed) continue;
        if (!first) out += ", ";
        first = false;
        append_json_string(measure.rule, out);
    }
    out += "]";
    for (const QualityMeasure& measure : report.measures) {
        out += ", ";
        append_json_string(measure.rule, out);
        out += ": " + python_float_repr(measure.value);
    }
    return out + "}";
}

}  // namespace scorekit::text
