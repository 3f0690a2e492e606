// Language identification with CLD2 and with a fastText model trained here on real text.
#include <catch2/catch.hpp>

#include <fasttext/fasttext.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "scorekit/error.hpp"
#include "scorekit/text/ccnet_filter.hpp"
#include "scorekit/text/language_id.hpp"
#include "text_test_support.hpp"

using namespace scorekit::text;

namespace {

const std::vector<std::string> kLanguages = {"en", "de", "fr", "ru", "zh"};

std::vector<std::string> fixture_lines(const std::string& language) {
    std::ifstream in(text_test::fixture("lid/" + language + ".txt"));
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
    REQUIRE(lines.size() == 300);
    return lines;
}

// Held-out documents: 5 documents of 10 sentences each from lines 250..299, glued without
// newlines as cc_net passes them to the identifier.
std::vector<std::string> held_out_documents(const std::string& language) {
    std::vector<std::string> lines = fixture_lines(language);
    std::vector<std::string> documents;
    for (int d = 0; d < 5; ++d) {
        std::string text;
        for (int i = 0; i < 10; ++i) text += lines[static_cast<std::size_t>(250 + 10 * d + i)];
        documents.push_back(text);
    }
    return documents;
}

}  // namespace

TEST_CASE("CLD2 labels real text in five languages", "[text][lid]") {
    auto identifier = make_cld2_identifier();
    CHECK(identifier->name() == "cld2");
    for (const std::string& language : kLanguages) {
        for (const std::string& document : held_out_documents(language)) {
            INFO(language << ": " << document.substr(0, 80));
            LanguagePrediction prediction = identifier->predict(document);
            CHECK(prediction.label == language);
            CHECK(prediction.score_percent >= 50);
            CHECK(prediction.score_percent <= 100);
        }
    }
}

TEST_CASE("CLD2 labels a document of 40 MB", "[text][lid]") {
    // CLD2 alone gives up on a text of this size and returns no language, which would drop the
    // document. Random word order keeps CLD2 from squeezing the text as repeated. Russian words
    // are 2 bytes a letter, so the cut of the prefix that CLD2 reads can fall inside a letter.
    std::vector<std::string> words;
    for (const std::string& line : fixture_lines("ru")) {
        std::istringstream in(line);
        for (std::string word; in >> word;) words.push_back(word);
    }
    std::mt19937 random(7);
    std::uniform_int_distribution<std::size_t> pick(0, words.size() - 1);
    std::string text;
    text.reserve(41u << 20);
    while (text.size() < (40u << 20)) text.append(words[pick(random)]).push_back(' ');
    LanguagePrediction prediction = make_cld2_identifier()->predict(text);
    CHECK(prediction.label == "ru");
    CHECK(prediction.score_percent >= 50);
}

namespace {

// Trains a tiny language identification model on the first 250 lines of each fixture and saves
// it as <name>.bin; with `quantize` also as the quantised <name>.ftz.
void train_model(const text_test::TempDir& dir, fasttext::loss_name loss, const std::string& name,
                 int word_ngrams = 1, bool quantize = false) {
    {
        std::ofstream train(dir.file("train.txt"));
        // Interleave languages so that training order does not favour one.
        std::vector<std::vector<std::string>> lines;
        for (const std::string& language : kLanguages) lines.push_back(fixture_lines(language));
        for (std::size_t i = 0; i < 250; ++i) {
            for (std::size_t l = 0; l < kLanguages.size(); ++l) train << "__label__" << kLanguages[l] << ' ' << lines[l][i] << '\n';
        }
    }
    fasttext::Args args;
    args.input = dir.file("train.txt");
    args.output = dir.file(name);
    args.model = fasttext::model_name::sup;
    args.loss = loss;
    args.minCount = 1;
    args.minn = 1;
    args.maxn = 3;
    args.dim = 16;
    args.epoch = 10;
    args.lr = 0.5;
    args.bucket = 200000;
    args.thread = 1;
    args.verbose = 0;
    args.seed = 1;
    args.wordNgrams = word_ngrams;
    fasttext::FastText trainer;
    trainer.train(args);
    trainer.saveModel(dir.file(name + ".bin"));
    if (quantize) {
        fasttext::Args quantizing;
        quantizing.input = dir.file("train.txt");
        quantizing.dsub = 2;
        quantizing.qnorm = true;
        // Pruned to its 1,000 most useful rows, as lid.176.ftz is pruned; quantising all
        // 200,000 buckets takes seconds.
        quantizing.cutoff = 1000;
        quantizing.verbose = 0;
        trainer.quantize(quantizing);
        trainer.saveModel(dir.file(name + ".ftz"));
    }
}

}  // namespace

TEST_CASE("fastText model trained on real text labels held-out text", "[text][lid]") {
    text_test::TempDir dir;
    train_model(dir, fasttext::loss_name::softmax, "lid");
    auto identifier = load_fasttext_identifier(dir.file("lid.bin"));
    CHECK(identifier->name() == "fasttext:lid.bin");
    for (const std::string& language : kLanguages) {
        for (const std::string& document : held_out_documents(language)) {
            INFO(language << ": " << document.substr(0, 80));
            LanguagePrediction prediction = identifier->predict(document);
            CHECK(prediction.label == language);
            CHECK(prediction.score_percent >= 50);
        }
    }
    CHECK(identifier->predict("").label.empty());
}

TEST_CASE("fastText predictions equal fastText's predictLine", "[text][lid]") {
    // The identifier computes the hidden layer itself (with prefetching) and reads plain models
    // in place without fastText's loader. Its results must be those of fastText's own
    // predictLine for every output layer, and also for the models that fastText loads (word
    // n-grams, quantised).
    text_test::TempDir dir;
    train_model(dir, fasttext::loss_name::softmax, "softmax");
    train_model(dir, fasttext::loss_name::hs, "hs", 1, true);
    train_model(dir, fasttext::loss_name::ova, "ova");
    train_model(dir, fasttext::loss_name::softmax, "bigrams", 2);
    for (std::string file : {"softmax.bin", "hs.bin", "ova.bin", "bigrams.bin", "hs.ftz"}) {
        const std::string& name = file;
        auto identifier = load_fasttext_identifier(dir.file(file));
        fasttext::FastText reference;
        reference.loadModel(dir.file(file));
        int compared = 0;
        for (const std::string& language : kLanguages) {
            for (const std::string& line : fixture_lines(language)) {
                std::istringstream in(line + "\n");
                std::vector<std::pair<fasttext::real, std::string>> expected;
                reference.predictLine(in, expected, 1, 0.0);
                REQUIRE(expected.size() == 1);
                LanguagePrediction got = identifier->predict(line);
                INFO(name << " loss: " << line);
                REQUIRE(got.label == expected[0].second.substr(9));
                REQUIRE(got.score_percent == static_cast<int>(std::nearbyint(static_cast<double>(expected[0].first) * 100.0)));
                ++compared;
            }
        }
        CHECK(compared == 1500);

        // Checks one identifier's prediction of `input` against fastText's predictLine.
        auto check_against_fasttext = [&](const LanguageIdentifier& checked, const std::string& input) {
            std::istringstream in(input + "\n");
            std::vector<std::pair<fasttext::real, std::string>> expected;
            reference.predictLine(in, expected, 1, 0.0);
            REQUIRE(expected.size() == 1);
            LanguagePrediction got = checked.predict(input);
            INFO(name << ": " << input.size() << " bytes: " << input.substr(0, 80));
            CHECK(got.label == expected[0].second.substr(9));
            CHECK(got.score_percent == static_cast<int>(std::nearbyint(static_cast<double>(expected[0].first) * 100.0)));
        };

        // Whole fixtures glued into one text: thousands of tokens, many repeated. Then two
        // lines, of which predictLine reads the first only.
        for (const std::string& language : kLanguages) {
            std::string text;
            for (const std::string& line : fixture_lines(language)) text += line + " ";
            const std::string two_lines = fixture_lines(language)[0] + "\n" + fixture_lines("zh")[1];
            check_against_fasttext(*identifier, text);
            check_against_fasttext(*identifier, two_lines);
        }

        // Tokens of every length from 1 to 60 bytes, each followed by one of fastText's
        // separators other than the newline, then the same long token (more than the 44 bytes
        // that the token cache keeps inline) three times.
        const std::string separators(" \t\v\f\r\0", 6);
        const std::string source = fixture_lines("ru")[3] + fixture_lines("zh")[4] + fixture_lines("en")[5];
        REQUIRE(source.size() >= 120);
        std::string mixed;
        for (std::size_t length = 1; length <= 60; ++length) {
            mixed += source.substr(length, length);
            mixed += separators[length % separators.size()];
        }
        const std::string long_token = fixture_lines("zh")[5];
        REQUIRE(long_token.find(' ') == std::string::npos);
        REQUIRE(long_token.size() > 44);
        // And a text of 1.5 MB, which the exact summation reads in pieces of about 1 MiB.
        std::string large;
        while (large.size() < 1500000) large += fixture_lines("fr")[large.size() % 300] + " ";
        check_against_fasttext(*load_fasttext_identifier(dir.file(file), FastTextSummation::exact), large);
        check_against_fasttext(*identifier, mixed);
        check_against_fasttext(*identifier, mixed + long_token + " " + long_token + "\t" + long_token);
    }
}

TEST_CASE("fastText classifier equals predictLine for every label", "[text][lid]") {
    // The reference classifier reads models through load_fasttext_classifier, whose
    // probabilities must be fastText's own bit for bit, for the top label and for all labels,
    // on models read in place and on models that fastText loads (word n-grams, quantised).
    text_test::TempDir dir;
    train_model(dir, fasttext::loss_name::softmax, "softmax");
    train_model(dir, fasttext::loss_name::hs, "hs", 1, true);
    train_model(dir, fasttext::loss_name::softmax, "bigrams", 2);
    for (std::string file : {"softmax.bin", "hs.bin", "bigrams.bin", "hs.ftz"}) {
        auto classifier = load_fasttext_classifier(dir.file(file), "give another model");
        fasttext::FastText reference;
        reference.loadModel(dir.file(file));
        CHECK(classifier->label_names().size() == kLanguages.size());
        int compared = 0;
        for (const std::string& language : kLanguages) {
            for (const std::string& line : fixture_lines(language)) {
                for (std::int32_t k : {1, -1}) {
                    std::istringstream in(line + "\n");
                    std::vector<std::pair<fasttext::real, std::string>> expected, got;
                    reference.predictLine(in, expected, k, 0.0);
                    INFO(file << " k " << k << ": " << line);
                    REQUIRE(classifier->predict_labels(line, k, got) == !expected.empty());
                    REQUIRE(got.size() == expected.size());
                    for (std::size_t i = 0; i < got.size(); ++i) {
                        CHECK(got[i].second == expected[i].second);
                        CHECK(got[i].first == expected[i].first);
                    }
                }
                ++compared;
            }
        }
        CHECK(compared == 1500);
        // An empty text still has fastText's end-of-sentence token, so it gets a prediction.
        std::istringstream in("\n");
        std::vector<std::pair<fasttext::real, std::string>> expected, got;
        reference.predictLine(in, expected, 1, 0.0);
        REQUIRE(classifier->predict_labels("", 1, got) == !expected.empty());
        REQUIRE(got.size() == expected.size());
        if (!got.empty()) CHECK(got[0] == expected[0]);
    }
    CHECK_THROWS_WITH(load_fasttext_classifier(dir.file("nosuch.bin"), "give another model"),
                      Catch::Matchers::EndsWith("give another model"));
}

TEST_CASE("damaged fastText models are refused with a message", "[text][lid]") {
    // fastText's own loader reads a truncated model and aborts on its first prediction.
    text_test::TempDir dir;
    train_model(dir, fasttext::loss_name::hs, "hs", 1, true);
    for (std::string file : {"hs.bin", "hs.ftz"}) {
        const std::string model = text_test::read_file(dir.file(file));
        const std::size_t cuts[] = {20, 200, model.size() / 2, model.size() - 1};
        for (std::size_t cut : cuts) {
            INFO(file << " cut to " << cut << " of " << model.size() << " bytes");
            text_test::write_file(dir.file("damaged.bin"), model.substr(0, cut));
            CHECK_THROWS_WITH(load_fasttext_identifier(dir.file("damaged.bin")), Catch::Contains("truncated or damaged"));
        }
        text_test::write_file(dir.file("damaged.bin"), model + "x");
        CHECK_THROWS_WITH(load_fasttext_identifier(dir.file("damaged.bin")), Catch::Contains("truncated or damaged"));
        // A dimension in the header (the first Args field, after magic and version) that the
        // matrices do not have: fastText's loader sizes its vectors from it and aborts later.
        std::string wrong_dim = model;
        const std::int32_t dim = 1000;
        std::memcpy(&wrong_dim[8], &dim, sizeof(dim));
        text_test::write_file(dir.file("damaged.bin"), wrong_dim);
        CHECK_THROWS_WITH(load_fasttext_identifier(dir.file("damaged.bin")), Catch::Contains("truncated or damaged"));
        // A longest character n-gram (maxn, the 11th Args field) of a million.
        std::string wrong_maxn = model;
        const std::int32_t maxn = 1000000;
        std::memcpy(&wrong_maxn[8 + 4 * 10], &maxn, sizeof(maxn));
        text_test::write_file(dir.file("damaged.bin"), wrong_maxn);
        CHECK_THROWS_WITH(load_fasttext_identifier(dir.file("damaged.bin")), Catch::Contains("truncated or damaged"));
        // A dictionary of 2^31 - 1 entries (size, nwords and nlabels after the 56 bytes of Args),
        // which the parser allocated before reading them.
        std::string huge_dictionary = model;
        const std::int32_t entries[3] = {0x7fffffff, 0x7ffffffe, 1};
        std::memcpy(&huge_dictionary[64], entries, sizeof(entries));
        text_test::write_file(dir.file("damaged.bin"), huge_dictionary);
        CHECK_THROWS_WITH(load_fasttext_identifier(dir.file("damaged.bin")), Catch::Contains("truncated or damaged"));
    }
}

TEST_CASE("mine with a fastText model", "[text][lid][pipeline]") {
    text_test::TempDir dir;
    train_model(dir, fasttext::loss_name::hs, "lid");
    std::string wet;
    for (const std::string& language : kLanguages) {
        std::vector<std::string> lines = fixture_lines(language);
        std::string body = "Title\n";
        for (std::size_t i = 250; i < 300; ++i) body += lines[i] + "\n";
        wet += text_test::wet_record("http://" + language + ".example/", body);
    }
    text_test::write_file(dir.file("in.wet"), wet);

    scorekit::CcnetMineOptions options;
    options.input.inputs = {dir.file("in.wet")};
    options.no_dedup = true;
    options.lid_model = dir.file("lid.bin");
    options.output = dir.file("mined");
    scorekit::run_ccnet_mine(options);
    for (const std::string& language : kLanguages) {
        INFO(language);
        std::string json = text_test::gunzip_file(dir.file("mined/" + language + ".json.gz"));
        CHECK_THAT(json, Catch::Contains("\"url\": \"http://" + language + ".example/\""));
        CHECK_THAT(json, Catch::Contains("\"language\": \"" + language + "\", \"language_score\": "));
        CHECK_THAT(json, Catch::Contains("\"language_identifier\": \"fasttext:lid.bin\"}"));
    }
    CHECK_THAT(text_test::read_file(dir.file("mined.stats.json")), Catch::Contains("\"language_identifier\": \"fasttext:lid.bin\""));
}

// --lang codes are compared with the labels as they are, so "eng" or "EN" kept no document
// and the run passed with empty outputs. A code that matches no label of the identifier is a
// usage error when no code of the list matches, else a warning.
TEST_CASE("mine checks --lang against the identifier's labels", "[text][lid][pipeline]") {
    text_test::TempDir dir;
    train_model(dir, fasttext::loss_name::softmax, "lid");
    auto fasttext_labels = load_fasttext_identifier(dir.file("lid.bin"))->labels();
    std::sort(fasttext_labels.begin(), fasttext_labels.end());
    std::vector<std::string> expected(kLanguages.begin(), kLanguages.end());
    std::sort(expected.begin(), expected.end());
    CHECK(fasttext_labels == expected);
    const std::vector<std::string> cld2_labels = make_cld2_identifier()->labels();
    for (const char* code : {"en", "de", "he", "zh", "jv"}) CHECK(std::count(cld2_labels.begin(), cld2_labels.end(), code) == 1);
    for (const char* code : {"iw", "zh-Hant", "jw", "un", "EN"}) CHECK(std::count(cld2_labels.begin(), cld2_labels.end(), code) == 0);

    text_test::write_file(dir.file("in.wet"),
                          text_test::wet_record("http://en.example/", "Title\n" + held_out_documents("en").front() + "\n"));
    scorekit::CcnetMineOptions options;
    options.input.inputs = {dir.file("in.wet")};
    options.input.min_length = 0;
    options.no_dedup = true;
    options.lid_model = dir.file("lid.bin");
    options.languages = {"eng", "EN"};
    options.output = dir.file("none");
    CHECK_THROWS_AS(scorekit::run_ccnet_mine(options), scorekit::UsageError);
    CHECK_THROWS_WITH(scorekit::run_ccnet_mine(options),
                      Catch::Contains("invalid --lang \"EN,eng\": they are not labels of fasttext:lid.bin, whose labels are"));
    options.lid_model.clear();
    options.languages = {"EN"};
    CHECK_THROWS_WITH(scorekit::run_ccnet_mine(options), Catch::Contains("it is not a label of cld2"));
    // One code that matches is enough to run; the other gets a warning.
    options.lid_model = dir.file("lid.bin");
    options.languages = {"en", "eng"};
    options.output = dir.file("some");
    scorekit::run_ccnet_mine(options);
    CHECK_THAT(text_test::gunzip_file(dir.file("some/en.json.gz")), Catch::Contains("\"url\": \"http://en.example/\""));
}

TEST_CASE("fastText identifier rejects unusable files", "[text][lid]") {
    text_test::TempDir dir;
    CHECK_THROWS_AS(load_fasttext_identifier(dir.file("missing.bin")), scorekit::Error);
    text_test::write_file(dir.file("junk.bin"), "this is not a fastText model");
    CHECK_THROWS_AS(load_fasttext_identifier(dir.file("junk.bin")), scorekit::Error);
}

TEST_CASE("fastText cached and exact sums agree", "[text][lid]") {
    text_test::TempDir dir;
    train_model(dir, fasttext::loss_name::hs, "hs");
    auto cached = load_fasttext_identifier(dir.file("hs.bin"));
    auto exact = load_fasttext_identifier(dir.file("hs.bin"), FastTextSummation::exact);
    std::uint64_t predictions = 0;
    for (const std::string& language : kLanguages) {
        for (const std::string& line : fixture_lines(language)) {
            LanguagePrediction from_cache = cached->predict(line);
            LanguagePrediction from_rows = exact->predict(line);
            INFO(line);
            CHECK(from_cache.label == from_rows.label);
            CHECK(from_cache.score_percent == from_rows.score_percent);
            ++predictions;
        }
    }
    // Every cached prediction is counted once, either kept or recomputed near a boundary.
    CHECK(cached->counters().cached + cached->counters().recomputed == predictions);
    CHECK(cached->counters().cached > 0);
    CHECK(exact->counters().cached == 0);
    CHECK(exact->counters().recomputed == 0);
}
