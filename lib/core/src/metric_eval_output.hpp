// Internal: metric-eval's outputs, written chunk by chunk as the points are evaluated, so that
// memory contains one chunk of results whatever the number of points.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
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

// Receives rows in order, with the index of the first.
using RowVisitor = std::function<void(Eigen::Index first, const BlockRows& rows)>;

// Rows written so far, read back for a checkpoint.
class RowSource {
public:
    virtual ~RowSource() = default;
    // Passes rows [0, count) to `visit`, `chunk` rows at a time.
    virtual void visit_rows(Eigen::Index count, Eigen::Index chunk, const RowVisitor& visit) const = 0;
};

// The blocks' datasets in an HDF5 file, written and read back row by row: the HDF5 output
// itself, or the scratch copy of a text output on standard output that checkpoints are made
// from. A scratch copy is never committed, so its temporary file is removed with it.
class RowStore : public RowSource {
public:
    // Creates `path` under a temporary name with a dataset of full shape per block.
    RowStore(const std::string& path, std::vector<OutputBlock> blocks);

    const std::vector<OutputBlock>& blocks() const { return blocks_; }
    Hdf5Writer& file() { return file_; }

    void write(Eigen::Index first, const BlockRows& rows);
    BlockRows read(Eigen::Index first, Eigen::Index count) const;
    void visit_rows(Eigen::Index count, Eigen::Index chunk, const RowVisitor& visit) const override;

private:
    Hdf5Writer file_;
    std::vector<OutputBlock> blocks_;
};

// Tab-separated rows under a header line of the blocks' columns: a temporary file renamed over
// `path` by commit(), or for "-" standard output. Rows for standard output are kept in an
// unlinked file in $TMPDIR (default /tmp) and copied out by commit(), so that a run that fails
// in a later chunk writes nothing. With `stream` they are written as they are computed instead,
// for a checkpointed run whose rows a scratch copy keeps. The rows of a file are read back from it
// for checkpoints. The values are written with 17 significant digits, so they read back exactly.
class TextOutput : public RowSource {
public:
    TextOutput(const std::string& path, const std::vector<OutputBlock>& blocks, bool stream = false);
    ~TextOutput();
    TextOutput(const TextOutput&) = delete;
    TextOutput& operator=(const TextOutput&) = delete;

    // Writes the rows side by side. Throws Error naming the output after a failed write.
    void write(const BlockRows& rows);
    void commit();

    // Reads rows back from the temporary file. Throws Error for standard output, whose rows are
    // gone.
    void visit_rows(Eigen::Index count, Eigen::Index chunk, const RowVisitor& visit) const override;

private:
    void check_stream();
    void release_held_rows();

    std::string path_;
    std::vector<OutputBlock> blocks_;
    std::unique_ptr<AtomicFile> file_;
    std::FILE* stream_ = nullptr;
    bool held_ = false;  // stream_ is the unlinked temporary file of standard output's rows
    Eigen::Index columns_ = 0;
};

}  // namespace scorekit
