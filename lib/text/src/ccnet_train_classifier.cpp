// `ccnet-filter train-classifier`: the reference classifier from labelled documents.
#include <cmath>

#include "scorekit/atomic_file.hpp"
#include "scorekit/error.hpp"
#include "scorekit/log.hpp"
#include "scorekit/text/ccnet_filter.hpp"
#include "scorekit/text/reference_classifier.hpp"
#include "scorekit/text_input.hpp"

namespace scorekit {
namespace {

// Reads the non-blank lines of `files`, the documents given to `option`.
std::vector<std::string> read_documents(const std::vector<std::string>& files, const char* option) {
    std::vector<std::string> documents;
    std::string line;
    for (const std::string& file : files) {
        LineReader reader(file);
        while (reader.next(line)) {
            // fastText skips a line without words, so a blank one is no document.
            if (line.find_first_not_of(" \t\r\v\f") != std::string::npos) documents.push_back(line);
        }
    }
    if (documents.empty()) {
        std::string names;
        for (const std::string& file : files) names += (names.empty() ? "" : ", ") + file;
        throw Error(describe("no " + std::string(option) + " documents", names, "the files contain no line with text",
                             "give one document per line for both --wiki and --cc"));
    }
    return documents;
}

}  // namespace

void run_ccnet_train_classifier(const CcnetTrainClassifierOptions& options) {
    if (options.validation_fraction < 0 || options.validation_fraction >= 1) {
        throw UsageError(describe("invalid --validation", format_number(options.validation_fraction),
                                  "must be at least 0 and below 1", ""));
    }
    if (options.output == "-") {
        throw UsageError(describe("invalid -o", "-", "a fastText model is a binary file, not text for standard output",
                                  "give a path, for example -o ref.bin"));
    }
    std::vector<FileArgument> inputs = file_arguments("--wiki", options.wiki);
    for (FileArgument& cc : file_arguments("--cc", options.cc)) inputs.push_back(cc);
    // A file in both classes would teach both labels for the same documents, and one read twice
    // would weigh its documents twice.
    check_inputs_listed_once(inputs);
    check_distinct_files({{"--output", options.output}}, inputs);
    check_output_writable(options.output);
    text::ClassifierTraining training;
    training.wiki = read_documents(options.wiki, "--wiki");
    training.cc = read_documents(options.cc, "--cc");
    training.validation_fraction = options.validation_fraction;
    training.epoch = options.epoch;
    training.learning_rate = options.learning_rate;
    training.word_ngrams = options.word_ngrams;
    training.dimension = options.dimension;
    training.buckets = options.buckets;
    training.seed = options.seed;
    log_info("training the reference classifier on " + std::to_string(training.wiki.size()) + " wiki and " +
             std::to_string(training.cc.size()) + " cc documents");
    text::ClassifierQuality quality = text::train_reference_classifier(training, options.output);
    std::string validation = "no validation (no document held out)";
    if (quality.validation_documents > 0) {
        const auto rate = [](double value, const char* undefined) {
            return std::isnan(value) ? std::string("undefined (") + undefined + ")" : format_short(value);
        };
        validation = "validation on " + std::to_string(quality.validation_documents) + ": precision " +
                     rate(quality.precision, "no document predicted wiki") + ", recall " +
                     rate(quality.recall, "no wiki document held out") + " (of __label__wiki at p >= 0.5)";
    }
    log_info("wrote " + options.output + ": trained on " + std::to_string(quality.training_documents) +
             " documents; " + validation);
    log_summary("train-classifier");
}

}  // namespace scorekit
