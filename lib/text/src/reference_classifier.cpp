// fastText reference classifier: training, validation and p(wiki).
#include "scorekit/text/reference_classifier.hpp"

#include <fasttext/fasttext.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>

#include "scorekit/atomic_file.hpp"
#include "fasttext_file.hpp"
#include "scorekit/error.hpp"
#include "scorekit/text/language_id.hpp"
#include "scorekit/text/shard.hpp"
#include "scorekit/text/unicode.hpp"

namespace scorekit::text {
namespace {

const std::string kWiki = "__label__wiki";
const std::string kCc = "__label__cc";

std::string one_line(const std::string& text) {
    std::string line = text;
    for (char& c : line) {
        if (c == '\n' || c == '\r') c = ' ';
    }
    return line;
}

// RedPajama's classifier input (classify.py): " ".join(raw_content.strip().splitlines()).
// Python's splitlines also breaks at U+2028, U+0085 and other separators that fastText would
// read as part of a word. Text that is not valid UTF-8 only gets its newlines replaced.
std::string classifier_line(const std::string& text) {
    if (!is_valid_utf8(text)) return one_line(text);
    std::string line;
    line.reserve(text.size());
    bool first = true;
    for (std::string_view piece : split_python_lines(strip_whitespace(text))) {
        if (!first) line += ' ';
        line.append(piece);
        first = false;
    }
    return line;
}

}  // namespace

ReferenceClassifier::ReferenceClassifier(const std::string& path) {
    const std::string advice = "give a model written by train-classifier";
    check_readable(path, "fastText model", "check the path; " + advice);
    check_fasttext_model_file(path, advice);
    check_fasttext_model_intact(path, "train the model again with train-classifier");
    model_ = load_fasttext_classifier(path, advice);
    std::vector<std::string> labels = model_->label_names();
    if (std::find(labels.begin(), labels.end(), kWiki) == labels.end()) {
        throw Error(describe("invalid reference model", path, "it has no label __label__wiki", advice));
    }
    two_labels_ = labels.size() == 2;
}

ReferenceClassifier::~ReferenceClassifier() = default;

double ReferenceClassifier::wiki_probability(const std::string& text) const {
    thread_local std::vector<std::pair<float, std::string>> predictions;
    // One label is enough for a model of the two labels; other models need p(__label__wiki).
    if (!model_->predict_labels(classifier_line(text), two_labels_ ? 1 : -1, predictions)) return 0.0;

    // RedPajama takes the top label's probability p, or 1 - p when that label is __label__cc,
    // which for a model of the two labels is p(__label__wiki) up to the rounding of float.
    const auto& top = predictions.front();
    if (top.second == kWiki) return static_cast<double>(top.first);
    if (top.second == kCc && two_labels_) return 1.0 - static_cast<double>(top.first);
    for (const auto& prediction : predictions) {
        if (prediction.second == kWiki) return static_cast<double>(prediction.first);
    }
    return 0.0;
}

ClassifierQuality train_reference_classifier(const ClassifierTraining& training, const std::string& output) {
    if (training.wiki.empty() || training.cc.empty()) {
        throw Error(describe("cannot train the reference classifier", output,
                             training.wiki.empty() ? "there is no __label__wiki document" : "there is no __label__cc document",
                             "give documents of both kinds"));
    }
    std::vector<std::pair<bool, std::string>> documents;  // (is wiki, text)
    for (const std::string& text : training.wiki) documents.emplace_back(true, one_line(text));
    for (const std::string& text : training.cc) documents.emplace_back(false, one_line(text));
    std::mt19937_64 generator(static_cast<std::uint64_t>(training.seed));
    std::shuffle(documents.begin(), documents.end(), generator);
    auto validation = static_cast<std::size_t>(training.validation_fraction * static_cast<double>(documents.size()));
    std::size_t train_size = documents.size() - validation;

    // A training part with one label gives a model that cannot tell the classes apart (or has no
    // __label__wiki at all), so it is rejected before fastText writes its large file.
    auto wiki_in_training = static_cast<std::size_t>(
        std::count_if(documents.begin(), documents.begin() + static_cast<std::ptrdiff_t>(train_size),
                      [](const std::pair<bool, std::string>& document) { return document.first; }));
    if (wiki_in_training == 0 || wiki_in_training == train_size) {
        throw Error(describe("cannot train the reference classifier", output,
                             "the training part left by the --validation split (" + std::to_string(train_size) +
                                 (train_size == 1 ? " document" : " documents") + ") has no " +
                                 (wiki_in_training == 0 ? kWiki : kCc) + " document",
                             "lower --validation or give more documents of both kinds"));
    }

    AtomicFile model_file(output);
    // Never committed: the object or a signal removes the training text with the model's own
    // temporary file.
    AtomicFile training_text(output + ".train.txt");
    const std::string& input_path = training_text.temporary_path();
    {
        std::ofstream input(input_path, std::ios::binary);
        for (std::size_t i = 0; i < train_size; ++i) {
            input << (documents[i].first ? kWiki : kCc) << ' ' << documents[i].second << '\n';
        }
        input.flush();
        if (!input) {
            throw Error(describe("cannot write the training text for", output, std::strerror(errno),
                                 "check free disk space in its directory"));
        }
    }
    fasttext::Args args;
    args.input = input_path;
    args.model = fasttext::model_name::sup;
    args.loss = fasttext::loss_name::softmax;
    args.minCount = 1;
    args.epoch = training.epoch;
    args.lr = training.learning_rate;
    args.wordNgrams = training.word_ngrams;
    args.dim = training.dimension;
    // `fasttext supervised` turns character n-grams off (fastText::Args defaults them to 3 to 6,
    // for word vectors) and, without word n-grams either, needs no hash buckets.
    args.minn = 0;
    args.maxn = 0;
    args.bucket = training.word_ngrams > 1 ? training.buckets : 0;
    args.thread = 1;
    args.seed = training.seed;
    args.verbose = 0;
    fasttext::FastText model;
    try {
        model.train(args);
    } catch (const std::exception& error) {
        std::remove(input_path.c_str());
        throw Error(describe("fastText training failed", output, error.what(), ""));
    }
    std::remove(input_path.c_str());
    // fastText's saveModel does not check its writes, so a full disk leaves a truncated file
    // without an error. The structure of the saved file is checked before it gets its name.
    model.saveModel(model_file.temporary_path());
    try {
        check_fasttext_model_intact(model_file.temporary_path(), "");
    } catch (const Error&) {
        throw Error(describe("cannot write fastText model", output, "the saved file is incomplete",
                             "check free disk space in its directory"));
    }
    model_file.commit();

    ClassifierQuality quality;
    quality.training_documents = train_size;
    quality.validation_documents = validation;
    ReferenceClassifier classifier(output);
    std::size_t true_positive = 0, predicted_wiki = 0, actual_wiki = 0;
    for (std::size_t i = train_size; i < documents.size(); ++i) {
        bool predicted = classifier.wiki_probability(documents[i].second) >= 0.5;
        predicted_wiki += predicted;
        actual_wiki += documents[i].first;
        true_positive += predicted && documents[i].first;
    }
    const double undefined = std::numeric_limits<double>::quiet_NaN();
    quality.precision = predicted_wiki ? static_cast<double>(true_positive) / predicted_wiki : undefined;
    quality.recall = actual_wiki ? static_cast<double>(true_positive) / actual_wiki : undefined;
    return quality;
}

}  // namespace scorekit::text
