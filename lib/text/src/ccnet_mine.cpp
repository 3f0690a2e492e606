// `ccnet-filter mine`: deduplication against a group of hash files, language identification and
// JSON Lines output per language, following cc_net's mine.py pipeline (dedup, lid, keep_lang,
// split_by_lang).
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <unordered_set>
#include <utility>

#include "scorekit/atomic_file.hpp"
#include "scorekit/cli.hpp"
#include "scorekit/error.hpp"
#include "scorekit/log.hpp"
#include "scorekit/provenance.hpp"
#include "scorekit/signals.hpp"
#include "scorekit/text/ccnet_filter.hpp"
#include "scorekit/text/dedup.hpp"
#include "scorekit/text/language_id.hpp"
#include "scorekit/text/language_model.hpp"
#include "scorekit/text/quality_rules.hpp"
#include "scorekit/text/reference_classifier.hpp"
#include "scorekit/text/ordered_pipeline.hpp"
#include "scorekit/text/unicode.hpp"
#include "mine_resume.hpp"
#include "shard_input.hpp"

namespace scorekit {

using namespace scorekit::text;

namespace {

struct MineCounts {
    std::uint64_t dedup_documents_in = 0, dedup_documents_out = 0;
    std::uint64_t dedup_lines_in = 0, dedup_lines_out = 0;
    std::uint64_t dedup_chars_in = 0, dedup_chars_out = 0;
    std::uint64_t lid_documents_in = 0, lid_documents_out = 0;
    FastTextCounters lid_summation;  // fastText predictions by summation path
    std::uint64_t lang_documents_in = 0, lang_documents_out = 0;
    std::uint64_t quality_documents_in = 0, quality_documents_out = 0;
    std::map<std::string, std::uint64_t> quality_failures;  // first failed rule -> documents
    std::uint64_t reference_documents_in = 0, reference_documents_out = 0;
    std::uint64_t perplexity_documents_in = 0, perplexity_documents_scored = 0;
    std::uint64_t perplexity_documents_encoded_whole = 0;  // not word by word (see document_perplexity)
    std::map<std::string, std::uint64_t> buckets;
    std::map<std::string, double> stage_seconds;  // thread time per stage, summed over batches

    void add(const MineCounts& o) {
        for (const auto& entry : o.stage_seconds) stage_seconds[entry.first] += entry.second;
        quality_documents_in += o.quality_documents_in;
        quality_documents_out += o.quality_documents_out;
        for (const auto& entry : o.quality_failures) quality_failures[entry.first] += entry.second;
        reference_documents_in += o.reference_documents_in;
        reference_documents_out += o.reference_documents_out;
        perplexity_documents_in += o.perplexity_documents_in;
        perplexity_documents_scored += o.perplexity_documents_scored;
        perplexity_documents_encoded_whole += o.perplexity_documents_encoded_whole;
        for (const auto& entry : o.buckets) buckets[entry.first] += entry.second;
        dedup_documents_in += o.dedup_documents_in, dedup_documents_out += o.dedup_documents_out;
        dedup_lines_in += o.dedup_lines_in, dedup_lines_out += o.dedup_lines_out;
        dedup_chars_in += o.dedup_chars_in, dedup_chars_out += o.dedup_chars_out;
        lid_documents_in += o.lid_documents_in, lid_documents_out += o.lid_documents_out;
        lid_summation.cached += o.lid_summation.cached, lid_summation.recomputed += o.lid_summation.recomputed;
        lang_documents_in += o.lang_documents_in, lang_documents_out += o.lang_documents_out;
    }
};

struct LanguageOutput {
    std::string gzip_member;  // this batch's documents of one language, as one gzip member
    std::uint64_t documents = 0;
    std::uint64_t json_bytes = 0;
};

struct MinedBatch {
    std::map<std::string, LanguageOutput> languages;
    ReadCounts read;
    MineCounts mine;
    std::size_t file_index = 0;
};

// Adds the time since the previous lap to a named stage.
class StageClock {
public:
    explicit StageClock(std::map<std::string, double>& seconds)
        : seconds_(seconds), last_(std::chrono::steady_clock::now()) {}

    void lap(const char* stage) {
        auto now = std::chrono::steady_clock::now();
        seconds_[stage] += std::chrono::duration<double>(now - last_).count();
        last_ = now;
    }

private:
    std::map<std::string, double>& seconds_;
    std::chrono::steady_clock::time_point last_;
};

// The hashes already seen in one document: a flat table of random 64-bit keys, cleared per
// document (a node-based set would allocate once per line).
class SeenHashes {
public:
    void reset(std::size_t count) {
        std::size_t capacity = 16;
        while (capacity < 2 * count) capacity *= 2;
        slots_.assign(capacity, 0);
        mask_ = capacity - 1;
        seen_zero_ = false;
    }

    // Returns true the first time `hash` is inserted.
    bool insert(std::uint64_t hash) {
        if (hash == 0) return !std::exchange(seen_zero_, true);
        for (std::size_t slot = hash & mask_;; slot = (slot + 1) & mask_) {
            if (slots_[slot] == hash) return false;
            if (slots_[slot] == 0) {
                slots_[slot] = hash;
                return true;
            }
        }
    }

private:
    std::vector<std::uint64_t> slots_;
    std::size_t mask_ = 0;
    bool seen_zero_ = false;
};

// cc_net's DuplicatesRemover.do and finalize_doc: drop lines whose hash is flagged in the group,
// then repeats inside the document (first kept). Returns false if no line survives.
bool deduplicate(Document& document, const DedupHashSet* set, MineCounts& counts) {
    thread_local std::vector<std::uint64_t> hashes;
    thread_local SeenHashes seen;
    ++counts.dedup_documents_in;
    hash_lines(document.raw_content, hashes);
    counts.dedup_lines_in += hashes.size();
    counts.dedup_chars_in += count_code_points(document.raw_content);

    thread_local std::vector<char> duplicate;
    duplicate.assign(hashes.size(), 0);
    std::size_t kept_by_group = hashes.size();
    if (set) {
        constexpr std::size_t kAhead = 8;
        for (std::size_t i = 0; i < hashes.size(); ++i) {
            if (i + kAhead < hashes.size()) set->prefetch(hashes[i + kAhead]);
            duplicate[i] = set->is_duplicate(hashes[i]);
            kept_by_group -= duplicate[i];
        }
    }
    if (kept_by_group == 0) return false;

    document.deduplicated = true;
    document.original_nlines = document.nlines;
    document.original_length = document.length;
    std::string kept;
    kept.reserve(document.raw_content.size());
    seen.reset(hashes.size());
    std::size_t start = 0;
    for (std::size_t i = 0; i < hashes.size(); ++i) {
        std::size_t end = document.raw_content.find('\n', start);
        if (end == std::string::npos) end = document.raw_content.size();
        bool keep = !duplicate[i] && seen.insert(hashes[i]);
        if (keep) {
            if (!document.line_ids.empty()) kept += '\n';
            kept.append(document.raw_content, start, end - start);
            document.line_ids.push_back(static_cast<std::int64_t>(i));
        }
        start = end + 1;
    }
    document.raw_content = std::move(kept);
    document.nlines = static_cast<std::int64_t>(document.line_ids.size());
    document.length = static_cast<std::int64_t>(count_code_points(document.raw_content));
    ++counts.dedup_documents_out;
    counts.dedup_lines_out += document.line_ids.size();
    counts.dedup_chars_out += static_cast<std::uint64_t>(document.length);
    return true;
}

// cc_net's split_by_lang.Classifier: text without newlines, top-1, keep when score >= threshold.
bool identify_language(Document& document, const LanguageIdentifier& identifier, int threshold_percent,
                       MineCounts& counts) {
    if (document.raw_content.empty()) return false;
    ++counts.lid_documents_in;
    thread_local std::string glued;
    glued.clear();
    const std::string& text = document.raw_content;
    for (std::size_t start = 0; start < text.size();) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        glued.append(text, start, end - start);
        start = end + 1;
    }
    LanguagePrediction prediction = identifier.predict(glued);
    counts.lid_summation.cached += prediction.summation.cached;
    counts.lid_summation.recomputed += prediction.summation.recomputed;
    if (prediction.label.empty() || prediction.score_percent < threshold_percent) return false;
    document.identified = true;
    document.language = prediction.label;
    document.language_score_percent = prediction.score_percent;
    document.language_identifier = identifier.name();
    ++counts.lid_documents_out;
    return true;
}

// cc_net's sp, lm and pp_bucket steps. Returns the output file key: "<language>_<bucket>".
std::string score_perplexity(Document& document, LanguageModelSet& models, const PerplexityCutoffs& cutoffs,
                             MineCounts& counts) {
    ++counts.perplexity_documents_in;
    const LanguageModels* language_models = models.get(document.language);
    if (language_models) {
        bool encoded_whole = false;
        document.has_perplexity =
            document_perplexity(document.raw_content, *language_models->tokenizer, *language_models->model,
                                document.perplexity, &encoded_whole);
        counts.perplexity_documents_scored += document.has_perplexity;
        counts.perplexity_documents_encoded_whole += document.has_perplexity && encoded_whole;
    }
    document.bucket = cutoffs.bucket(document.language, document.has_perplexity ? document.perplexity : -1.0);
    // As in cc_net, a language without a cutoff column goes to "all" even with a perplexity. A
    // cutoff file made for other languages does that to every document, so it is worth a line.
    if (document.has_perplexity && !cutoffs.has_language(document.language)) {
        log_warning_once("no cutoff column " + document.language,
                         describe("no cutoff column for " + document.language, cutoffs.path(),
                                  "its documents have a perplexity but go to bucket all, as in cc_net",
                                  "add the column (ccnet-filter cutoffs computes one)"));
    }
    ++counts.buckets[document.bucket];
    return document.language + "_" + document.bucket;
}

std::vector<std::string> group_hash_files(const CcnetMineOptions& options, const ShardPlan& plan) {
    if (!options.hashes.empty()) {
        // Every hash of a file loaded twice is in two files, which marks it as a duplicate, so
        // dedup would remove every line.
        check_inputs_listed_once(file_arguments("--hashes", options.hashes));
        return options.hashes;
    }
    if (options.group_size < 1) {
        throw UsageError(describe("invalid --group-size", std::to_string(options.group_size), "must be at least 1", ""));
    }
    int first = plan.shard.index / options.group_size * options.group_size;
    int last = std::min(plan.shard.count, first + options.group_size);
    std::vector<std::string> files;
    for (int shard = first; shard < last; ++shard) {
        std::string path = options.hashes_dir + "/" + expand_shard_pattern("{shard}.bin", shard);
        if (!file_exists(path)) {
            throw Error(describe("hash file not found", path,
                                 "the dedup group of shard " + std::to_string(plan.shard.index) + " needs shards " +
                                     std::to_string(first) + ".." + std::to_string(last - 1),
                                 "run 'ccnet-filter hash --shard " + std::to_string(shard) + "/" +
                                     std::to_string(plan.shard.count) + "' first"));
        }
        // A hash run that failed (on a truncated input, for example) still writes the hashes it
        // read but no done marker. Deduplicating against its file would silently keep duplicates.
        if (!file_exists(path + ".done")) {
            throw Error(describe("hash file incomplete", path,
                                 "its hash run did not finish (no " + path + ".done marker)",
                                 "rerun 'ccnet-filter hash --shard " + std::to_string(shard) + "/" +
                                     std::to_string(plan.shard.count) + "' and check its error"));
        }
        // A hash file of a run with another shard count covers another slice of the inputs, so
        // the group's hashes would count some lines twice and miss others.
        const std::string expected = std::to_string(shard) + "/" + std::to_string(plan.shard.count);
        const std::string recorded = recorded_shard(path + ".done");
        if (!recorded.empty() && recorded != expected) {
            throw Error(describe("hash file of another split", path,
                                 "its done marker records shard " + recorded + ", but this mine run needs shard " +
                                     expected,
                                 "mine with the shard count of the hash run, or hash into a new directory"));
        }
        files.push_back(path);
    }
    return files;
}

// Returns the number of hashes in the group's files, from their headers. Rejects a hash file made
// with another --min-len: that run counted the lines of documents that this one drops (or skipped
// documents that it keeps), so the duplicates would not be cc_net's.
std::uint64_t check_hash_headers(const std::vector<std::string>& files, int min_length) {
    std::uint64_t total = 0;
    for (const std::string& file : files) {
        const HashFileHeader header = read_hash_file_header(file);
        if (header.min_length >= 0 && header.min_length != min_length) {
            const std::string hash_run = std::to_string(header.min_length), this_run = std::to_string(min_length);
            throw UsageError(describe("hash file made with another --min-len", file,
                                      "--min-len " + hash_run + " there, " + this_run + " here",
                                      "give mine --min-len " + hash_run + ", or run hash again with --min-len " + this_run));
        }
        total += header.count;
    }
    return total;
}

// Loads the union of the group's files into a set sized for `total` hashes.
std::unique_ptr<DedupHashSet> load_group(const std::vector<std::string>& files, std::uint64_t total) {
    auto set = std::make_unique<DedupHashSet>();
    set->reserve(total);
    for (const std::string& file : files) {
        HashFileHeader header = load_hash_file(file, *set);
        log_verbose("loaded " + file + ": " + std::to_string(header.count) + " hashes, " +
                    std::to_string(set->size()) + " in the set");
    }
    double per_hash = set->size() ? static_cast<double>(set->memory_bytes()) / set->size() : 0.0;
    log_info("loaded " + std::to_string(set->size()) + " unique hashes from " + std::to_string(files.size()) +
             " files: " + std::to_string(set->memory_bytes()) + " bytes (" + format_short(per_hash) +
             " bytes per hash), peak memory " + format_short(peak_rss_bytes() / 1048576.0) + " MiB");
    return set;
}

// Calls `visit(name, counter)` for every count of the read and mine stages, under the names
// that the resume state gives them.
template <typename Visit>
void visit_counts(ReadCounts& read, MineCounts& mine, Visit visit) {
    visit("read.records", read.records);
    visit("read.documents", read.documents);
    visit("read.short_documents", read.short_documents);
    visit("read.lines", read.lines);
    visit("read.chars", read.chars);
    visit("dedup.documents_in", mine.dedup_documents_in);
    visit("dedup.documents_out", mine.dedup_documents_out);
    visit("dedup.lines_in", mine.dedup_lines_in);
    visit("dedup.lines_out", mine.dedup_lines_out);
    visit("dedup.chars_in", mine.dedup_chars_in);
    visit("dedup.chars_out", mine.dedup_chars_out);
    visit("lid.documents_in", mine.lid_documents_in);
    visit("lid.documents_out", mine.lid_documents_out);
    visit("lid.fasttext_cached_sums", mine.lid_summation.cached);
    visit("lid.fasttext_recomputed", mine.lid_summation.recomputed);
    visit("lang_filter.documents_in", mine.lang_documents_in);
    visit("lang_filter.documents_out", mine.lang_documents_out);
    visit("quality.documents_in", mine.quality_documents_in);
    visit("quality.documents_out", mine.quality_documents_out);
    visit("reference.documents_in", mine.reference_documents_in);
    visit("reference.documents_out", mine.reference_documents_out);
    visit("perplexity.documents_in", mine.perplexity_documents_in);
    visit("perplexity.documents_scored", mine.perplexity_documents_scored);
    visit("perplexity.documents_encoded_whole", mine.perplexity_documents_encoded_whole);
}

// The counts of the files done so far, for the resume state.
void store_counts(ReadCounts read, MineCounts mine, const ReaderFaults& faults, std::uint64_t compressed_bytes,
                  MineResumeState& state) {
    state.counts.clear();
    state.seconds = mine.stage_seconds;
    visit_counts(read, mine, [&](const char* name, std::uint64_t& value) { state.counts[name] = value; });
    for (const auto& entry : mine.quality_failures) state.counts["quality.failure." + entry.first] = entry.second;
    for (const auto& entry : mine.buckets) state.counts["perplexity.bucket." + entry.first] = entry.second;
    for (const auto& counter : fault_counters()) state.counts["faults." + counter.first] = (faults.*counter.second).load();
    state.counts["read.compressed_bytes"] = compressed_bytes;
}

// The inverse of store_counts.
void load_counts(const MineResumeState& state, ReadCounts& read, MineCounts& mine, ReaderFaults& faults,
                 std::uint64_t& compressed_bytes) {
    std::map<std::string, std::uint64_t> counts = state.counts;
    auto take = [&](const std::string& name) {
        auto found = counts.find(name);
        if (found == counts.end()) return std::uint64_t{0};
        const std::uint64_t value = found->second;
        counts.erase(found);
        return value;
    };
    visit_counts(read, mine, [&](const char* name, std::uint64_t& value) { value = take(name); });
    for (const auto& counter : fault_counters()) (faults.*counter.second) = take("faults." + counter.first);
    compressed_bytes = take("read.compressed_bytes");
    for (const auto& entry : counts) {
        const std::string failure = "quality.failure.", bucket = "perplexity.bucket.";
        if (entry.first.rfind(failure, 0) == 0) mine.quality_failures[entry.first.substr(failure.size())] = entry.second;
        if (entry.first.rfind(bucket, 0) == 0) mine.buckets[entry.first.substr(bucket.size())] = entry.second;
    }
    mine.stage_seconds = state.seconds;
}

std::string expand_language(std::string pattern, const std::string& language) {
    for (std::size_t at = pattern.find("{lang}"); at != std::string::npos; at = pattern.find("{lang}", at + language.size())) {
        pattern.replace(at, 6, language);
    }
    return pattern;
}

// Everything that changes the output of the shard beside its input bytes: the version, the
// shard, the options, and the inputs, hash files and models by size and modification time. The
// thread count is not in it, because the output does not depend on it.
Fingerprint mine_fingerprint(const CcnetMineOptions& options, const ShardPlan& plan,
                             const std::vector<std::string>& hash_files, const std::string& cutoff_path,
                             const std::unordered_set<std::string>& allowed, const LanguageIdentifier& identifier) {
    Fingerprint fingerprint;
    auto add = [&](const std::string& name, const std::string& value) { fingerprint.emplace_back(name, value); };
    auto join = [](std::vector<std::string> items, bool sorted) {
        if (sorted) std::sort(items.begin(), items.end());
        std::string joined;
        for (const std::string& item : items) joined += (joined.empty() ? "" : ",") + item;
        return joined;
    };
    add("shard", std::to_string(plan.shard.index) + "/" + std::to_string(plan.shard.count));
    add("version", version_string());
    add("number of inputs", std::to_string(plan.files.size()));
    add("--min-len", std::to_string(options.input.min_length));
    add("--batch", std::to_string(options.input.batch_records));
    add("--no-dedup", options.no_dedup ? "given" : "not given");
    add("--lang", join(std::vector<std::string>(allowed.begin(), allowed.end()), true));
    add("--lid-model", options.lid_model);
    add("--lang-threshold", format_number(options.language_threshold));
    add("--compression", std::to_string(options.compression_level));
    add("--sp-model", options.sp_model);
    add("--lm-model", options.lm_model);
    add("--cutoff", cutoff_path);
    add("--ref-model", options.ref_model);
    add("--ref-threshold", format_number(options.ref_threshold));
    add("--quality", options.quality ? "given" : "not given");
    add("--quality-set", join(options.quality_settings, false));
    add("--explain", options.explain ? "given" : "not given");
    add("hash files", std::to_string(hash_files.size()));
    for (std::size_t i = 0; i < plan.files.size(); ++i) {
        add("input " + std::to_string(i + 1) + " " + quote(plan.files[i]), file_fingerprint(plan.files[i]));
    }
    for (const std::string& file : hash_files) add("hash file " + quote(file), file_fingerprint(file));
    for (const std::string* model : {&options.lid_model, &cutoff_path, &options.ref_model}) {
        if (!model->empty()) add("model " + quote(*model), file_fingerprint(*model));
    }
    // Per-language models load when their language first comes up, so every language that the
    // identifier can name (or --lang keeps) counts whose files exist.
    if (!options.lm_model.empty()) {
        std::vector<std::string> languages(allowed.begin(), allowed.end());
        if (languages.empty()) languages = identifier.labels();
        std::sort(languages.begin(), languages.end());
        std::set<std::string> seen;
        for (const std::string& language : languages) {
            for (const std::string* pattern : {&options.sp_model, &options.lm_model}) {
                const std::string path = expand_language(*pattern, language);
                if (seen.insert(path).second && file_exists(path)) add("model " + quote(path), file_fingerprint(path));
            }
        }
    }
    return fingerprint;
}

// Thrown by the pipeline's consumer when a signal requests that the run stop.
struct StopForSignal {};

// The "output_files" list of an earlier run's stats file, or nothing where there is no such
// file or list. The names are mine's own (label characters and ".json.gz"), so they need no
// JSON unescaping.
std::vector<std::string> earlier_output_files(const std::string& stats_path) {
    std::FILE* file = std::fopen(stats_path.c_str(), "rb");
    if (!file) return {};
    std::string text;
    char buffer[8192];
    for (std::size_t count; (count = std::fread(buffer, 1, sizeof buffer, file)) > 0;) text.append(buffer, count);
    std::fclose(file);

    std::vector<std::string> names;
    const std::string key = "\"output_files\": [";
    std::size_t at = text.find(key);
    if (at == std::string::npos) return names;
    const std::size_t end = text.find(']', at);
    for (at += key.size(); at < end;) {
        const std::size_t open = text.find('"', at);
        const std::size_t close = open == std::string::npos ? open : text.find('"', open + 1);
        if (close == std::string::npos || close > end) break;
        names.push_back(text.substr(open + 1, close - open - 1));
        at = close + 1;
    }
    return names;
}

// Removes the files that an earlier run of this shard wrote (listed in its stats file) and this
// run did not, so that a rerun with --force or after a failure leaves only its own outputs for
// ccnet-merge.py. Files that mine did not write are never touched.
void remove_earlier_outputs(const ShardPlan& plan, const std::vector<std::string>& earlier,
                            const std::vector<std::string>& written) {
    for (const std::string& name : earlier) {
        if (name.empty() || name.find('/') != std::string::npos ||
            std::find(written.begin(), written.end(), name) != written.end()) {
            continue;
        }
        const std::string path = plan.output + "/" + name;
        if (std::remove(path.c_str()) == 0) log_info("removed " + path + ", written by an earlier run of this shard");
    }
}

// Checks the "files" that the done marker of the shard lists (name and length in bytes) against
// the output directory. A marker that lists a missing file or one of another length does not
// describe the directory (a file was replaced or removed after the run), so it is removed and the
// shard runs again. A marker without "files" (written by hand or by an older version) is kept.
void remove_stale_done_marker(const ShardPlan& plan) {
    const std::string marker = plan.output + ".done";
    std::FILE* file = std::fopen(marker.c_str(), "rb");
    if (!file) return;
    std::string text;
    char buffer[8192];
    for (std::size_t count; (count = std::fread(buffer, 1, sizeof buffer, file)) > 0;) text.append(buffer, count);
    std::fclose(file);

    const std::string key = "\"files\": {";
    const std::size_t at = text.find(key);
    if (at == std::string::npos) return;
    const std::size_t end = text.find('}', at);
    if (end == std::string::npos) return;
    // The names are mine's own (label characters and ".json.gz"), so they need no JSON unescaping.
    static const std::regex entry_pattern(R"re("([^"/]+)"\s*:\s*([0-9]+))re");
    const std::string files = text.substr(at + key.size(), end - at - key.size());
    for (std::sregex_iterator entry(files.begin(), files.end(), entry_pattern), last; entry != last; ++entry) {
        const std::string path = plan.output + "/" + (*entry)[1].str();
        struct stat status {};
        std::string reason;
        if (::stat(path.c_str(), &status) != 0) {
            reason = "it lists " + quote(path) + ", which is missing";
        } else if (std::to_string(status.st_size) != (*entry)[2].str()) {
            reason = "it lists " + quote(path) + " with " + (*entry)[2].str() + " bytes, but the file has " +
                     std::to_string(status.st_size);
        } else {
            continue;
        }
        log_warning(describe("done marker does not match the outputs", marker, reason, "the shard runs again"));
        if (std::remove(marker.c_str()) != 0) {
            throw Error(describe("cannot remove done marker", marker, std::strerror(errno),
                                 "check the permissions of its directory"));
        }
        return;
    }
}

// The names of the output files that the resume state at `path` describes, or nothing where it is
// missing or damaged. An earlier run whose commit stopped may have given them their final names.
std::vector<std::string> resume_state_output_files(const std::string& path) {
    std::vector<std::string> names;
    try {
        if (std::optional<MineResumeState> state = read_resume_state(path)) {
            for (const auto& entry : state->outputs) names.push_back(output_file_name(entry.first));
        }
    } catch (const Error&) {
        // A damaged state names no files, but the stats file of the earlier run still does.
    }
    return names;
}

// Seconds between periodic resume states. SCOREKIT_TEST_MINE_STATE_SECONDS replaces the default
// of 120 for tests, which cannot wait minutes for a state. It is not a user option.
double resume_state_period() {
    constexpr double kDefaultSeconds = 120;
    const char* value = std::getenv("SCOREKIT_TEST_MINE_STATE_SECONDS");
    if (!value || !*value) return kDefaultSeconds;
    char* end = nullptr;
    const double seconds = std::strtod(value, &end);
    if (*end != '\0' || !(seconds >= 0)) {
        throw Error(describe("invalid SCOREKIT_TEST_MINE_STATE_SECONDS", value, "must be a number of seconds >= 0",
                             "unset it, because it exists for tests only"));
    }
    return seconds;
}

std::string stage_seconds_json(const MineCounts& counts) {
    JsonObject seconds;
    for (const auto& entry : counts.stage_seconds) seconds.number(entry.first, entry.second);
    return seconds.str();
}

std::string quality_stats(const CcnetMineOptions& options, const MineCounts& counts) {
    JsonObject failures;
    for (const auto& entry : counts.quality_failures) failures.integer(entry.first, entry.second);
    return JsonObject()
        .raw("enabled", options.quality ? "true" : "false")
        .integer("documents_in", counts.quality_documents_in)
        .integer("documents_out", counts.quality_documents_out)
        .raw("first_failed_rule", failures.str())
        .str();
}

std::string perplexity_stats(const CcnetMineOptions& options, const std::string& cutoff_path, const MineCounts& counts) {
    JsonObject buckets;
    for (const auto& entry : counts.buckets) buckets.integer(entry.first, entry.second);
    return JsonObject()
        .string("sp_model", options.sp_model)
        .string("lm_model", options.lm_model)
        .string("cutoff", cutoff_path)
        .integer("documents_in", counts.perplexity_documents_in)
        .integer("documents_scored", counts.perplexity_documents_scored)
        .integer("documents_encoded_whole", counts.perplexity_documents_encoded_whole)
        .raw("buckets", buckets.str())
        .str();
}

// The --lang codes, each trimmed: the shell argument "en, de" arrives as "en" and " de".
std::unordered_set<std::string> parse_language_codes(const std::vector<std::string>& codes) {
    std::unordered_set<std::string> allowed;
    for (const std::string& code : codes) {
        std::size_t begin = code.find_first_not_of(" \t");
        if (begin == std::string::npos) {
            std::string list;
            for (const std::string& item : codes) list += (list.empty() ? "" : ",") + item;
            throw UsageError(describe("invalid --lang", list, "it contains an empty language code",
                                      "give codes separated by commas, for example --lang en,de"));
        }
        std::size_t end = code.find_last_not_of(" \t");
        allowed.insert(code.substr(begin, end + 1 - begin));
    }
    return allowed;
}

// Checks the --lang codes against the labels of the identifier, which are compared as they
// are: "EN" or "eng" matches nothing with CLD2 or lid.176, and "en" nothing with a model whose
// labels read eng_Latn. A list of which no code is a label would keep no document, so it is a
// usage error. A code that is not a label beside some that are gets a warning.
void check_language_codes(const std::unordered_set<std::string>& allowed, const LanguageIdentifier& identifier) {
    if (allowed.empty()) return;
    const std::vector<std::string> labels = identifier.labels();
    std::vector<std::string> unknown;
    for (const std::string& code : allowed) {
        if (std::find(labels.begin(), labels.end(), code) == labels.end()) unknown.push_back(code);
    }
    if (unknown.empty()) return;
    std::sort(unknown.begin(), unknown.end());
    std::string some_labels;
    const std::size_t shown = std::min<std::size_t>(labels.size(), 8);
    for (std::size_t i = 0; i < shown; ++i) some_labels += (i ? ", " : "") + labels[i];
    if (shown < labels.size()) some_labels += ", ... (" + std::to_string(labels.size()) + " in all)";
    std::string codes;
    for (const std::string& code : unknown) codes += (codes.empty() ? "" : ",") + code;
    const std::string reason = std::string(unknown.size() == 1 ? "it is not a label" : "they are not labels") + " of " +
                               identifier.name() + ", whose labels are " + some_labels;
    if (unknown.size() == allowed.size()) {
        throw UsageError(describe("invalid --lang", codes, reason + ", so no document would be kept",
                                  "give the language codes that this identifier uses"));
    }
    log_warning(describe("--lang code that matches no document", codes, reason,
                         "give the language codes that this identifier uses"));
}

}  // namespace

std::string mine_graph_dot(const CcnetMineOptions& options) {
    std::vector<std::pair<std::string, std::string>> stages = {{"read", "read WET records (batches of --batch)"}};
    if (!options.no_dedup) stages.push_back({"dedup", "paragraph dedup (hash set)"});
    stages.push_back({"lid", options.lid_model.empty() ? "language id (CLD2)" : "language id (fastText)"});
    stages.push_back({"lang_filter", "language filter"});
    if (options.quality) stages.push_back({"quality", "Gopher quality rules"});
    if (!options.ref_model.empty()) stages.push_back({"reference", "reference classifier (fastText)"});
    if (!options.lm_model.empty()) stages.push_back({"perplexity", "normalise, SentencePiece, n-gram LM, bucket"});
    stages.push_back({"output", "JSON lines, gzip member per batch"});
    stages.push_back({"write", "ordered writer (sequence ids)"});
    std::string dot = "digraph mine {\n  rankdir=LR;\n  node [shape=box];\n";
    for (const auto& stage : stages) dot += "  " + stage.first + " [label=\"" + stage.first + "\\n" + stage.second + "\"];\n";
    for (std::size_t i = 0; i + 1 < stages.size(); ++i) {
        bool queue = i == 0 || i + 2 == stages.size();  // the bounded queues around the worker threads
        dot += "  " + stages[i].first + " -> " + stages[i + 1].first;
        dot += queue ? " [label=\"bounded queue\"];\n" : ";\n";
    }
    return dot + "}\n";
}

std::string default_cutoff_path() {
    std::string installed = std::string(SCOREKIT_SHARE_INSTALLED) + "/ccnet/cutoff.csv";
    return file_exists(installed) ? installed : std::string(SCOREKIT_SHARE_SOURCE) + "/ccnet/cutoff.csv";
}

void run_ccnet_mine(const CcnetMineOptions& options) {
    auto start = std::chrono::steady_clock::now();
    if (options.no_dedup == (!options.hashes.empty() || !options.hashes_dir.empty())) {
        throw UsageError(describe("invalid dedup options", "--hashes/--hashes-dir/--no-dedup",
                                  "exactly one of them is required", "give hash files, a hash directory or --no-dedup"));
    }
    if (!options.hashes.empty() && !options.hashes_dir.empty()) {
        throw UsageError(describe("invalid dedup options", "--hashes and --hashes-dir", "both were given", "give one"));
    }
    if (options.compression_level < 1 || options.compression_level > 9) {
        throw UsageError(describe("invalid --compression", std::to_string(options.compression_level),
                                  "must be between 1 and 9", ""));
    }
    if (options.language_threshold < 0 || options.language_threshold > 1) {
        throw UsageError(describe("invalid --lang-threshold", format_number(options.language_threshold),
                                  "must be between 0 and 1", ""));
    }
    if (options.sp_model.empty() != options.lm_model.empty()) {
        throw UsageError(describe("invalid perplexity options", "--sp-model/--lm-model", "one was given without the other",
                                  "give both or neither"));
    }
    if (!options.cutoff.empty() && options.lm_model.empty()) {
        throw UsageError(describe("invalid perplexity options", "--cutoff", "buckets need a language model",
                                  "give --sp-model and --lm-model too"));
    }
    const std::unordered_set<std::string> allowed = parse_language_codes(options.languages);
    if (options.print_graph) {
        std::fputs(mine_graph_dot(options).c_str(), stdout);
        return;
    }
    ShardPlan plan = plan_shard(options.input, options.output);
    const double state_period = resume_state_period();
    if (!options.input.force) remove_stale_done_marker(plan);
    if (shard_already_done(plan, options.input.force)) return;
    int threads = resolve_threads(options.input.threads);

    std::unique_ptr<LanguageIdentifier> identifier =
        options.lid_model.empty() ? make_cld2_identifier() : load_fasttext_identifier(options.lid_model);
    check_language_codes(allowed, *identifier);
    if (options.ref_threshold < 0 || options.ref_threshold > 1) {
        throw UsageError(describe("invalid --ref-threshold", format_number(options.ref_threshold), "must be between 0 and 1", ""));
    }
    if (options.explain && !options.quality) {
        throw UsageError(describe("invalid option", "--explain", "it needs --quality", "add --quality"));
    }
    std::vector<std::string> hash_files;
    std::uint64_t total_hashes = 0;
    if (!options.no_dedup) {
        hash_files = group_hash_files(options, plan);
        total_hashes = check_hash_headers(hash_files, options.input.min_length);
    }
    const std::string cutoff_path =
        options.lm_model.empty() ? "" : options.cutoff.empty() ? default_cutoff_path() : options.cutoff;
    // The end of the last input file whose output is complete: where a resumed run goes on.
    const std::string state_path = resume_state_path(plan.output);
    MineResumeState boundary;
    boundary.fingerprint = mine_fingerprint(options, plan, hash_files, cutoff_path, allowed, *identifier);
    // Returns the state of an interrupted run to resume, if any. Throws Error when it was written
    // with another fingerprint.
    auto read_matching_state = [&]() -> std::optional<MineResumeState> {
        if (options.input.force) return std::nullopt;
        std::optional<MineResumeState> earlier = read_resume_state(state_path);
        if (!earlier) return earlier;
        const std::string difference = fingerprint_difference(earlier->fingerprint, boundary.fingerprint);
        if (!difference.empty()) {
            throw Error(describe("cannot resume shard", state_path,
                                 "an interrupted run with other settings or inputs wrote it (" + difference + ")",
                                 "rerun that run's command, or give --force to start the shard over"));
        }
        return earlier;
    };
    // A state that does not match fails before the slow loading of hashes and models.
    read_matching_state();
    std::unique_ptr<DedupHashSet> set;
    if (!options.no_dedup) {
        log_info("[1/3] loading " + std::to_string(hash_files.size()) + " hash files");
        set = load_group(hash_files, total_hashes);
    }
    QualityThresholds quality_thresholds;
    for (const std::string& setting : options.quality_settings) quality_thresholds.set(setting);
    std::unique_ptr<ReferenceClassifier> reference;
    if (!options.ref_model.empty()) reference = std::make_unique<ReferenceClassifier>(options.ref_model);
    std::unique_ptr<LanguageModelSet> language_models;
    PerplexityCutoffs cutoffs;
    if (!options.lm_model.empty()) {
        language_models = std::make_unique<LanguageModelSet>(options.sp_model, options.lm_model);
        cutoffs = PerplexityCutoffs::load(cutoff_path);
    }
    CreatedDirectories created_directories(make_directories(plan.output));
    ResumableOutputs writer(plan.output);
    // Read again under the directory lock, which another run of the shard may have held until now.
    std::optional<MineResumeState> earlier = read_matching_state();
    if (earlier && (earlier->files_done > plan.files.size() || !writer.restore(earlier->outputs, earlier->committing))) {
        log_warning(describe("cannot resume shard", state_path, "its output files are missing or shorter than it records",
                             "the shard starts over"));
        earlier.reset();
    }
    // Files of earlier runs that this run replaces, or removes once its own outputs are in place.
    std::vector<std::string> earlier_files = earlier_output_files(plan.output + ".stats.json");
    if (earlier) {
        boundary = std::move(*earlier);
        log_info("resuming shard " + std::to_string(plan.shard.index) + "/" + std::to_string(plan.shard.count) +
                 " after " + std::to_string(boundary.files_done) + " of " + std::to_string(plan.files.size()) +
                 " files (" + state_path + ")");
    } else {
        for (const std::string& name : resume_state_output_files(state_path)) earlier_files.push_back(name);
        // The state goes before the files it describes, so that no crash leaves it beside other data.
        if (std::remove(state_path.c_str()) != 0 && errno != ENOENT) {
            throw Error(describe("cannot remove resume state", state_path, std::strerror(errno),
                                 "check the permissions of its directory"));
        }
        writer.remove_unfinished();
    }
    const std::size_t files_resumed = boundary.files_done;
    log_info("[2/3] mining shard " + std::to_string(plan.shard.index) + "/" + std::to_string(plan.shard.count) +
             ": " + std::to_string(plan.files.size()) + " files, " + std::to_string(threads) +
             " threads, language identifier " + identifier->name());

    const int threshold_percent = static_cast<int>(std::ceil(options.language_threshold * 100 - 1e-9));
    ShardReader reader(plan.files, static_cast<std::size_t>(options.input.batch_records), threads > 1,
                       boundary.files_done, !boundary.error.empty());
    ReadCounts read_totals;
    MineCounts mine_totals;
    ReaderFaults faults;  // of the files done
    std::uint64_t compressed_bytes = 0;
    load_counts(boundary, read_totals, mine_totals, faults, compressed_bytes);
    Progress progress("mining", plan.files.size());
    // Files [boundary.files_done, files_done) are complete: their faults and errors are final, and
    // every output contains their documents and nothing else.
    auto complete_files = [&](std::size_t files_done) {
        for (std::size_t i = boundary.files_done; i < files_done; ++i) {
            add_faults(faults, reader.faults(i));
            compressed_bytes += reader.compressed_bytes(i);
            if (reader.error(i).empty()) continue;
            ++boundary.damaged_files;
            if (boundary.error.empty()) boundary.error = reader.error(i);
        }
        boundary.files_done = files_done;
        boundary.outputs = writer.sizes();
        store_counts(read_totals, mine_totals, faults, compressed_bytes, boundary);
    };
    auto save_state = [&] {
        writer.sync();
        write_resume_state(state_path, boundary);
    };
    // Standard input cannot be read again, and a read of it can block until its writer ends, which
    // may wait for this process. A shard that reads it cannot be resumed, so a signal ends the run
    // at once and removes its unfinished files, and no state is written.
    const bool resumable = std::find(plan.files.begin(), plan.files.end(), "-") == plan.files.end();
    // A state every few minutes (state_period) also lets a run killed without a chance to save
    // (SIGKILL after SLURM's KillWait, a node failure) resume from a recent file.
    auto last_state = std::chrono::steady_clock::now();

    std::function<bool(RecordBatch&)> produce = [&](RecordBatch& batch) { return reader.next(batch); };
    // Each stage runs over the whole batch before the next one (micro-batching per backend),
    // cheapest first, and adds its time to the batch's stage clock.
    std::function<void(RecordBatch&, MinedBatch&)> transform = [&](RecordBatch& batch, MinedBatch& out) {
        thread_local std::vector<Document> documents;
        thread_local std::vector<Document*> alive;
        thread_local std::map<std::string, std::string> json;
        thread_local std::vector<std::string> keys;
        StageClock clock(out.mine.stage_seconds);
        records_to_documents(batch, plan.files, options.input.min_length, reader.faults(batch.file_index), documents,
                             out.read);
        alive.clear();
        for (Document& document : documents) alive.push_back(&document);
        clock.lap("read");
        auto keep_if = [&](auto predicate) {
            alive.erase(std::remove_if(alive.begin(), alive.end(), [&](Document* d) { return !predicate(*d); }), alive.end());
        };
        json.clear();
        if (set) {
            keep_if([&](Document& d) { return deduplicate(d, set.get(), out.mine); });
            clock.lap("dedup");
        }
        keep_if([&](Document& d) { return identify_language(d, *identifier, threshold_percent, out.mine); });
        clock.lap("lid");
        keep_if([&](Document& d) {
            ++out.mine.lang_documents_in;
            if (!allowed.empty() && !allowed.count(d.language)) return false;
            ++out.mine.lang_documents_out;
            return true;
        });
        clock.lap("lang_filter");
        if (options.quality) {
            std::string page_text;
            keep_if([&](Document& d) {
                ++out.mine.quality_documents_in;
                // The rules see the page as datatrove does, the title line included.
                page_text.assign(d.title).append("\n").append(d.raw_content);
                QualityReport report = evaluate_quality(page_text, quality_thresholds, options.explain);
                if (options.explain) d.quality_json = quality_report_json(report);
                if (report.passed) {
                    ++out.mine.quality_documents_out;
                    return true;
                }
                ++out.mine.quality_failures[report.first_failure];
                if (options.explain) {
                    append_json(d, json["rejected_quality"]);
                    ++out.languages["rejected_quality"].documents;
                }
                return false;
            });
            clock.lap("quality");
        }
        if (reference) {
            keep_if([&](Document& d) {
                ++out.mine.reference_documents_in;
                double probability = reference->wiki_probability(d.raw_content);
                if (probability < options.ref_threshold) return false;
                ++out.mine.reference_documents_out;
                d.has_reference_score = true;
                d.reference_score = std::round(probability * 10000.0) / 10000.0;
                return true;
            });
            clock.lap("reference");
        }
        keys.clear();
        for (Document* d : alive) {
            keys.push_back(language_models ? score_perplexity(*d, *language_models, cutoffs, out.mine) : d->language);
        }
        if (language_models) clock.lap("perplexity");
        for (std::size_t i = 0; i < alive.size(); ++i) {
            append_json(*alive[i], json[keys[i]]);
            ++out.languages[keys[i]].documents;
        }
        for (auto& entry : json) {
            LanguageOutput& output = out.languages[entry.first];
            output.json_bytes = entry.second.size();
            output.gzip_member = gzip_member(entry.second, options.compression_level);
        }
        clock.lap("output");
        out.file_index = batch.file_index;
    };
    std::function<void(MinedBatch&)> consume = [&](MinedBatch& batch) {
        // The first batch of a file completes the files before it, also when a signal has come.
        if (batch.file_index > boundary.files_done) {
            complete_files(batch.file_index);
            const auto now = std::chrono::steady_clock::now();
            if (resumable && !interrupt_requested() &&
                std::chrono::duration<double>(now - last_state).count() >= state_period) {
                save_state();
                last_state = now;
            }
        }
        if (interrupt_requested()) throw StopForSignal{};
        for (auto& entry : batch.languages) writer.append(entry.first, entry.second.gzip_member, entry.second.documents);
        read_totals.add(batch.read);
        mine_totals.add(batch.mine);
        progress.update(batch.file_index);
    };
    // From here a signal stops the run at the end of a completed input file, with a state to resume
    // from. Before, it ends the run at once: a resumed run's state and files are still as they were.
    if (resumable) {
        catch_interrupts();
        report_signal_in_exit_status();
    } else {
        writer.remove_on_signal();
        set_signal_notice("ccnet-filter: mine interrupted by a signal: standard input is among the inputs and cannot "
                          "be read again, so the run cannot be resumed and its unfinished output files were removed; "
                          "save the input to a file and give its path in place of - to make the run resumable\n");
    }
    bool stopped = false;
    try {
        run_ordered_pipeline<RecordBatch, MinedBatch>(threads, 4 * threads, produce, transform, consume);
    } catch (...) {
        // A read that the signal cut short fails too, so any failure after a signal is the signal's.
        if (!interrupt_requested()) {
            writer.discard();
            std::remove(state_path.c_str());
            throw;
        }
        stopped = true;
    }
    // A signal after the last batch stops nothing: the shard is complete. When the reader stopped
    // at a signal without a failure, every batch it read was written, so the files that it read
    // to their end before the signal are complete too.
    if (!stopped && !reader.complete()) {
        stopped = true;
        if (reader.files_read_before_signal() > boundary.files_done) complete_files(reader.files_read_before_signal());
    }
    // With no input file complete there is nothing to resume, and the run leaves nothing behind.
    if (stopped && boundary.files_done == 0) {
        writer.discard();
        std::remove(state_path.c_str());
        throw Interrupted(describe_at("mine interrupted", "in the first input file of shard " +
                                                             std::to_string(plan.shard.index) + "/" +
                                                             std::to_string(plan.shard.count),
                                      "no input file was complete, so no output is kept",
                                      "run the same command again to start the shard"));
    }
    if (stopped) {
        save_state();
        // The outputs of the files done stay, in the directory that this run may have created.
        created_directories.keep();
        throw Interrupted(describe_at(
            "mine interrupted", "after " + std::to_string(boundary.files_done) + " of " + std::to_string(plan.files.size()) +
                                    " input files of shard " + std::to_string(plan.shard.index) + "/" +
                                    std::to_string(plan.shard.count),
            "their output is kept with the resume state " + quote(state_path),
            "run the same command again to go on from there (--force starts the shard over)"));
    }
    complete_files(plan.files.size());
    progress.finish();

    log_info("[3/3] writing " + plan.output);
    // The outputs get their final names one by one, which POSIX cannot do as one step. The state
    // written first lets a run stopped among the renames resume and finish them, and the done
    // marker, written last, is the record that the shard's set of outputs is complete.
    std::string per_language;
    try {
        if (resumable) {
            boundary.committing = true;
            save_state();
        }
        per_language = writer.commit();
    } catch (...) {
        // A full disk fails here too: the unfinished files go, as after a failure while mining.
        // NOTE: outputs renamed before a failed rename stay without a done marker, so they are
        // uncommitted. A rerun that writes other languages does not know to remove them.
        writer.discard();
        std::remove(state_path.c_str());
        throw;
    }
    created_directories.keep();
    remove_earlier_outputs(plan, earlier_files, writer.names());
    for (const auto& entry : mine_totals.stage_seconds) {
        log_verbose("stage " + entry.first + ": " + format_short(entry.second) + " s of thread time");
    }
    // The documents written are those that passed the last filter that ran.
    const std::uint64_t written = reference         ? mine_totals.reference_documents_out
                                  : options.quality ? mine_totals.quality_documents_out
                                                    : mine_totals.lang_documents_out;
    std::string summary = "kept " + std::to_string(written) + " of " +
                       std::to_string(read_totals.documents - read_totals.short_documents) + " documents";
    if (set) {
        summary += "; lines " + std::to_string(mine_totals.dedup_lines_out) + " of " +
                std::to_string(mine_totals.dedup_lines_in) + " after dedup";
    }
    log_info(summary);

    JsonObject stats;
    stats.string("command", "mine")
        .integer("shard", static_cast<std::uint64_t>(plan.shard.index))
        .integer("shards", static_cast<std::uint64_t>(plan.shard.count))
        .raw("inputs", json_string_list(plan.files))
        .raw("hash_files", json_string_list(hash_files))
        .string("output", plan.output)
        .string("language_identifier", identifier->name())
        .raw("read", JsonObject()
                         .integer("files", plan.files.size())
                         .integer("compressed_bytes", compressed_bytes)
                         .integer("files_done_before_resume", files_resumed)
                         .integer("records", read_totals.records)
                         .integer("documents", read_totals.documents)
                         .integer("documents_below_min_len", read_totals.short_documents)
                         .integer("documents_out", read_totals.documents - read_totals.short_documents)
                         .integer("lines_out", read_totals.lines)
                         .integer("chars_out", read_totals.chars)
                         .str())
        .raw("dedup", JsonObject()
                          .integer("documents_in", mine_totals.dedup_documents_in)
                          .integer("documents_out", mine_totals.dedup_documents_out)
                          .integer("lines_in", mine_totals.dedup_lines_in)
                          .integer("lines_out", mine_totals.dedup_lines_out)
                          .integer("chars_in", mine_totals.dedup_chars_in)
                          .integer("chars_out", mine_totals.dedup_chars_out)
                          .integer("hashes_in_group", set ? set->size() : 0)
                          .integer("hash_table_bytes", set ? set->memory_bytes() : 0)
                          .str())
        .raw("lid", JsonObject()
                        .integer("documents_in", mine_totals.lid_documents_in)
                        .integer("documents_out", mine_totals.lid_documents_out)
                        .integer("fasttext_cached_sums", mine_totals.lid_summation.cached)
                        .integer("fasttext_recomputed", mine_totals.lid_summation.recomputed)
                        .str())
        .raw("lang_filter", JsonObject()
                                .integer("documents_in", mine_totals.lang_documents_in)
                                .integer("documents_out", mine_totals.lang_documents_out)
                                .str())
        .raw("stage_seconds", stage_seconds_json(mine_totals))
        .raw("quality", quality_stats(options, mine_totals))
        .raw("reference", JsonObject()
                              .string("model", options.ref_model)
                              .number("threshold", options.ref_threshold)
                              .integer("documents_in", mine_totals.reference_documents_in)
                              .integer("documents_out", mine_totals.reference_documents_out)
                              .str())
        .raw("perplexity", perplexity_stats(options, cutoff_path, mine_totals))
        .raw("output_languages", per_language)
        .raw("output_files", json_string_list(writer.names()))
        .raw("faults", json_faults(faults))
        .raw("last_run_only", json_string_list({"wall_seconds", "cpu_seconds", "peak_rss_bytes",
                                                "read.files_done_before_resume"}));
    std::string error = boundary.error;
    if (boundary.damaged_files > 1) {
        error += " (and " + std::to_string(boundary.damaged_files - 1) + " more damaged files, see the warnings)";
    }
    finish_shard(plan, stats, start, error, writer.committed_files_json());
    // The done marker (or, for a failed shard, the stats file) now records the outputs.
    std::remove(state_path.c_str());
    // A failed shard ends with its error line instead of the "done:" summary.
    if (!error.empty()) {
        log_warning_counts();
        throw Error(error);
    }
    log_summary("mine");
}

}  // namespace scorekit
