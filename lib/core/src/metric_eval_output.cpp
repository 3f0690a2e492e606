#include "metric_eval_output.hpp"

#include <cerrno>
#include <cstring>

#include "scorekit/error.hpp"
#include "scorekit/points.hpp"

namespace scorekit {

RowStore::RowStore(const std::string& path, std::vector<OutputBlock> blocks) : file_(path), blocks_(std::move(blocks)) {
    for (const OutputBlock& block : blocks_) file_.create_array("/" + block.name, block.shape);
}

void RowStore::write(Eigen::Index first, const BlockRows& rows) {
    for (size_t k = 0; k < blocks_.size(); ++k) {
        file_.write_rows("/" + blocks_[k].name, first, rows[k].rows(), rows[k].data());
    }
}

BlockRows RowStore::read(Eigen::Index first, Eigen::Index count) const {
    BlockRows rows;
    for (const OutputBlock& block : blocks_) {
        rows.emplace_back(count, block.width());
        file_.read_rows("/" + block.name, first, count, rows.back().data());
    }
    return rows;
}

TextOutput::TextOutput(const std::string& path, const std::vector<OutputBlock>& blocks) : path_(path) {
    if (path == "-") {
        stream_ = stdout;
    } else {
        file_ = std::make_unique<AtomicFile>(path);
        stream_ = std::fopen(file_->temporary_path().c_str(), "wb");
        if (!stream_) throw Error(describe("cannot write", path, std::strerror(errno), "check the directory"));
    }
    std::string header;
    for (const OutputBlock& block : blocks) {
        for (const std::string& column : block.columns) header += (header.empty() ? "" : "\t") + column;
        columns_ += block.width();
    }
    header += '\n';
    std::fwrite(header.data(), 1, header.size(), stream_);
    check_stream();
}

TextOutput::~TextOutput() {
    // Reached without a commit after an error: the AtomicFile removes the temporary file.
    if (stream_ && stream_ != stdout) std::fclose(stream_);
}

void TextOutput::check_stream() {
    if (std::ferror(stream_)) throw Error(describe("cannot write", path_, std::strerror(errno), "check free disk space"));
}

void TextOutput::write(const BlockRows& rows) {
    if (rows.size() == 1) {
        write_text_rows(stream_, rows.front());
    } else {
        RowMatrix table(rows.front().rows(), columns_);
        Eigen::Index offset = 0;
        for (const RowMatrix& block : rows) {
            table.middleCols(offset, block.cols()) = block;
            offset += block.cols();
        }
        write_text_rows(stream_, table);
    }
    // A full disk fails the run at the chunk that met it, not after every point is evaluated.
    check_stream();
}

void TextOutput::commit() {
    std::FILE* stream = stream_;
    stream_ = nullptr;
    const bool failed = std::ferror(stream) != 0;
    const bool closed = stream == stdout ? std::fflush(stream) == 0 : std::fclose(stream) == 0;
    if (failed || !closed) throw Error(describe("cannot write", path_, std::strerror(errno), "check free disk space"));
    if (file_) file_->commit();
}

}  // namespace scorekit
