#include "scorekit/text/language_id.hpp"

#include <cld2/public/compact_lang_det.h>
#include <fasttext/densematrix.h>
#include <fasttext/fasttext.h>
#include <fasttext/loss.h>
#include <fasttext/model.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sys/mman.h>
#include <sstream>

#include "scorekit/error.hpp"
#include "fasttext_file.hpp"
#include "fasttext_tokens.hpp"
#include "scorekit/text/shard.hpp"

namespace scorekit::text {
namespace {

// CLD2 (libcld2 0.0.0-git20150806-9 in Debian 12) returned no language once it had scored about
// 21 million bytes of one text, measured on English text. That is where 100 times the byte count
// overflows an int. So CLD2 gets at most this prefix of a longer text, cut at a character start.
constexpr std::size_t kMaxCld2Bytes = 16u << 20;

class Cld2Identifier : public LanguageIdentifier {
public:
    std::string name() const override { return "cld2"; }

    LanguagePrediction predict(std::string_view text) const override {
        if (text.empty()) return LanguagePrediction();
        if (text.size() > kMaxCld2Bytes) {
            std::size_t cut = kMaxCld2Bytes;
            while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
            text = text.substr(0, cut);
        }
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

    std::vector<std::string> labels() const override {
        std::vector<std::string> codes;
        for (int language = 0; language < CLD2::NUM_LANGUAGES; ++language) {
            if (language == CLD2::UNKNOWN_LANGUAGE) continue;
            std::string code = to_lid176(CLD2::LanguageCode(static_cast<CLD2::Language>(language)));
            if (std::find(codes.begin(), codes.end(), code) == codes.end()) codes.push_back(code);
        }
        return codes;
    }

private:
    static std::string to_lid176(const char* code) {
        if (std::strcmp(code, "zh-Hant") == 0) return "zh";
        if (std::strcmp(code, "iw") == 0) return "he";
        if (std::strcmp(code, "jw") == 0) return "jv";
        return code;
    }
};

// One reader of supervised fastText models, for language identification and, through the
// FastTextClassifier interface, for the reference classifier. `advice` ends its error messages.
class FastTextIdentifier : public LanguageIdentifier, public FastTextClassifier {
public:
    FastTextIdentifier(const std::string& path, FastTextSummation summation, std::string advice)
        : name_("fasttext:" + base_name(path)), summation_(summation), advice_(std::move(advice)) {
        check_readable(path, "fastText model", "check the path; " + advice_);
        check_fasttext_model_file(path, advice_);
        if (!load_mapped(path)) load_with_fasttext(path);
    }

    bool predict_labels(std::string_view text, std::int32_t k,
                        std::vector<std::pair<float, std::string>>& predictions) const override {
        predictions.clear();
        if (k == -1) k = nlabels_;  // as Model::predict reads kUnlimitedPredictions
        if (!loss_) {
            std::istringstream in(std::string(text) + "\n");
            model_.predictLine(in, predictions, k, 0.0);
            return !predictions.empty();
        }
        fasttext::Model::State& state = thread_state();
        std::int64_t rows = sum_rows_exact(text, state.hidden.data());
        if (rows == 0) return false;
        thread_local fasttext::Predictions heap;
        score_hidden(state, rows, k, heap);
        for (const auto& [log_probability, label] : heap) {
            predictions.emplace_back(std::exp(log_probability), label_name(label));
        }
        return !predictions.empty();
    }

    std::vector<std::string> label_names() const override {
        std::vector<std::string> names;
        for (std::int32_t label = 0; label < nlabels_; ++label) names.push_back(label_name(label));
        return names;
    }

    std::string name() const override { return name_; }

    LanguagePrediction predict(std::string_view text) const override {
        if (text.empty()) return LanguagePrediction();
        std::pair<fasttext::real, std::string> best;
        FastTextCounters summation;
        if (loss_) {
            if (!predict_fast(text, best, summation)) return LanguagePrediction();
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
        prediction.score_percent = round_percent(best.first);
        prediction.summation = summation;
        return prediction;
    }

    std::vector<std::string> labels() const override {
        const std::string prefix = "__label__";
        std::vector<std::string> names = label_names();
        for (std::string& name : names) {
            if (name.compare(0, prefix.size(), prefix) == 0) name.erase(0, prefix.size());
        }
        return names;
    }

    FastTextCounters counters() const override {
        FastTextCounters counters;
        counters.cached = cached_predictions_.load(std::memory_order_relaxed);
        counters.recomputed = recomputed_predictions_.load(std::memory_order_relaxed);
        return counters;
    }

private:
    Error not_supervised(const std::string& path) const {
        return Error(describe("cannot use fastText model", path, "not a supervised (classifier) model", advice_));
    }

    // Whether load_mapped reads this model: float matrices, no pruning, no word n-grams, and a
    // hierarchical softmax, softmax or one-vs-all output.
    static bool read_in_place(const FastTextFile& file) {
        const auto loss = static_cast<fasttext::loss_name>(file.loss);
        return !file.quantized && file.pruneidx_size < 0 && file.word_ngrams <= 1 && file.dim > 0 &&
               (file.bucket > 0 || file.maxn <= 0) && file.input_cols == file.dim &&
               file.input_rows == std::int64_t(file.nwords) + std::max(file.bucket, 0) &&
               file.output_rows == file.nlabels && file.output_cols == file.dim &&
               (loss == fasttext::loss_name::hs || loss == fasttext::loss_name::softmax ||
                loss == fasttext::loss_name::ova);
    }

    // Reads a supervised model in place from the mapped file: the input matrix is neither
    // copied nor zeroed at load (count_rows_read), and the vocabulary table is sized to the
    // words. Returns false to leave other models, and files that are not models, to fastText's
    // loader.
    bool load_mapped(const std::string& path) {
        std::unique_ptr<MappedFile> mapped = MappedFile::open(path);
        if (!mapped) return false;
        FastTextFile file;
        if (parse_fasttext_model(path, mapped->data(), mapped->size(), file, "copy or download the model again") !=
            FastTextFileStatus::parsed) {
            return false;
        }
        if (file.model != static_cast<int>(fasttext::model_name::sup)) throw not_supervised(path);
        if (!read_in_place(file)) return false;

        args_.dim = file.dim;
        args_.wordNgrams = file.word_ngrams;
        args_.loss = static_cast<fasttext::loss_name>(file.loss);
        args_.model = fasttext::model_name::sup;
        args_.bucket = file.bucket;
        args_.minn = file.minn;
        args_.maxn = file.maxn;
        nwords_ = file.nwords;
        nlabels_ = file.nlabels;
        auto output = std::make_shared<fasttext::DenseMatrix>(file.output_rows, file.output_cols);
        std::memcpy(output->data(), mapped->data() + file.output_offset,
                    static_cast<std::size_t>(file.output_rows * file.output_cols) * sizeof(fasttext::real));
        output_ = output;
        make_loss(std::vector<std::int64_t>(file.counts.begin() + file.nwords, file.counts.end()));
        vocabulary_ = std::make_unique<FastTextVocabulary>(std::move(file.entries));
        dim_ = file.dim;
        rows_.store(mapped->data() + file.input_offset, std::memory_order_release);
        input_rows_ = file.input_rows;
        promote_after_ = file.input_rows;
        mapped_ = std::move(mapped);
        return true;
    }

    void load_with_fasttext(const std::string& path) {
        try {
            model_.loadModel(path);
        } catch (const std::exception& e) {
            throw Error(describe("cannot load fastText model", path, e.what(),
                                 advice_));
        }
        args_ = model_.getArgs();
        if (args_.model != fasttext::model_name::sup) throw not_supervised(path);
        dictionary_ = model_.getDictionary();
        nwords_ = dictionary_->nwords();
        nlabels_ = dictionary_->nlabels();
        if (!model_.isQuant()) prepare_fast_path();
    }

    std::int32_t word_id(const std::string& word) const {
        return vocabulary_ ? vocabulary_->find(word) : dictionary_->getId(word);
    }

    std::string label_name(std::int32_t label) const {
        return vocabulary_ ? vocabulary_->entry(nwords_ + label) : dictionary_->getLabel(label);
    }

    static std::string base_name(const std::string& path) {
        std::size_t slash = path.rfind('/');
        return slash == std::string::npos ? path : path.substr(slash + 1);
    }

    // numpy's round(x, 2) on the float64 value of the float32 probability: rint(x * 100).
    static int round_percent(fasttext::real probability) {
        return static_cast<int>(std::nearbyint(static_cast<double>(probability) * 100.0));
    }

    // The output layer, built as FastText::createLoss builds it, so that the hidden vector can be
    // computed here with prefetching and then scored by fastText's own code.
    void prepare_fast_path() {
        output_ = std::const_pointer_cast<fasttext::DenseMatrix>(model_.getOutputMatrix());
        make_loss(dictionary_->getCounts(fasttext::entry_type::label));
        if (!loss_) return;  // negative sampling: predictLine
        input_ = model_.getInputMatrix();
        dim_ = input_->cols();
        rows_.store(reinterpret_cast<const unsigned char*>(input_->data()), std::memory_order_release);
        input_rows_ = input_->rows();
        copy_rows_to_huge_pages();
    }

    // fastText's Loss keeps a reference to output_, so output_ must live as long as loss_.
    void make_loss(const std::vector<std::int64_t>& label_counts) {
        switch (args_.loss) {
            case fasttext::loss_name::hs:
                loss_ = std::make_shared<fasttext::HierarchicalSoftmaxLoss>(output_, label_counts);
                break;
            case fasttext::loss_name::softmax:
                loss_ = std::make_shared<fasttext::SoftmaxLoss>(output_);
                break;
            case fasttext::loss_name::ova:
                loss_ = std::make_shared<fasttext::OneVsAllLoss>(output_);
                break;
            default:
                break;
        }
    }

    // Copies the input matrix into memory backed by transparent huge pages where the kernel
    // allows them (madvise mode). Rows are read at random from a matrix of about 128 MB
    // (lid.176), so with 4 KiB pages nearly every row read also misses the TLB. The source pages
    // (fastText's copy, or the mapped file's) are then returned to the kernel, because the fast
    // path never reads them again. Only predictLine would, and it runs only without loss_. A
    // mapped page that is read later comes again from the page cache. Copying costs less
    // than collapsing the pages in place (MADV_COLLAPSE), which took 0.3 to 0.4 s here.
    void copy_rows_to_huge_pages() const {
        constexpr std::uintptr_t kHugePage = std::uintptr_t(2) << 20;
        const unsigned char* source = rows_.load(std::memory_order_acquire);
        const std::size_t bytes =
            static_cast<std::size_t>(input_rows_) * static_cast<std::size_t>(dim_) * sizeof(fasttext::real);
        const std::size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
        void* memory = std::aligned_alloc(kHugePage, rounded);
        if (!memory) return;  // keep reading fastText's copy
        madvise(memory, rounded, MADV_HUGEPAGE);
        // Copy in steps and release the source pages behind each step, so that the peak memory
        // does not hold both copies.
        const auto begin = reinterpret_cast<std::uintptr_t>(source);
        std::uintptr_t released = (begin + 4095) / 4096 * 4096;
        constexpr std::size_t kStep = std::size_t(8) << 20;
        for (std::size_t offset = 0; offset < bytes; offset += kStep) {
            std::size_t count = std::min(kStep, bytes - offset);
            std::memcpy(static_cast<unsigned char*>(memory) + offset, source + offset, count);
            const std::uintptr_t copied = (begin + offset + count) / 4096 * 4096;
            if (copied > released) {
                madvise(reinterpret_cast<void*>(released), copied - released, MADV_DONTNEED);
                released = copied;
            }
        }
        rows_copy_.reset(static_cast<fasttext::real*>(memory));
        rows_.store(reinterpret_cast<const unsigned char*>(rows_copy_.get()), std::memory_order_release);
    }

    // Copies the rows of a mapped model into huge pages once this process has read as many rows
    // as the matrix has. The thread that crosses the mark copies them, and the others go on
    // reading in place. A short run (a small shard) thus skips the copy, whose page zeroing took
    // 0.05 to 1.1 s of system time per process here. A long run soon reads without TLB misses,
    // which cost about 1 s of user time over 240 MB of WET.
    void count_rows_read(std::size_t rows) const {
        if (promote_after_ == 0) return;
        if (rows_read_.fetch_add(static_cast<std::int64_t>(rows), std::memory_order_relaxed) + static_cast<std::int64_t>(rows) <
            promote_after_) {
            return;
        }
        if (!promoting_.exchange(true)) copy_rows_to_huge_pages();
    }

    // Whether Dictionary::getLine would read `token` as a label (it starts with args_.label).
    bool is_label(std::string_view token) const {
        const std::string& label = args_.label;
        return token.size() >= label.size() && (label.empty() || token[0] == label[0]) &&
               token.compare(0, label.size(), label) == 0;
    }

    // Appends the input ids of `text` (plus a final newline when `last`) as Dictionary::getLine
    // does for a supervised model whose wordNgrams is 1: label tokens are skipped and each word
    // contributes Dictionary::getSubwords(word). The ids of recent tokens are kept in a per-thread
    // direct-mapped cache, because looking a word up in fastText's 30-million-slot table and
    // hashing its character n-grams costs more than adding the rows.
    void text_to_ids(std::string_view text, bool last, std::vector<std::int32_t>& ids) const {
        struct Slot {
            std::uint64_t owner = 0;
            std::string token;
            std::vector<std::int32_t> ids;
        };
        constexpr std::size_t kSlots = 1 << 16;
        thread_local std::vector<Slot> cache(kSlots);

        for_each_token(text, [&](std::string_view token) {
            if (is_label(token)) return;
            Slot& slot = cache[token_slot_hash(token) & (kSlots - 1)];
            if (slot.owner != instance_ || slot.token != token) {
                slot.owner = instance_;
                slot.token.assign(token);
                slot.ids.clear();
                append_token_ids(slot.token, slot.ids);
            }
            ids.insert(ids.end(), slot.ids.begin(), slot.ids.end());
        }, last);
    }

    // Per-thread direct-mapped cache of each recent token's summed input-matrix rows (the word's
    // own row, if it is in the vocabulary, and its character n-gram rows). A slot is a 64-byte
    // key (hash, owner, row count and the token's bytes) followed by the sum padded to whole
    // 64-byte lines, so a hit reads adjacent cache lines only. For lid.176's 16 dimensions that
    // is 128 bytes and 2^18 slots (32 MiB per thread), with fewer slots for larger ones. A slot is
    // overwritten by the next token that hashes to it. Tokens longer than kInlineBytes bytes
    // have a smaller table of their own (sum_rows_cached).
    struct SlotKey {
        std::uint64_t hash;
        std::uint32_t owner;  // instance_ of the identifier that filled the slot; 0 if empty
        std::int32_t rows;
        std::uint32_t length;
        char text[44];
    };
    static_assert(sizeof(SlotKey) == 64, "a slot key fills one cache line");
    static constexpr std::size_t kInlineBytes = sizeof(SlotKey::text);
    static constexpr std::size_t kSumCacheBytes = std::size_t(32) << 20;

    struct SumCache {
        std::int64_t dim = 0;
        std::size_t stride = 0;  // bytes per slot
        std::size_t mask = 0;
        std::unique_ptr<unsigned char[], void (*)(void*)> slots{nullptr, std::free};

        SlotKey& key(std::size_t slot) const { return *reinterpret_cast<SlotKey*>(slots.get() + slot * stride); }
        fasttext::real* sum(std::size_t slot) const {
            return reinterpret_cast<fasttext::real*>(slots.get() + slot * stride + sizeof(SlotKey));
        }
    };

    // A token of the text, hashed for the cache.
    struct Token {
        const char* data;
        std::uint32_t length;
        std::uint64_t hash;
    };

    // Long tokens, mostly text without spaces (Chinese, Japanese, Thai), cost a row per
    // character n-gram, hundreds per token, and recur in boilerplate, so they get a per-thread
    // direct-mapped table too, with their bytes on the heap.
    struct LongSlot {
        std::uint64_t hash = 0;
        std::uint32_t owner = 0;
        std::int32_t rows = 0;
        std::string text;
        std::vector<fasttext::real> sum;
    };
    static constexpr std::size_t kLongSlots = 1 << 14;

    static std::vector<LongSlot>& long_token_cache() {
        thread_local std::vector<LongSlot> cache(kLongSlots);
        return cache;
    }

    SumCache& sum_cache() const {
        thread_local SumCache cache;
        const std::int64_t dim = dim_;
        if (cache.dim != dim) {
            std::size_t sum_bytes = (static_cast<std::size_t>(dim) * sizeof(fasttext::real) + 63) / 64 * 64;
            std::size_t stride = sizeof(SlotKey) + sum_bytes;
            std::size_t slots = 1 << 18;
            while (slots > 1024 && slots * stride > kSumCacheBytes) slots /= 2;
            // Huge pages where the kernel allows them, because slots are read at random.
            constexpr std::size_t kHugePage = std::size_t(2) << 20;
            const std::size_t bytes = (slots * stride + kHugePage - 1) / kHugePage * kHugePage;
            void* memory = std::aligned_alloc(kHugePage, bytes);
            if (!memory) {
                throw Error(describe("cannot allocate the language identification cache", std::to_string(bytes) + " bytes",
                                     "out of memory", "check free memory"));
            }
            madvise(memory, bytes, MADV_HUGEPAGE);
            std::memset(memory, 0, bytes);
            cache.slots.reset(static_cast<unsigned char*>(memory));
            cache.dim = dim;
            cache.stride = stride;
            cache.mask = slots - 1;
        }
        return cache;
    }

    // Appends the input ids of one token as Dictionary::getSubwords(word) returns them: the
    // word's stored ids when it is in the vocabulary, else the ids of its character n-grams.
    // The n-grams are hashed incrementally (FNV-1a over signed bytes, as Dictionary::hash) in
    // place of fastText's one string and one hash per n-gram. Non-quantised models only, which
    // have no pruned n-gram index.
    void append_token_ids(const std::string& word, std::vector<std::int32_t>& ids) const {
        const std::int32_t id = word_id(word);
        if (id >= 0 && !vocabulary_) {
            const std::vector<std::int32_t>& stored = dictionary_->getSubwords(id);
            ids.insert(ids.end(), stored.begin(), stored.end());
            return;
        }
        // Dictionary::initNgrams: a known word's own id, then its n-grams as for an unknown word.
        if (id >= 0) ids.push_back(id);
        if (word == fasttext::Dictionary::EOS || args_.bucket <= 0) return;

        thread_local std::string bracketed;
        bracketed.assign(fasttext::Dictionary::BOW).append(word).append(fasttext::Dictionary::EOW);
        const std::size_t size = bracketed.size();
        const auto bucket = static_cast<std::uint32_t>(args_.bucket);
        const std::int32_t first_ngram_id = nwords_;
        auto mix = [](std::uint32_t h, char c) {
            return (h ^ static_cast<std::uint32_t>(static_cast<std::int8_t>(c))) * 16777619u;
        };
        for (std::size_t i = 0; i < size; ++i) {
            if ((bracketed[i] & 0xC0) == 0x80) continue;
            std::uint32_t h = 2166136261u;
            for (std::size_t j = i, n = 1; j < size && n <= static_cast<std::size_t>(args_.maxn); ++n) {
                h = mix(h, bracketed[j++]);
                while (j < size && (bracketed[j] & 0xC0) == 0x80) h = mix(h, bracketed[j++]);
                if (n >= static_cast<std::size_t>(args_.minn) && !(n == 1 && (i == 0 || j == size))) {
                    ids.push_back(first_ngram_id + static_cast<std::int32_t>(h % bucket));
                }
            }
        }
    }

    // Sets `sum` to the sum of the input-matrix rows of `token` in fastText's order and returns
    // their number.
    std::int32_t sum_token_rows(std::string_view token, fasttext::real* sum) const {
        thread_local std::string word;
        thread_local std::vector<std::int32_t> ids;
        word.assign(token);
        ids.clear();
        append_token_ids(word, ids);
        std::fill(sum, sum + dim_, fasttext::real(0));
        // Request all rows first so that their reads overlap.
        for (std::int32_t id : ids) prefetch_row(id);
        for (std::int32_t id : ids) add_input_row(sum, id);
        count_rows_read(ids.size());
        return static_cast<std::int32_t>(ids.size());
    }

    const unsigned char* input_row(std::int32_t id) const {
        return rows_.load(std::memory_order_acquire) + static_cast<std::size_t>(id) * static_cast<std::size_t>(dim_) * sizeof(fasttext::real);
    }

    void prefetch_row(std::int32_t id) const {
        const unsigned char* row = input_row(id);
        for (std::int64_t j = 0; j < dim_; j += 16) __builtin_prefetch(row + j * sizeof(fasttext::real));
    }

    // sum += row `id`, element by element as fastText adds. Rows read in place from a mapped
    // file need not be 4-byte aligned, so they are read with fixed-size memcpy, which compiles
    // to unaligned loads.
    void add_input_row(fasttext::real* sum, std::int32_t id) const {
        const unsigned char* row = input_row(id);
        if (dim_ == 16) {  // lid.176
            fasttext::real values[16];
            std::memcpy(values, row, sizeof(values));
            for (int j = 0; j < 16; ++j) sum[j] += values[j];
            return;
        }
        for (std::int64_t j = 0; j < dim_; ++j) {
            fasttext::real value;
            std::memcpy(&value, row + j * sizeof(fasttext::real), sizeof(value));
            sum[j] += value;
        }
    }

    // Sets `hidden` to the sum of the rows of `text`'s tokens, one cached sum per token, and
    // returns the number of rows. The sum equals fastText's up to float rounding, because the
    // rows are grouped by token instead of added one by one. A token's sum is the same whether
    // it comes from the cache or not, so the result does not depend on the cache's state.
    std::int64_t sum_rows_cached(std::string_view text, fasttext::real* hidden) const {
        thread_local std::vector<Token> tokens_of_thread;
        // A plain reference, because each use of a thread_local in the per-token lambda would
        // call __tls_get_addr in a shared library.
        std::vector<Token>& tokens = tokens_of_thread;
        SumCache& cache = sum_cache();
        std::fill(hidden, hidden + cache.dim, fasttext::real(0));
        std::int64_t rows = 0;
        // Tokens are hashed a batch at a time, so that the slots of the next ones can be
        // prefetched while a long document needs no list of all its tokens.
        constexpr std::size_t kBatch = 4096;
        tokens.clear();
        auto add_batch = [&]() {
            rows += add_cached_sums(tokens, cache, hidden);
            tokens.clear();
        };
        for_each_token(text, [&](std::string_view token) {
            if (is_label(token)) return;
            tokens.push_back({token.data(), static_cast<std::uint32_t>(token.size()), token_slot_hash(token)});
            if (tokens.size() == kBatch) add_batch();
        });
        if (!tokens.empty()) add_batch();
        return rows;
    }

    // Adds the cached sums of `tokens` to `hidden` and returns their number of rows.
    std::int64_t add_cached_sums(const std::vector<Token>& tokens, SumCache& cache, fasttext::real* hidden) const {
        std::vector<LongSlot>& long_cache = long_token_cache();
        const std::int64_t dim = cache.dim;
        const std::size_t mask = cache.mask, stride = cache.stride, count = tokens.size();
        const auto owner = static_cast<std::uint32_t>(instance_);
        std::int64_t rows = 0;
        constexpr std::size_t kAhead = 6;
        for (std::size_t i = 0; i < count; ++i) {
            if (i + kAhead < count) {
                const unsigned char* next = reinterpret_cast<const unsigned char*>(&cache.key(tokens[i + kAhead].hash & mask));
                for (std::size_t line = 0; line < stride; line += 64) __builtin_prefetch(next + line);
            }
            const Token& token = tokens[i];
            std::string_view text_of_token(token.data, token.length);
            const fasttext::real* sum = nullptr;
            if (token.length > kInlineBytes) {
                LongSlot& slot = long_cache[token.hash & (kLongSlots - 1)];
                if (slot.hash != token.hash || slot.owner != owner || slot.text != text_of_token) {
                    slot.sum.resize(static_cast<std::size_t>(dim));
                    slot.rows = sum_token_rows(text_of_token, slot.sum.data());
                    slot.hash = token.hash;
                    slot.owner = owner;
                    slot.text.assign(text_of_token);
                }
                rows += slot.rows;
                sum = slot.sum.data();
            } else {
                std::size_t slot = token.hash & mask;
                SlotKey& key = cache.key(slot);
                fasttext::real* cached = cache.sum(slot);
                if (key.hash != token.hash || key.owner != owner || key.length != token.length ||
                    !same_bytes(key.text, token.data, token.length)) {
                    key.rows = sum_token_rows(text_of_token, cached);
                    key.hash = token.hash;
                    key.owner = owner;
                    key.length = token.length;
                    std::memcpy(key.text, token.data, token.length);
                }
                rows += key.rows;
                sum = cached;
            }
            add_row(hidden, sum, dim);
        }
        return rows;
    }

    static void add_row(fasttext::real* hidden, const fasttext::real* row, std::int64_t dim) {
        if (dim == 16) {
            for (int j = 0; j < 16; ++j) hidden[j] += row[j];
            return;
        }
        for (std::int64_t j = 0; j < dim; ++j) hidden[j] += row[j];
    }

    // Sets `hidden` to the sum of the rows of `text`'s tokens in fastText's order
    // (Model::computeHidden) and returns the number of rows. The rows are random 64-byte reads
    // from a matrix of about 128 MB (lid.176), so the next ones are prefetched.
    std::int64_t sum_rows_exact(std::string_view text, fasttext::real* hidden) const {
        thread_local std::vector<std::int32_t> words, labels;
        std::fill(hidden, hidden + dim_, fasttext::real(0));
        std::int64_t rows = 0;
        auto add_rows = [&]() {
            constexpr std::size_t kAhead = 16;
            for (std::size_t i = 0; i < words.size(); ++i) {
                if (i + kAhead < words.size()) prefetch_row(words[i + kAhead]);
                add_input_row(hidden, words[i]);
            }
            rows += static_cast<std::int64_t>(words.size());
            words.clear();
        };
        words.clear();
        if ((args_.wordNgrams <= 1 && text.find('\n') == std::string_view::npos) || vocabulary_) {
            // Dictionary::getLine stops at the first newline, and a mapped model has no word
            // n-grams (load_mapped), so the first line's tokens are the whole input. It is
            // read in pieces of about kPiece bytes that end between tokens, because a document
            // of many megabytes has several ids per byte.
            constexpr std::size_t kPiece = std::size_t(1) << 20;
            const std::string_view line = text.substr(0, text.find('\n'));
            std::size_t start = 0;
            bool last = false;
            while (!last) {
                const std::size_t end = piece_end(line, start, kPiece);
                last = end == line.size();
                text_to_ids(line.substr(start, end - start), last, words);
                add_rows();
                start = end;
            }
        } else {
            labels.clear();
            std::istringstream in(std::string(text) + "\n");
            dictionary_->getLine(in, words, labels);
            add_rows();
        }
        count_rows_read(static_cast<std::size_t>(rows));
        return rows;
    }

    // One State per thread, rebuilt only for a model of other sizes, saves three vectors per
    // prediction. The losses read only its hidden vector and fill its output.
    fasttext::Model::State& thread_state() const {
        thread_local std::unique_ptr<fasttext::Model::State> state_of_thread;
        if (!state_of_thread || state_of_thread->hidden.size() != dim_ ||
            state_of_thread->output.size() != nlabels_) {
            state_of_thread = std::make_unique<fasttext::Model::State>(static_cast<std::int32_t>(dim_), nlabels_, 0);
        }
        return *state_of_thread;
    }

    // Scores the mean hidden vector with fastText's own loss (FastText::predictLine) and returns
    // the k best (log probability, label index) pairs, best first.
    void score_hidden(fasttext::Model::State& state, std::int64_t rows, std::int32_t k,
                      fasttext::Predictions& heap) const {
        state.hidden.mul(1.0 / rows);
        heap.clear();
        loss_->predict(k, 0.0, heap, state);
    }

    // Whether a prediction from cached sums could differ from fastText's exact one in its label,
    // its score rounded to 2 decimals, or the keep decision (score >= threshold, itself a
    // multiple of 0.01): true when the probability lies within kGuard of a rounding boundary
    // (x.xx5) or when the second label's probability is within 2 kGuard of the best one's.
    static constexpr double kGuard = 2e-4;
    bool near_boundary(const fasttext::Predictions& top) const {
        double probability = std::exp(static_cast<double>(top.front().first));
        double percent = probability * 100.0;
        if (std::fabs(percent - (std::floor(percent) + 0.5)) < kGuard * 100.0) return true;
        if (top.size() > 1 && probability - std::exp(static_cast<double>(top[1].first)) < 2 * kGuard) return true;
        return false;
    }

    // FastText::predictLine for k = 1. By default (FastTextSummation::cached) the hidden vector
    // comes from per-token cached row sums, and the prediction is recomputed with the rows added
    // in fastText's order whenever near_boundary() says the rounding difference could matter,
    // so the label and the rounded score equal fastText's. NOTE: kGuard is about 20 times the
    // largest probability difference measured between the two sums (9.2e-6 on 27,804 benchmark
    // documents, docs/ccnet-filter.md), not a proven bound on it.
    bool predict_fast(std::string_view text, std::pair<fasttext::real, std::string>& best,
                      FastTextCounters& summation) const {
        thread_local fasttext::Predictions heap;
        fasttext::Model::State& state = thread_state();
        fasttext::real* hidden = state.hidden.data();
        bool exact = summation_ == FastTextSummation::exact ||
                     !(args_.wordNgrams <= 1 && text.find('\n') == std::string_view::npos);
        if (!exact) {
            std::int64_t rows = sum_rows_cached(text, hidden);
            if (rows == 0) return false;
            // The two best labels, so that near_boundary() can compare them (no extra row reads).
            score_hidden(state, rows, 2, heap);
            if (heap.empty()) return false;
            exact = near_boundary(heap);
            if (exact) {
                recomputed_predictions_.fetch_add(1, std::memory_order_relaxed);
                summation.recomputed = 1;
            } else {
                cached_predictions_.fetch_add(1, std::memory_order_relaxed);
                summation.cached = 1;
            }
        }
        if (exact) {
            std::int64_t rows = sum_rows_exact(text, hidden);
            if (rows == 0) return false;
            score_hidden(state, rows, 1, heap);
        }
        if (heap.empty()) return false;
        best = {std::exp(heap.front().first), label_name(heap.front().second)};
        return true;
    }

    fasttext::FastText model_;
    fasttext::Args args_;
    std::string name_;
    FastTextSummation summation_;
    std::string advice_;
    std::shared_ptr<const fasttext::Dictionary> dictionary_;
    std::shared_ptr<const fasttext::DenseMatrix> input_;
    std::unique_ptr<MappedFile> mapped_;               // the model file, when read in place
    std::unique_ptr<FastTextVocabulary> vocabulary_;   // its words, in place of dictionary_
    std::int32_t nwords_ = 0, nlabels_ = 0;
    std::int64_t dim_ = 0;
    // The input matrix: row-major, dim_ floats per row, in the mapped file, fastText's copy or
    // rows_copy_.
    mutable std::atomic<const unsigned char*> rows_{nullptr};
    std::int64_t input_rows_ = 0;
    mutable std::unique_ptr<fasttext::real[], void (*)(void*)> rows_copy_{nullptr, std::free};
    std::int64_t promote_after_ = 0;  // rows read before rows_copy_ is made; 0: never
    mutable std::atomic<std::int64_t> rows_read_{0};
    mutable std::atomic<bool> promoting_{false};
    std::shared_ptr<fasttext::Matrix> output_;
    std::shared_ptr<fasttext::Loss> loss_;
    mutable std::atomic<std::uint64_t> cached_predictions_{0}, recomputed_predictions_{0};
    // Distinguishes this model's entries in the per-thread caches from another model's.
    const std::uint64_t instance_ = next_instance_++;
    static inline std::atomic<std::uint64_t> next_instance_{1};
};

}  // namespace

std::unique_ptr<LanguageIdentifier> make_cld2_identifier() { return std::make_unique<Cld2Identifier>(); }

std::unique_ptr<LanguageIdentifier> load_fasttext_identifier(const std::string& path, FastTextSummation summation) {
    return std::make_unique<FastTextIdentifier>(path, summation, "give a supervised model such as lid.176.bin");
}

std::unique_ptr<FastTextClassifier> load_fasttext_classifier(const std::string& path, const std::string& advice) {
    return std::make_unique<FastTextIdentifier>(path, FastTextSummation::exact, advice);
}

}  // namespace scorekit::text
