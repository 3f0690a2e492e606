// Memory estimates of the Fisher representations, checked before any work so that a request
// that cannot fit fails at once with the size and the alternatives.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>

#include "scorekit/error.hpp"
#include "scorekit/fim.hpp"

namespace scorekit {
namespace {

// Entries of each block that the engine keeps together: one per layer (weight and bias), or one
// per tensor for a tensor without an owning layer.
std::vector<std::int64_t> layer_sizes(const std::vector<ParameterInfo>& parameters, BlockGrouping grouping) {
    std::vector<std::int64_t> sizes;
    std::string previous;
    for (const auto& p : parameters) {
        bool same_layer = grouping == BlockGrouping::layer && !sizes.empty() && !p.layer.empty() && p.layer == previous;
        if (same_layer) {
            sizes.back() += p.size;
        } else {
            sizes.push_back(p.size);
        }
        previous = p.layer;
    }
    return sizes;
}

double square(double x) { return x * x; }

}  // namespace

std::int64_t estimate_fisher_memory(const FisherModel& model, const FisherProblem& problem,
                                    Representation representation, BlockGrouping grouping, std::int64_t outputs,
                                    bool factorised) {
    const double element = problem.single_precision ? 4 : 8;  // the engine's arithmetic
    const double stored = 8;                                  // results are float64 Eigen matrices
    const double total = static_cast<double>(model.parameter_count());
    const double batch = problem.batch_size;

    double vectors = 1;  // output-space vectors per input
    switch (problem.estimator.kind) {
        case EstimatorSpec::Kind::exact:
            vectors = problem.likelihood == Likelihood::bernoulli ? 1 : static_cast<double>(outputs);
            break;
        case EstimatorSpec::Kind::monte_carlo: vectors = problem.estimator.samples; break;
        case EstimatorSpec::Kind::empirical: vectors = 1; break;
    }

    // Per-batch working set: a linear stack keeps the per-layer gradients [R * B, out] (about three
    // live copies while they are formed); a general module keeps per-example gradients [R * B, P]
    // and autograd's copy of them.
    const std::vector<std::int64_t> layers = layer_sizes(model.parameters(), BlockGrouping::layer);
    double working = 2 * vectors * batch * total * element;
    if (model.is_linear_stack()) {
        double widths = 0;
        for (const auto& p : model.parameters()) {
            if (p.shape.size() == 2) widths += static_cast<double>(p.shape[0]);
        }
        working = 3 * vectors * batch * widths * element;
    }

    double peak = working + 4 * total * stored;  // diag, implicit and the gradient vectors
    switch (representation) {
        case Representation::dense: {
            // Accumulation: F plus, for a stack, the largest layer-pair block and the per-batch
            // factors of its Kronecker product (fim_stack_products.cpp), estimated as a second block.
            double largest_pair = 0;
            for (auto a : layers) {
                for (auto b : layers) largest_pair = std::max(largest_pair, static_cast<double>(a) * static_cast<double>(b));
            }
            double accumulating = square(total) * element + working +
                                  (model.is_linear_stack() ? 2 * largest_pair * element : 0);
            // Finishing: the accumulator and the float64 result in theta order.
            double finishing = square(total) * (element + stored);
            peak = std::max(accumulating, finishing);
            // log det and solves factorise a damped copy of F in place.
            if (factorised) peak = std::max(peak, 2 * square(total) * stored);
            break;
        }
        case Representation::block: {
            double sum = 0, largest = 0;
            for (auto size : layer_sizes(model.parameters(), grouping)) {
                sum += square(static_cast<double>(size));
                largest = std::max(largest, square(static_cast<double>(size)));
            }
            peak = std::max(sum * element + working + 2 * largest * element, sum * (element + stored) + 2 * largest * stored);
            if (factorised) peak = std::max(peak, sum * stored + largest * stored);
            break;
        }
        case Representation::kfac: {
            double factors = 0;
            for (const auto& p : model.parameters()) {
                if (p.shape.size() == 2) factors += square(static_cast<double>(p.shape[0])) + square(p.shape[1] + 1.0);
            }
            peak = std::max(peak, factors * (element + 3 * stored) + working);
            break;
        }
        case Representation::diag:
        case Representation::implicit: break;
    }
    return static_cast<std::int64_t>(std::min(peak, 9.0e18));
}

std::string format_bytes(std::int64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1024 && unit < 4) {
        value /= 1024;
        ++unit;
    }
    char text[32];
    std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
    return text;
}

std::int64_t parse_memory_size(const std::string& text) {
    // A number with an optional binary unit: 512M, 1.5G, 2GiB, 4096 (bytes).
    std::size_t used = 0;
    double value = -1;
    try {
        value = std::stod(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    std::string unit = text.substr(used);
    std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return std::toupper(c); });
    const std::map<std::string, double> scales = {{"", 1},           {"B", 1},           {"K", 1024.0},
                                                  {"KIB", 1024.0},   {"M", 1048576.0},   {"MIB", 1048576.0},
                                                  {"G", 1073741824.0}, {"GIB", 1073741824.0},
                                                  {"T", 1099511627776.0}, {"TIB", 1099511627776.0}};
    auto scale = scales.find(unit);
    if (used == 0 || scale == scales.end() || !(value > 0) || !std::isfinite(value)) {
        throw UsageError(describe("invalid --max-memory", text, "expected a positive size such as 512M, 8G or 2GiB"));
    }
    return static_cast<std::int64_t>(std::min(value * scale->second, 9.0e18));
}

std::int64_t default_max_memory() {
    const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || page_size <= 0) return 0;
    return static_cast<std::int64_t>(pages) * page_size / 2;
}

void check_fisher_memory(const FisherModel& model, const FisherProblem& problem, Representation representation,
                         BlockGrouping grouping, std::int64_t outputs, bool factorised, std::int64_t limit) {
    if (limit <= 0) return;
    const std::int64_t needed = estimate_fisher_memory(model, problem, representation, grouping, outputs, factorised);
    if (needed <= limit) return;
    std::string hint;
    switch (representation) {
        case Representation::dense:
        case Representation::block:
            hint = "use --representation diag or kfac, --representation implicit with --vector or --top-k (Lanczos), "
                   "or raise --max-memory";
            break;
        default: hint = "use a smaller --batch-size or raise --max-memory"; break;
    }
    throw UsageError(describe("cannot compute --representation " + to_string(representation) + " for", model.source(),
                              std::to_string(model.parameter_count()) + " parameters need an estimated " +
                                  format_bytes(needed) + ", above --max-memory " + format_bytes(limit),
                              hint));
}

}  // namespace scorekit
