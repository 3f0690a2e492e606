#include "record_hashes.hpp"

#include "scorekit/text/dedup.hpp"
#include "scorekit/text/document.hpp"
#include "scorekit/text/unicode.hpp"

namespace scorekit::text {
namespace {

struct LineFacts {
    std::size_t code_points;  // after strip_whitespace()
    bool blank;
};

// The fast path for a clean conversion record: record_to_document()'s line rules (split at LF,
// CRLF and CR, strip, title = first line, two trailing blank lines dropped) applied to the
// scanned lines. Returns false, having counted nothing, when the body needs
// record_to_document(); else sets `kept`.
bool hash_clean_body(std::string_view body, int min_length, ReadCounts& counts, std::vector<std::uint64_t>& hashes,
                     bool& kept) {
    thread_local PaddedMessages lines;
    thread_local std::vector<LineFacts> facts;
    lines.clear();
    facts.clear();

    const char* p = body.data();
    const char* end = p + body.size();
    bool text = false;
    while (p < end) {
        DedupLineScan scan;
        char* out = lines.room(2 * static_cast<std::size_t>(end - p));
        if (!scan_dedup_line(p, end, out, scan)) return false;
        lines.add(scan.size);
        facts.push_back({scan.code_points, scan.blank});
        text = text || scan.text;
        p += scan.next;
    }
    if (!text) return false;  // an empty body, which record_to_document() counts as a fault

    std::size_t last = facts.size();
    if (last >= 2 && facts[last - 1].blank && facts[last - 2].blank) last -= 2;
    ++counts.documents;
    // raw_content is lines 1 to last - 1 joined by "\n".
    std::size_t length = last > 2 ? last - 2 : 0;
    for (std::size_t i = 1; i < last; ++i) length += facts[i].code_points;
    bool empty = last <= 1 || (last == 2 && facts[1].blank);
    if (empty || length < static_cast<std::size_t>(min_length)) {
        ++counts.short_documents;
        kept = false;
        return true;
    }
    counts.lines += last - 1;
    counts.chars += length;
    lines.hash(1, last - 1, hashes);
    kept = true;
    return true;
}

}  // namespace

bool hash_record(const WarcRecord& record, std::string_view body, const std::string& file, int min_length,
                 ReaderFaults& faults, ReadCounts& counts, std::vector<std::uint64_t>& hashes) {
    ++counts.records;
    bool clean_candidate = record.type == "conversion" && !record.url.empty() && !record.date.empty() &&
                           record.content_length != 0;
    bool kept = false;
    if (clean_candidate && hash_clean_body(body, min_length, counts, hashes, kept)) return kept;

    thread_local Document document;
    thread_local std::vector<std::uint64_t> line_hashes;
    if (record_to_document(record, body, file, file, faults, document) != RecordOutcome::document) return false;
    ++counts.documents;
    std::size_t length = count_code_points(document.raw_content);
    if (length < static_cast<std::size_t>(min_length) || document.raw_content.empty()) {
        ++counts.short_documents;
        return false;
    }
    counts.lines += static_cast<std::uint64_t>(document.nlines);
    counts.chars += length;
    hash_lines(document.raw_content, line_hashes);
    hashes.insert(hashes.end(), line_hashes.begin(), line_hashes.end());
    return true;
}

}  // namespace scorekit::text
