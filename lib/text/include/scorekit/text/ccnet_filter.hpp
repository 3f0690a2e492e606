// The ccnet-filter subcommands: `hash` (paragraph hashes of a shard), `mine` (deduplication
// against a group of hash files, language identification, JSON Lines per language) and
// `train-lm` (a modified Kneser-Ney n-gram model).
#pragma once

#include <string>
#include <vector>

namespace scorekit {

// Options shared by the subcommands that read crawl files.
struct CcnetInputOptions {
    std::vector<std::string> inputs;  // WET/WARC files, `-` = standard input
    std::string paths_file;           // a path list instead of `inputs`
    std::string shard;                // "I/N"; empty = SLURM array variables, else 0/1
    int min_length = 300;             // drop documents whose raw_content has fewer code points
    int batch_records = 64;           // records per work item (fixed, so output order is stable)
    bool force = false;               // redo a shard that has a done marker
    int threads = 1;                  // 0 = one per CPU core
};

struct CcnetHashOptions {
    CcnetInputOptions input;
    std::string output;  // hash file; "{shard}" becomes the 4-digit shard index
};

struct CcnetMineOptions {
    CcnetInputOptions input;
    std::string output;                  // directory; "{shard}" becomes the 4-digit shard index
    std::vector<std::string> hashes;     // hash files whose union is the dedup set
    std::string hashes_dir;              // or: DIR/NNNN.bin for the shards of this shard's group
    int group_size = 50;                 // shards per dedup group with hashes_dir (cc_net: 50)
    bool no_dedup = false;
    std::vector<std::string> languages;  // keep only these (empty = all)
    std::string lid_model;               // fastText model; empty = CLD2
    double language_threshold = 0.5;     // drop documents whose rounded score is below this
    int compression_level = 6;           // gzip level of the JSONL outputs, 1 (fast) to 9 (small)
    std::string sp_model;                // SentencePiece model; "{lang}" becomes the language code
    std::string lm_model;                // ARPA or KenLM probing model; "{lang}" becomes the language code
    std::string cutoff;                  // cutoff CSV; empty = cc_net's table in share/ccnet
    std::string ref_model;               // fastText reference classifier (__label__wiki/__label__cc)
    double ref_threshold = 0.25;         // keep documents with p(__label__wiki) >= this
    bool quality = false;                       // apply the Gopher quality and repetition rules
    std::vector<std::string> quality_settings;  // "rule=value" threshold overrides
    bool explain = false;  // record each rule's value; write rejected documents to rejected_quality.json.gz
    bool print_graph = false;  // print the stage graph as DOT on standard output and stop
};

// The stages that `mine` runs with these options, as a Graphviz DOT graph.
std::string mine_graph_dot(const CcnetMineOptions& options);

struct CcnetTrainClassifierOptions {
    std::vector<std::string> wiki;  // text files of reference documents, one per line
    std::vector<std::string> cc;    // text files of random crawl documents, one per line
    std::string output;             // fastText model
    double validation_fraction = 0.1;
    int epoch = 5;
    double learning_rate = 0.1;
    int word_ngrams = 1;
    int dimension = 100;
    int buckets = 2000000;
    int seed = 0;
};

// Trains the reference classifier and logs its validation precision and recall.
void run_ccnet_train_classifier(const CcnetTrainClassifierOptions& options);

// The installed share/scorekit/ccnet/cutoff.csv, else the source tree's share/ccnet/cutoff.csv.
std::string default_cutoff_path();

struct CcnetTrainLmOptions {
    std::vector<std::string> inputs;  // tokenised text, one sentence per line (gzip allowed, `-` = stdin)
    std::string output;               // ARPA file
    int order = 5;
    bool discount_fallback = false;                       // use fallback_discounts where estimation fails
    std::vector<float> fallback_discounts = {0.5f, 1.0f, 1.5f};  // D1, D2, D3+ (lmplz's defaults)
};

// Estimates a modified Kneser-Ney model as KenLM's lmplz does and writes it as ARPA (atomically).
// Logs the n-gram counts, the discounts, the time and the peak memory.
void run_ccnet_train_lm(const CcnetTrainLmOptions& options);

struct CcnetCutoffsOptions {
    std::vector<std::string> inputs;  // JSON Lines written by mine (gzip allowed, `-` = stdin)
    std::string output;               // cutoff CSV
};

// Writes a cutoff CSV: for each language with perplexities in the inputs, the percentiles 0..99
// of its documents' perplexities (linear interpolation between order statistics, as numpy's
// default), rounded to 0.1. Documents without a perplexity field are skipped.
void run_ccnet_cutoffs(const CcnetCutoffsOptions& options);

// The p-th percentile (0..100) of sorted values with linear interpolation (numpy's default).
double percentile_of_sorted(const std::vector<double>& sorted, double p);

// Each writes its outputs atomically, then `<output>.stats.json`, then the done marker
// `<output>.done`. A shard with a done marker is skipped unless `force` is set. They throw
// UsageError for invalid options and Error for data and I/O failures. A damaged gzip member
// raises Error only after every complete record of the shard has been processed and written,
// and then no done marker is written.
void run_ccnet_hash(const CcnetHashOptions& options);
void run_ccnet_mine(const CcnetMineOptions& options);

}  // namespace scorekit
