// Gopher quality and repetition rules (Rae et al. 2021, arXiv:2112.11446), with the thresholds
// and, except where the comments state otherwise, the definitions of GopherQualityFilter and
// GopherRepetitionFilter in huggingface/datatrove release 0.10.0 (commit a649de79).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace scorekit::text {

// Thresholds by rule name; every one can be overridden by name ("min_doc_words=20").
struct QualityThresholds {
    std::map<std::string, double> values = {
        {"min_doc_words", 50},          {"max_doc_words", 100000},
        {"min_avg_word_length", 3},     {"max_avg_word_length", 10},
        {"max_hash_word_ratio", 0.1},   {"max_ellipsis_word_ratio", 0.1},
        {"max_bullet_lines_ratio", 0.9}, {"max_ellipsis_lines_ratio", 0.3},
        {"min_alpha_words_ratio", 0.8}, {"min_stop_words", 2},
        {"dup_para_frac", 0.3},         {"dup_para_char_frac", 0.2},
        {"dup_line_frac", 0.3},         {"dup_line_char_frac", 0.2},
        {"top_2_gram", 0.2},            {"top_3_gram", 0.18},
        {"top_4_gram", 0.16},           {"dup_5_gram", 0.15},
        {"dup_6_gram", 0.14},           {"dup_7_gram", 0.13},
        {"dup_8_gram", 0.12},           {"dup_9_gram", 0.11},
        {"dup_10_gram", 0.10}};

    // Applies "name=value"; throws UsageError for an unknown name or a value that is not a number.
    void set(const std::string& assignment);
};

// One rule's measurement and verdict.
struct QualityMeasure {
    std::string rule;
    double value = 0;
    bool passed = true;
};

struct QualityReport {
    bool passed = true;
    std::string first_failure;             // empty when every rule passed
    std::vector<QualityMeasure> measures;  // every rule, in a fixed order
};

// Evaluates the rules on `text`, valid UTF-8 with lines separated by "\n". Words are split at
// whitespace as Python's str.split() does.
// NOTE: datatrove 0.10.0 splits English words with spaCy's rule-based tokenizer
// (spacy.blank("en")), and releases up to 0.3.0 with NLTK's word_tokenize. Both also split off
// punctuation ("end." -> "end" "."), so datatrove's values differ from these on punctuated text.
// Blank lines and paragraphs never count as duplicates, and ratios over an empty text or
// no words are 0 instead of a division by zero. With every_rule false, the evaluation may stop
// once a rule has failed, so `measures` then holds only the rules evaluated up to there.
QualityReport evaluate_quality(const std::string& text, const QualityThresholds& thresholds, bool every_rule = true);

// The report as a JSON object: {"passed": ..., "failed": [...], "<rule>": value, ...}.
std::string quality_report_json(const QualityReport& report);

}  // namespace scorekit::text
