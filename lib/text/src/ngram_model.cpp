// Back-off n-gram model: ARPA reading and KenLM's scoring rule.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "scorekit/error.hpp"
#include "scorekit/log.hpp"
#include "scorekit/text/language_model.hpp"
#include "scorekit/text_input.hpp"

namespace scorekit::text {

std::uint64_t combine_word_hash(std::uint64_t current, std::uint32_t next) {
    return (current * 8978948897894561157ULL) ^ (static_cast<std::uint64_t>(1 + next) * 17894857484156487943ULL);
}

void NgramModel::Table::reserve(std::uint64_t count) {
    std::uint64_t capacity = 16;
    while (capacity < count + count / 2 + 1) capacity *= 2;
    slots.assign(capacity, Entry{});
    size = 0;
}

NgramModel::Entry* NgramModel::Table::insert(std::uint64_t key) {
    if (key == 0) return nullptr;
    if ((size + 1) * 4 > slots.size() * 3) {  // keep the load factor at most 3/4
        std::vector<Entry> old = std::move(slots);
        reserve(old.size());
        for (const Entry& entry : old) {
            if (entry.key) *insert(entry.key) = entry;
        }
    }
    std::uint64_t mask = slots.size() - 1;
    for (std::uint64_t slot = key & mask;; slot = (slot + 1) & mask) {
        if (slots[slot].key == key) return &slots[slot];
        if (slots[slot].key == 0) {
            slots[slot].key = key;
            ++size;
            return &slots[slot];
        }
    }
}

const NgramModel::Entry* NgramModel::Table::find(std::uint64_t key) const {
    if (slots.empty()) return nullptr;
    std::uint64_t mask = slots.size() - 1;
    for (std::uint64_t slot = key & mask;; slot = (slot + 1) & mask) {
        if (slots[slot].key == key) return &slots[slot];
        if (slots[slot].key == 0) return nullptr;
    }
}

NgramModel::WordIndex NgramModel::add_word(const std::string& word) {
    auto found = ids_.find(word);
    if (found != ids_.end()) return found->second;
    auto id = static_cast<WordIndex>(words_.size());
    words_.push_back(word);
    ids_.emplace(word, id);
    unigram_probability_.push_back(0);
    unigram_backoff_.push_back(0);
    return id;
}

NgramModel::WordIndex NgramModel::index(std::string_view word) const {
    auto found = ids_.find(std::string(word));
    return found == ids_.end() ? 0 : found->second;
}

namespace {

// Splits `line` at runs of spaces and tabs.
void split_fields(std::string_view line, std::vector<std::string_view>& fields) {
    fields.clear();
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        std::size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
        if (i > start) fields.push_back(line.substr(start, i - start));
    }
}

float parse_float(std::string_view text, const std::string& where) {
    std::string copy(text);
    char* end = nullptr;
    float value = std::strtof(copy.c_str(), &end);
    if (copy.empty() || *end != '\0') {
        throw Error(describe("invalid ARPA file", where, "\"" + copy + "\" is not a number", "check the model file"));
    }
    return value;
}

}  // namespace

NgramModel NgramModel::read_arpa(const std::string& path) {
    LineReader reader(path);
    std::string line;
    std::uint64_t line_number = 0;
    auto where = [&] { return path + ":" + std::to_string(line_number); };
    auto next_line = [&] {
        bool ok = reader.next(line);
        ++line_number;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return ok;
    };

    // Header: "\data\" then "ngram N=count" lines.
    while (next_line() && line != "\\data\\") {
    }
    if (line != "\\data\\") {
        throw Error(describe("invalid ARPA file", path, "no \\data\\ line", "give an ARPA file"));
    }
    std::vector<std::uint64_t> counts;
    while (next_line() && line.rfind("ngram ", 0) == 0) {
        std::size_t equals = line.find('=');
        if (equals == std::string::npos) throw Error(describe("invalid ARPA file", where(), "invalid ngram count line", "check the model file"));
        int n = std::atoi(line.substr(6, equals - 6).c_str());
        std::uint64_t count = std::strtoull(line.c_str() + equals + 1, nullptr, 10);
        if (n != static_cast<int>(counts.size()) + 1) {
            throw Error(describe("invalid ARPA file", where(), "ngram orders must be listed as 1, 2, 3, ...", ""));
        }
        counts.push_back(count);
    }
    if (counts.empty()) throw Error(describe("invalid ARPA file", path, "no ngram counts in \\data\\", ""));

    NgramModel model;
    model.order_ = static_cast<int>(counts.size());
    model.tables_.resize(counts.size());
    for (std::size_t n = 1; n < counts.size(); ++n) model.tables_[n].reserve(counts[n]);
    model.add_word("<unk>");

    if (model.order_ > 16) throw Error(describe("unsupported ARPA file", path, "the order is above 16", ""));
    std::vector<std::string_view> fields;
    std::vector<WordIndex> ids;
    bool unknown_listed = false;
    for (int n = 1; n <= model.order_; ++n) {
        std::string header = "\\" + std::to_string(n) + "-grams:";
        while (line.empty() && next_line()) {
        }
        if (line != header) {
            throw Error(describe("invalid ARPA file", where(), "expected \"" + header + "\"", "check the model file"));
        }
        std::uint64_t seen = 0;
        while (next_line() && !line.empty() && line[0] != '\\') {
            split_fields(line, fields);
            std::size_t expected = static_cast<std::size_t>(n) + 1;
            if (fields.size() != expected && fields.size() != expected + 1) {
                throw Error(describe("invalid ARPA file", where(), "expected " + std::to_string(n) + " words", ""));
            }
            float probability = parse_float(fields[0], where());
            float backoff = fields.size() == expected + 1 ? parse_float(fields[expected], where()) : 0.0f;
            ++seen;
            if (n == 1) {
                WordIndex id = model.add_word(std::string(fields[1]));
                unknown_listed = unknown_listed || id == 0;
                model.unigram_probability_[id] = probability;
                model.unigram_backoff_[id] = backoff;
                continue;
            }
            ids.clear();
            for (std::size_t k = 1; k <= static_cast<std::size_t>(n); ++k) {
                auto found = model.ids_.find(std::string(fields[k]));
                if (found == model.ids_.end()) {
                    throw Error(describe("invalid ARPA file", where(), "word \"" + std::string(fields[k]) + "\" has no unigram",
                                         "check the model file"));
                }
                ids.push_back(found->second);
            }
            std::uint64_t key = ids.back();
            for (std::size_t k = ids.size() - 1; k-- > 0;) key = combine_word_hash(key, ids[k]);
            Entry* entry = model.tables_[n - 1].insert(key);
            if (!entry) continue;  // hash 0, see Table
            entry->log_probability = probability;
            entry->backoff = backoff;
        }
        if (seen != counts[n - 1]) {
            throw Error(describe("invalid ARPA file", path,
                                 "\\data\\ announces " + std::to_string(counts[n - 1]) + " " + std::to_string(n) +
                                     "-grams but the section has " + std::to_string(seen),
                                 "check that the file is complete"));
        }
    }
    while (line.empty() && next_line()) {
    }
    if (line != "\\end\\") throw Error(describe("invalid ARPA file", path, "no \\end\\ line", "check that the file is complete"));

    if (!unknown_listed) {
        // KenLM substitutes -100 when the ARPA file has no <unk> (Config::unknown_missing_logprob).
        log_warning("the ARPA file " + path + " has no <unk>; unknown words get log10 probability -100");
        model.unigram_probability_[0] = -100.0f;
    }
    auto begin = model.ids_.find("<s>"), end = model.ids_.find("</s>");
    if (begin == model.ids_.end() || end == model.ids_.end()) {
        throw Error(describe("invalid ARPA file", path, "<s> or </s> is missing from the unigrams", "check the model file"));
    }
    model.begin_sentence_ = begin->second;
    model.end_sentence_ = end->second;
    return model;
}

NgramModel NgramModel::load(const std::string& path) {
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (!file) throw Error(describe("cannot open language model", path, std::strerror(errno), "check the path"));
    char magic[16] = {};
    std::size_t got = std::fread(magic, 1, sizeof(magic), file);
    std::fclose(file);
    if (got == sizeof(magic) && std::memcmp(magic, "mmap lm http://k", 16) == 0) {
        // TODO: read KenLM's probing binary format; until then only ARPA files load.
        throw Error(describe("unsupported language model", path, "KenLM binary models cannot be read yet",
                             "give the ARPA file of the model"));
    }
    return read_arpa(path);
}

float NgramModel::score_word(const WordIndex* context, std::size_t context_length, WordIndex word,
                             int* matched_length) const {
    std::size_t usable = std::min<std::size_t>(context_length, static_cast<std::size_t>(order_ - 1));
    float probability = unigram_probability_[word];
    // Extend the match one context word at a time and stop at the first missing n-gram, as
    // KenLM's ScoreExceptBackoff does.
    std::size_t matched = 1;
    std::uint64_t key = word;
    for (std::size_t k = 0; k < usable; ++k) {
        key = combine_word_hash(key, context[k]);
        const Entry* entry = tables_[k + 1].find(key);
        if (!entry) break;
        probability = entry->log_probability;
        matched = k + 2;
    }
    // Add the back-off weights of the contexts of length matched .. usable (KenLM's FullScore).
    if (matched <= usable) {
        float backoffs[16];
        std::uint64_t context_key = context[0];
        backoffs[0] = unigram_backoff_[context[0]];
        std::size_t known = 1;
        for (std::size_t k = 1; k < usable; ++k) {
            context_key = combine_word_hash(context_key, context[k]);
            const Entry* entry = tables_[k].find(context_key);
            if (!entry) break;
            backoffs[known++] = entry->backoff;
        }
        for (std::size_t length = matched; length <= known; ++length) probability += backoffs[length - 1];
    }
    if (matched_length) *matched_length = static_cast<int>(matched);
    return probability;
}

float NgramModel::score_sentence(const std::vector<std::string>& words) const {
    // Context, most recent word first.
    std::vector<WordIndex> context(static_cast<std::size_t>(order_ > 1 ? order_ - 1 : 1), 0);
    std::size_t length = 0;
    auto push = [&](WordIndex id) {
        if (context.empty()) return;
        for (std::size_t k = context.size() - 1; k > 0; --k) context[k] = context[k - 1];
        context[0] = id;
        if (length < context.size()) ++length;
    };
    push(begin_sentence_);
    float total = 0;
    for (const std::string& word : words) {
        WordIndex id = index(word);
        total += score_word(context.data(), order_ > 1 ? length : 0, id);
        push(id);
    }
    total += score_word(context.data(), order_ > 1 ? length : 0, end_sentence_);
    return total;
}

bool NgramModel::find(const std::vector<std::string>& ngram, float& log_probability, float& backoff) const {
    if (ngram.empty() || static_cast<int>(ngram.size()) > order_) return false;
    std::vector<WordIndex> ids;
    for (const std::string& word : ngram) {
        auto found = ids_.find(word);
        if (found == ids_.end()) return false;
        ids.push_back(found->second);
    }
    if (ids.size() == 1) {
        log_probability = unigram_probability_[ids[0]];
        backoff = unigram_backoff_[ids[0]];
        return true;
    }
    std::uint64_t key = ids.back();
    for (std::size_t k = ids.size() - 1; k-- > 0;) key = combine_word_hash(key, ids[k]);
    const Entry* entry = tables_[ids.size() - 1].find(key);
    if (!entry) return false;
    log_probability = entry->log_probability;
    backoff = entry->backoff;
    return true;
}

double perplexity(double log10_probability, std::uint64_t length) {
    return std::pow(10.0, -log10_probability / static_cast<double>(length));
}

double round_to_tenth(double value) {
    if (!std::isfinite(value)) return value;
    char buffer[512];
    std::snprintf(buffer, sizeof(buffer), "%.1f", value);  // glibc: exact value, ties to even
    return std::strtod(buffer, nullptr);
}

std::string python_float_repr(double value) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";  // json.dumps spelling
    char buffer[64];
    auto result = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
    std::string scientific(buffer, result.ptr);
    std::size_t e = scientific.find('e');
    std::string mantissa = scientific.substr(0, e);
    int exponent = std::atoi(scientific.c_str() + e + 1);
    bool negative = mantissa[0] == '-';
    if (negative) mantissa.erase(0, 1);
    std::string digits;
    for (char c : mantissa) {
        if (c != '.') digits += c;
    }
    std::string out = negative ? "-" : "";
    if (exponent < -4 || exponent >= 16) {
        out += digits.substr(0, 1);
        if (digits.size() > 1) out += "." + digits.substr(1);
        char tail[16];
        std::snprintf(tail, sizeof(tail), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
        return out + tail;
    }
    if (exponent < 0) return out + "0." + std::string(static_cast<std::size_t>(-exponent - 1), '0') + digits;
    auto integer_digits = static_cast<std::size_t>(exponent + 1);
    if (digits.size() <= integer_digits) return out + digits + std::string(integer_digits - digits.size(), '0') + ".0";
    return out + digits.substr(0, integer_digits) + "." + digits.substr(integer_digits);
}

}  // namespace scorekit::text
