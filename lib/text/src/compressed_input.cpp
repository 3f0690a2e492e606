#include <fcntl.h>
#include <libdeflate.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "scorekit/error.hpp"
#include "scorekit/log.hpp"
#include "scorekit/text/ordered_pipeline.hpp"
#include "scorekit/text/wet_reader.hpp"

namespace scorekit::text {
namespace {

constexpr std::size_t kInputChunk = 1 << 20;
// libdeflate inflates a member only as a whole, so it takes members up to these sizes and
// zlib streams the rest. A Common Crawl WET member (one record) is a few KB.
constexpr std::size_t kMaxWholeMemberInput = 4u << 20;
constexpr std::size_t kMaxWholeMemberOutput = 64u << 20;
constexpr std::size_t kFirstMemberOutput = 1u << 20;

z_stream* zs(void* stream) { return static_cast<z_stream*>(stream); }
libdeflate_decompressor* ld(void* decompressor) { return static_cast<libdeflate_decompressor*>(decompressor); }

// Decompressed chunks that the read-ahead thread has produced and read() has not yet returned.
constexpr std::size_t kChunksAhead = 4;

}  // namespace

// The read-ahead thread and the chunks it hands over. An empty chunk marks the end of the input.
struct CompressedInput::ReadAhead {
    BoundedQueue<std::string> chunks{kChunksAhead};
    std::thread thread;
    std::exception_ptr failure;  // set by the thread before it queues the end mark
    std::string current;
    std::size_t current_begin = 0;
    bool finished = false;
};

CompressedInput::CompressedInput(const std::string& path, bool read_ahead)
    : name_(path == "-" ? "standard input" : path), in_(kInputChunk) {
    if (path == "-") {
        if (isatty(STDIN_FILENO)) {
            throw UsageError("no input: standard input is a terminal; give an input file or pipe data in");
        }
        fd_ = STDIN_FILENO;
    } else {
        fd_ = open(path.c_str(), O_RDONLY);
        if (fd_ < 0) {
            // cc_net downloads the paths of wet.paths.gz itself; ccnet-filter reads local files only.
            bool remote = path.rfind("http://", 0) == 0 || path.rfind("https://", 0) == 0 || path.rfind("s3://", 0) == 0;
            std::string hint = "check the path";
            if (remote) {
                hint = "ccnet-filter reads local files, so download the file first and give its path";
            } else if (!path.empty() && path.front() != '/') {
                hint = "check the path, which is taken from the current directory";
            }
            throw Error(describe("cannot open", path, std::strerror(errno), hint));
        }
        owns_fd_ = true;
    }
    refill();
    // A pipe may deliver a single byte first; the magic bytes need two.
    while (in_end_ == 1 && !input_eof_) {
        ssize_t n = ::read(fd_, in_.data() + in_end_, in_.size() - in_end_);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw Error(describe("cannot read", name_, std::strerror(errno), "check the file"));
        if (n == 0) input_eof_ = true;
        in_end_ += static_cast<std::size_t>(std::max<ssize_t>(n, 0));
    }
    gzip_ = in_end_ - in_begin_ >= 2 && in_[in_begin_] == 0x1f && in_[in_begin_ + 1] == 0x8b;
    if (gzip_) {
        auto* stream = new z_stream();
        if (inflateInit2(stream, 16 + MAX_WBITS) != Z_OK) {
            delete stream;
            throw Error(describe("cannot read", name_, "zlib initialisation failed", ""));
        }
        stream_ = stream;
        decompressor_ = libdeflate_alloc_decompressor();
        if (!decompressor_) throw Error(describe("cannot read", name_, "libdeflate could not allocate a decompressor", "check free memory"));
    }
    if (read_ahead) {
        ahead_ = std::make_unique<ReadAhead>();
        ahead_->thread = std::thread([this] { run_read_ahead(); });
    }
}

CompressedInput::~CompressedInput() {
    if (ahead_) {
        // A pending push returns false and the thread ends.
        // NOTE: a thread blocked in read() on a slow pipe ends only when its next read returns.
        ahead_->chunks.close();
        ahead_->thread.join();
    }
    if (stream_) {
        inflateEnd(zs(stream_));
        delete zs(stream_);
    }
    libdeflate_free_decompressor(ld(decompressor_));
    if (owns_fd_) close(fd_);
}

bool CompressedInput::refill() {
    if (in_begin_ < in_end_) return true;
    if (input_eof_) return false;
    in_begin_ = in_end_ = 0;
    while (true) {
        ssize_t n = ::read(fd_, in_.data(), in_.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw Error(describe("cannot read", name_, std::strerror(errno), "check the file"));
        if (n == 0) {
            input_eof_ = true;
            return false;
        }
        in_end_ = static_cast<std::size_t>(n);
        return true;
    }
}

// Appends more input after the unread bytes, growing the buffer when they fill it. Returns
// false at the end of the input.
bool CompressedInput::read_more_input() {
    if (input_eof_) return false;
    if (in_begin_ > 0) {
        std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
        in_end_ -= in_begin_;
        in_begin_ = 0;
    }
    if (in_end_ == in_.size()) in_.resize(in_.size() * 2);
    while (true) {
        ssize_t n = ::read(fd_, in_.data() + in_end_, in_.size() - in_end_);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw Error(describe("cannot read", name_, std::strerror(errno), "check the file"));
        if (n == 0) {
            input_eof_ = true;
            return false;
        }
        in_end_ += static_cast<std::size_t>(n);
        return true;
    }
}

// Inflates the member that starts at in_begin_ into member_out_ with libdeflate, reading more
// input while the member may continue past the buffered bytes. Returns false, consuming
// nothing, when the member is larger than the whole-member limits, truncated or corrupt; the
// caller then streams it through zlib.
bool CompressedInput::inflate_whole_member() {
    if (member_out_.empty()) member_out_.resize(kFirstMemberOutput);
    while (true) {
        std::size_t used = 0, inflated = 0;
        libdeflate_result status =
            libdeflate_gzip_decompress_ex(ld(decompressor_), in_.data() + in_begin_, in_end_ - in_begin_,
                                          member_out_.data(), member_out_.size(), &used, &inflated);
        if (status == LIBDEFLATE_SUCCESS) {
            in_begin_ += used;
            consumed_ += used;
            produced_ += inflated;
            ++members_;
            member_out_begin_ = 0;
            member_out_end_ = inflated;
            return true;
        }
        if (status == LIBDEFLATE_INSUFFICIENT_SPACE && member_out_.size() < kMaxWholeMemberOutput) {
            member_out_.resize(member_out_.size() * 2);
            continue;
        }
        // libdeflate reports input that ends inside the member as bad data, so read on before
        // giving up on it.
        bool may_continue = status == LIBDEFLATE_BAD_DATA && in_end_ - in_begin_ < kMaxWholeMemberInput;
        if (may_continue && read_more_input()) continue;
        return false;
    }
}

void CompressedInput::fail(const std::string& reason, const std::string& hint) {
    error_ = describe("cannot read", name_, reason, hint);
    finished_ = true;
}

std::size_t CompressedInput::read(std::string& out, std::size_t max_bytes) {
    return ahead_ ? read_ahead_chunk(out, max_bytes) : read_input(out, max_bytes);
}

void CompressedInput::run_read_ahead() {
    try {
        while (true) {
            std::string chunk;
            chunk.reserve(kInputChunk);
            std::size_t got = read_input(chunk, kInputChunk);
            if (!ahead_->chunks.push(std::move(chunk)) || got == 0) return;
        }
    } catch (...) {
        ahead_->failure = std::current_exception();
        ahead_->chunks.push(std::string());
    }
}

// Returns bytes of the chunks that the read-ahead thread queued, and rethrows its exception
// at the point of the input where it happened.
std::size_t CompressedInput::read_ahead_chunk(std::string& out, std::size_t max_bytes) {
    ReadAhead& ahead = *ahead_;
    std::size_t got = 0;
    while (got < max_bytes && !ahead.finished) {
        if (ahead.current_begin == ahead.current.size()) {
            std::optional<std::string> chunk = ahead.chunks.pop();
            if (!chunk || chunk->empty()) {
                ahead.finished = true;
                if (ahead.failure) std::rethrow_exception(ahead.failure);
                break;
            }
            ahead.current = std::move(*chunk);
            ahead.current_begin = 0;
        }
        std::size_t n = std::min(max_bytes - got, ahead.current.size() - ahead.current_begin);
        out.append(ahead.current, ahead.current_begin, n);
        ahead.current_begin += n;
        got += n;
    }
    return got;
}

// Appends decompressed bytes to `out` from member_out_ (or, for plain input, from in_), so that
// `out` never has to be resized, and zero-filled, ahead of the bytes.
std::size_t CompressedInput::read_input(std::string& out, std::size_t max_bytes) {
    std::size_t got = 0;
    while (got < max_bytes) {
        if (member_out_begin_ < member_out_end_) {
            std::size_t n = std::min(max_bytes - got, member_out_end_ - member_out_begin_);
            out.append(member_out_.data() + member_out_begin_, n);
            member_out_begin_ += n;
            got += n;
            continue;
        }
        // A failure ends the input only after the bytes inflated before it have been returned.
        if (finished_) break;
        if (!refill()) {
            if (in_member_) {
                fail("gzip member at byte offset " + std::to_string(member_start_) +
                         " is truncated (the file ends at byte " + std::to_string(consumed_) + ")",
                     "the records before that offset were processed; download the file again");
            }
            finished_ = true;
            break;
        }
        if (!gzip_) {
            std::size_t n = std::min(max_bytes - got, in_end_ - in_begin_);
            out.append(reinterpret_cast<const char*>(in_.data() + in_begin_), n);
            in_begin_ += n;
            consumed_ += n;
            got += n;
            continue;
        }
        if (!in_member_) {
            // A new member must start with the gzip magic bytes; anything else after a complete
            // member is not gzip data.
            if (in_[in_begin_] != 0x1f) {
                const std::size_t end_of_members = consumed_;
                if (in_[in_begin_] == 0 && skip_zero_padding()) {
                    // GNU gzip, too, ignores zeros after the last member (tar pads files so).
                    log_warning(describe("ignored zero bytes after the last gzip member of", name_,
                                         std::to_string(consumed_ - end_of_members) + " bytes from byte offset " +
                                             std::to_string(end_of_members),
                                         ""));
                    finished_ = true;
                    break;
                }
                fail("unexpected bytes after the gzip member ending at byte offset " + std::to_string(end_of_members),
                     "the records before that offset were processed; check how the file was made");
                continue;
            }
            member_start_ = consumed_;
            if (inflate_whole_member()) continue;
            in_member_ = true;
        }
        inflate_streamed();
    }
    return got;
}

// Consumes the rest of the input if it is all zero bytes and returns true; returns false at the
// first other byte.
bool CompressedInput::skip_zero_padding() {
    while (true) {
        for (; in_begin_ < in_end_; ++in_begin_, ++consumed_) {
            if (in_[in_begin_] != 0) return false;
        }
        if (!refill()) return true;
    }
}

// Inflates the next part of the member that zlib streams into member_out_.
void CompressedInput::inflate_streamed() {
    if (member_out_.empty()) member_out_.resize(kFirstMemberOutput);
    z_stream* stream = zs(stream_);
    stream->next_in = in_.data() + in_begin_;
    stream->avail_in = static_cast<uInt>(in_end_ - in_begin_);
    stream->next_out = reinterpret_cast<Bytef*>(member_out_.data());
    stream->avail_out = static_cast<uInt>(member_out_.size());
    int status = inflate(stream, Z_NO_FLUSH);
    std::size_t used = (in_end_ - in_begin_) - stream->avail_in;
    std::size_t inflated = member_out_.size() - stream->avail_out;
    in_begin_ += used;
    consumed_ += used;
    produced_ += inflated;
    member_out_begin_ = 0;
    member_out_end_ = inflated;
    if (status == Z_STREAM_END) {
        ++members_;
        in_member_ = false;
        inflateReset(stream);
    } else if (status != Z_OK && status != Z_BUF_ERROR) {
        fail("corrupt gzip data in the member at byte offset " + std::to_string(member_start_) + " (" +
                 (stream->msg ? stream->msg : "zlib error " + std::to_string(status)) + ")",
             "the records before that offset were processed; download the file again");
    }
}

}  // namespace scorekit::text
