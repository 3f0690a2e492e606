// LLaMA's reference filter: a fastText linear classifier of Wikipedia-referenced pages
// (__label__wiki) against random crawl pages (__label__cc).
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace scorekit::text {

class FastTextClassifier;

class ReferenceClassifier {
public:
    // Throws Error if the file is not a supervised fastText model with the label __label__wiki.
    explicit ReferenceClassifier(const std::string& path);
    ~ReferenceClassifier();

    // p(__label__wiki) of a document as RedPajama computes it: the lines of the stripped text
    // (Python's str.splitlines()) joined by spaces. Safe from several threads.
    double wiki_probability(const std::string& text) const;

private:
    std::unique_ptr<FastTextClassifier> model_;
    bool two_labels_ = false;
};

struct ClassifierTraining {
    std::vector<std::string> wiki;  // documents, one line each
    std::vector<std::string> cc;
    double validation_fraction = 0.1;
    int epoch = 5;
    double learning_rate = 0.1;
    // The defaults are those of `fasttext supervised`, with which RedPajama trained its
    // reproduction of LLaMA's classifier: whole words only, no word n-grams.
    int word_ngrams = 1;
    int dimension = 100;
    // Hash buckets of the word n-gram features, used only with word_ngrams > 1. The model then has
    // (words + buckets) * dimension floats, 800 MB at fastText's default of 2 million and dimension 100.
    int buckets = 2000000;
    int seed = 0;
};

struct ClassifierQuality {
    std::size_t training_documents = 0, validation_documents = 0;
    // Of p(__label__wiki) >= 0.5 on the validation set; NaN where no document was predicted
    // wiki (precision) or none is wiki (recall).
    double precision = 0, recall = 0;
};

// Trains with one thread (so the model is the same on every run), writes `output`, and
// measures precision and recall on a validation set held out with a fixed-seed shuffle.
ClassifierQuality train_reference_classifier(const ClassifierTraining& training, const std::string& output);

}  // namespace scorekit::text
