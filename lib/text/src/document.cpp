#include "scorekit/text/document.hpp"
#include "scorekit/text/language_model.hpp"

#include <cstring>
#include <string_view>

#include "scorekit/error.hpp"
#include "scorekit/log.hpp"
#include "scorekit/text/unicode.hpp"

namespace scorekit::text {
namespace {

bool is_control_byte(unsigned char c) { return (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F; }

// Byte classes for the single scan of a body: control byte to delete, byte of a multi-byte
// UTF-8 sequence, byte that is not blank.
constexpr unsigned char kControl = 1, kHigh = 2, kText = 4;

struct ByteClasses {
    unsigned char of[256];
    constexpr ByteClasses() : of() {
        for (int c = 0; c < 256; ++c) {
            unsigned char bits = 0;
            if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F) bits |= kControl;
            if (c >= 0x80) bits |= kHigh;
            if (c != ' ' && c != '\t' && c != '\r' && c != '\n') bits |= kText;
            of[c] = bits;
        }
    }
};
constexpr ByteClasses kByteClasses;

// Returns the union of the byte classes of `body`, 8 bytes at a time: a word is looked at byte
// by byte only when it may hold a byte below 0x20 (line endings do) or DEL.
unsigned char classify(std::string_view body) {
    constexpr std::uint64_t kOnes = 0x0101010101010101ULL, kHighBits = 0x8080808080808080ULL;
    unsigned char bits = 0;
    std::size_t size = body.size(), i = 0;
    const char* data = body.data();
    for (; i + 8 <= size; i += 8) {
        std::uint64_t word;
        std::memcpy(&word, data + i, 8);
        if (word & kHighBits) bits |= kHigh;
        // ASCII bytes below 0x20 or equal to 0x7F set their high bit here. A borrow may also
        // flag a byte next to a real hit, so the byte loop rechecks the whole word.
        std::uint64_t ascii = ~word & kHighBits;
        std::uint64_t below_space = (word - 0x20 * kOnes) & ascii;
        std::uint64_t delete_byte = ((word ^ 0x7F * kOnes) - kOnes) & ascii;
        if (below_space | delete_byte) {
            for (std::size_t k = i; k < i + 8; ++k) bits |= kByteClasses.of[static_cast<unsigned char>(data[k])];
        } else if (word != 0x20 * kOnes) {
            bits |= kText;  // no byte below 0x20, so any byte but a space is text
        }
    }
    for (; i < size; ++i) bits |= kByteClasses.of[static_cast<unsigned char>(data[i])];
    return bits;
}

std::string where(const std::string& file, const WarcRecord& record) {
    return file + ", record " + std::to_string(record.index) + " at byte " + std::to_string(record.offset);
}

// The body as valid UTF-8 without control bytes, with counts of what was removed or replaced.
// `text` views the record's own body when nothing had to change, so clean bodies (nearly all of
// them) are not copied.
struct CleanBody {
    std::string_view text;
    std::string changed;
    std::uint64_t control = 0;
    std::uint64_t invalid_sequences = 0;
};

void clean_body(std::string_view body, unsigned char classes, CleanBody& clean) {
    bool has_control = classes & kControl;
    std::string without_control;
    std::string_view source = body;
    if (has_control) {
        without_control.reserve(body.size());
        for (char c : body) {
            if (is_control_byte(static_cast<unsigned char>(c))) {
                ++clean.control;
            } else {
                without_control += c;
            }
        }
        source = without_control;
    }
    if ((classes & kHigh) && !is_valid_utf8(source)) {
        clean.invalid_sequences = append_repaired_utf8(source, clean.changed);
        clean.text = clean.changed;
    } else if (has_control) {
        clean.changed = std::move(without_control);
        clean.text = clean.changed;
    } else {
        clean.text = body;
    }
}

// Splits at "\n", "\r\n" and "\r" and strips each line as Python's str.strip() does.
void split_lines(std::string_view all, std::vector<std::string_view>& lines) {
    lines.clear();
    const char* data = all.data();
    std::size_t size = all.size();
    std::size_t start = 0;
    while (start < size) {
        const void* newline = std::memchr(data + start, '\n', size - start);
        std::size_t end = newline ? static_cast<std::size_t>(static_cast<const char*>(newline) - data) : size;
        // A CR ends a line too (alone or before the LF); CRs are rare, so look for them per line.
        std::size_t at = start;
        while (const void* cr = std::memchr(data + at, '\r', end - at)) {
            std::size_t cr_at = static_cast<std::size_t>(static_cast<const char*>(cr) - data);
            if (cr_at + 1 == end && newline) break;  // CRLF: the LF ends the line
            lines.push_back(strip_whitespace(all.substr(start, cr_at - start)));
            start = at = cr_at + 1;
        }
        if (!newline) {
            if (start < size) lines.push_back(strip_whitespace(all.substr(start)));
            return;
        }
        lines.push_back(strip_whitespace(all.substr(start, (end > start && data[end - 1] == '\r' ? end - 1 : end) - start)));
        start = end + 1;
    }
}

}  // namespace

std::string url_netloc(const std::string& url) {
    // urlparse takes a scheme when the text before the first ':' is a valid scheme name.
    std::size_t colon = url.find(':');
    std::size_t rest = 0;
    if (colon != std::string::npos && colon > 0 && std::isalpha(static_cast<unsigned char>(url[0]))) {
        bool scheme = true;
        for (std::size_t i = 0; i < colon; ++i) {
            char c = url[i];
            scheme &= std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
        }
        if (scheme) rest = colon + 1;
    }
    if (url.compare(rest, 2, "//") != 0) return "";
    std::size_t begin = rest + 2;
    std::size_t end = url.find_first_of("/?#", begin);
    return url.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

RecordOutcome record_to_document(const WarcRecord& record, std::string_view body, const std::string& segment,
                                 const std::string& file, ReaderFaults& faults, Document& document) {
    if (record.type.empty() || ((record.url.empty() || record.date.empty()) && record.type == "conversion")) {
        ++faults.missing_headers;
        log_warning_once("missing-headers",
                         describe("skipped record without WARC-Type, WARC-Target-URI or WARC-Date",
                                  where(file, record), "required header missing", ""));
        return RecordOutcome::missing_headers;
    }
    if (record.type != "conversion") return RecordOutcome::other_type;

    unsigned char classes = classify(body);
    if (record.content_length == 0 || !(classes & kText)) {
        ++faults.empty_body;
        log_warning_once("empty-body", describe("skipped record with an empty body", where(file, record),
                                                "Content-Length " + std::to_string(record.content_length), ""));
        return RecordOutcome::empty_body;
    }

    CleanBody clean;
    clean_body(body, classes, clean);
    // Each replacement stands for 1 to 3 bytes; counting one keeps the estimate conservative.
    if ((clean.control + clean.invalid_sequences) * 20 > body.size()) {
        ++faults.binary_records;
        log_warning_once("binary", describe("skipped record with binary content", where(file, record),
                                            std::to_string(clean.control) + " control bytes and " +
                                                std::to_string(clean.invalid_sequences) +
                                                " invalid UTF-8 sequences",
                                            ""));
        return RecordOutcome::binary;
    }
    // The header values go into the JSON output too, so they are repaired as the body is.
    thread_local std::string url, date, digest;
    for (auto [value, repaired] : {std::pair{&record.url, &url}, {&record.date, &date}, {&record.digest, &digest}}) {
        repaired->clear();
        if (is_valid_utf8(*value)) {
            repaired->assign(*value);
        } else {
            clean.invalid_sequences += append_repaired_utf8(*value, *repaired);
        }
    }
    if (clean.control) {
        ++faults.control_character_records;
        log_warning_once("control", describe("deleted control characters", where(file, record),
                                             std::to_string(clean.control) + " in this record", ""));
    }
    if (clean.invalid_sequences) {
        ++faults.invalid_utf8_records;
        faults.invalid_utf8_sequences += clean.invalid_sequences;
        log_warning_once("utf8", describe("replaced invalid UTF-8 with U+FFFD", where(file, record),
                                          std::to_string(clean.invalid_sequences) + " sequences in this record", ""));
    }

    thread_local std::vector<std::string_view> lines;
    split_lines(clean.text, lines);
    std::size_t last = lines.size();
    if (last >= 2 && lines[last - 1].empty() && lines[last - 2].empty()) last -= 2;

    document = Document();
    document.url = url;
    document.date_download = date;
    document.digest = digest;
    document.length = record.content_length >= 0 ? record.content_length
                                                 : static_cast<std::int64_t>(body.size());
    document.source_domain = url_netloc(url);
    document.title.assign(lines.empty() ? std::string_view() : lines[0]);
    document.raw_content.reserve(clean.text.size());
    for (std::size_t i = 1; i < last; ++i) {
        if (i > 1) document.raw_content += '\n';
        document.raw_content.append(lines[i]);
    }
    document.nlines = last > 1 ? static_cast<std::int64_t>(last - 1) : 0;
    document.cc_segment = segment;
    return RecordOutcome::document;
}

void append_json_string(const std::string& text, std::string& out) {
    static const char* hex = "0123456789abcdef";
    out += '"';
    std::size_t run = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        out.append(text, run, i - run);
        run = i + 1;
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 15];
        }
    }
    out.append(text, run, std::string::npos);
    out += '"';
}

std::string format_score(int percent) {
    if (percent % 100 == 0) return std::to_string(percent / 100) + ".0";
    std::string digits = std::to_string(percent % 100);
    if (digits.size() == 1) digits = "0" + digits;
    if (digits[1] == '0') digits.pop_back();
    return std::to_string(percent / 100) + "." + digits;
}

void append_json(const Document& d, std::string& out) {
    auto key = [&](const char* name) {
        out += out.back() == '{' ? "\"" : ", \"";
        out += name;
        out += "\": ";
    };
    out += '{';
    key("url"), append_json_string(d.url, out);
    key("date_download"), append_json_string(d.date_download, out);
    key("digest"), append_json_string(d.digest, out);
    key("length"), out += std::to_string(d.length);
    key("nlines"), out += std::to_string(d.nlines);
    key("source_domain"), append_json_string(d.source_domain, out);
    key("title"), append_json_string(d.title, out);
    key("raw_content"), append_json_string(d.raw_content, out);
    key("cc_segment"), append_json_string(d.cc_segment, out);
    if (d.deduplicated) {
        key("original_nlines"), out += std::to_string(d.original_nlines);
        key("original_length"), out += std::to_string(d.original_length);
        key("line_ids");
        out += '[';
        for (std::size_t i = 0; i < d.line_ids.size(); ++i) {
            if (i) out += ", ";
            out += std::to_string(d.line_ids[i]);
        }
        out += ']';
    }
    if (d.identified) {
        key("language"), append_json_string(d.language, out);
        key("language_score"), out += format_score(d.language_score_percent);
        if (d.has_perplexity) key("perplexity"), out += python_float_repr(d.perplexity);
        if (!d.bucket.empty()) key("bucket"), append_json_string(d.bucket, out);
        if (d.has_reference_score) key("ref_score"), out += python_float_repr(d.reference_score);
        if (!d.quality_json.empty()) key("quality"), out += d.quality_json;
        key("language_identifier"), append_json_string(d.language_identifier, out);
    }
    out += "}\n";
}

}  // namespace scorekit::text
