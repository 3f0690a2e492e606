// Reading fastText .bin files in place. The layout follows fastText 0.9's FastText::saveModel,
// Args::save, Dictionary::save and DenseMatrix::save, the format of lid.176.bin.
#include "fasttext_file.hpp"

#include <fasttext/args.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "scorekit/error.hpp"

#include "compression_magic.hpp"

namespace scorekit::text {

namespace {

// Bounds-checked reads of little-endian fields, as fastText writes them on x86.
class Cursor {
public:
    Cursor(const unsigned char* data, std::size_t size) : data_(data), size_(size) {}

    template <typename T>
    bool read(T& value) {
        if (size_ - offset_ < sizeof(T)) return false;
        std::memcpy(&value, data_ + offset_, sizeof(T));
        offset_ += sizeof(T);
        return true;
    }

    bool read_word(std::string& word) {
        const void* end = std::memchr(data_ + offset_, '\0', size_ - offset_);
        if (!end) return false;
        std::size_t length = static_cast<const unsigned char*>(end) - (data_ + offset_);
        word.assign(reinterpret_cast<const char*>(data_ + offset_), length);
        offset_ += length + 1;
        return true;
    }

    bool skip(std::size_t bytes) {
        if (size_ - offset_ < bytes) return false;
        offset_ += bytes;
        return true;
    }

    std::size_t offset() const { return offset_; }
    std::size_t remaining() const { return size_ - offset_; }

private:
    const unsigned char* data_;
    std::size_t size_;
    std::size_t offset_ = 0;
};

constexpr std::int32_t kMagic = 793712314;  // FASTTEXT_FILEFORMAT_MAGIC_INT32
constexpr std::int32_t kVersion = 12;

bool read_args(Cursor& in, FastTextFile& file) {
    std::int32_t ws = 0, epoch = 0, min_count = 0, neg = 0, lr_update_rate = 0;
    double sampling = 0;
    return in.read(file.dim) && in.read(ws) && in.read(epoch) && in.read(min_count) && in.read(neg) &&
           in.read(file.word_ngrams) && in.read(file.loss) && in.read(file.model) && in.read(file.bucket) &&
           in.read(file.minn) && in.read(file.maxn) && in.read(lr_update_rate) && in.read(sampling);
}

bool read_dictionary(Cursor& in, FastTextFile& file) {
    std::int32_t size = 0;
    std::int64_t ntokens = 0;
    if (!in.read(size) || !in.read(file.nwords) || !in.read(file.nlabels) || !in.read(ntokens) ||
        !in.read(file.pruneidx_size)) {
        return false;
    }
    if (size < 0 || file.nwords < 0 || file.nlabels < 0 || size != std::int64_t(file.nwords) + file.nlabels) return false;
    // Each entry takes at least 10 bytes (a NUL, the count and the type), so a damaged size is
    // caught before the entries are allocated; 2^31 of them would take 64 GiB.
    if (static_cast<std::size_t>(size) > in.remaining() / 10) return false;
    file.entries.resize(static_cast<std::size_t>(size));
    file.counts.resize(static_cast<std::size_t>(size));
    for (std::int32_t i = 0; i < size; ++i) {
        std::int8_t type = 0;
        if (!in.read_word(file.entries[i]) || !in.read(file.counts[i]) || !in.read(type)) return false;
        // Words come first and labels after them (Dictionary::threshold sorts them so).
        if (type != (i < file.nwords ? 0 : 1)) return false;
    }
    // The bound keeps the byte count from wrapping around.
    if (file.pruneidx_size > 0 && static_cast<std::uint64_t>(file.pruneidx_size) > in.remaining() / 8) return false;
    return file.pruneidx_size <= 0 || in.skip(static_cast<std::size_t>(file.pruneidx_size) * 8);
}

bool read_matrix(Cursor& in, std::int64_t& rows, std::int64_t& cols, std::size_t& offset) {
    if (!in.read(rows) || !in.read(cols) || rows < 0 || cols <= 0) return false;
    offset = in.offset();
    const auto max_rows = static_cast<std::uint64_t>(SIZE_MAX / 4) / static_cast<std::uint64_t>(cols);
    if (static_cast<std::uint64_t>(rows) > max_rows) return false;
    return in.skip(static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols) * 4);
}

// ProductQuantizer::save: dim, nsubq, dsub, lastdsub, then dim * 256 float centroids.
bool skip_product_quantizer(Cursor& in) {
    std::int32_t dim = 0, nsubq = 0, dsub = 0, lastdsub = 0;
    if (!in.read(dim) || !in.read(nsubq) || !in.read(dsub) || !in.read(lastdsub) || dim < 0) return false;
    return in.skip(static_cast<std::size_t>(dim) * 256 * 4);
}

// QuantMatrix::save: qnorm, m, n, codesize, the codes, a product quantizer, and with qnorm the
// norm codes (one byte per row) and their quantizer.
bool skip_quant_matrix(Cursor& in, std::int64_t& rows, std::int64_t& cols) {
    std::uint8_t qnorm = 0;
    std::int32_t codesize = 0;
    if (!in.read(qnorm) || !in.read(rows) || !in.read(cols) || !in.read(codesize) || rows < 0 || codesize < 0) {
        return false;
    }
    if (!in.skip(static_cast<std::size_t>(codesize)) || !skip_product_quantizer(in)) return false;
    return qnorm == 0 || (in.skip(static_cast<std::size_t>(rows)) && skip_product_quantizer(in));
}

// Whether the header's dimension and counts match the matrices. fastText sizes its vectors from
// the header, so a damaged field there passes its loader and fails an assertion later.
bool sizes_agree(const FastTextFile& file) {
    // Each character n-gram length up to maxn is hashed for every position of a word, so a
    // damaged maxn of a million made one long word cost seconds. Published models use 6 at most;
    // kMaxNgram is far beyond any useful length. Loss and model are enums of 4 and 3 values.
    constexpr std::int32_t kMaxNgram = 100;
    if (file.minn < 0 || file.maxn < 0 || file.maxn > kMaxNgram || file.word_ngrams < 0 ||
        file.word_ngrams > kMaxNgram || file.loss < 1 || file.loss > 4 || file.model < 1 || file.model > 3) {
        return false;
    }
    // The input rows: the words, then the n-gram buckets, or only the n-grams kept by pruning.
    const std::int64_t ngram_rows = file.pruneidx_size >= 0 ? file.pruneidx_size : std::max(file.bucket, 0);
    if (file.input_cols != file.dim || file.input_rows != std::int64_t(file.nwords) + ngram_rows) return false;
    // A supervised model has one output row per label; the others are left to fastText.
    const bool supervised = file.model == static_cast<int>(fasttext::model_name::sup);
    return !supervised || (file.output_rows == file.nlabels && file.output_cols == file.dim);
}

}  // namespace

FastTextFileStatus parse_fasttext_file(const unsigned char* data, std::size_t size, FastTextFile& file) {
    Cursor in(data, size);
    std::int32_t magic = 0;
    if (!in.read(magic) || magic != kMagic || !in.read(file.version) || file.version != kVersion) {
        return FastTextFileStatus::other;
    }
    if (!read_args(in, file) || !read_dictionary(in, file)) return FastTextFileStatus::damaged;

    // Each matrix is a DenseMatrix or, after a true flag, a QuantMatrix. Quantised ones are
    // only skipped, to check the file's size; fastText's loader reads them.
    std::uint8_t quant_input = 0, quant_output = 0;  // bools, one byte each
    if (!in.read(quant_input)) return FastTextFileStatus::damaged;
    bool input_read = quant_input != 0 ? skip_quant_matrix(in, file.input_rows, file.input_cols)
                                       : read_matrix(in, file.input_rows, file.input_cols, file.input_offset);
    if (!input_read || !in.read(quant_output)) return FastTextFileStatus::damaged;
    // FastText::loadModel reads a QuantMatrix output only after a quantised input.
    bool output_read = quant_input != 0 && quant_output != 0
                           ? skip_quant_matrix(in, file.output_rows, file.output_cols)
                           : read_matrix(in, file.output_rows, file.output_cols, file.output_offset);
    if (!output_read) return FastTextFileStatus::damaged;
    file.quantized = quant_input != 0 || quant_output != 0;
    if (in.offset() != size || !sizes_agree(file)) return FastTextFileStatus::damaged;
    return FastTextFileStatus::parsed;
}

FastTextFileStatus parse_fasttext_model(const std::string& path, const unsigned char* data, std::size_t size,
                                        FastTextFile& file, const std::string& what_to_do) {
    FastTextFileStatus status = parse_fasttext_file(data, size, file);
    if (status == FastTextFileStatus::damaged) {
        throw Error(describe("cannot load fastText model", path, "the file is truncated or damaged", what_to_do));
    }
    return status;
}

void check_fasttext_model_file(const std::string& path, const std::string& advice) {
    struct stat status {};
    if (stat(path.c_str(), &status) != 0) return;  // check_readable reports a missing file
    if (S_ISDIR(status.st_mode)) {
        throw Error(describe("cannot load fastText model", path, "it is a directory",
                             "give the model file (.bin) inside it; " + advice));
    }
    if (!S_ISREG(status.st_mode)) return;
    if (status.st_size == 0) {
        throw Error(describe("cannot load fastText model", path,
                             "it is empty (0 bytes), as an interrupted download or copy leaves it",
                             "copy or download the model again"));
    }

    unsigned char head[8] = {};
    std::size_t read = 0;
    if (std::FILE* file = std::fopen(path.c_str(), "rb")) {
        read = std::fread(head, 1, sizeof head, file);
        std::fclose(file);
    }
    const std::string_view text(reinterpret_cast<const char*>(head), read);
    if (read >= 2 && head[0] == 0x1F && head[1] == 0x8B) {
        throw Error(describe("cannot load fastText model", path, "it is gzip-compressed",
                             "decompress it (gzip -dc FILE > MODEL.bin) and give the decompressed file"));
    }
    if (const OtherCompression* compression = other_compression(text)) {
        throw Error(describe("cannot load fastText model", path, std::string("it is ") + compression->format + "-compressed",
                             std::string("decompress it (") + compression->command + " FILE > MODEL.bin) and give the decompressed file"));
    }
    std::int32_t magic = 0, version = 0;
    if (read >= 4) std::memcpy(&magic, head, 4);
    if (read < 8 || magic != kMagic) {
        throw Error(describe("cannot load fastText model", path,
                             "it is not a fastText model, because it does not start with fastText's file header", advice));
    }
    std::memcpy(&version, head + 4, 4);
    // fastText 0.9's checkModel accepts every format version up to its own, 12.
    if (version > kVersion) {
        throw Error(describe("cannot load fastText model", path,
                             "it is a fastText model of format version " + std::to_string(version) +
                                 ", and this fastText reads versions up to " + std::to_string(kVersion),
                             "save the model with fastText 0.9, or " + advice));
    }
}

void check_fasttext_model_intact(const std::string& path, const std::string& what_to_do) {
    std::unique_ptr<MappedFile> mapped = MappedFile::open(path);
    FastTextFile file;
    if (mapped) parse_fasttext_model(path, mapped->data(), mapped->size(), file, what_to_do);
}

namespace {

std::uint64_t word_hash(std::string_view word) {
    std::uint64_t h = 1469598103934665603ULL;  // FNV-1a, 64-bit
    for (char c : word) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    return h ^ (h >> 32);
}

}  // namespace

FastTextVocabulary::FastTextVocabulary(std::vector<std::string> entries) : entries_(std::move(entries)) {
    std::size_t slots = 16;
    while (slots < 2 * entries_.size()) slots *= 2;
    slots_.assign(slots, -1);
    mask_ = slots - 1;
    // A word stored twice keeps its last id, as Dictionary::load leaves word2int_.
    for (std::size_t id = 0; id < entries_.size(); ++id) {
        std::size_t slot = word_hash(entries_[id]) & mask_;
        while (slots_[slot] >= 0 && entries_[static_cast<std::size_t>(slots_[slot])] != entries_[id]) {
            slot = (slot + 1) & mask_;
        }
        slots_[slot] = static_cast<std::int32_t>(id);
    }
}

std::int32_t FastTextVocabulary::find(std::string_view word) const {
    std::size_t slot = word_hash(word) & mask_;
    while (slots_[slot] >= 0) {
        if (entries_[static_cast<std::size_t>(slots_[slot])] == word) return slots_[slot];
        slot = (slot + 1) & mask_;
    }
    return -1;
}

}  // namespace scorekit::text
