// cc_net's perplexity stage: per-language models, document perplexity and buckets.
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "scorekit/error.hpp"
#include "scorekit/log.hpp"
#include "scorekit/text/language_model.hpp"
#include "scorekit/text/unicode.hpp"
#include "scorekit/text_input.hpp"

namespace scorekit::text {
namespace {

std::vector<std::string> split_csv_line(const std::string& line) {
    std::vector<std::string> fields;
    std::string field;
    std::istringstream stream(line);
    while (std::getline(stream, field, ',')) {
        if (!field.empty() && field.back() == '\r') field.pop_back();
        fields.push_back(field);
    }
    if (!line.empty() && line.back() == ',') fields.emplace_back();
    return fields;
}

std::string expand_language(const std::string& pattern, const std::string& language) {
    std::string out = pattern;
    for (std::size_t at = out.find("{lang}"); at != std::string::npos; at = out.find("{lang}", at + language.size())) {
        out.replace(at, 6, language);
    }
    return out;
}

// Rejects a cutoff header that names no language, an empty or a repeated one, because each
// would send documents to the "all" bucket or to another column's buckets without a word.
void check_cutoff_header(const std::vector<std::string>& languages, const std::string& path) {
    if (languages.size() < 2) {
        throw Error(describe("invalid cutoff file", path, "the header names no language",
                             "give a comma-separated header ,lang,lang... as cutoffs writes it"));
    }
    for (std::size_t k = 1; k < languages.size(); ++k) {
        if (languages[k].empty()) {
            throw Error(describe("invalid cutoff file", path, "column " + std::to_string(k + 1) + " of the header is empty",
                                 "name a language in every column"));
        }
        for (std::size_t j = 1; j < k; ++j) {
            if (languages[j] == languages[k]) {
                throw Error(describe("invalid cutoff file", path, "the header lists " + languages[k] + " twice",
                                     "keep one column per language"));
            }
        }
    }
}

// Reads one cutoff value. Perplexities are at least 1, so a negative cutoff is a damaged file.
double parse_cutoff(const std::string& field, const std::string& where) {
    char* end = nullptr;
    double value = std::strtod(field.c_str(), &end);
    if (field.empty() || *end != '\0') {
        throw Error(describe("invalid cutoff file", where, "\"" + field + "\" is not a number", "check the file"));
    }
    // Every comparison with NaN is false, so a NaN cutoff would empty the bucket below it.
    if (!std::isfinite(value) || value < 0) {
        throw Error(describe("invalid cutoff file", where, "\"" + field + "\" is not a finite number of at least 0",
                             "check the file"));
    }
    return value;
}

bool readable(const std::string& path) {
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (!file) return false;
    std::fclose(file);
    return true;
}

}  // namespace

PerplexityCutoffs PerplexityCutoffs::load(const std::string& path) {
    LineReader reader(path);
    std::string line;
    if (!reader.next(line)) throw Error(describe("invalid cutoff file", path, "the file is empty", "give a cutoff CSV"));
    std::vector<std::string> languages = split_csv_line(line);
    check_cutoff_header(languages, path);
    std::map<std::string, double> head, tail;
    std::uint64_t head_line = 0, tail_line = 0;
    std::uint64_t line_number = 1;
    while (reader.next(line)) {
        ++line_number;
        if (line.empty()) continue;
        const std::string where = path + ":" + std::to_string(line_number);
        std::vector<std::string> fields = split_csv_line(line);
        if (fields.size() != languages.size()) {
            throw Error(describe("invalid cutoff file", where,
                                 std::to_string(fields.size()) + " fields where the header has " +
                                     std::to_string(languages.size()),
                                 "check the file"));
        }
        char* end = nullptr;
        double label = std::strtod(fields[0].c_str(), &end);
        if (fields[0].empty() || *end != '\0') {
            throw Error(describe("invalid cutoff file", where, "the row label \"" + fields[0] + "\" is not a percentile",
                                 "label the rows 0 to 99, as cutoffs writes them"));
        }
        if (label != 30 && label != 60) continue;
        std::uint64_t& seen_at = label == 30 ? head_line : tail_line;
        if (seen_at != 0) {
            throw Error(describe("invalid cutoff file", where,
                                 "row " + fields[0] + " appears again (first on line " + std::to_string(seen_at) + ")",
                                 "keep one row per percentile"));
        }
        seen_at = line_number;
        auto& row = label == 30 ? head : tail;
        for (std::size_t k = 1; k < fields.size(); ++k) row[languages[k]] = parse_cutoff(fields[k], where);
    }
    const bool found_head = head_line != 0, found_tail = tail_line != 0;
    if (!found_head || !found_tail) {
        throw Error(describe("invalid cutoff file", path, "rows 30 and 60 are required", "give percentile rows 0..99"));
    }
    PerplexityCutoffs cutoffs;
    cutoffs.path_ = path;
    for (std::size_t k = 1; k < languages.size(); ++k) {
        // Percentiles do not decrease; a row 60 below row 30 would leave the middle bucket empty.
        if (tail[languages[k]] < head[languages[k]]) {
            throw Error(describe("invalid cutoff file", path,
                                 "the row-60 cutoff of " + languages[k] + " (" + format_number(tail[languages[k]]) +
                                     ") is below its row-30 cutoff (" + format_number(head[languages[k]]) + ")",
                                 "give percentiles in increasing order, as cutoffs writes them"));
        }
        cutoffs.cutoffs_[languages[k]] = {head[languages[k]], tail[languages[k]]};
    }
    return cutoffs;
}

std::string PerplexityCutoffs::bucket(const std::string& language, double perplexity) const {
    auto found = cutoffs_.find(language);
    if (found == cutoffs_.end() || perplexity < 0) return "all";
    if (perplexity < found->second.first) return "head";
    if (perplexity < found->second.second) return "middle";
    return "tail";
}

LanguageModelSet::LanguageModelSet(std::string tokenizer_pattern, std::string model_pattern)
    : tokenizer_pattern_(std::move(tokenizer_pattern)), model_pattern_(std::move(model_pattern)) {
    // A language without models is skipped, which is right for a {lang} pattern. A fixed path
    // names one file for every language, so a missing one is a typo that would otherwise send
    // every document to the "all" bucket without a word.
    const std::pair<const char*, const std::string*> patterns[] = {{"--sp-model", &tokenizer_pattern_},
                                                                   {"--lm-model", &model_pattern_}};
    for (const auto& [option, pattern] : patterns) {
        if (pattern->empty() || pattern->find("{lang}") != std::string::npos || readable(*pattern)) continue;
        throw Error(describe("cannot open " + std::string(option), *pattern, std::strerror(errno),
                             "check the path, or put {lang} in it for one model per language"));
    }
    // Models that serve every language load now, so that a damaged file fails before any work.
    const bool fixed = tokenizer_pattern_.find("{lang}") == std::string::npos &&
                       model_pattern_.find("{lang}") == std::string::npos;
    if (fixed && !model_pattern_.empty()) get("");
}

const LanguageModels* LanguageModelSet::get(const std::string& language) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = loaded_.find(language);
    if (found != loaded_.end()) return found->second;
    std::string tokenizer_path = expand_language(tokenizer_pattern_, language);
    std::string model_path = expand_language(model_pattern_, language);
    auto shared = by_path_.find({tokenizer_path, model_path});
    if (shared != by_path_.end()) return loaded_.emplace(language, shared->second.get()).first->second;

    std::unique_ptr<LanguageModels> models;
    if (readable(tokenizer_path) && readable(model_path)) {
        models = std::make_unique<LanguageModels>();
        models->tokenizer = std::make_unique<SentencePieceTokenizer>(tokenizer_path);
        models->model = std::make_unique<NgramModel>(NgramModel::load(model_path));
        log_info("loaded the models of " + (language.empty() ? std::string("every language") : "language " + language) +
                 ": " + tokenizer_path + ", " + model_path + " (order " +
                 std::to_string(models->model->order()) + ", " + std::to_string(models->model->vocabulary_size()) +
                 " words)");
    } else {
        log_verbose("no language model for " + language + " (" + tokenizer_path + ", " + model_path +
                    "): its documents go to bucket all");
    }
    const LanguageModels* result = models.get();
    by_path_.emplace(std::make_pair(tokenizer_path, model_path), std::move(models));
    return loaded_.emplace(language, result).first->second;
}

namespace {

// Counts the words that Python's str.split() finds in `piece`. cc_net divides by the words of
// the joined pieces counted this way, while KenLM scores each piece as one word. A piece with
// Unicode whitespace inside (U+3000, which an identity-normalising model keeps) thus counts
// as its runs of other characters, and a piece of whitespace only counts 0.
std::size_t python_split_words(std::string_view piece) {
    std::size_t words = 0;
    bool in_word = false;
    for (std::size_t at = 0; at < piece.size();) {
        // An ASCII byte other than whitespace is part of a word, without decoding.
        const auto byte = static_cast<unsigned char>(piece[at]);
        const bool space = byte < 0x80 ? is_python_space(byte) : is_python_space(next_code_point(piece, at));
        if (byte < 0x80) ++at;
        if (!space && !in_word) ++words;
        in_word = !space;
    }
    return words;
}

// Appends the n-gram model ids of the SentencePiece pieces of `text` to `ids` and returns true.
// The words (runs between spaces) are encoded one by one through a per-thread cache, and the
// pieces are those of the whole-text encoding. A word with unknown characters, or whose best
// segmentation is not ahead of its second best by more than the float rounding that the
// whole-text search can add there, is searched again from the score accumulated before it
// (viterbi_word). Returns false, with `ids` unspecified, when that search fails, so that the
// caller encodes the whole text. Needs tokenizer.splits_at_spaces().
// The cache has 2^16 direct-mapped slots per thread (about 10 MB with typical words); a slot
// is overwritten by the next word that hashes to it, and slots of another tokenizer or model
// are treated as empty.
bool encode_words_cached(std::string_view text, const SentencePieceTokenizer& tokenizer, const NgramModel& model,
                         std::vector<NgramModel::WordIndex>& ids, std::size_t& split_words) {
    struct Slot {
        std::uint64_t tokenizer = 0, model = 0;
        std::string word;
        std::string normalized;  // the word's pieces concatenated, for viterbi_word
        std::vector<NgramModel::WordIndex> ids;
        std::vector<float> scores;
        std::size_t split_words = 0;  // python_split_words summed over the pieces
        float margin = 0;
        bool known = true;
    };
    constexpr std::size_t kSlots = 1 << 16;
    thread_local std::vector<Slot> cache(kSlots);
    thread_local SentencePieceTokenizer::EncodedWord encoded;
    thread_local std::vector<std::string> pieces;

    float offset = 0;  // the score that the whole-text search has stored before the current word
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find(' ', start);
        if (end == std::string_view::npos) end = text.size();
        std::string_view word = text.substr(start, end - start);
        start = end + 1;
        if (word.empty()) continue;
        std::uint64_t hash = 14695981039346656037ULL;  // FNV-1a, only to pick a cache slot
        for (char c : word) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
        Slot& slot = cache[hash & (kSlots - 1)];
        if (slot.tokenizer != tokenizer.id() || slot.model != model.id() || slot.word != word) {
            tokenizer.encode_word(word, encoded);
            slot.tokenizer = tokenizer.id();
            slot.model = model.id();
            slot.word.assign(word);
            slot.normalized.clear();
            slot.ids.clear();
            slot.split_words = 0;
            for (const std::string& piece : encoded.pieces) {
                slot.normalized += piece;
                slot.ids.push_back(model.index(piece));
                slot.split_words += python_split_words(piece);
            }
            slot.scores = encoded.scores;
            slot.margin = encoded.margin;
            slot.known = encoded.known;
        }
        // Each segmentation adds at most one piece per byte of the word, each piece scores at
        // least the unknown score, and each addition rounds the stored score by at most half an
        // ulp of its magnitude; the two segmentations compared can thus move by (bytes + 1) ulps.
        double magnitude = std::fabs(static_cast<double>(offset)) +
                           static_cast<double>(word.size() + 1) * std::fabs(static_cast<double>(tokenizer.unknown_score()));
        double ulp = magnitude * std::ldexp(1.0, -23);
        if (slot.known && slot.margin > static_cast<double>(word.size() + 1) * ulp) {
            offset = SentencePieceTokenizer::add_scores(offset, slot.scores);
            ids.insert(ids.end(), slot.ids.begin(), slot.ids.end());
            split_words += slot.split_words;
            continue;
        }
        if (!tokenizer.viterbi_word(slot.normalized, offset, pieces)) return false;
        for (const std::string& piece : pieces) {
            ids.push_back(model.index(piece));
            split_words += python_split_words(piece);
        }
    }
    return true;
}

}  // namespace

bool document_perplexity(const std::string& text, const SentencePieceTokenizer& tokenizer, const NgramModel& model,
                         double& perplexity_out, bool* encoded_whole) {
    thread_local std::string normalized;
    thread_local std::vector<NgramModel::WordIndex> ids;
    thread_local std::vector<std::string> pieces;
    normalize_for_perplexity(text, normalized);
    if (normalized.empty()) return false;
    ids.clear();
    std::size_t split_words = 0;
    bool whole = !tokenizer.splits_at_spaces() || !encode_words_cached(normalized, tokenizer, model, ids, split_words);
    if (whole) {
        ids.clear();
        split_words = 0;
        tokenizer.encode(normalized, pieces);
        // KenLM's Python score() splits the joined pieces at ASCII whitespace, which no piece
        // contains (SentencePiece escapes the space and the controls are deleted before).
        for (const std::string& piece : pieces) {
            ids.push_back(model.index(piece));
            split_words += python_split_words(piece);
        }
    }
    if (encoded_whole) *encoded_whole = whole;
    double log10_probability = model.score_ids(ids.data(), ids.size());
    perplexity_out = round_to_tenth(perplexity(log10_probability, split_words + 1));
    return true;
}

}  // namespace scorekit::text
