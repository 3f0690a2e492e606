// Back-off n-gram model: ARPA reading and KenLM's scoring rule.
#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <string_view>
#include <system_error>

#include "scorekit/error.hpp"
#include "scorekit/log.hpp"
#include "scorekit/text/language_model.hpp"
#include "scorekit/text_input.hpp"

#include "compression_magic.hpp"
#include "mapped_file.hpp"

namespace scorekit::text {
namespace {

// The start of KenLM's binary header, the same in every format version.
constexpr const char kKenlmMagic[] = "mmap lm http://kheafield.com/code";

}  // namespace

std::uint64_t combine_word_hash(std::uint64_t current, std::uint32_t next) {
    return (current * 8978948897894561157ULL) ^ (static_cast<std::uint64_t>(1 + next) * 17894857484156487943ULL);
}

std::uint64_t NgramModel::next_id() {
    static std::atomic<std::uint64_t> next{1};
    return next++;
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
    // strtof reads "nan", and a NaN weight would make every perplexity NaN. "-inf" stays valid
    // because it is the log10 of probability 0, which some toolkits write where SRILM writes -99.
    if (std::isnan(value)) {
        throw Error(describe("invalid ARPA file", where, "\"" + copy + "\" is not a number", "check the model file"));
    }
    return value;
}

// Removes trailing spaces, tabs and CR, so that SRILM-style lines with trailing blanks, CRLF
// line endings and whitespace-only separator lines read as KenLM reads them.
void trim_trailing_blanks(std::string& line) {
    std::size_t end = line.size();
    while (end > 0 && (line[end - 1] == ' ' || line[end - 1] == '\t' || line[end - 1] == '\r' ||
                       line[end - 1] == '\v' || line[end - 1] == '\f')) {
        --end;
    }
    line.resize(end);
}

// Reads the count of an "ngram N=count" line; `text` is the part after '='.
std::uint64_t parse_count(const std::string& text, const std::string& where) {
    std::uint64_t count = 0;
    const char* begin = text.data();
    const char* end = text.data() + text.size();
    while (begin < end && *begin == ' ') ++begin;
    auto result = std::from_chars(begin, end, count);
    if (result.ec != std::errc() || result.ptr != end) {
        throw Error(describe("invalid ARPA file", where, "\"" + text + "\" is not an n-gram count", "check the model file"));
    }
    return count;
}

// Returns the entries to reserve for `count` n-grams of order n announced by \data\. A damaged
// or edited header must not allocate gigabytes before the sections show the real count. An
// n-gram line has at least 2n + 2 bytes, which bounds the count of a plain file. The tables of
// a gzip file start at no more than 2^20 entries and grow while the lines are read.
std::uint64_t entries_to_reserve(std::uint64_t count, int n, const std::string& path) {
    std::uint64_t bound = std::uint64_t{1} << 20;
    std::error_code error;
    if (!has_gzip_magic(path)) {
        std::uintmax_t bytes = std::filesystem::file_size(path, error);
        if (!error) bound = std::max<std::uint64_t>(bound, bytes / (2 * static_cast<std::uint64_t>(n) + 2));
    }
    return std::min(count, bound);
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
        trim_trailing_blanks(line);
        return ok;
    };

    // Header: "\data\" then "ngram N=count" lines.
    std::string first_line;
    while (next_line() && line != "\\data\\") {
        if (first_line.empty()) first_line = line;
    }
    if (line != "\\data\\") {
        // LineReader inflates gzip, so a compressed KenLM binary arrives here as its bytes.
        if (first_line.rfind(kKenlmMagic, 0) == 0) {
            throw Error(describe("unsupported language model", path, "it is a gzip-compressed KenLM binary model",
                                 "decompress it with gunzip, because binary models are read uncompressed"));
        }
        if (const OtherCompression* compression = other_compression(first_line)) {
            throw Error(describe("unsupported language model", path,
                                 std::string("it is ") + compression->format + "-compressed",
                                 "decompress it, or recompress it with gzip, which is read directly"));
        }
        // The first read found no line at all.
        if (line_number == 1) {
            throw Error(describe("invalid ARPA file", path, "it is empty, as an interrupted download or copy leaves it",
                                 "copy the model again"));
        }
        throw Error(describe("invalid ARPA file", path, "no \\data\\ line", "give an ARPA file"));
    }
    std::vector<std::uint64_t> counts;
    while (next_line() && line.rfind("ngram ", 0) == 0) {
        std::size_t equals = line.find('=');
        if (equals == std::string::npos) throw Error(describe("invalid ARPA file", where(), "invalid ngram count line", "check the model file"));
        int n = std::atoi(line.substr(6, equals - 6).c_str());
        std::uint64_t count = parse_count(line.substr(equals + 1), where());
        if (n != static_cast<int>(counts.size()) + 1) {
            throw Error(describe("invalid ARPA file", where(), "ngram orders must be listed as 1, 2, 3, ...",
                                 "list every order up to the highest one, as KenLM requires"));
        }
        counts.push_back(count);
    }
    if (counts.empty()) throw Error(describe("invalid ARPA file", path, "no ngram counts in \\data\\", ""));
    // Checked before the tables are reserved: each order reserves up to 32 MiB, so a header of a
    // thousand orders would take 32 GiB.
    if (counts.size() > 16) {
        throw Error(describe("unsupported ARPA file", path, "the order is above 16", "give a model of order 16 or less"));
    }

    NgramModel model;
    model.order_ = static_cast<int>(counts.size());
    model.tables_.resize(counts.size());
    for (std::size_t n = 1; n < counts.size(); ++n) {
        model.tables_[n].reserve(entries_to_reserve(counts[n], static_cast<int>(n) + 1, path));
    }
    model.add_word("<unk>");

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
                throw Error(describe("invalid ARPA file", where(),
                                     "expected a log10 probability, " + std::to_string(n) + (n == 1 ? " word" : " words") +
                                         " and an optional back-off weight",
                                     "check that the file is complete"));
            }
            float probability = parse_float(fields[0], where());
            // KenLM rejects these by default because IRSTLM wrote them by mistake. As
            // probabilities above 1 they would give perplexities below 1.
            if (probability > 0) {
                throw Error(describe("invalid ARPA file", where(),
                                     "the log10 probability " + std::string(fields[0]) + " is positive",
                                     "fix the model, because log10 probabilities are at most 0"));
            }
            float backoff = 0.0f;
            if (fields.size() == expected + 1) {
                backoff = parse_float(fields[expected], where());
                // KenLM rejects both (lm/read_arpa.cc at commit 4cb443e): an infinite back-off
                // weight makes later probabilities infinite, and the highest order is never a context.
                if (!std::isfinite(backoff)) {
                    throw Error(describe("invalid ARPA file", where(),
                                         "the back-off weight " + std::string(fields[expected]) + " is not finite",
                                         "fix the model, because KenLM rejects it too"));
                }
                if (n == model.order_ && n > 1 && backoff != 0) {
                    throw Error(describe("invalid ARPA file", where(),
                                         "an n-gram of the highest order has the back-off weight " +
                                             std::string(fields[expected]),
                                         "remove it, because KenLM rejects it too"));
                }
            }
            ++seen;
            // KenLM reads <UNK> as <unk>, because some toolkits write it in capitals.
            for (std::size_t k = 1; k <= static_cast<std::size_t>(n); ++k) {
                if (fields[k] == "<UNK>") fields[k] = "<unk>";
            }
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
            // KenLM's state reaches an n-gram only through its context, so KenLM rejects an n-gram
            // whose context is missing (lm/search_hashed.cc at commit 4cb443e), as SRILM's pruning
            // can write it. Read anyway, it gave perplexities that no KenLM run gives.
            if (n >= 3) {
                std::uint64_t context_key = ids[ids.size() - 2];
                for (std::size_t k = ids.size() - 2; k-- > 0;) context_key = combine_word_hash(context_key, ids[k]);
                if (context_key != 0 && !model.tables_[n - 2].find(context_key)) {
                    std::string context(fields[1]);
                    for (std::size_t k = 2; k < static_cast<std::size_t>(n); ++k) context.append(" ").append(fields[k]);
                    throw Error(describe("invalid ARPA file", where(),
                                         "the context \"" + context + "\" of this " + std::to_string(n) +
                                             "-gram is not listed as a " + std::to_string(n - 1) + "-gram",
                                         "add the missing n-grams or prune the model with lmplz, because "
                                         "KenLM rejects the file too"));
                }
            }
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
    while (next_line()) {
        if (!line.empty()) {
            throw Error(describe("invalid ARPA file", where(), "text after the \\end\\ line",
                                 "remove it, because KenLM rejects it too"));
        }
    }

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
    if (got == sizeof(magic) && std::memcmp(magic, "mmap lm http://k", 16) == 0) return read_probing_binary(path);
    return read_arpa(path);
}

namespace {

// KenLM's binary header (lm/binary_format.cc, format version 5): the magic string padded to 56
// bytes, then test values 0.0f, 1.0f, -0.5f, 1u, UINT32_MAX, 0u and uint64 1, all little-endian.
std::string probing_sanity_header() {
    std::string header(88, '\0');
    const char magic[] = "mmap lm http://kheafield.com/code format version 5\n";
    std::memcpy(&header[0], magic, sizeof(magic) - 1);
    const float floats[3] = {0.0f, 1.0f, -0.5f};
    const std::uint32_t words[3] = {1, 0xFFFFFFFFu, 0};
    const std::uint64_t one = 1;
    std::memcpy(&header[56], floats, sizeof(floats));
    std::memcpy(&header[68], words, sizeof(words));
    std::memcpy(&header[80], &one, sizeof(one));
    return header;
}

// Bytes of a KenLM probing hash table (util/probing_hash_table.hh, DivMod buckets), or
// UINT64_MAX when the table could not fit in `file_bytes`. The check comes before the integer
// arithmetic, so that the counts and multiplier of a damaged header cannot overflow it.
std::uint64_t probing_table_bytes(std::uint64_t entries, float multiplier, std::uint64_t entry_bytes,
                                  std::uint64_t file_bytes) {
    const double scaled_estimate = static_cast<double>(multiplier) * static_cast<double>(entries);
    if (entries >= file_bytes / entry_bytes || scaled_estimate > static_cast<double>(file_bytes)) {
        return std::numeric_limits<std::uint64_t>::max();
    }
    auto scaled = static_cast<std::uint64_t>(multiplier * static_cast<float>(entries));
    return std::max(entries + 1, scaled) * entry_bytes;
}

// KenLM stores probabilities with the sign bit used as a flag; all are <= 0 (lm/value.hh).
float probing_probability(float stored) { return -std::fabs(stored); }

}  // namespace

NgramModel NgramModel::read_probing_binary(const std::string& path) {
    // A regular file is mapped rather than copied, so that loading a model needs no second copy
    // of it besides the tables built from it. A pipe is read into memory.
    std::unique_ptr<MappedFile> mapped = MappedFile::open(path);
    std::string copy;
    if (!mapped) {
        std::FILE* file = std::fopen(path.c_str(), "rb");
        if (!file) throw Error(describe("cannot open language model", path, std::strerror(errno), "check the path"));
        char buffer[1 << 16];
        for (std::size_t got; (got = std::fread(buffer, 1, sizeof(buffer), file)) > 0;) copy.append(buffer, got);
        bool failed = std::ferror(file) != 0;
        std::fclose(file);
        if (failed) throw Error(describe("cannot read language model", path, std::strerror(errno), ""));
    }
    const std::string_view data =
        mapped ? std::string_view(reinterpret_cast<const char*>(mapped->data()), mapped->size()) : std::string_view(copy);
    auto invalid = [&](const std::string& reason) {
        return Error(describe("invalid KenLM binary model", path, reason, "rebuild it with build_binary or give the ARPA file"));
    };
    if (data.size() < 108 || data.compare(0, 88, probing_sanity_header()) != 0) {
        throw invalid("the header is not that of format version 5 on a little-endian machine");
    }

    // FixedWidthParameters: order (uint8), probing multiplier (float at 4), model type (int at 8),
    // has_vocabulary (bool at 12), search version (uint at 16); then one uint64 count per order.
    auto order = static_cast<unsigned char>(data[88]);
    float multiplier = 0;
    std::int32_t model_type = 0;
    std::memcpy(&multiplier, &data[92], 4);
    std::memcpy(&model_type, &data[96], 4);
    bool has_vocabulary = data[100] != 0;
    if (model_type != 0) {
        throw Error(describe("unsupported KenLM binary model", path,
                             "data structure " + std::to_string(model_type) + " is not probing (trie and rest models are not read)",
                             "rebuild it with 'build_binary probing' or give the ARPA file"));
    }
    if (!has_vocabulary) throw invalid("the file does not contain the vocabulary strings");
    if (order < 2 || order > 16) throw invalid("order " + std::to_string(order) + " is outside 2..16");
    // KenLM's loader rejects a multiplier below 1, and NaN or infinity would make the sizes meaningless.
    if (!std::isfinite(multiplier) || multiplier < 1.0f) {
        throw invalid("the probing multiplier " + format_number(multiplier) + " is not a finite number of at least 1");
    }
    std::vector<std::uint64_t> counts(order);
    if (data.size() < 108 + 8u * order) throw invalid("the file is truncated");
    std::memcpy(counts.data(), &data[108], 8u * order);
    std::uint64_t offset = (108 + 8u * order + 7) / 8 * 8;

    // Sections: vocabulary hash table (8-byte header, 12-byte entries), unigrams (count + 1
    // entries of prob, backoff), middle orders (16-byte entries: key, prob, backoff), top
    // order (12-byte entries: key, prob), then the words, each followed by NUL, in id order.
    // Every size is checked against the file before it is added, so no sum can overflow.
    const std::uint64_t file_bytes = data.size();
    auto add_section = [&](std::uint64_t bytes) {
        if (bytes > file_bytes || offset > file_bytes - bytes) throw invalid("the file is shorter than its n-gram tables");
        offset += bytes;
    };
    add_section(8);
    add_section(probing_table_bytes(counts[0], multiplier, 12, file_bytes));
    std::uint64_t unigram_offset = offset;
    add_section(counts[0] < file_bytes / 8 ? (counts[0] + 1) * 8 : std::numeric_limits<std::uint64_t>::max());
    std::vector<std::uint64_t> table_offset(order + 1, 0);
    for (int n = 2; n <= order; ++n) {
        table_offset[n] = offset;
        add_section(probing_table_bytes(counts[n - 1], multiplier, n < order ? 16 : 12, file_bytes));
    }

    NgramModel model;
    model.order_ = order;
    model.tables_.resize(order);
    std::uint64_t at = offset;
    for (std::uint64_t id = 0; id < counts[0]; ++id) {
        std::size_t end = data.find('\0', at);
        if (end == std::string::npos) throw invalid("the vocabulary strings are truncated");
        std::string word(data.substr(at, end - at));
        if (model.add_word(word) != id) throw invalid("the vocabulary lists \"" + word + "\" twice");
        at = end + 1;
    }
    for (std::uint64_t id = 0; id < counts[0]; ++id) {
        float weights[2];
        std::memcpy(weights, &data[unigram_offset + id * 8], 8);
        model.unigram_probability_[id] = probing_probability(weights[0]);
        model.unigram_backoff_[id] = weights[1];
    }
    for (int n = 2; n <= order; ++n) {
        std::uint64_t entry_bytes = n < order ? 16 : 12;
        std::uint64_t buckets = probing_table_bytes(counts[n - 1], multiplier, entry_bytes, file_bytes) / entry_bytes;
        Table& table = model.tables_[n - 1];
        table.reserve(counts[n - 1]);
        for (std::uint64_t bucket = 0; bucket < buckets; ++bucket) {
            const char* entry = &data[table_offset[n] + bucket * entry_bytes];
            std::uint64_t key;
            std::memcpy(&key, entry, 8);
            if (key == 0) continue;  // empty bucket
            float weights[2] = {0, 0};
            std::memcpy(weights, entry + 8, n < order ? 8 : 4);
            // NOTE: KenLM fills gaps of an ARPA file (an n-gram whose context is missing) with
            // blank entries that its scorer skips; they are read here as ordinary n-grams.
            Entry* stored = table.insert(key);
            stored->log_probability = probing_probability(weights[0]);
            stored->backoff = weights[1];
        }
        if (table.size != counts[n - 1]) {
            throw invalid(std::to_string(table.size) + " " + std::to_string(n) + "-grams where the header announces " +
                          std::to_string(counts[n - 1]));
        }
    }
    auto begin = model.ids_.find("<s>"), end = model.ids_.find("</s>");
    if (begin == model.ids_.end() || end == model.ids_.end()) throw invalid("<s> or </s> is missing from the vocabulary");
    model.begin_sentence_ = begin->second;
    model.end_sentence_ = end->second;
    return model;
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
    thread_local std::vector<WordIndex> ids;
    ids.clear();
    for (const std::string& word : words) ids.push_back(index(word));
    return score_ids(ids.data(), ids.size());
}

float NgramModel::score_ids(const WordIndex* ids, std::size_t count) const {
    // The context, most recent word first, and the back-off weights of its n-grams of length
    // 1 .. known. These n-grams are the ones found while scoring the previous word (its own
    // n-grams are the next word's contexts), so they are not looked up twice, as in KenLM's
    // State. The sums are those of score_word: same values, same order.
    constexpr std::size_t kMaxContext = 16;
    WordIndex context[kMaxContext];
    float context_backoff[kMaxContext + 1];
    float word_backoff[kMaxContext + 1];
    const std::size_t capacity = order_ > 1 ? static_cast<std::size_t>(order_ - 1) : 0;
    std::size_t length = 0, known = 0;
    if (capacity > 0) {
        context[0] = begin_sentence_;
        context_backoff[0] = unigram_backoff_[begin_sentence_];
        length = known = 1;
    }

    // The tables of a large model miss the cache on most lookups. The words are known in advance,
    // so the table slots of a later word's n-grams are requested while this word is scored.
    constexpr std::size_t kAhead = 4;
    auto word_at = [&](std::size_t i) { return i < count ? ids[i] : end_sentence_; };
    auto prefetch_ngrams = [&](std::size_t i) {
        std::uint64_t key = word_at(i);
        for (std::size_t k = 0; k < capacity; ++k) {
            key = combine_word_hash(key, k < i ? ids[i - 1 - k] : begin_sentence_);
            tables_[k + 1].prefetch(key);
            if (k >= i) break;  // nothing comes before <s>
        }
    };

    float total = 0;
    for (std::size_t i = 0; i <= count; ++i) {
        if (i + kAhead <= count) prefetch_ngrams(i + kAhead);
        const WordIndex word = word_at(i);
        float probability = unigram_probability_[word];
        word_backoff[0] = unigram_backoff_[word];
        std::size_t matched = 1;
        std::uint64_t key = word;
        for (std::size_t k = 0; k < length; ++k) {
            key = combine_word_hash(key, context[k]);
            const Entry* entry = tables_[k + 1].find(key);
            if (!entry) break;
            probability = entry->log_probability;
            word_backoff[k + 1] = entry->backoff;
            matched = k + 2;
        }
        std::size_t usable_backoffs = std::min(known, length);
        for (std::size_t n = matched; n <= usable_backoffs; ++n) probability += context_backoff[n - 1];
        total += probability;

        if (capacity == 0) continue;
        for (std::size_t k = std::min(length, capacity - 1); k > 0; --k) context[k] = context[k - 1];
        context[0] = word;
        length = std::min(length + 1, capacity);
        known = matched;
        std::copy(word_backoff, word_backoff + matched, context_backoff);
    }
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
