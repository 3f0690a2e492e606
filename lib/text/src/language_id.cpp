#include "scorekit/text/language_id.hpp"

#include <cld2/public/compact_lang_det.h>
#include <fasttext/fasttext.h>

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
        if (model_.getArgs().model != fasttext::model_name::sup) {
            throw Error(describe("cannot use fastText model", path, "not a supervised (classifier) model",
                                 "give a language identification model such as lid.176.bin"));
        }
    }

    std::string name() const override { return name_; }

    LanguagePrediction predict(std::string_view text) const override {
        if (text.empty()) return LanguagePrediction();
        std::string line(text);
        line += '\n';
        std::istringstream in(line);
        std::vector<std::pair<fasttext::real, std::string>> predictions;
        model_.predictLine(in, predictions, 1, 0.0);
        LanguagePrediction prediction;
        if (predictions.empty()) return prediction;
        std::string label = predictions[0].second;
        const std::string prefix = "__label__";
        if (label.compare(0, prefix.size(), prefix) == 0) label.erase(0, prefix.size());
        prediction.label = label;
        // numpy's round(x, 2) on the float64 value of the float32 probability: rint(x * 100).
        double probability = static_cast<double>(predictions[0].first);
        prediction.score_percent = static_cast<int>(std::nearbyint(probability * 100.0));
        return prediction;
    }

private:
    static std::string base_name(const std::string& path) {
        std::size_t slash = path.rfind('/');
        return slash == std::string::npos ? path : path.substr(slash + 1);
    }

    fasttext::FastText model_;
    std::string name_;
};

}  // namespace

std::unique_ptr<LanguageIdentifier> make_cld2_identifier() { return std::make_unique<Cld2Identifier>(); }

std::unique_ptr<LanguageIdentifier> load_fasttext_identifier(const std::string& path) {
    return std::make_unique<FastTextIdentifier>(path);
}

}  // namespace scorekit::text
