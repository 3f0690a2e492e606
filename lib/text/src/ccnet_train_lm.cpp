// `ccnet-filter train-lm`: a modified Kneser-Ney model written as ARPA.
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "scorekit/atomic_file.hpp"
#include "scorekit/error.hpp"
#include "scorekit/log.hpp"
#include "scorekit/text/ccnet_filter.hpp"
#include "scorekit/text/kneser_ney.hpp"

namespace scorekit {

void run_ccnet_train_lm(const CcnetTrainLmOptions& options) {
    auto start = std::chrono::steady_clock::now();
    if (options.inputs.empty()) throw UsageError("no input: give one or more tokenised text files");
    // A file read twice would count its n-grams twice and change the discounts.
    check_inputs_listed_once(file_arguments("input", options.inputs));
    check_distinct_files({{"--output", options.output}}, file_arguments("input", options.inputs));
    check_output_writable(options.output);  // before the counting, which is long on a large corpus
    text::KneserNeyOptions estimate;
    estimate.order = options.order;
    if (options.fallback_discounts.size() != 3) {
        throw UsageError(describe("invalid --fallback-discounts", std::to_string(options.fallback_discounts.size()) + " values",
                                  "give three: D1 D2 D3+", ""));
    }
    estimate.discount_fallback = options.discount_fallback;
    for (std::size_t i = 0; i < 3; ++i) estimate.fallback[i] = options.fallback_discounts[i];
    text::check_kneser_ney_options(estimate);
    log_info("estimating an order-" + std::to_string(options.order) + " modified Kneser-Ney model from " +
             std::to_string(options.inputs.size()) + " files");
    text::KneserNeyModel model = text::estimate_kneser_ney(options.inputs, estimate);
    for (int n = 1; n <= model.order; ++n) {
        const auto& d = model.discounts[static_cast<std::size_t>(n - 1)];
        log_info(std::to_string(n) + "-grams: " + std::to_string(model.adjusted_counts[static_cast<std::size_t>(n - 1)].size()) +
                 ", discounts D1=" + text::format_float_shortest(d[1]) + " D2=" + text::format_float_shortest(d[2]) +
                 " D3+=" + text::format_float_shortest(d[3]));
    }

    // `-` writes to standard output, as the other tools' text outputs do.
    write_text_output(options.output, [&](std::FILE* stream) {
        bool written = true;
        text::write_arpa(model, [&](const std::string& part) {
            written = written && std::fwrite(part.data(), 1, part.size(), stream) == part.size();
        });
        return written;
    });
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    log_info("wrote " + options.output + ": " + std::to_string(model.tokens) + " tokens in " +
             std::to_string(model.sentences) + " sentences, " + format_short(seconds) + " s, peak memory " +
             format_short(peak_rss_bytes() / 1048576.0) + " MiB");
    log_summary("train-lm");
}

}  // namespace scorekit
