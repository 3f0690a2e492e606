// ccnet-filter: the CCNet pipeline over Common Crawl WET files.
#include <cstdint>
#include <limits>

#include "scorekit/cli.hpp"
#include "scorekit/error.hpp"
#include "scorekit/text/ccnet_filter.hpp"

namespace {

constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();

// Options that every subcommand reading crawl files takes.
void add_input_options(CLI::App& command, scorekit::CcnetInputOptions& options) {
    command.add_option("inputs", options.inputs, "WET or WARC files (gzip or plain); `-` is standard input");
    command.add_option("--paths", options.paths_file,
                       "File listing one input path per line (gzip allowed, as Common Crawl's wet.paths.gz)");
    command.add_option("--shard", options.shard,
                       "Process shard I of N (0-based) of the inputs, cc_net's contiguous split; default from "
                       "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT, else 0/1");
    command.add_option("--min-len", options.min_length, "Drop documents whose raw_content has fewer code points")
        ->capture_default_str()
        ->check(scorekit::whole_number(0, kIntMax));
    command.add_option("--batch", options.batch_records, "Records per work item")
        ->capture_default_str()
        ->check(scorekit::whole_number(1, kIntMax));
    command.add_flag("--force", options.force, "Redo a shard even if its done marker exists");
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"The CCNet pipeline over Common Crawl WET files: paragraph hashes, deduplication, "
                 "language identification, JSON Lines per language."};
    app.name(SCOREKIT_TOOL_NAME);
    scorekit::CommonOptions common;
    scorekit::add_common_options(app, common, {/*output=*/false, /*threads=*/true, /*seed=*/false});
    app.require_subcommand(0, 1);
    app.fallthrough();

    scorekit::CcnetHashOptions hash;
    CLI::App* hash_command = app.add_subcommand("hash", "Write the paragraph hashes of a shard to a hash file");
    add_input_options(*hash_command, hash.input);
    hash_command->add_option("-o,--output", hash.output, "Hash file to write; {shard} becomes the 4-digit shard index")
        ->required();

    scorekit::CcnetMineOptions mine;
    CLI::App* mine_command =
        app.add_subcommand("mine", "Deduplicate a shard against its group's hashes, identify languages, write JSONL");
    add_input_options(*mine_command, mine.input);
    mine_command
        ->add_option("-o,--output", mine.output,
                     "Output directory for <language>.json.gz; {shard} becomes the 4-digit shard index")
        ->required();
    mine_command->add_option("--hashes", mine.hashes, "Hash file; repeat for each file of the group (their union is the dedup set)")
        ->allow_extra_args(false);
    mine_command->add_option("--hashes-dir", mine.hashes_dir,
                             "Directory of hash files NNNN.bin; the group of this shard is used");
    mine_command->add_option("--group-size", mine.group_size, "Shards per deduplication group with --hashes-dir")
        ->capture_default_str()
        ->check(scorekit::whole_number(1, kIntMax));
    mine_command->add_flag("--no-dedup", mine.no_dedup, "Skip deduplication");
    mine_command->add_option("--lang", mine.languages, "Keep only these languages (comma-separated codes)")
        ->delimiter(',')
        ->allow_extra_args(false);
    mine_command->add_option("--lid-model", mine.lid_model,
                             "fastText language identification model (lid.176.bin); default: built-in CLD2");
    mine_command->add_option("--lang-threshold", mine.language_threshold,
                             "Drop documents whose language score, rounded to 2 decimals, is below this")
        ->capture_default_str()
        ->check(scorekit::finite_number(0, 1));
    mine_command->add_option("--compression", mine.compression_level, "gzip level of the outputs, 1 (fastest) to 9 (smallest)")
        ->capture_default_str()
        ->check(scorekit::whole_number(1, 9));

    mine_command->add_option("--sp-model", mine.sp_model,
                             "SentencePiece model for the perplexity; {lang} becomes the language code");
    mine_command->add_option("--lm-model", mine.lm_model,
                             "ARPA or KenLM probing binary n-gram model for the perplexity; {lang} becomes the language code");
    mine_command->add_option("--cutoff", mine.cutoff,
                             "Perplexity cutoff CSV for the head/middle/tail buckets (default: cc_net's, from share/ccnet)");

    mine_command->add_option("--ref-model", mine.ref_model,
                             "fastText reference classifier (__label__wiki vs __label__cc) from train-classifier");
    mine_command->add_option("--ref-threshold", mine.ref_threshold, "Keep documents whose p(__label__wiki) is at least this")
        ->capture_default_str()
        ->check(scorekit::finite_number(0, 1));

    mine_command->add_flag("--quality", mine.quality, "Apply the Gopher quality and repetition rules");
    mine_command->add_option("--quality-set", mine.quality_settings, "Override a rule threshold, RULE=VALUE (repeatable)")
        ->allow_extra_args(false);
    mine_command->add_flag("--explain", mine.explain,
                           "Record every rule's value in a quality field; write rejected documents to rejected_quality.json.gz");

    mine_command->add_flag("--print-graph", mine.print_graph, "Print the stage graph as Graphviz DOT on standard output and exit");

    scorekit::CcnetTrainLmOptions train_lm;
    CLI::App* train_lm_command = app.add_subcommand(
        "train-lm", "Estimate a modified Kneser-Ney n-gram model from tokenised text, as KenLM's lmplz, written as ARPA");
    train_lm_command->add_option("inputs", train_lm.inputs, "Tokenised text files, one sentence per line (gzip allowed; `-` is standard input)")
        ->required();
    train_lm_command->add_option("-o,--output", train_lm.output, "ARPA file to write")->required();
    train_lm_command->add_option("--order", train_lm.order, "Order of the model, 1 to 6")
        ->capture_default_str()
        ->check(scorekit::whole_number(1, 6));
    train_lm_command->add_flag("--discount-fallback,--discount_fallback", train_lm.discount_fallback,
                               "Use --fallback-discounts for orders whose discounts cannot be estimated (small corpora)");
    train_lm_command->add_option("--fallback-discounts", train_lm.fallback_discounts, "Fallback discounts D1 D2 D3+")
        ->expected(3)
        ->capture_default_str();

    scorekit::CcnetTrainClassifierOptions classifier;
    CLI::App* classifier_command = app.add_subcommand(
        "train-classifier", "Train the fastText reference classifier (__label__wiki vs __label__cc) and report validation precision and recall");
    classifier_command->add_option("--wiki", classifier.wiki, "Text files of reference (Wikipedia-cited) documents, one per line")
        ->required()
        ->allow_extra_args(false);
    classifier_command->add_option("--cc", classifier.cc, "Text files of random crawl documents, one per line")
        ->required()
        ->allow_extra_args(false);
    classifier_command->add_option("-o,--output", classifier.output, "fastText model to write")->required();
    classifier_command->add_option("--validation", classifier.validation_fraction, "Fraction of the documents held out for validation")
        ->capture_default_str()
        ->check(scorekit::finite_number(0, 1, false, true));
    classifier_command->add_option("--epoch", classifier.epoch, "Training epochs")
        ->capture_default_str()
        ->check(scorekit::whole_number(1, kIntMax));
    classifier_command->add_option("--lr", classifier.learning_rate, "Learning rate")
        ->capture_default_str()
        ->check(scorekit::positive_number());
    classifier_command->add_option("--word-ngrams", classifier.word_ngrams, "Max length of word n-gram features")
        ->capture_default_str()
        ->check(scorekit::whole_number(1, kIntMax));
    classifier_command->add_option("--dim", classifier.dimension, "Size of the word vectors")
        ->capture_default_str()
        ->check(scorekit::whole_number(1, kIntMax));
    classifier_command->add_option("--bucket", classifier.buckets,
                                   "Hash buckets of the word n-gram features (with --word-ngrams above 1); the model holds (words + buckets) x dim floats")
        ->capture_default_str()
        ->check(scorekit::whole_number(1, kIntMax));
    classifier_command->add_option("--seed", classifier.seed, "Seed of the validation split and of fastText")
        ->capture_default_str()
        ->check(scorekit::whole_number(0, kIntMax));

    scorekit::CcnetCutoffsOptions cutoffs;
    CLI::App* cutoffs_command = app.add_subcommand(
        "cutoffs", "Write a perplexity cutoff CSV (percentiles 0..99 per language) from documents written by mine");
    cutoffs_command->add_option("inputs", cutoffs.inputs, "JSON Lines files written by mine (gzip allowed; `-` is standard input)")
        ->required();
    cutoffs_command->add_option("-o,--output", cutoffs.output, "Cutoff CSV to write")->required();

    return scorekit::run_tool(app, argc, argv, common, [&] {
        hash.input.threads = mine.input.threads = common.threads;
        if (hash_command->parsed()) scorekit::run_ccnet_hash(hash);
        if (mine_command->parsed()) scorekit::run_ccnet_mine(mine);
        if (train_lm_command->parsed()) {
            scorekit::run_ccnet_train_lm(train_lm);
        }
        if (cutoffs_command->parsed()) scorekit::run_ccnet_cutoffs(cutoffs);
        if (classifier_command->parsed()) scorekit::run_ccnet_train_classifier(classifier);
        if (!hash_command->parsed() && !mine_command->parsed() && !train_lm_command->parsed() &&
            !cutoffs_command->parsed() && !classifier_command->parsed()) {
            throw scorekit::UsageError("no subcommand: give hash, mine, train-lm, cutoffs or train-classifier");
        }
    });
}
