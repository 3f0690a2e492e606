// `ccnet-filter cutoffs`: perplexity percentiles per language from mined documents.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

#include "scorekit/atomic_file.hpp"
#include "scorekit/error.hpp"
#include "scorekit/log.hpp"
#include "scorekit/text/ccnet_filter.hpp"
#include "scorekit/text/language_model.hpp"
#include "scorekit/text_input.hpp"

namespace scorekit {
namespace {

// The value of a top-level field in one of mine's JSON lines. Inside JSON strings every quote is
// escaped, so the pattern `"name": ` can only match a key.
bool find_field(const std::string& line, const char* pattern, std::size_t& value_start) {
    std::size_t at = line.find(pattern);
    if (at == std::string::npos) return false;
    value_start = at + std::strlen(pattern);
    return true;
}

}  // namespace

double percentile_of_sorted(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) throw Error("internal error: percentile of no values");
    double position = p / 100.0 * static_cast<double>(sorted.size() - 1);
    auto below = static_cast<std::size_t>(std::floor(position));
    std::size_t above = std::min(below + 1, sorted.size() - 1);
    double fraction = position - static_cast<double>(below);
    return sorted[below] + (sorted[above] - sorted[below]) * fraction;
}

void run_ccnet_cutoffs(const CcnetCutoffsOptions& options) {
    if (options.inputs.empty()) throw UsageError("no input: give the JSON Lines files written by mine");
    // A file read twice would weigh its documents twice in the percentiles.
    check_inputs_listed_once(file_arguments("input", options.inputs));
    check_distinct_files({{"--output", options.output}}, file_arguments("input", options.inputs));
    check_output_writable(options.output);
    std::map<std::string, std::vector<double>> perplexities;
    std::uint64_t documents = 0, without_perplexity = 0, infinite = 0;
    std::string line;
    for (const std::string& input : options.inputs) {
        LineReader reader(input);
        std::uint64_t line_number = 0;
        while (reader.next(line)) {
            ++line_number;
            std::size_t first = line.find_first_not_of(" \t");
            if (first == std::string::npos) continue;
            if (line[first] != '{' || line[line.find_last_not_of(" \t")] != '}') {
                throw Error(describe("invalid document", input + ":" + std::to_string(line_number),
                                     "the line is not a JSON object", "give JSON Lines files written by mine"));
            }
            ++documents;
            std::size_t language_at = 0, perplexity_at = 0;
            if (!find_field(line, "\"perplexity\": ", perplexity_at)) {
                ++without_perplexity;
                continue;
            }
            if (!find_field(line, "\"language\": \"", language_at)) {
                throw Error(describe("invalid document", input + ":" + std::to_string(line_number),
                                     "a perplexity without a language", "give files written by mine"));
            }
            std::string language = line.substr(language_at, line.find('"', language_at) - language_at);
            // mine writes Infinity (json.dumps's spelling, as cc_net) for a document that the
            // model gives probability 0. It lies beyond every cutoff, so it stays out of the
            // percentiles, which would otherwise turn infinite or NaN.
            if (line.compare(perplexity_at, 8, "Infinity") == 0) {
                ++infinite;
                continue;
            }
            char* end = nullptr;
            double value = std::strtod(line.c_str() + perplexity_at, &end);
            if (end == line.c_str() + perplexity_at) {
                throw Error(describe("invalid document", input + ":" + std::to_string(line_number),
                                     "the perplexity is not a number", "give files written by mine"));
            }
            // strtod takes NaN and turns 1e400 into infinity; either would fill the table with NaN.
            if (!std::isfinite(value)) {
                throw Error(describe("invalid document", input + ":" + std::to_string(line_number),
                                     "the perplexity is not a finite number", "give files written by mine"));
            }
            perplexities[language].push_back(value);
        }
    }
    if (perplexities.empty()) {
        if (infinite > 0) {
            throw Error(describe("no perplexities", options.inputs.front(), "every perplexity is infinite",
                                 "check the language model, whose weights give these documents probability 0"));
        }
        throw Error(describe("no perplexities", options.inputs.front(), "no document has a perplexity field",
                             "run mine with --sp-model and --lm-model first"));
    }

    std::string csv;
    for (const auto& entry : perplexities) csv += "," + entry.first;
    csv += "\n";
    for (auto& entry : perplexities) std::sort(entry.second.begin(), entry.second.end());
    for (int p = 0; p < 100; ++p) {
        csv += std::to_string(p);
        for (const auto& entry : perplexities) {
            csv += "," + text::python_float_repr(text::round_to_tenth(percentile_of_sorted(entry.second, p)));
        }
        csv += "\n";
    }
    // `-` writes to standard output, as the other tools' text outputs do.
    write_text_output(options.output, [&](std::FILE* stream) {
        return std::fwrite(csv.data(), 1, csv.size(), stream) == csv.size();
    });

    std::string languages;
    for (const auto& entry : perplexities) {
        languages += (languages.empty() ? "" : ", ") + entry.first + " " + std::to_string(entry.second.size());
    }
    log_info("wrote " + options.output + " from " + std::to_string(documents - without_perplexity - infinite) + " of " +
             std::to_string(documents) + " documents (" + languages + ")" +
             (infinite ? "; " + std::to_string(infinite) + " with an infinite perplexity left out" : ""));
    log_summary("cutoffs");
}

}  // namespace scorekit
