// Perplexity as cc_net computes it: SentencePiece pieces scored by a back-off n-gram model with
// KenLM's rules, and the document perplexity rounded to 0.1.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace scorekit::text {

// A SentencePiece model (Debian's libsentencepiece). encode() is safe to call from several
// threads at once.
class SentencePieceTokenizer {
public:
    // Throws Error if the model cannot be read.
    explicit SentencePieceTokenizer(const std::string& path);
    ~SentencePieceTokenizer();

    // Replaces `pieces` with the pieces of `text` (Python's encode_as_pieces).
    void encode(std::string_view text, std::vector<std::string>& pieces) const;

    const std::string& path() const { return path_; }

    // Whether no piece of encode(text) spans a space, so that the pieces of a text are those of
    // its words (the runs between ASCII spaces), found by encode_word and, for a word with
    // near-tied segmentations, viterbi_word. The constructor checks the model's trainer and
    // normaliser specs and its pieces. Unigram models trained with SentencePiece's defaults
    // pass when they have no user-defined or byte pieces.
    bool splits_at_spaces() const { return splits_at_spaces_; }

    // The pieces of one word (a text without spaces) as encode() gives them alone, their scores,
    // and the gap between the scores of the best and second-best segmentations.
    struct EncodedWord {
        std::vector<std::string> pieces;
        std::vector<float> scores;
        float margin = 0;    // infinity if the word has one segmentation, 0 if unknown
        bool known = true;   // no piece is the unknown piece
    };
    // The pieces are encode()'s except where the margin is within float rounding of 0, where
    // either segmentation may be returned. Needs splits_at_spaces().
    void encode_word(std::string_view word, EncodedWord& encoded) const;

    // The score that the whole-text Viterbi search stores after adding `scores` to `offset`.
    static float add_scores(float offset, const std::vector<float>& scores);

    // Replaces `pieces` with those that a whole-text encode() gives to one normalised word
    // (the concatenated pieces of encode_word, starting with "▁") when the search reaches it with
    // the score `offset`, and advances `offset` past the word. Inside a whole text the float
    // score accumulated before a word can break a near-tie between two segmentations of the
    // word differently than when the word is encoded alone. Returns false, leaving `pieces`
    // unspecified, if `normalized` cannot be segmented. Needs splits_at_spaces().
    bool viterbi_word(std::string_view normalized, float& offset, std::vector<std::string>& pieces) const;

    // The score of an unknown character, below every piece's score (SentencePiece's min_score - 10).
    float unknown_score() const;

    // Identifies this tokenizer in per-thread caches; unique within the process.
    std::uint64_t id() const { return id_; }

private:
    bool check_splits_at_spaces() const;
    bool encode_ascii_word(std::string_view word, EncodedWord& encoded) const;

    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::string path_;
    std::uint64_t id_ = 0;
    bool splits_at_spaces_ = false;
};

// A back-off n-gram language model read from an ARPA file or KenLM's probing binary. Like
// KenLM, it keys n-grams by a 64-bit hash of their word ids (KenLM's CombineWordHash) and does
// not store the words, so two n-grams whose hashes collide would share an entry.
class NgramModel {
public:
    using WordIndex = std::uint32_t;

    // Reads KenLM's probing binary when the file starts with its magic bytes, else an ARPA text
    // file (gzip allowed). Throws Error for an unreadable or invalid file.
    static NgramModel load(const std::string& path);
    static NgramModel read_arpa(const std::string& path);
    // KenLM's default binary format (build_binary's "probing", format version 5, with the
    // vocabulary strings). Trie and quantised binaries are rejected.
    static NgramModel read_probing_binary(const std::string& path);

    int order() const { return order_; }
    std::size_t vocabulary_size() const { return words_.size(); }
    std::uint64_t ngram_count(int n) const { return tables_[n - 1].size; }

    // Word id, or 0 (<unk>) for a word that is not in the vocabulary.
    WordIndex index(std::string_view word) const;

    // log10 P(</s> and the words | <s>) as KenLM's Python Model.score(text, bos=True, eos=True):
    // each word's probability from the longest matching n-gram plus the back-off weights of the
    // longer contexts, summed in single precision as KenLM does. `words` are whitespace-free tokens.
    float score_sentence(const std::vector<std::string>& words) const;

    // score_sentence() for words given as ids (from index()), with the same result.
    float score_ids(const WordIndex* ids, std::size_t count) const;

    // log10 P(word | context) and the matched n-gram length; `context` is most recent word first.
    float score_word(const WordIndex* context, std::size_t context_length, WordIndex word,
                     int* matched_length = nullptr) const;

    // The stored log10 probability and back-off weight of an n-gram given in text order (for
    // tests and comparisons); false if it is absent.
    bool find(const std::vector<std::string>& ngram, float& log_probability, float& backoff) const;

    WordIndex begin_sentence() const { return begin_sentence_; }
    WordIndex end_sentence() const { return end_sentence_; }

    // Identifies the loaded model in per-thread caches: unique per load, kept by copies and moves.
    std::uint64_t id() const { return id_; }

private:
    struct Entry {
        std::uint64_t key = 0;
        float log_probability = 0;
        float backoff = 0;
    };
    // Open addressing with linear probing. Key 0 marks an empty slot, so an n-gram whose hash
    // is 0 (probability 2^-64 per n-gram) cannot be stored.
    struct Table {
        std::vector<Entry> slots;
        std::uint64_t size = 0;
        void reserve(std::uint64_t count);
        Entry* insert(std::uint64_t key);
        const Entry* find(std::uint64_t key) const;
        // Requests the first slot that find(key) reads, so that its cache miss overlaps other work.
        void prefetch(std::uint64_t key) const {
            if (!slots.empty()) __builtin_prefetch(&slots[key & (slots.size() - 1)]);
        }
    };

    WordIndex add_word(const std::string& word);

    int order_ = 0;
    std::vector<std::string> words_;
    std::unordered_map<std::string, WordIndex> ids_;
    std::vector<float> unigram_probability_;
    std::vector<float> unigram_backoff_;
    std::vector<Table> tables_;  // tables_[n - 1] holds the n-grams for n >= 2 (tables_[0] unused)
    WordIndex begin_sentence_ = 0, end_sentence_ = 0;
    std::uint64_t id_ = next_id();
    static std::uint64_t next_id();
};

// KenLM's hash of an n-gram's ids, most recent word first: the first id itself, then
// CombineWordHash for each earlier word.
std::uint64_t combine_word_hash(std::uint64_t current, std::uint32_t next);

// cc_net's perplexity: 10^(-log10_probability / length).
double perplexity(double log10_probability, std::uint64_t length);

// Python's round(value, 1) (round half to even on the exact binary value).
double round_to_tenth(double value);

// Python's repr() of a float: shortest round-trip digits, exponent form below 1e-4 and from 1e16.
std::string python_float_repr(double value);

// cc_net's perplexity buckets: per language, the perplexities at percentile rows 30 and 60 of
// a cutoff CSV (header ",de,it,...", one row per percentile 0..99, the row label first).
class PerplexityCutoffs {
public:
    // Throws Error if the file cannot be read or lacks row 30 or 60.
    static PerplexityCutoffs load(const std::string& path);

    // cc_net's PerplexityBucket.get_bucket: "head" below row 30, "middle" below row 60, else
    // "tail"; "all" for a language without a column or a negative perplexity.
    std::string bucket(const std::string& language, double perplexity) const;

    bool has_language(const std::string& language) const { return cutoffs_.count(language) != 0; }

    // The file that load() read.
    const std::string& path() const { return path_; }

private:
    std::map<std::string, std::pair<double, double>> cutoffs_;  // language -> (head, tail) cutoffs
    std::string path_;
};

// The models of one language: SentencePiece and the n-gram model (either may be missing).
struct LanguageModels {
    std::unique_ptr<SentencePieceTokenizer> tokenizer;
    std::unique_ptr<NgramModel> model;
};

// Per-language SentencePiece and n-gram models from path patterns where "{lang}" stands for
// the language code; a pattern without "{lang}" serves every language. Models load on first
// use, or at construction when neither pattern has "{lang}", and languages whose patterns name
// the same files share one copy. A language whose files do not exist gets no models, as in
// cc_net. Thread-safe.
class LanguageModelSet {
public:
    LanguageModelSet(std::string tokenizer_pattern, std::string model_pattern);

    // Returns the models of `language`, or null when it has none. Throws Error when a file
    // exists but cannot be loaded.
    const LanguageModels* get(const std::string& language);

private:
    std::string tokenizer_pattern_, model_pattern_;
    std::mutex mutex_;
    // Models by their (tokenizer, model) paths, so that languages whose patterns expand to the
    // same files share one copy. loaded_ maps each language to its entry there (null: no models).
    std::map<std::pair<std::string, std::string>, std::unique_ptr<LanguageModels>> by_path_;
    std::map<std::string, const LanguageModels*> loaded_;
};

// cc_net's perplexity of a document: normalise the whole text, SentencePiece pieces, score the
// pieces joined by spaces with `model`, 10^(-log10 P / (words + 1)), rounded to 0.1. Returns
// false (no perplexity) when the normalised text is empty, as cc_net's DocLM skips empty text.
// The words are encoded one by one through a per-thread cache when the tokenizer allows it;
// `encoded_whole`, if given, is set to true when the whole text was encoded at once instead
// (a model that does not split at spaces, or a word with near-tied segmentations).
bool document_perplexity(const std::string& text, const SentencePieceTokenizer& tokenizer, const NgramModel& model,
                         double& perplexity, bool* encoded_whole = nullptr);

}  // namespace scorekit::text
