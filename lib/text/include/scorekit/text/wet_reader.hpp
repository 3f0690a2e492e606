// Streaming readers for Common Crawl WET and WARC files.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace scorekit::text {

// Decompressed bytes of a file or standard input. Gzip is detected by its magic bytes and may
// have one member per record (Common Crawl) or one for the whole file; other input is passed
// through. Each gzip member is inflated whole with libdeflate when it fits in a few MB; a larger
// member (whole-file gzip) or a damaged one is streamed through zlib instead, which also finds
// the offset of the damage. Memory is bounded by those limits whatever the file size.
class CompressedInput {
public:
    // Opens `path` (`-` = standard input). Throws Error if it cannot be opened, UsageError if
    // standard input is a terminal. With `read_ahead`, a thread of its own reads and inflates
    // the next few MB while the caller parses, so the two run in parallel.
    explicit CompressedInput(const std::string& path, bool read_ahead = false);
    ~CompressedInput();
    CompressedInput(const CompressedInput&) = delete;
    CompressedInput& operator=(const CompressedInput&) = delete;

    // Appends up to `max_bytes` decompressed bytes to `out`; returns how many. 0 means the end
    // of the input, which is either clean or a damaged gzip stream: see error().
    std::size_t read(std::string& out, std::size_t max_bytes);

    // Message (in the common error grammar) when the input ended inside a gzip member or had
    // corrupt gzip data; empty otherwise. With read-ahead, error(), members() and
    // compressed_bytes() are final only once read() has returned 0.
    const std::string& error() const { return error_; }

    const std::string& name() const { return name_; }
    bool is_gzip() const { return gzip_; }
    std::uint64_t members() const { return members_; }
    std::uint64_t compressed_bytes() const { return consumed_; }

private:
    struct ReadAhead;

    std::size_t read_input(std::string& out, std::size_t max_bytes);
    std::size_t read_ahead_chunk(std::string& out, std::size_t max_bytes);
    void run_read_ahead();
    bool refill();
    bool read_more_input();
    bool inflate_whole_member();
    void inflate_streamed();
    void fail(const std::string& reason, const std::string& hint);

    std::string name_;
    int fd_ = -1;
    bool owns_fd_ = false;
    bool gzip_ = false;
    bool input_eof_ = false;
    bool finished_ = false;
    void* stream_ = nullptr;        // z_stream, opaque so that zlib.h stays out of this header
    void* decompressor_ = nullptr;  // libdeflate_decompressor, opaque for the same reason
    std::vector<char> member_out_;  // inflated bytes not yet returned: a whole member, or what zlib streamed last
    std::size_t member_out_begin_ = 0, member_out_end_ = 0;
    std::vector<unsigned char> in_;
    std::size_t in_begin_ = 0, in_end_ = 0;
    std::uint64_t consumed_ = 0;      // compressed bytes consumed so far
    std::uint64_t produced_ = 0;      // decompressed bytes produced so far
    std::uint64_t member_start_ = 0;  // compressed offset of the current member
    bool in_member_ = false;  // inside a member that zlib is streaming
    std::uint64_t members_ = 0;
    std::string error_;
    std::unique_ptr<ReadAhead> ahead_;  // null without read-ahead
};

// Counts of the faults that real crawl files contain; each is also logged once as a warning.
struct ReaderFaults {
    std::atomic<std::uint64_t> wrong_content_length{0};
    std::atomic<std::uint64_t> missing_content_length{0};
    std::atomic<std::uint64_t> body_line_warc_header{0};  // body line reading "WARC/1.0", kept
    std::atomic<std::uint64_t> empty_body{0};
    std::atomic<std::uint64_t> missing_headers{0};  // record without URI or date: skipped
    std::atomic<std::uint64_t> invalid_utf8_records{0};
    std::atomic<std::uint64_t> invalid_utf8_sequences{0};  // each replaced by U+FFFD
    std::atomic<std::uint64_t> control_character_records{0};
    std::atomic<std::uint64_t> binary_records{0};  // skipped
    std::atomic<std::uint64_t> stray_bytes{0};     // bytes outside any record, skipped
    std::atomic<std::uint64_t> truncated_files{0};
    std::atomic<std::uint64_t> files_without_conversion{0};  // records, but none of type conversion
};

// One WARC record: its named headers and the raw bytes of its content block as cc_net
// delimits it (see WetReader::next).
struct WarcRecord {
    std::string type;        // WARC-Type
    std::string url;         // WARC-Target-URI
    std::string date;        // WARC-Date
    std::string digest;      // WARC-Block-Digest
    std::string language;    // WARC-Identified-Content-Language (newer dumps), may be empty
    std::int64_t content_length = -1;  // -1 when missing or invalid
    std::string body;
    std::uint64_t offset = 0;  // decompressed byte offset of the "WARC/" line
    std::uint64_t index = 0;   // 0-based record number in the file
};

// Frames the records of one WET or WARC file. Headers are read by name in any order, with CRLF
// or LF line endings. The content block is framed by Content-Length; when the bytes after it are
// not blank lines followed by the next "WARC/" header (a wrong length), the reader resynchronises
// on the next line "WARC/x.y" that is followed by a header field line, and counts a warning.
// A body line that merely reads "WARC/1.0" inside a correctly framed block never splits it.
class WetReader {
public:
    // `faults` receives the counts; it must outlive the reader. `read_ahead` is passed to
    // CompressedInput.
    WetReader(const std::string& path, ReaderFaults& faults, bool read_ahead = false);

    // Reads the next record. The body holds the content block plus the blank separator lines
    // before the next record, which is what cc_net's line-based parser sees.
    // Returns false at the end of the file. Throws Error when the file ends inside a gzip member
    // or has corrupt gzip data, after every complete record before it has been returned; the
    // message names the file and the compressed byte offset of the damaged member. Also throws
    // Error for an xz, zstd or bzip2 file, and for a file with bytes but no record at all.
    bool next(WarcRecord& record);

    // Reads the next record as next(record) does but leaves record.body empty: `body` views the
    // content block in the reader's buffer, valid until the next call, which saves a copy.
    bool next(WarcRecord& record, std::string_view& body);

    // The buffer that the last body view points into. While a caller keeps this pointer, the views into
    // it stay valid across later calls, because the reader then neither moves nor overwrites its
    // bytes and starts a new buffer when it needs room.
    std::shared_ptr<const std::string> share_buffer();

    const CompressedInput& input() const { return input_; }

private:
    void reject_other_compression();
    void end_of_input(std::uint64_t stray);
    void check_conversion_records();
    bool fill(std::size_t wanted);  // ensures `wanted` bytes after pos_; false at end of input
    bool line_at(std::size_t at, std::size_t& end, std::size_t& next);
    bool is_record_start(std::size_t at);
    std::size_t find_record_start(std::size_t from, std::size_t limit);
    bool parse_headers(WarcRecord& record, std::size_t& body_at);
    void compact();
    void make_room_for_read();
    std::string& buffer() { return *storage_; }

    CompressedInput input_;
    ReaderFaults& faults_;
    std::shared_ptr<std::string> storage_;  // the input bytes from base_ on
    bool shared_ = false;                   // share_buffer() handed out storage_
    std::size_t pos_ = 0;       // first unconsumed byte in buffer_
    std::uint64_t base_ = 0;    // decompressed offset of buffer_[0]
    bool eof_ = false;
    std::uint64_t records_ = 0;
    std::uint64_t conversion_records_ = 0;
    std::vector<std::string> other_types_;  // the first few types other than conversion, for the warning
    bool finished_ = false;                 // end_of_input() ran
};

}  // namespace scorekit::text
