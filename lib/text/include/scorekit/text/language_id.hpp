// Language identification: CLD2 (built in) or a fastText model such as lid.176.bin.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace scorekit::text {

// Counts of fastText predictions by how their hidden vector was summed (see FastTextSummation).
struct FastTextCounters {
    std::uint64_t cached = 0;      // from per-token cached row sums
    std::uint64_t recomputed = 0;  // near a decision boundary, so summed again in fastText's order
};

struct LanguagePrediction {
    std::string label;  // ISO 639 code as fastText's lid.176 writes it ("en", "zh"); empty if none
    int score_percent = 0;  // top-1 score rounded to 2 decimals, times 100
    // This prediction's path: 1 in one of the counts for a fastText prediction from cached sums,
    // all 0 otherwise. The path depends only on the text, so counts summed per document do not
    // depend on the threads or on where a resumed run started.
    FastTextCounters summation;
};

// Both implementations are safe to call from several threads at once.
class LanguageIdentifier {
public:
    virtual ~LanguageIdentifier() = default;

    // Name written to the output: "cld2" or "fasttext:<model file name>".
    virtual std::string name() const = 0;

    // Top-1 language of `text`, which must be valid UTF-8 without newlines. An empty text gives
    // an empty label.
    virtual LanguagePrediction predict(std::string_view text) const = 0;

    // Predictions so far by summation path; zero for CLD2 and for the exact summation.
    virtual FastTextCounters counters() const { return FastTextCounters(); }

    // Every label that predict() can return, in the identifier's order: CLD2's codes (mapped as
    // predict() maps them), or a fastText model's labels without their "__label__" prefix.
    virtual std::vector<std::string> labels() const = 0;
};

// CLD2 (Compact Language Detector 2, Debian's libcld2 with its standard tables). The score is CLD2's percentage of the text
// in the top language, divided by 100. CLD2 codes are mapped to lid.176's where they differ
// (zh-Hant -> zh, iw -> he, jw -> jv).
std::unique_ptr<LanguageIdentifier> make_cld2_identifier();

// How a fastText identifier sums the input-matrix rows of a text's words and character n-grams
// into its hidden vector.
enum class FastTextSummation {
    // One cached sum per recent token in place of one matrix row per word and n-gram. The
    // float sum can differ from fastText's in the last bits, so a prediction whose probability
    // lies near a rounding or label boundary is recomputed with the exact summation.
    cached,
    // Every row added in fastText's order (Model::computeHidden), bit-identical to fastText.
    exact,
};

// A supervised fastText model with labels "__label__<code>". Prediction follows cc_net: the
// text plus "\n" (as fastText's Python predict() sends it), top-1, probability rounded to 2
// decimals with round-half-even. Throws Error if the file cannot be loaded or is not a
// supervised model.
std::unique_ptr<LanguageIdentifier> load_fasttext_identifier(const std::string& path,
                                                             FastTextSummation summation = FastTextSummation::cached);

// A supervised fastText model read as the fastText identifier reads it (in place where it can),
// for other classifiers. Safe to call from several threads at once.
class FastTextClassifier {
public:
    virtual ~FastTextClassifier() = default;

    // The k most probable labels (all for k = -1), "__label__" prefix included, best first, with
    // their probabilities, bit for bit as fastText's predictLine gives them for `text` plus "\n".
    // False when predictLine gives none: no token is known to the model, not even the
    // end-of-sentence token that the "\n" adds. `text` must be valid UTF-8 without newlines.
    virtual bool predict_labels(std::string_view text, std::int32_t k,
                                std::vector<std::pair<float, std::string>>& predictions) const = 0;

    // The model's labels, "__label__" prefix included, in its order.
    virtual std::vector<std::string> label_names() const = 0;
};

// Loads a supervised model with the exact summation. Throws Error, ending with `advice`, if the
// file cannot be read or is not a supervised model.
std::unique_ptr<FastTextClassifier> load_fasttext_classifier(const std::string& path, const std::string& advice);

}  // namespace scorekit::text
