#include "shard_input.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <regex>

#include "scorekit/atomic_file.hpp"
#include "scorekit/cli.hpp"
#include "scorekit/error.hpp"
#include "scorekit/log.hpp"
#include "scorekit/provenance.hpp"
#include "scorekit/signals.hpp"
#include "scorekit/text/unicode.hpp"

namespace scorekit::text {

namespace {

// Rejects a file named twice (by the same path, another spelling of it or a link), because
// cc_net's dedup removes every line that occurs in two documents: all lines of a file read twice
// would go. `line_numbers` contains the line of the --paths list of each input, or is empty for
// inputs given on the command line.
void reject_repeated_inputs(const std::vector<std::string>& inputs, const std::string& paths_file,
                              const std::vector<std::uint64_t>& line_numbers) {
    std::size_t first = 0, second = 0;
    if (!find_repeated_file(inputs, first, second)) return;
    const std::string& earlier = inputs[first];
    const std::string& later = inputs[second];
    const std::string names = earlier == later ? "" : " (" + quote(earlier) + " and " + quote(later) + ")";
    const std::string hint = "list each file once, because dedup would remove every line of a file read twice";
    if (!line_numbers.empty()) {
        throw UsageError(describe("invalid --paths", paths_file,
                                  "lines " + std::to_string(line_numbers[first]) + " and " +
                                      std::to_string(line_numbers[second]) + " name the same file" + names,
                                  hint));
    }
    throw UsageError(describe("invalid input", later,
                              earlier == later ? "it is given twice" : "it is the same file as input " + quote(earlier),
                              hint));
}

}  // namespace

ShardPlan plan_shard(const CcnetInputOptions& options, const std::string& output_pattern) {
    if (!options.inputs.empty() && !options.paths_file.empty()) {
        throw UsageError(describe("conflicting inputs", "--paths " + options.paths_file,
                                  "input files and a path list were both given", "give one of them"));
    }
    if (options.inputs.empty() && options.paths_file.empty()) {
        throw UsageError(describe("no input", "ccnet-filter", "no WET files and no --paths list",
                                  "give WET files, `-` for standard input, or --paths FILE"));
    }
    if (output_pattern.empty()) {
        throw UsageError(describe("no output", "-o", "an output path is required", "give -o PATH"));
    }
    if (output_pattern == "-") {
        throw UsageError(describe("invalid -o", "-",
                                  "hash and mine write files (a done marker and stats beside the output), "
                                  "not standard output",
                                  "give a path, for example -o out/{shard}"));
    }

    ShardPlan plan;
    plan.shard = options.shard.empty() ? shard_from_environment() : parse_shard(options.shard);
    std::vector<std::uint64_t> line_numbers;
    std::vector<std::string> all =
        options.inputs.empty() ? read_path_list(options.paths_file, &line_numbers) : options.inputs;
    // Standard input can be read once: a second `-` would read nothing and pass as an empty file.
    if (std::count(all.begin(), all.end(), "-") + (options.paths_file == "-" ? 1 : 0) > 1) {
        throw UsageError(describe("invalid input", "-", "standard input is given more than once",
                                  "give `-` once"));
    }
    reject_repeated_inputs(all, options.paths_file, line_numbers);
    plan.files = shard_slice(all, plan.shard);
    plan.output = expand_shard_pattern(output_pattern, plan.shard.index);
    // The done marker and stats file go beside the output: for "-o out/0000/" that is
    // out/0000.done, not a hidden out/0000/.done inside the directory.
    while (plan.output.size() > 1 && plan.output.back() == '/') plan.output.pop_back();
    // The inputs of every shard, not only this one's: a later shard must not replace them either.
    std::vector<FileArgument> inputs = file_arguments("input", all);
    inputs.push_back({"--paths", options.paths_file});
    check_distinct_files({{"-o", plan.output}, {"-o", plan.output + ".done"}, {"-o", plan.output + ".stats.json"}},
                         inputs);
    // An explicit --shard names one shard, whose output may be any path (a Makefile rule per
    // shard). A shard taken from the SLURM array variables runs the same command line in every
    // task, so all tasks would write one path.
    if (options.shard.empty() && plan.shard.count > 1 && output_pattern.find("{shard}") == std::string::npos) {
        throw UsageError(describe("output without {shard}", output_pattern,
                                  "every task of the SLURM array would write the same path",
                                  "put {shard} in -o, for example -o out/{shard}"));
    }
    return plan;
}

std::string recorded_shard(const std::string& path) {
    std::ifstream stream(path);
    const std::string text((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
    std::smatch index, count;
    static const std::regex index_field(R"re("shard"\s*:\s*([0-9]+))re");
    static const std::regex count_field(R"re("shards"\s*:\s*([0-9]+))re");
    if (!std::regex_search(text, index, index_field) || !std::regex_search(text, count, count_field)) return "";
    return index[1].str() + "/" + count[1].str();
}

bool shard_already_done(const ShardPlan& plan, bool force) {
    std::string marker = plan.output + ".done";
    if (!file_exists(marker)) return false;
    const std::string shard = std::to_string(plan.shard.index) + "/" + std::to_string(plan.shard.count);
    const std::string recorded = recorded_shard(marker);
    if (!force && !recorded.empty() && recorded != shard) {
        throw Error(describe("done marker of another split", marker,
                             "it records shard " + recorded + ", but this run is shard " + shard,
                             "write into a new output directory, or give --force to redo the shard"));
    }
    if (!force) {
        log_info("shard " + std::to_string(plan.shard.index) + "/" + std::to_string(plan.shard.count) +
                 " is already done (" + marker + " exists); skipped, use --force to redo it");
        return true;
    }

    // The old marker goes before the work starts. A forced rerun that fails would otherwise leave
    // it beside the new, incomplete outputs, and every later step would take the shard as finished.
    if (std::remove(marker.c_str()) != 0) {
        throw Error(describe("cannot remove done marker", marker, std::strerror(errno),
                             "check the permissions of its directory"));
    }
    return false;
}

void ReadCounts::add(const ReadCounts& other) {
    records += other.records;
    documents += other.documents;
    short_documents += other.short_documents;
    lines += other.lines;
    chars += other.chars;
}

ShardReader::ShardReader(const std::vector<std::string>& files, std::size_t batch_records, bool read_ahead,
                         std::size_t first_file, bool earlier_error)
    : files_(files.size()), batch_records_(batch_records), read_ahead_(read_ahead), file_index_(first_file),
      earlier_error_(earlier_error), files_read_before_signal_(first_file) {
    for (std::size_t i = 0; i < files.size(); ++i) files_[i].path = files[i];
}

bool ShardReader::next(RecordBatch& batch) {
    batch.records.clear();
    batch.bodies.clear();
    batch.buffers.clear();
    while (file_index_ < files_.size()) {
        FileRead& file = files_[file_index_];
        // A job that saves its state on a signal stops at the next file: opening it could wait
        // for a pipe's writer that never comes.
        if (!reader_ && interrupt_requested()) return false;
        if (!reader_) reader_ = std::make_unique<WetReader>(file.path, *file.faults, read_ahead_);
        batch.file_index = file_index_;
        bool more = true;
        while (batch.records.size() < batch_records_) {
            batch.records.emplace_back();
            std::string_view body;
            try {
                more = reader_->next(batch.records.back(), body);
            } catch (const Error& e) {
                more = false;
                file.error = e.what();
                if (first_error_.empty() && !earlier_error_) {
                    first_error_ = e.what();
                } else {
                    log_warning(e.what());
                }
            }
            if (!more) {
                batch.records.pop_back();
                break;
            }
            batch.bodies.push_back(body);
            std::shared_ptr<const std::string> buffer = reader_->share_buffer();
            if (batch.buffers.empty() || batch.buffers.back() != buffer) batch.buffers.push_back(std::move(buffer));
        }
        if (!more) {
            file.compressed_bytes = reader_->input().compressed_bytes();
            reader_.reset();
            ++file_index_;
            if (!interrupt_requested()) files_read_before_signal_ = file_index_;
        }
        if (!batch.records.empty()) return true;
    }
    return false;
}

const std::vector<std::pair<std::string, FaultCounter>>& fault_counters() {
    static const std::vector<std::pair<std::string, FaultCounter>> counters = {
        {"wrong_content_length", &ReaderFaults::wrong_content_length},
        {"missing_content_length", &ReaderFaults::missing_content_length},
        {"body_line_warc_header", &ReaderFaults::body_line_warc_header},
        {"empty_body", &ReaderFaults::empty_body},
        {"missing_headers", &ReaderFaults::missing_headers},
        {"invalid_utf8_records", &ReaderFaults::invalid_utf8_records},
        {"invalid_utf8_sequences", &ReaderFaults::invalid_utf8_sequences},
        {"control_character_records", &ReaderFaults::control_character_records},
        {"binary_records", &ReaderFaults::binary_records},
        {"stray_bytes", &ReaderFaults::stray_bytes},
        {"truncated_files", &ReaderFaults::truncated_files},
        {"files_without_conversion", &ReaderFaults::files_without_conversion},
    };
    return counters;
}

void add_faults(ReaderFaults& into, const ReaderFaults& from) {
    for (const auto& counter : fault_counters()) (into.*counter.second) += (from.*counter.second).load();
}

void records_to_documents(const RecordBatch& batch, const std::vector<std::string>& files, int min_length,
                          ReaderFaults& faults, std::vector<Document>& documents, ReadCounts& counts) {
    documents.clear();
    const std::string& file = files[batch.file_index];
    Document document;
    for (std::size_t i = 0; i < batch.records.size(); ++i) {
        ++counts.records;
        if (record_to_document(batch.records[i], batch.bodies[i], file, file, faults, document) != RecordOutcome::document) {
            continue;
        }
        ++counts.documents;
        std::size_t length = count_code_points(document.raw_content);
        if (length < static_cast<std::size_t>(min_length) || document.raw_content.empty()) {
            ++counts.short_documents;
            continue;
        }
        counts.lines += static_cast<std::uint64_t>(document.nlines);
        counts.chars += length;
        documents.push_back(std::move(document));
    }
}

void JsonObject::key(const std::string& name) {
    if (!body_.empty()) body_ += ", ";
    append_json_string(name, body_);
    body_ += ": ";
}

JsonObject& JsonObject::number(const std::string& name, double value) {
    key(name);
    body_ += format_number(value);
    return *this;
}

JsonObject& JsonObject::integer(const std::string& name, std::uint64_t value) {
    key(name);
    body_ += std::to_string(value);
    return *this;
}

JsonObject& JsonObject::string(const std::string& name, const std::string& value) {
    key(name);
    append_json_string(value, body_);
    return *this;
}

JsonObject& JsonObject::raw(const std::string& name, const std::string& json) {
    key(name);
    body_ += json;
    return *this;
}

std::string json_faults(const ReaderFaults& faults) {
    JsonObject object;
    for (const auto& counter : fault_counters()) object.integer(counter.first, (faults.*counter.second).load());
    return object.str();
}

std::string json_string_list(const std::vector<std::string>& items) {
    std::string out = "[";
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) out += ", ";
        append_json_string(items[i], out);
    }
    return out + "]";
}

void finish_shard(const ShardPlan& plan, JsonObject stats, std::chrono::steady_clock::time_point start,
                  const std::string& error, const std::string& files_json) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    double cpu = usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + 1e-6 * (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    stats.number("wall_seconds", wall)
        .number("cpu_seconds", cpu)
        .integer("peak_rss_bytes", peak_rss_bytes())
        .string("error", error);
    write_file_atomically(plan.output + ".stats.json", stats.str() + "\n");
    if (!error.empty()) return;

    JsonObject marker;
    marker.integer("shard", static_cast<std::uint64_t>(plan.shard.index))
        .integer("shards", static_cast<std::uint64_t>(plan.shard.count))
        .string("version", version_string())
        .string("command_line", provenance().command_line);
    if (!files_json.empty()) marker.raw("files", files_json);
    write_file_atomically(plan.output + ".done", marker.str() + "\n");
}

}  // namespace scorekit::text
