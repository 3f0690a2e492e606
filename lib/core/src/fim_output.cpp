#include "scorekit/fim_output.hpp"

#include <algorithm>
#include <sstream>
#include <utility>

#include "scorekit/error.hpp"
#include "scorekit/fim_estimator.hpp"
#include "scorekit/hdf5_file.hpp"

namespace scorekit {
namespace {

void write_parameters(Hdf5Writer& file, const std::vector<ParameterInfo>& parameters) {
    file.create_group("/parameters");
    for (size_t index = 0; index < parameters.size(); ++index) {
        const ParameterInfo& p = parameters[index];
        std::string dataset = "/parameters/" + p.name;
        std::vector<double> shape(p.shape.begin(), p.shape.end());
        file.write_vector(dataset, shape);
        file.write_attribute(dataset, "offset", p.offset);
        file.write_attribute(dataset, "size", p.size);
        file.write_attribute(dataset, "layer", p.layer);
        file.write_attribute(dataset, "index", static_cast<std::int64_t>(index));
        if (!p.dtype.empty()) file.write_attribute(dataset, "dtype", p.dtype);
    }
}

void write_record(Hdf5Writer& file, const FisherRecord& record, const FisherMatrix& fisher) {
    const std::string g = "/fisher";
    file.create_group(g);
    file.write_attribute(g, "quantity", record.estimator.quantity());
    file.write_attribute(g, "estimator", record.estimator.name());
    file.write_attribute(g, "likelihood", record.likelihood);
    if (record.sigma > 0) file.write_attribute(g, "sigma", record.sigma);
    file.write_attribute(g, "reduction", to_string(record.reduction));
    file.write_attribute(g, "representation", to_string(record.representation));
    if (record.representation == Representation::block) file.write_attribute(g, "block_grouping", to_string(record.grouping));
    file.write_attribute(g, "model", record.model);
    file.write_attribute(g, "num_inputs", record.num_inputs);
    if (!record.shard.empty()) {
        file.write_attribute(g, "shard", record.shard);
        file.write_attribute(g, "total_inputs", record.total_inputs);
    }
    file.write_attribute(g, "num_parameters", fisher.size());
    std::string names;
    for (const auto& p : fisher.parameters) names += (names.empty() ? "" : "\n") + p.name;
    file.write_attribute(g, "parameter_names", names);
    file.write_attribute(g, "parameter_order", std::string("each tensor row-major, tensors in parameter_names order"));
}

void write_matrices(Hdf5Writer& file, const FisherMatrix& fisher) {
    switch (fisher.representation) {
        case Representation::dense: file.write_matrix("/fisher/matrix", fisher.dense); break;
        case Representation::diag:
            file.write_vector("/fisher/diagonal", std::vector<double>(fisher.diagonal.data(),
                                                                      fisher.diagonal.data() + fisher.diagonal.size()));
            break;
        case Representation::block:
            file.create_group("/fisher/blocks");
            for (size_t k = 0; k < fisher.blocks.size(); ++k) {
                const FisherBlock& b = fisher.blocks[k];
                std::string dataset = "/fisher/blocks/" + std::to_string(k);
                file.write_matrix(dataset, b.matrix);
                file.write_attribute(dataset, "name", b.name);
                file.write_attribute(dataset, "offset", b.offset);
                file.write_attribute(dataset, "size", b.size);
            }
            break;
        case Representation::kfac:
            file.create_group("/fisher/kfac");
            file.write_attribute("/fisher/kfac", "convention",
                                 std::string("F[(i,j),(k,l)] ~= G[i,k] A[j,l] over the entries (i,j) of [weight | bias]"));
            for (const auto& f : fisher.kfac) {
                std::string group = "/fisher/kfac/" + (f.layer.empty() ? std::string("layer") : f.layer);
                file.create_group(group);
                file.write_matrix(group + "/A", f.input_factor);
                file.write_matrix(group + "/G", f.gradient_factor);
                file.write_attribute(group, "weight_offset", f.weight_offset);
                file.write_attribute(group, "bias_offset", f.bias_offset);
                file.write_attribute(group, "out", f.out);
                file.write_attribute(group, "in", f.in);
            }
            break;
        case Representation::implicit: break;
    }
}

std::vector<double> as_values(const Vector& v) { return std::vector<double>(v.data(), v.data() + v.size()); }

}  // namespace

void write_fisher_file(const std::string& path, const FisherRecord& record, const FisherMatrix& fisher,
                       const FisherSummary& summary, const FisherExtras& extras) {
    Hdf5Writer file(path);
    write_record(file, record, fisher);
    write_matrices(file, fisher);
    write_parameters(file, fisher.parameters);
    if (extras.has_product) {
        file.write_vector("/fisher/vector", as_values(extras.vector));
        file.write_vector("/fisher/product", as_values(extras.product));
    }
    if (extras.has_solution) {
        file.write_vector("/fisher/gradient", as_values(extras.gradient));
        file.write_vector("/fisher/natural_gradient", as_values(extras.natural_gradient));
        file.write_attribute("/fisher/natural_gradient", "damping", record.damping);
        file.write_attribute("/fisher/natural_gradient", "converged", std::int64_t(extras.solve.converged ? 1 : 0));
        file.write_attribute("/fisher/natural_gradient", "iterations", std::int64_t(extras.solve.iterations));
        file.write_attribute("/fisher/natural_gradient", "relative_residual", extras.solve.relative_residual);
    }
    file.create_group("/summary");
    file.write_attribute("/summary", "trace", summary.trace);
    if (summary.frobenius >= 0) file.write_attribute("/summary", "frobenius", summary.frobenius);
    if (summary.has_log_det) {
        file.write_attribute("/summary", "log_det", summary.log_det);
        file.write_attribute("/summary", "damping", record.damping);
    }
    if (!summary.top_eigenvalues.empty()) {
        file.write_vector("/summary/top_eigenvalues", summary.top_eigenvalues);
        file.write_attribute("/summary/top_eigenvalues", "method", summary.eigen_method);
    }
    file.commit();
}

namespace {

// Reads a count or offset of a stored Fisher file (-1 is a missing bias). The range check keeps
// the cast from a damaged value (NaN, 1e300) defined.
std::int64_t integer_attribute(const Hdf5Reader& file, const std::string& object, const std::string& name) {
    return file.read_integer_attribute(object, name, -1, std::int64_t(1) << 53);
}

Vector as_vector(const std::vector<double>& values) {
    return Eigen::Map<const Vector>(values.data(), static_cast<Eigen::Index>(values.size()));
}

// The entries of /parameters in the order of their index attribute.
std::vector<ParameterInfo> read_parameters(const Hdf5Reader& file, const std::vector<std::string>& datasets) {
    std::vector<std::pair<std::int64_t, ParameterInfo>> indexed;
    for (const std::string& dataset : datasets) {
        if (dataset.compare(0, 12, "/parameters/") != 0) continue;
        ParameterInfo p;
        p.name = dataset.substr(12);
        for (double extent : file.read_array(dataset).values) p.shape.push_back(static_cast<std::int64_t>(extent));
        p.offset = integer_attribute(file, dataset, "offset");
        p.size = integer_attribute(file, dataset, "size");
        p.layer = file.read_string_attribute(dataset, "layer");
        if (file.has_attribute(dataset, "dtype")) p.dtype = file.read_string_attribute(dataset, "dtype");
        indexed.emplace_back(integer_attribute(file, dataset, "index"), p);
    }
    std::sort(indexed.begin(), indexed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<ParameterInfo> parameters;
    for (auto& entry : indexed) parameters.push_back(entry.second);
    return parameters;
}

}  // namespace

FisherMatrix read_fisher_file(const std::string& path, FisherRecord& record) {
    Hdf5Reader file(path);
    if (!file.exists("/fisher") || !file.has_attribute("/fisher", "representation")) {
        throw Error(describe("cannot read Fisher matrix", path, "no /fisher group with a representation",
                             "give a file written by fim -o or merge-shards.py fisher"));
    }
    FisherMatrix fisher;
    fisher.representation = parse_representation(file.read_string_attribute("/fisher", "representation"));
    record.representation = fisher.representation;
    record.estimator = parse_estimator(file.read_string_attribute("/fisher", "estimator"));
    record.reduction = parse_reduction(file.read_string_attribute("/fisher", "reduction"));
    record.likelihood = file.read_string_attribute("/fisher", "likelihood");
    record.model = file.read_string_attribute("/fisher", "model");
    record.num_inputs = integer_attribute(file, "/fisher", "num_inputs");
    if (file.has_attribute("/fisher", "shard")) {
        throw Error(describe("cannot summarise", path,
                             "it holds shard " + file.read_string_attribute("/fisher", "shard") + " of the inputs",
                             "merge the shards first with merge-shards.py fisher"));
    }

    const std::vector<std::string> datasets = file.dataset_paths();
    fisher.parameters = read_parameters(file, datasets);
    switch (fisher.representation) {
        case Representation::dense: fisher.dense = file.read_matrix("/fisher/matrix"); break;
        case Representation::diag: fisher.diagonal = as_vector(file.read_array("/fisher/diagonal").values); break;
        case Representation::block:
            for (const std::string& dataset : datasets) {
                if (dataset.compare(0, 15, "/fisher/blocks/") != 0) continue;
                FisherBlock block;
                block.name = file.read_string_attribute(dataset, "name");
                block.offset = integer_attribute(file, dataset, "offset");
                block.size = integer_attribute(file, dataset, "size");
                block.matrix = file.read_matrix(dataset);
                fisher.blocks.push_back(block);
            }
            std::sort(fisher.blocks.begin(), fisher.blocks.end(),
                      [](const FisherBlock& a, const FisherBlock& b) { return a.offset < b.offset; });
            break;
        case Representation::kfac:
            for (const std::string& dataset : datasets) {
                const std::size_t end = dataset.size() - 2;
                if (dataset.compare(0, 13, "/fisher/kfac/") != 0 || dataset.compare(end, 2, "/A") != 0) continue;
                const std::string group = dataset.substr(0, end);
                KfacFactors factors;
                factors.layer = group.substr(13);
                factors.weight_offset = integer_attribute(file, group, "weight_offset");
                factors.bias_offset = integer_attribute(file, group, "bias_offset");
                factors.out = integer_attribute(file, group, "out");
                factors.in = integer_attribute(file, group, "in");
                factors.input_factor = file.read_matrix(dataset);
                factors.gradient_factor = file.read_matrix(group + "/G");
                fisher.kfac.push_back(factors);
            }
            std::sort(fisher.kfac.begin(), fisher.kfac.end(),
                      [](const KfacFactors& a, const KfacFactors& b) { return a.weight_offset < b.weight_offset; });
            break;
        case Representation::implicit:
            throw Error(describe("cannot summarise", path, "it contains no matrix (representation implicit)",
                                 "store a dense, diag, block or kfac matrix"));
    }
    return fisher;
}

std::string format_summary_line(const FisherRecord& record, std::int64_t parameters, const FisherSummary& summary) {
    std::ostringstream line;
    line << "quantity=" << (record.estimator.kind == EstimatorSpec::Kind::empirical ? "empirical_fisher" : "fisher")
         << "\testimator=" << record.estimator.name() << "\treduction=" << to_string(record.reduction)
         << "\trepresentation=" << to_string(record.representation) << "\tinputs=" << record.num_inputs;
    if (!record.shard.empty()) line << "\tshard=" << record.shard;
    line << "\tparameters=" << parameters << "\ttrace=" << format_number(summary.trace);
    if (summary.frobenius >= 0) line << "\tfrobenius=" << format_number(summary.frobenius);
    if (!summary.top_eigenvalues.empty()) {
        line << "\ttop_eigenvalues=";
        for (size_t i = 0; i < summary.top_eigenvalues.size(); ++i) {
            line << (i ? "," : "") << format_number(summary.top_eigenvalues[i]);
        }
        line << "\teigen_method=" << summary.eigen_method;
    }
    if (summary.has_log_det) {
        line << "\tlog_det=" << format_number(summary.log_det) << "\tdamping=" << format_number(record.damping);
    }
    return line.str();
}

}  // namespace scorekit
