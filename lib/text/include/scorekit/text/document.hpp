// cc_net documents: conversion from WET records and the JSON Lines form.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "scorekit/text/wet_reader.hpp"

namespace scorekit::text {

// A document with cc_net's fields. The JSON form writes them in this order:
// url, date_download, digest, length, nlines, source_domain, title, raw_content, cc_segment,
// then after deduplication original_nlines, original_length, line_ids, then after language
// identification language, language_score, then perplexity and bucket when a language model
// is set, ref_score with a reference classifier, and last language_identifier (ref_score and
// language_identifier are not cc_net fields).
struct Document {
    std::string url;
    std::string date_download;
    std::string digest;
    std::int64_t length = 0;  // WET Content-Length in bytes; code points after deduplication
    std::int64_t nlines = 0;  // lines of raw_content
    std::string source_domain;
    std::string title;
    std::string raw_content;
    std::string cc_segment;

    bool deduplicated = false;
    std::int64_t original_nlines = 0;
    std::int64_t original_length = 0;
    std::vector<std::int64_t> line_ids;

    bool identified = false;
    std::string language;
    int language_score_percent = 0;  // the score rounded to 2 decimals, times 100
    std::string language_identifier;

    bool has_perplexity = false;  // false when no language model ran or the text normalised to nothing
    double perplexity = 0;        // rounded to 0.1
    std::string bucket;           // head, middle, tail or all; empty when no language model is set

    bool has_reference_score = false;
    double reference_score = 0;  // p(__label__wiki) of the reference classifier, rounded to 4 decimals

    std::string quality_json;  // with --explain: the quality rules' report as a JSON object
};

// Why a record gave no document.
enum class RecordOutcome { document, other_type, missing_headers, empty_body, binary };

// Converts a `conversion` record as cc_net's parse_doc does: body lines split at LF, CRLF or CR
// (Python's universal newlines) and stripped of whitespace, title = first line, the two last
// lines dropped when both are empty, raw_content = the other lines joined by "\n",
// length = Content-Length. Invalid UTF-8 is repaired to U+FFFD, control characters other than
// TAB are deleted (cc_net keeps them), and a body where more than 5% of the bytes are NUL,
// control characters or invalid UTF-8 is rejected as binary. Counts and logs each fault.
// `body` is the record's content block (record.body is ignored), so a caller can pass a view
// into the reader's buffer (WetReader::next with a body view).
RecordOutcome record_to_document(const WarcRecord& record, std::string_view body, const std::string& segment,
                                 const std::string& file, ReaderFaults& faults, Document& document);

// The same for a record that carries its content block in record.body.
inline RecordOutcome record_to_document(const WarcRecord& record, const std::string& segment,
                                        const std::string& file, ReaderFaults& faults, Document& document) {
    return record_to_document(record, record.body, segment, file, faults, document);
}

// The host part of a URL as Python's urllib.parse.urlparse(url).netloc (may include
// user info and port).
std::string url_netloc(const std::string& url);

// Appends the document as one JSON line (with "\n") in the form Python's
// json.dumps(doc, ensure_ascii=False) writes: ", " and ": " separators, UTF-8 unescaped.
void append_json(const Document& document, std::string& out);

// Appends `text` as a JSON string literal, escaped as Python's json module does.
void append_json_string(const std::string& text, std::string& out);

// Formats a score given in hundredths as Python's repr(round(score, 2)): "0.5", "0.07", "1.0".
std::string format_score(int percent);

}  // namespace scorekit::text
