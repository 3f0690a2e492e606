#include "scorekit/fim_representation.hpp"

#include "scorekit/error.hpp"

namespace scorekit {

Representation parse_representation(const std::string& name) {
    if (name == "dense") return Representation::dense;
    if (name == "diag") return Representation::diag;
    if (name == "block") return Representation::block;
    if (name == "kfac") return Representation::kfac;
    if (name == "implicit") return Representation::implicit;
    throw UsageError(describe("invalid --representation", name, "expected one of dense, diag, block, kfac, implicit"));
}

std::string to_string(Representation representation) {
    switch (representation) {
        case Representation::dense: return "dense";
        case Representation::diag: return "diag";
        case Representation::block: return "block";
        case Representation::kfac: return "kfac";
        case Representation::implicit: return "implicit";
    }
    return "?";
}

BlockGrouping parse_block_grouping(const std::string& name) {
    if (name == "layer") return BlockGrouping::layer;
    if (name == "tensor") return BlockGrouping::tensor;
    throw UsageError(describe("invalid --blocks", name, "expected layer or tensor"));
}

std::string to_string(BlockGrouping grouping) { return grouping == BlockGrouping::layer ? "layer" : "tensor"; }

std::int64_t parameter_count(const std::vector<ParameterInfo>& parameters) {
    std::int64_t count = 0;
    for (const auto& p : parameters) count += p.size;
    return count;
}

namespace {

// Position in the layer's block (weight row-major, then bias) of entry (i, j) of [W | b].
std::int64_t kfac_index(const KfacFactors& factors, std::int64_t i, std::int64_t j) {
    return j < factors.in ? i * factors.in + j : factors.out * factors.in + i;
}

std::int64_t kfac_columns(const KfacFactors& factors) { return factors.input_factor.rows(); }

std::int64_t kfac_size(const KfacFactors& factors) {
    return factors.out * factors.in + (factors.bias_offset >= 0 ? factors.out : 0);
}

}  // namespace

RowMatrix kfac_block(const KfacFactors& factors) {
    const std::int64_t size = kfac_size(factors), columns = kfac_columns(factors);
    RowMatrix block(size, size);
    for (std::int64_t i = 0; i < factors.out; ++i) {
        for (std::int64_t j = 0; j < columns; ++j) {
            for (std::int64_t k = 0; k < factors.out; ++k) {
                for (std::int64_t l = 0; l < columns; ++l) {
                    block(kfac_index(factors, i, j), kfac_index(factors, k, l)) =
                        factors.gradient_factor(i, k) * factors.input_factor(j, l);
                }
            }
        }
    }
    return block;
}

RowMatrix to_dense(const FisherMatrix& fisher) {
    const std::int64_t total = fisher.size();
    switch (fisher.representation) {
        case Representation::dense: return fisher.dense;
        case Representation::diag: return RowMatrix(fisher.diagonal.asDiagonal());
        case Representation::block: {
            RowMatrix dense = RowMatrix::Zero(total, total);
            for (const auto& b : fisher.blocks) dense.block(b.offset, b.offset, b.size, b.size) = b.matrix;
            return dense;
        }
        case Representation::kfac: {
            RowMatrix dense = RowMatrix::Zero(total, total);
            for (const auto& f : fisher.kfac) {
                const std::int64_t size = kfac_size(f);
                dense.block(f.weight_offset, f.weight_offset, size, size) = kfac_block(f);
            }
            return dense;
        }
        case Representation::implicit: break;
    }
    throw Error(describe("cannot expand", "implicit", "the implicit representation stores no matrix"));
}

Vector multiply(const FisherMatrix& fisher, const Vector& v) {
    if (v.size() != fisher.size()) {
        throw Error(describe_at("invalid vector", "with " + std::to_string(v.size()) + " entries",
                             "the Fisher matrix has " + std::to_string(fisher.size()) + " rows",
                             "give one entry per parameter"));
    }
    switch (fisher.representation) {
        case Representation::dense: return fisher.dense * v;
        case Representation::diag: return fisher.diagonal.cwiseProduct(v);
        case Representation::block: {
            Vector result = Vector::Zero(v.size());
            for (const auto& b : fisher.blocks) result.segment(b.offset, b.size) = b.matrix * v.segment(b.offset, b.size);
            return result;
        }
        case Representation::kfac: {
            // (G (x) A) vec([W | b]) = vec(G [W | b] A) with row-major vec.
            Vector result = Vector::Zero(v.size());
            for (const auto& f : fisher.kfac) {
                const std::int64_t columns = kfac_columns(f);
                RowMatrix wb(f.out, columns);
                wb.leftCols(f.in) = Eigen::Map<const RowMatrix>(v.data() + f.weight_offset, f.out, f.in);
                if (f.bias_offset >= 0) wb.col(f.in) = v.segment(f.bias_offset, f.out);
                RowMatrix product = f.gradient_factor * wb * f.input_factor;
                Eigen::Map<RowMatrix>(result.data() + f.weight_offset, f.out, f.in) = product.leftCols(f.in);
                if (f.bias_offset >= 0) result.segment(f.bias_offset, f.out) = product.col(f.in);
            }
            return result;
        }
        case Representation::implicit: break;
    }
    throw Error(describe("cannot multiply by", "implicit", "the implicit representation stores no matrix",
                         "use the matrix-free Fisher operator"));
}

}  // namespace scorekit
