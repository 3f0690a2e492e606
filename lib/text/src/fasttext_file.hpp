// Internal: a fastText supervised model's .bin file, mapped into memory and parsed without
// fastText's loader, so that prediction reads the input matrix in place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mapped_file.hpp"

namespace scorekit::text {

// The fields of a model file as FastText::saveModel writes them (format version 12): Args,
// Dictionary, then the input and output matrices. Matrices are given as byte offsets into the
// file; their rows are float32, row-major and not necessarily 4-byte aligned.
struct FastTextFile {
    std::int32_t version = 0;
    std::int32_t dim = 0, word_ngrams = 0, loss = 0, model = 0, bucket = 0, minn = 0, maxn = 0;
    std::int32_t nwords = 0, nlabels = 0;
    std::int64_t pruneidx_size = -1;  // -1: not pruned
    std::vector<std::string> entries;  // the nwords words, then the nlabels labels
    std::vector<std::int64_t> counts;  // of each entry
    bool quantized = false;            // either matrix
    std::int64_t input_rows = 0, input_cols = 0, output_rows = 0, output_cols = 0;
    std::size_t input_offset = 0, output_offset = 0;
};

enum class FastTextFileStatus {
    parsed,   // a complete version-12 file whose sizes agree (quantised matrices are not located)
    other,    // no version-12 header: another version or not a model, for fastText's own loader
    damaged,  // a version-12 header, but the file is truncated or its sizes disagree
};

// Parses `size` bytes of a model file.
FastTextFileStatus parse_fasttext_file(const unsigned char* data, std::size_t size, FastTextFile& file);

// parse_fasttext_file for the model at `path`, which throws scorekit::Error instead of
// returning `damaged`, so that fastText's loader never reads such a file: it accepts a
// truncated file, and its first prediction then fails an assertion and aborts the process.
// `what_to_do` ends the message.
FastTextFileStatus parse_fasttext_model(const std::string& path, const unsigned char* data, std::size_t size,
                                        FastTextFile& file, const std::string& what_to_do);

// Throws Error naming `path` and what it is when it cannot be a model that fastText 0.9 loads.
// Those are a directory, an empty file, a gzip, xz, zstd or bzip2 file, a file without fastText's
// header, and a model of a format version above 12, which fastText reports only as "has wrong
// file format!". `advice` ends the messages about files that are no model. Pipes and devices
// pass unread.
void check_fasttext_model_file(const std::string& path, const std::string& advice);

// Maps the model at `path` and throws as parse_fasttext_model where it is damaged.
void check_fasttext_model_intact(const std::string& path, const std::string& what_to_do);

// The words of a model and their ids, in an open-addressing table sized to the vocabulary
// instead of fastText's 30-million-slot one (120 MB that every load fills).
class FastTextVocabulary {
public:
    explicit FastTextVocabulary(std::vector<std::string> entries);

    // The id of `word` (as Dictionary::getId), or -1.
    std::int32_t find(std::string_view word) const;
    const std::string& entry(std::int32_t id) const { return entries_[static_cast<std::size_t>(id)]; }

private:
    std::vector<std::string> entries_;
    std::vector<std::int32_t> slots_;  // entry id or -1, indexed by hash
    std::size_t mask_ = 0;
};

}  // namespace scorekit::text
