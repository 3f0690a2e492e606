// Internal: the paragraph hashes of `ccnet-filter hash`, computed from a record's body in one
// pass per line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "scorekit/text/wet_reader.hpp"
#include "sha1.hpp"
#include "shard_input.hpp"

namespace scorekit::text {

// Converts one record as records_to_documents() does. For a document that it keeps, appends the
// hashes of its raw_content lines to `hashes` (as hash_lines() would give them) and returns true.
// `body` is the record's content block (record.body is ignored). A clean
// body (valid UTF-8, no control characters other than TAB) is converted and normalised in one
// pass per line without building the document; any other record takes record_to_document(),
// which repairs it and counts its faults.
bool hash_record(const WarcRecord& record, std::string_view body, const std::string& file, int min_length,
                 ReaderFaults& faults, ReadCounts& counts, std::vector<std::uint64_t>& hashes);

}  // namespace scorekit::text
