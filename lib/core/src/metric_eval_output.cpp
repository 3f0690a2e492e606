#include "metric_eval_output.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <unistd.h>

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

void RowStore::visit_rows(Eigen::Index count, Eigen::Index chunk, const RowVisitor& visit) const {
    for (Eigen::Index first = 0; first < count; first += chunk) {
        const Eigen::Index rows = std::min(chunk, count - first);
        visit(first, read(first, rows));
    }
}

namespace {

std::string temporary_directory() {
    const char* directory = std::getenv("TMPDIR");
    return directory && *directory ? directory : "/tmp";
}

// Opens a file for reading and writing that disappears when closed or when the process ends.
std::FILE* open_unlinked_file() {
    std::string name = temporary_directory() + "/metric-eval-XXXXXX";
    const int descriptor = mkstemp(name.data());
    std::FILE* stream = descriptor < 0 ? nullptr : fdopen(descriptor, "w+b");
    if (!stream) {
        const int error = errno;
        if (descriptor >= 0) {
            unlink(name.c_str());
            close(descriptor);
        }
        throw Error(describe("cannot create a temporary file for standard output in", temporary_directory(),
                             std::strerror(error), "set TMPDIR to a writable directory"));
    }
    unlink(name.c_str());
    return stream;
}

}  // namespace

TextOutput::TextOutput(const std::string& path, const std::vector<OutputBlock>& blocks, bool stream)
    : path_(path), blocks_(blocks) {
    if (path == "-" && stream) {
        stream_ = stdout;
    } else if (path == "-") {
        stream_ = open_unlinked_file();
        held_ = true;
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
    // Reached without a commit after an error: the AtomicFile removes the temporary file, and
    // the held rows of standard output go with their unlinked file.
    if (stream_ && stream_ != stdout) std::fclose(stream_);
}

void TextOutput::check_stream() {
    if (!std::ferror(stream_)) return;
    if (held_) {
        throw Error(describe("cannot write", "the rows for standard output in " + temporary_directory(),
                             std::strerror(errno), "free disk space there, or set TMPDIR to another directory"));
    }
    // Where SIGPIPE is ignored, a reader that has exited shows up here as EPIPE: the run ends
    // quietly with 141, as it does by the signal, not as a disk error.
    const int error = errno;
    if (stream_ == stdout) check_output_pipe_open();
    throw Error(describe("cannot write", path_, std::strerror(error), "check free disk space"));
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

void TextOutput::visit_rows(Eigen::Index count, Eigen::Index chunk, const RowVisitor& visit) const {
    if (!file_) throw Error(describe("internal error in", "metric-eval checkpoints", "standard output cannot be read back", ""));
    const std::string& temporary = file_->temporary_path();
    if (std::fflush(stream_) != 0) throw Error(describe("cannot write", path_, std::strerror(errno), "check free disk space"));
    std::ifstream file(temporary, std::ios::binary);
    std::string line;
    std::getline(file, line);  // the header
    for (Eigen::Index first = 0; first < count; first += chunk) {
        const Eigen::Index rows = std::min(chunk, count - first);
        BlockRows values;
        for (const OutputBlock& block : blocks_) values.emplace_back(rows, block.width());
        for (Eigen::Index i = 0; i < rows; ++i) {
            if (!std::getline(file, line)) {
                throw Error(describe("cannot read back", path_, "its temporary file has fewer rows than were written",
                                     "check that no other program changes it"));
            }
            const char* position = line.data();
            const char* end = line.data() + line.size();
            for (RowMatrix& block : values) {
                for (Eigen::Index j = 0; j < block.cols(); ++j) {
                    const auto [next, error] = std::from_chars(position, end, block(i, j));
                    if (error != std::errc()) {
                        throw Error(describe("cannot read back", path_, "row " + std::to_string(first + i + 1) +
                                             " is not a row of numbers", "check that no other program changes it"));
                    }
                    position = next < end ? next + 1 : next;  // past the tab
                }
            }
        }
        visit(first, values);
    }
}

// Copies the held rows to standard output and closes their file.
void TextOutput::release_held_rows() {
    const bool written = std::fflush(stream_) == 0 && !std::ferror(stream_);
    std::FILE* held = stream_;
    stream_ = stdout;
    if (!written || std::fseek(held, 0, SEEK_SET) != 0) {
        const int error = errno;
        std::fclose(held);
        throw Error(describe("cannot write", "the rows for standard output in " + temporary_directory(),
                             std::strerror(error), "free disk space there, or set TMPDIR to another directory"));
    }
    char buffer[1 << 16];
    size_t count = 0;
    while ((count = std::fread(buffer, 1, sizeof buffer, held)) > 0) {
        if (std::fwrite(buffer, 1, count, stdout) != count) break;
    }
    const bool read_failed = std::ferror(held) != 0;
    const int error = errno;
    std::fclose(held);
    if (read_failed) {
        throw Error(describe("cannot read back", "the rows for standard output in " + temporary_directory(),
                             std::strerror(error), "check that no other program changes that directory"));
    }
}

void TextOutput::commit() {
    if (held_) {
        held_ = false;
        release_held_rows();
    }
    std::FILE* stream = stream_;
    stream_ = nullptr;
    const bool failed = std::ferror(stream) != 0;
    const bool closed = stream == stdout ? std::fflush(stream) == 0 : std::fclose(stream) == 0;
    if (failed || !closed) {
        const int error = errno;
        if (stream == stdout) check_output_pipe_open();
        throw Error(describe("cannot write", path_, std::strerror(error), "check free disk space"));
    }
    if (file_) file_->commit();
}

}  // namespace scorekit
