// cc_net's perplexity stage: per-language models, document perplexity and buckets.
#include <cstdlib>
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
    std::map<std::string, double> head, tail;
    bool found_head = false, found_tail = false;
    std::uint64_t line_number = 1;
    while (reader.next(line)) {
        ++line_number;
        if (line.empty()) continue;
        std::vector<std::string> fields = split_csv_line(line);
        if (fields.size() != languages.size()) {
            throw Error(describe("invalid cutoff file", path + ":" + std::to_string(line_number),
                                 std::to_string(fields.size()) + " fields where the header has " +
                                     std::to_string(languages.size()),
                                 "check the file"));
        }
        char* end = nullptr;
        double label = std::strtod(fields[0].c_str(), &end);
        if (label != 30 && label != 60) continue;
        auto& row = label == 30 ? head : tail;
        (label == 30 ? found_head : found_tail) = true;
        for (std::size_t k = 1; k < fields.size(); ++k) {
            double value = std::strtod(fields[k].c_str(), &end);
            if (fields[k].empty() || *end != '\0') {
                throw Error(describe("invalid cutoff file", path + ":" + std::to_string(line_number),
                                     "\"" + fields[k] + "\" is not a number", "check the file"));
            }
            row[languages[k]] = value;
        }
    }
    if (!found_head || !found_tail) {
        throw Error(describe("invalid cutoff file", path, "rows 30 and 60 are required", "give percentile rows 0..99"));
    }
    PerplexityCutoffs cutoffs;
    for (std::size_t k = 1; k < languages.size(); ++k) {
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
    : tokenizer_pattern_(std::move(tokenizer_pattern)), model_pattern_(std::move(model_pattern)) {}

const LanguageModels* LanguageModelSet::get(const std::string& language) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = loaded_.find(language);
    if (found != loaded_.end()) return found->second.get();
    std::unique_ptr<LanguageModels> models;
    std::string tokenizer_path = expand_language(tokenizer_pattern_, language);
    std::string model_path = expand_language(model_pattern_, language);
    if (readable(tokenizer_path) && readable(model_path)) {
        models = std::make_unique<LanguageModels>();
        models->tokenizer = std::make_unique<SentencePieceTokenizer>(tokenizer_path);
        models->model = std::make_unique<NgramModel>(NgramModel::load(model_path));
        log_info("loaded the models of language " + language + ": " + tokenizer_path + ", " + model_path + " (order " +
                 std::to_string(models->model->order()) + ", " + std::to_string(models->model->vocabulary_size()) +
                 " words)");
    } else {
        log_verbose("no language model for " + language + " (" + tokenizer_path + ", " + model_path +
                    "): its documents go to bucket all");
    }
    return loaded_.emplace(language, std::move(models)).first->second.get();
}

bool document_perplexity(const std::string& text, const SentencePieceTokenizer& tokenizer, const NgramModel& model,
                         double& perplexity_out) {
    thread_local std::string normalized;
    thread_local std::vector<std::string> pieces;
    normalize_for_perplexity(text, normalized);
    if (normalized.empty()) return false;
    tokenizer.encode(normalized, pieces);
    // KenLM's Python score() splits the joined pieces at whitespace, so a piece never contains a space.
    double log10_probability = model.score_sentence(pieces);
    perplexity_out = round_to_tenth(perplexity(log10_probability, pieces.size() + 1));
    return true;
}

}  // namespace scorekit::text
