// Internal: metric-eval's outputs, written chunk by chunk as the points are evaluated, so that
// memory contains one chunk of results whatever the number of points.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "scorekit/atomic_file.hpp"
#include "scorekit/hdf5_file.hpp"
#include "scorekit/matrix.hpp"

namespace scorekit {

// A named output: an HDF5 dataset, or adjacent text columns.
struct OutputBlock {
    std::string name;                  // dataset name
    std::vector<std::int64_t> shape;   // HDF5 shape, rows first; rank 3 for per-point tensors
    std::vector<std::string> columns;  // text column names, one per value of a row

    Eigen::Index width() const { return static_cast<Eigen::Index>(columns.size()); }
};

// The values of consecutive rows of each block, [rows, width] in the order of the blocks.
using BlockRows = std::vector<RowMatrix>;

// The blocks' datasets in an HDF5 file, written and read back row by row: the HDF5 output
// itself, or a scratch copy of text rows that checkpoints are made from. A scratch copy is never
// committed, so its temporary file goes when it does.
class RowStore {
public:
    // Creates `path` under a temporary name with a dataset of full shape per block.
    RowStore(const std::string& path, std::vector<OutputBlock> blocks);

    const std::vector<OutputBlock>& blocks() const { return blocks_; }
    Hdf5Writer& file() { return file_; }

    void write(Eigen::Index first, const BlockRows& rows);
    BlockRows read(Eigen::Index first, Eigen::Index count) const;

private:
    Hdf5Writer file_;
    std::vector<OutputBlock> blocks_;
};

// Tab-separated rows under a header line of the blocks' columns: standard output for "-", where
// rows appear as they are computed, else a temporary file renamed over `path` by commit().
class TextOutput {
public:
    TextOutput(const std::string& path, const std::vector<OutputBlock>& blocks);
    ~TextOutput();
    TextOutput(const TextOutput&) = delete;
    TextOutput& operator=(const TextOutput&) = delete;

    // Writes the rows side by side. Throws Error naming the output after a failed write.
    void write(const BlockRows& rows);
    void commit();

private:
    void check_stream();

    std::string path_;
    std::unique_ptr<AtomicFile> file_;
    std::FILE* stream_ = nullptr;
    Eigen::Index columns_ = 0;
};

}  // namespace scorekit
