#include "scorekit/text/language_id.hpp"

#include <cld2/public/compact_lang_det.h>
#include <fasttext/fasttext.h>
#include <fasttext/loss.h>
#include <fasttext/model.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <sstream>

#include "scorekit/error.hpp"

namespace scorekit::text {
namespace {

class Cld2Identifier : public LanguageIdentifier {
public:
    std::string name() const override { return "cld2"; }

    LanguagePrediction predict(std::string_view text) const override {
        if (text.empty()) return LanguagePrediction();
        CLD2::Language languages[3];
        int percents[3];
        int text_bytes = 0;
        bool reliable = false;
        CLD2::ExtDetectLanguageSummary(text.data(), static_cast<int>(text.size()), true, languages, percents,
                                       &text_bytes, &reliable);
        LanguagePrediction prediction;
        if (languages[0] == CLD2::UNKNOWN_LANGUAGE) return prediction;
        prediction.label = to_lid176(CLD2::LanguageCode(languages[0]));
        prediction.score_percent = percents[0];
        return prediction;
    }

private:
    static std::string to_lid176(const char* code) {
        if (std::strcmp(code, "zh-Hant") == 0) return "zh";
        if (std::strcmp(code, "iw") == 0) return "he";
        if (std::strcmp(code, "jw") == 0) return "jv";
        return code;
    }
};

class FastTextIdentifier : public LanguageIdentifier {
public:
    explicit FastTextIdentifier(const std::string& path) : name_("fasttext:" + base_name(path)) {
        try {
            model_.loadModel(path);
        } catch (const std::exception& e) {
            throw Error(describe("cannot load fastText model", path, e.what(),
                                 "give a supervised model such as lid.176.bin"));
        }
        args_ = model_.getArgs();
        if (args_.model != fasttext::model_name::sup) {
            throw Error(describe("cannot use fastText model", path, "not a supervised (classifier) model",
                                 "give a language identification model such as lid.176.bin"));
        }
        dictionary_ = model_.getDictionary();
        if (!model_.isQuant()) prepare_fast_path();
    }

    std::string name() const override { return name_; }

    LanguagePrediction predict(std::string_view text) const override {
        if (text.empty()) return LanguagePrediction();
        std::pair<fasttext::real, std::string> best;
        if (loss_) {
            if (!predict_fast(text, best)) return LanguagePrediction();
        } else {
            // fastText's Python predict() appends the newline, which adds the end-of-sentence token.
            std::istringstream in(std::string(text) + "\n");
            std::vector<std::pair<fasttext::real, std::string>> predictions;
            model_.predictLine(in, predictions, 1, 0.0);
            if (predictions.empty()) return LanguagePrediction();
            best = predictions[0];
        }
        const std::string prefix = "__label__";
        if (best.second.compare(0, prefix.size(), prefix) == 0) best.second.erase(0, prefix.size());
        LanguagePrediction prediction;
        prediction.label = best.second;
        // numpy's round(x, 2) on the float64 value of the float32 probability: rint(x * 100).
        prediction.score_percent = static_cast<int>(std::nearbyint(static_cast<double>(best.first) * 100.0));
        return prediction;
    }

private:
    static std::string base_name(const std::string& path) {
        std::size_t slash = path.rfind('/');
        return slash == std::string::npos ? path : path.substr(slash + 1);
    }

    // The output layer, built as FastText::createLoss builds it, so that the hidden vector can be
    // computed here with prefetching and then scored by fastText's own code.
    void prepare_fast_path() {
        // fastText's Loss keeps a reference to this pointer, so it must live as long as loss_.
        output_ = std::const_pointer_cast<fasttext::DenseMatrix>(model_.getOutputMatrix());
        std::shared_ptr<fasttext::Matrix>& output = output_;
        std::vector<std::int64_t> counts = dictionary_->getCounts(fasttext::entry_type::label);
        switch (args_.loss) {
            case fasttext::loss_name::hs:
                loss_ = std::make_shared<fasttext::HierarchicalSoftmaxLoss>(output, counts);
                break;
            case fasttext::loss_name::softmax:
                loss_ = std::make_shared<fasttext::SoftmaxLoss>(output);
                break;
            case fasttext::loss_name::ova:
                loss_ = std::make_shared<fasttext::OneVsAllLoss>(output);
                break;
            default:
                return;  // negative sampling: predictLine
        }
        input_ = model_.getInputMatrix();
    }

    // Appends the input ids of `text` plus a final newline as Dictionary::getLine does for a
    // supervised model whose wordNgrams is 1: tokens are runs of bytes other than
    // " \n\r\t\v\f\0", the newline becomes the end-of-sentence token, label tokens are skipped,
    // and each word contributes Dictionary::getSubwords(word). The ids of recent tokens are kept
    // in a per-thread direct-mapped cache, because looking a word up in fastText's 30-million-slot
    // table and hashing its character n-grams costs more than the rest of the prediction.
    void text_to_ids(std::string_view text, std::vector<std::int32_t>& ids) const {
        struct Slot {
            std::uint64_t owner = 0;
            std::string token;
            std::vector<std::int32_t> ids;
        };
        constexpr std::size_t kSlots = 1 << 16;
        thread_local std::vector<Slot> cache(kSlots);

        auto add_token = [&](std::string_view token) {
            if (token.compare(0, args_.label.size(), args_.label) == 0) return;
            std::uint64_t h = 14695981039346656037ULL;  // FNV-1a, only to pick a cache slot
            for (char c : token) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
            Slot& slot = cache[h & (kSlots - 1)];
            if (slot.owner != instance_ || slot.token != token) {
                slot.owner = instance_;
                slot.token.assign(token);
                slot.ids = dictionary_->getSubwords(slot.token);
            }
            ids.insert(ids.end(), slot.ids.begin(), slot.ids.end());
        };

        std::size_t start = 0;
        for (std::size_t i = 0; i <= text.size(); ++i) {
            char c = i < text.size() ? text[i] : ' ';
            bool space = c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f' || c == '\0';
            if (!space) continue;
            if (i > start) add_token(text.substr(start, i - start));
            start = i + 1;
        }
        add_token(fasttext::Dictionary::EOS);
    }

    // FastText::predictLine for k = 1, with Model::computeHidden rewritten to prefetch the rows of
    // the input matrix: the rows are random 64-byte reads from a matrix of about 128 MB
    // (lid.176), and waiting for each in turn is most of the prediction time. The rows are added
    // in the same order with the same float arithmetic, so the result is bit-identical.
    bool predict_fast(std::string_view text, std::pair<fasttext::real, std::string>& best) const {
        thread_local std::vector<std::int32_t> words, labels;
        words.clear();
        labels.clear();
        if (args_.wordNgrams <= 1 && text.find('\n') == std::string_view::npos) {
            text_to_ids(text, words);
        } else {
            std::istringstream in(std::string(text) + "\n");
            dictionary_->getLine(in, words, labels);
        }
        if (words.empty()) return false;

        const std::int64_t dim = input_->cols();
        fasttext::Model::State state(static_cast<std::int32_t>(dim), dictionary_->nlabels(), 0);
        fasttext::real* hidden = state.hidden.data();
        std::fill(hidden, hidden + dim, fasttext::real(0));
        const fasttext::real* matrix = input_->data();
        constexpr std::size_t kAhead = 16;
        for (std::size_t i = 0; i < words.size(); ++i) {
            if (i + kAhead < words.size()) {
                const fasttext::real* next = matrix + words[i + kAhead] * dim;
                for (std::int64_t j = 0; j < dim; j += 16) __builtin_prefetch(next + j);
            }
            const fasttext::real* row = matrix + words[i] * dim;
            for (std::int64_t j = 0; j < dim; ++j) hidden[j] += row[j];
        }
        state.hidden.mul(1.0 / words.size());

        fasttext::Predictions heap;
        heap.reserve(2);
        loss_->predict(1, 0.0, heap, state);
        if (heap.empty()) return false;
        best = {std::exp(heap.front().first), dictionary_->getLabel(heap.front().second)};
        return true;
    }

    fasttext::FastText model_;
    fasttext::Args args_;
    std::string name_;
    std::shared_ptr<const fasttext::Dictionary> dictionary_;
    std::shared_ptr<const fasttext::DenseMatrix> input_;
    std::shared_ptr<fasttext::Matrix> output_;
    std::shared_ptr<fasttext::Loss> loss_;
    // Distinguishes this model's entries in the per-thread token cache from another model's.
    const std::uint64_t instance_ = next_instance_++;
    static inline std::atomic<std::uint64_t> next_instance_{1};
};

}  // namespace

std::unique_ptr<LanguageIdentifier> make_cld2_identifier() { return std::make_unique<Cld2Identifier>(); }

std::unique_ptr<LanguageIdentifier> load_fasttext_identifier(const std::string& path) {
    return std::make_unique<FastTextIdentifier>(path);
}

}  // namespace scorekit::text
