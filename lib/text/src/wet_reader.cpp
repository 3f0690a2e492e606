#include "scorekit/text/wet_reader.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "scorekit/error.hpp"
#include "scorekit/log.hpp"

#include "compression_magic.hpp"

namespace scorekit::text {
namespace {

constexpr std::size_t kReadChunk = 1 << 20;
// Capacity of a buffer that record batches share (WetReader::share_buffer). A new one is started
// when less than half of it is free at a record start, so a record of up to a few MB is read
// into the free part without moving the bytes that batches view.
constexpr std::size_t kSharedBufferBytes = 8u << 20;
// A record start is searched no further than this past the start of a content block, so that a
// file without usable framing cannot make the buffer grow with the file size.
constexpr std::size_t kMaxRecordBytes = 64u << 20;
// A header section longer than this is cut there and the rest read as the content block.
constexpr std::size_t kMaxHeaderBytes = 1u << 20;
// Maximum length of a line that WetReader::line_at() returns whole. Only header, separator and
// skipped lines go through it, never the lines of a content block, which is taken as one range.
constexpr std::size_t kMaxLineBytes = 1u << 20;

bool is_blank(std::string_view line) {
    for (char c : line) {
        if (c != ' ' && c != '\t' && c != '\r') return false;
    }
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

bool equals_ignore_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
        if (x != y) return false;
    }
    return true;
}

constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";

// Whether the line at `at` may be a version line: "WARC/", after a UTF-8 byte order mark where an
// editor or a Windows tool put one in front of a file. cc_net reads the first record of such a
// file, because it takes the first line as a version line without comparing it.
bool has_warc_prefix(const std::string& buffer, std::size_t at) {
    if (buffer.compare(at, kByteOrderMark.size(), kByteOrderMark) == 0) at += kByteOrderMark.size();
    return buffer.compare(at, 5, "WARC/") == 0;
}

// "WARC/1.0", "WARC/1.1", with optional trailing CR or blanks.
bool is_version_line(std::string_view line) {
    line = trim(line);
    return line.size() >= 8 && line.compare(0, 5, "WARC/") == 0 && std::isdigit(static_cast<unsigned char>(line[5])) &&
           line[6] == '.' && std::isdigit(static_cast<unsigned char>(line[7]));
}

// A header field line: a token, then ':', with spaces or tabs allowed around the token.
bool is_field_line(std::string_view line) {
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return false;
    std::string_view name = trim(line.substr(0, colon));
    if (name.empty()) return false;
    for (char c : name) {
        bool token = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!token) return false;
    }
    return true;
}

// A folded header line, which continues the value of the field above it. WARC takes its header
// grammar from HTTP/1.1 (RFC 2616), where a line break followed by spaces or tabs is LWS.
bool is_continuation_line(std::string_view line) { return !line.empty() && (line.front() == ' ' || line.front() == '\t'); }

std::int64_t parse_length(std::string_view value) {
    if (value.empty() || value.size() > 15) return -1;
    std::int64_t n = 0;
    for (char c : value) {
        if (c < '0' || c > '9') return -1;
        n = n * 10 + (c - '0');
    }
    return n;
}

// Offset of the first "\nWARC/" at or after `from`. Looking for the rare "W" calls memchr far
// less often than looking for every "\n" (string_view::find) and beat glibc's memmem too.
std::size_t find_line_start(std::string_view body, std::size_t from) {
    const char* data = body.data();
    const char* end = data + body.size();
    for (const char* at = data + from + 1; at < end;) {
        const char* w = static_cast<const char*>(std::memchr(at, 'W', static_cast<std::size_t>(end - at)));
        if (!w) break;
        if (w[-1] == '\n' && end - w >= 5 && std::memcmp(w, "WARC/", 5) == 0) {
            return static_cast<std::size_t>(w - 1 - data);
        }
        at = w + 1;
    }
    return std::string_view::npos;
}

}  // namespace

WetReader::WetReader(const std::string& path, ReaderFaults& faults, bool read_ahead)
    : input_(path, read_ahead), faults_(faults), storage_(std::make_shared<std::string>()) {}

std::shared_ptr<const std::string> WetReader::share_buffer() {
    shared_ = true;
    return storage_;
}

bool WetReader::fill(std::size_t wanted_end) {
    while (buffer().size() < wanted_end && !eof_) {
        if (shared_) make_room_for_read();
        if (input_.read(buffer(), kReadChunk) == 0) eof_ = true;
    }
    return buffer().size() >= wanted_end;
}

// Gives a shared buffer room for one more read. Appending within its capacity moves none of its
// bytes. A buffer without that room is replaced by a larger copy, which keeps every offset in
// it, and the holders keep the old one.
void WetReader::make_room_for_read() {
    const std::string& old = buffer();
    if (old.capacity() - old.size() >= kReadChunk) return;
    auto larger = std::make_shared<std::string>();
    larger->reserve(std::max(kSharedBufferBytes, 2 * (old.size() + kReadChunk)));
    larger->assign(old);
    storage_ = std::move(larger);
    shared_ = false;
}

void WetReader::compact() {
    if (shared_) {
        // Batches may still view the bytes before pos_, so the unread bytes move to a new buffer
        // instead of to the front of this one.
        const std::string& old = buffer();
        if (old.capacity() - old.size() >= kSharedBufferBytes / 2) return;
        auto fresh = std::make_shared<std::string>();
        fresh->reserve(std::max(kSharedBufferBytes, 2 * (old.size() - pos_)));
        fresh->assign(old, pos_, std::string::npos);
        storage_ = std::move(fresh);
        shared_ = false;
    } else {
        if (pos_ < (1u << 20) || pos_ < buffer().size() / 2) return;
        buffer().erase(0, pos_);
    }
    base_ += pos_;
    pos_ = 0;
}

// Finds the line starting at `at`: [at, end) without its line ending, `next` after it.
// Returns false if `at` is at the end of the input. A line longer than kMaxLineBytes is returned
// in parts of that size, with end == next, so that a file without newlines (or the rest of a
// record cut at kMaxRecordBytes) is scanned without buffering the whole of it.
bool WetReader::line_at(std::size_t at, std::size_t& end, std::size_t& next) {
    std::size_t scanned = at;
    while (true) {
        const char* begin = buffer().data() + scanned;
        const void* newline = std::memchr(begin, '\n', buffer().size() - scanned);
        if (newline) {
            end = static_cast<std::size_t>(static_cast<const char*>(newline) - buffer().data());
            if (end - at <= kMaxLineBytes) {
                next = end + 1;
                if (end > at && buffer()[end - 1] == '\r') --end;
                return true;
            }
        }
        if (buffer().size() - at >= kMaxLineBytes) {
            end = next = at + kMaxLineBytes;
            return true;
        }
        scanned = buffer().size();
        if (eof_ || !fill(buffer().size() + 1)) {
            if (at >= buffer().size()) return false;
            end = next = buffer().size();
            return true;
        }
    }
}

bool WetReader::is_record_start(std::size_t at) {
    std::size_t end, next;
    if (!line_at(at, end, next)) return false;
    std::string_view version = std::string_view(buffer()).substr(at, end - at);
    if (version.substr(0, kByteOrderMark.size()) == kByteOrderMark) version.remove_prefix(kByteOrderMark.size());
    if (!is_version_line(version)) return false;
    std::size_t field_end, field_next;
    if (!line_at(next, field_end, field_next)) return false;
    return is_field_line(std::string_view(buffer()).substr(next, field_end - next));
}

// First record start at a line beginning in [from, limit), or the end of the input (or `limit`).
std::size_t WetReader::find_record_start(std::size_t from, std::size_t limit) {
    std::size_t at = from;
    bool line_start = true;
    while (at < limit) {
        std::size_t end, next;
        if (!line_at(at, end, next)) return buffer().size();
        if (line_start && has_warc_prefix(buffer(), at) && is_record_start(at)) return at;
        line_start = next > end;  // false after a part of a long line
        at = next;
    }
    return limit;
}

namespace {

// Stores the value of a header field that the reader uses; other fields are ignored.
void apply_header(std::string_view name, std::string_view value, WarcRecord& record) {
    if (equals_ignore_case(name, "WARC-Type")) {
        record.type.assign(value);
    } else if (equals_ignore_case(name, "WARC-Target-URI")) {
        // wget 1.19 writes the URI in angle brackets (<http://...>), which warcio strips
        // too; Common Crawl writes it bare.
        if (value.size() >= 2 && value.front() == '<' && value.back() == '>') value = value.substr(1, value.size() - 2);
        record.url.assign(value);
    } else if (equals_ignore_case(name, "WARC-Date")) {
        record.date.assign(value);
    } else if (equals_ignore_case(name, "WARC-Block-Digest")) {
        record.digest.assign(value);
    } else if (equals_ignore_case(name, "WARC-Identified-Content-Language")) {
        record.language.assign(value);
    } else if (equals_ignore_case(name, "Content-Length")) {
        record.content_length = parse_length(value);
    }
}

}  // namespace

bool WetReader::parse_headers(WarcRecord& record, std::size_t& body_at) {
    std::size_t end, next;
    line_at(pos_, end, next);  // the version line
    std::size_t at = next;
    // A field is applied once its continuation lines, if any, have been read. A folded value
    // joins its parts with one space, so it is copied; an unfolded one is a view of the buffer.
    std::string_view name, value;
    std::string folded;
    bool pending = false, is_folded = false;
    auto apply_pending = [&] {
        if (pending) apply_header(name, is_folded ? std::string_view(folded) : value, record);
        pending = is_folded = false;
    };
    bool complete = true;
    while (true) {
        if (!line_at(at, end, next)) {
            complete = false;
            break;
        }
        std::string_view line(buffer().data() + at, end - at);
        at = next;
        if (is_blank(line) || at - pos_ > kMaxHeaderBytes) break;
        if (pending && is_continuation_line(line)) {
            if (!is_folded) folded.assign(value);
            is_folded = true;
            std::string_view part = trim(line);
            if (!folded.empty() && !part.empty()) folded += ' ';
            folded += part;
            continue;
        }
        apply_pending();
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        name = trim(line.substr(0, colon));
        value = trim(line.substr(colon + 1));
        pending = true;
    }
    apply_pending();
    body_at = at;
    return complete;
}

// A file of another compression would read as one long run of stray bytes. The error names the
// format, so that the user knows which tool decompresses it.
void WetReader::reject_other_compression() {
    fill(6);
    if (const OtherCompression* compression = other_compression(buffer())) {
        throw Error(describe("cannot read", input_.name(),
                             std::string(compression->format) + "-compressed; ccnet-filter reads gzip or plain WET",
                             std::string("decompress it first, for example ") + compression->command +
                                 " FILE | ccnet-filter ... -"));
    }
}

// Bytes after the last record are a warning. A file with bytes but no record at all is not a
// WET file (a path list given without --paths, say), and an error, so that it is not taken as
// an empty shard.
void WetReader::end_of_input(std::uint64_t stray) {
    if (finished_) return;
    finished_ = true;
    check_conversion_records();
    // An empty file is most often a download that failed, so it is an error too.
    if (records_ == 0 && stray == 0) {
        std::uint64_t bytes = base_ + buffer().size();
        throw Error(describe("cannot read", input_.name(),
                             bytes == 0 ? "the file is empty"
                                        : "no WARC record in its " + std::to_string(bytes) + " bytes of blank lines",
                             "download it again, or leave it out of the inputs"));
    }
    if (stray == 0) return;
    faults_.stray_bytes += stray;
    if (records_ == 0) {
        throw Error(describe("cannot read", input_.name(),
                             "no WARC record in its " + std::to_string(stray) + " bytes",
                             "give WET or WARC files; a file that lists paths goes to --paths"));
    }
    log_warning_once("stray", describe("skipped bytes outside any record", input_.name(),
                                       std::to_string(stray) + " bytes after the last record",
                                       "the file may have been cut or concatenated badly"));
}

// A WARC file contains the HTML of a crawl (response records) and no conversion record, so it
// gives no document at all. That is worth a warning: the user most likely meant the WET file.
void WetReader::check_conversion_records() {
    if (records_ == 0 || conversion_records_ > 0) return;
    ++faults_.files_without_conversion;
    std::string types;
    for (const std::string& type : other_types_) types += (types.empty() ? "" : ", ") + type;
    log_warning_once("no-conversion",
                     describe("no conversion record", input_.name(),
                              std::to_string(records_) + (records_ == 1 ? " record" : " records") + " of type " +
                                  types + ", so no document",
                              "documents come from conversion records, which WET files (.warc.wet.gz) contain; "
                              "for a WARC file, give the WET file of the same crawl"));
}

bool WetReader::next(WarcRecord& record) {
    std::string_view body;
    if (!next(record, body)) return false;
    record.body.assign(body);
    return true;
}

bool WetReader::next(WarcRecord& record, std::string_view& body) {
    compact();
    // Cleared field by field, so that the strings keep their storage from record to record.
    record.type.clear();
    record.url.clear();
    record.date.clear();
    record.digest.clear();
    record.language.clear();
    record.content_length = -1;
    record.body.clear();

    if (records_ == 0 && base_ == 0 && pos_ == 0) reject_other_compression();

    // Skip blank lines between records and any stray bytes outside a record.
    // A line longer than kMaxLineBytes comes in parts; line_bytes and line_blank sum them up.
    std::uint64_t stray = 0, line_bytes = 0;
    bool line_start = true, line_blank = true;
    while (true) {
        std::size_t end, next;
        if (!line_at(pos_, end, next)) {
            if (!input_.error().empty()) {
                ++faults_.truncated_files;
                throw Error(input_.error());
            }
            if (!line_blank) stray += line_bytes;
            end_of_input(stray);
            return false;
        }
        std::string_view line(buffer().data() + pos_, end - pos_);
        if (line_start && !is_blank(line)) {
            if (has_warc_prefix(buffer(), pos_) && is_record_start(pos_)) break;
            // A gzip member here is a gzip file appended to an uncompressed one. Skipped as
            // stray bytes, its records would be lost with only a warning.
            if (buffer().compare(pos_, 3, "\x1f\x8b\x08") == 0) {
                ++faults_.truncated_files;
                const std::string offset = std::to_string(base_ + pos_);
                throw Error(describe("cannot read", input_.name(),
                                     "gzip data at byte " + offset +
                                         " after uncompressed records, as when a gzip file is appended to a plain "
                                         "one; the records before that offset were processed",
                                     "give the two parts as separate files (head -c " + offset + " and tail -c +" +
                                         std::to_string(base_ + pos_ + 1) + " split the file there)"));
            }
        }
        line_bytes += next - pos_;
        line_blank = line_blank && is_blank(line);
        line_start = next > end;  // false after a part of a long line
        if (line_start) {
            if (!line_blank) stray += line_bytes;
            line_bytes = 0;
            line_blank = true;
        }
        pos_ = next;
        compact();
    }
    if (stray) {
        faults_.stray_bytes += stray;
        log_warning_once("stray", describe("skipped bytes outside any record", input_.name(),
                                           std::to_string(stray) + " bytes before the record at byte " +
                                               std::to_string(base_ + pos_),
                                           "the file may have been cut or concatenated badly"));
    }
    record.offset = base_ + pos_;
    record.index = records_++;

    std::size_t body_at = 0;
    if (!parse_headers(record, body_at) && !input_.error().empty()) {
        ++faults_.truncated_files;
        throw Error(input_.error());
    }
    if (record.type == "conversion") {
        ++conversion_records_;
    } else if (other_types_.size() < 4) {
        std::string type = record.type.empty() ? "(none)" : record.type;
        if (std::find(other_types_.begin(), other_types_.end(), type) == other_types_.end()) other_types_.push_back(type);
    }

    // Frame the content block: by Content-Length when the bytes after it are blank lines and
    // then the next record (or the end), else by the next record start.
    std::size_t region_end = 0;
    bool framed = false;
    // A length beyond the record size limit is treated as wrong, so that a corrupt header cannot
    // make the reader buffer the rest of the file.
    if (record.content_length >= 0 && static_cast<std::size_t>(record.content_length) <= kMaxRecordBytes) {
        std::size_t declared_end = body_at + static_cast<std::size_t>(record.content_length);
        if (!fill(declared_end) && !input_.error().empty()) {
            // The record's own bytes are cut by a damaged gzip member: drop it and report.
            pos_ = buffer().size();
            ++faults_.truncated_files;
            throw Error(input_.error());
        }
        if (buffer().size() >= declared_end) {
            std::size_t at = declared_end, end, next;
            while (true) {
                if (!line_at(at, end, next)) {
                    framed = true;
                    region_end = buffer().size();
                    break;
                }
                if (is_blank(std::string_view(buffer().data() + at, end - at))) {
                    at = next;
                    continue;
                }
                if (has_warc_prefix(buffer(), at) && is_record_start(at)) {
                    framed = true;
                    region_end = at;
                }
                break;
            }
            // The record separator CRLF CRLF right at the declared end confirms the length even
            // when other bytes follow, which the next call skips and counts as outside any record.
            if (!framed && buffer().compare(declared_end, 4, "\r\n\r\n") == 0) {
                framed = true;
                region_end = declared_end + 4;
            }
        }
    }
    if (!framed) {
        if (record.content_length < 0) {
            ++faults_.missing_content_length;
            log_warning_once("no-length", describe("record without a valid Content-Length", input_.name(),
                                                   "record " + std::to_string(record.index) + " at byte " +
                                                       std::to_string(record.offset),
                                                   "framed by the next record header instead"));
        } else if (static_cast<std::size_t>(record.content_length) > kMaxRecordBytes) {
            // The length may well be right; the record is cut so that memory stays bounded.
            ++faults_.wrong_content_length;
            log_warning_once("oversized", describe("record longer than the 64 MiB limit", input_.name(),
                                                   "record " + std::to_string(record.index) + " at byte " +
                                                       std::to_string(record.offset) + " declares " +
                                                       std::to_string(record.content_length) + " bytes",
                                                   "its content is cut at the next record header or at 64 MiB, "
                                                   "and the bytes after the cut are skipped"));
        } else {
            ++faults_.wrong_content_length;
            log_warning_once("bad-length", describe("wrong Content-Length", input_.name(),
                                                    "record " + std::to_string(record.index) + " at byte " +
                                                        std::to_string(record.offset) + " declares " +
                                                        std::to_string(record.content_length) + " bytes",
                                                    "resynchronised on the next record header"));
        }
        region_end = find_record_start(body_at, body_at + kMaxRecordBytes);
    } else {
        // A correctly framed block may contain a line that reads "WARC/1.0"; it stays in the body.
        std::string_view body(buffer().data() + body_at, region_end - body_at);
        std::size_t hit = body.compare(0, 5, "WARC/") == 0 ? 0 : find_line_start(body, 0);
        for (; hit != std::string_view::npos; hit = find_line_start(body, hit + 1)) {
            if (body[hit] == '\n') ++hit;
            std::size_t line_end = body.find('\n', hit);
            if (is_version_line(body.substr(hit, line_end == std::string_view::npos ? line_end : line_end - hit))) {
                ++faults_.body_line_warc_header;
                log_warning_once("body-warc", describe("body line reads WARC/1.0", input_.name(),
                                                       "record " + std::to_string(record.index) + " at byte " +
                                                           std::to_string(record.offset),
                                                       "kept as text because the Content-Length frames the record"));
                break;
            }
        }
    }

    body = std::string_view(buffer().data() + body_at, region_end - body_at);
    pos_ = region_end;
    return true;
}

}  // namespace scorekit::text
