// SentencePiece tokenisation through Debian's libsentencepiece.
#include <sentencepiece_processor.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <limits>
#include <map>
#include <unordered_map>

#include "scorekit/error.hpp"
#include "scorekit/log.hpp"
#include "scorekit/text/language_model.hpp"
#include "scorekit/text_input.hpp"

namespace scorekit::text {
namespace {

// The fields of sentencepiece_model.proto (SentencePiece 0.1.x) that decide whether a text
// can be encoded word by word; the defaults are the proto's. Debian ships no header for the
// proto, so the serialized model is read with the protobuf wire format directly.
struct SplitSpec {
    std::uint64_t model_type = 1;             // TrainerSpec field 3 (1 = unigram)
    bool split_by_whitespace = true;          // TrainerSpec field 22
    bool treat_whitespace_as_suffix = false;  // TrainerSpec field 24
    bool allow_whitespace_only_pieces = false;  // TrainerSpec field 26
    bool add_dummy_prefix = true;             // NormalizerSpec field 3
    bool remove_extra_whitespaces = true;     // NormalizerSpec field 4
    bool escape_whitespaces = true;           // NormalizerSpec field 5
    std::string normalizer_name;              // NormalizerSpec field 1 ("nmt_nfkc" by default)
};

class WireReader {
public:
    WireReader(const char* data, std::size_t size)
        : at_(reinterpret_cast<const unsigned char*>(data)), end_(at_ + size) {}

    bool done() const { return at_ >= end_; }

    bool varint(std::uint64_t& value) {
        value = 0;
        for (int shift = 0; shift < 64 && at_ < end_; shift += 7) {
            unsigned char byte = *at_++;
            value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
            if (!(byte & 0x80)) return true;
        }
        return false;
    }

    // Reads one field; a length-delimited field's bytes are returned in `bytes`, a varint's
    // value in `value`. False on malformed input or an unsupported (group) wire type.
    bool field(std::uint64_t& number, std::uint64_t& value, std::string_view& bytes) {
        std::uint64_t tag = 0;
        if (!varint(tag)) return false;
        number = tag >> 3;
        bytes = std::string_view();
        switch (tag & 7) {
            case 0:
                return varint(value);
            case 1:
                return skip(8);
            case 2: {
                std::uint64_t length = 0;
                if (!varint(length) || length > static_cast<std::uint64_t>(end_ - at_)) return false;
                bytes = std::string_view(reinterpret_cast<const char*>(at_), length);
                at_ += length;
                return true;
            }
            case 5:
                return skip(4);
            default:
                return false;
        }
    }

private:
    bool skip(std::size_t count) {
        if (count > static_cast<std::size_t>(end_ - at_)) return false;
        at_ += count;
        return true;
    }

    const unsigned char* at_;
    const unsigned char* end_;
};

// Reads the boolean varint fields `numbers[i]` of a message into `*targets[i]`.
bool read_flags(std::string_view message, std::initializer_list<std::pair<std::uint64_t, bool*>> flags,
                std::uint64_t* model_type = nullptr) {
    WireReader reader(message.data(), message.size());
    while (!reader.done()) {
        std::uint64_t number = 0, value = 0;
        std::string_view bytes;
        if (!reader.field(number, value, bytes)) return false;
        for (const auto& flag : flags) {
            if (flag.first == number && bytes.empty()) *flag.second = value != 0;
        }
        if (model_type && number == 3 && bytes.empty()) *model_type = value;
    }
    return true;
}

bool read_split_spec(const std::string& serialized, SplitSpec& spec) {
    WireReader reader(serialized.data(), serialized.size());
    while (!reader.done()) {
        std::uint64_t number = 0, value = 0;
        std::string_view bytes;
        if (!reader.field(number, value, bytes)) return false;
        if (number == 2 && !read_flags(bytes, {{22, &spec.split_by_whitespace},
                                               {24, &spec.treat_whitespace_as_suffix},
                                               {26, &spec.allow_whitespace_only_pieces}},
                                      &spec.model_type)) {
            return false;
        }
        if (number == 3) {
            if (!read_flags(bytes, {{3, &spec.add_dummy_prefix},
                                    {4, &spec.remove_extra_whitespaces},
                                    {5, &spec.escape_whitespaces}})) {
                return false;
            }
            WireReader normalizer(bytes.data(), bytes.size());
            while (!normalizer.done()) {
                std::uint64_t field = 0, ignored = 0;
                std::string_view name;
                if (!normalizer.field(field, ignored, name)) return false;
                if (field == 1) spec.normalizer_name.assign(name);
            }
        }
    }
    return true;
}

// Whether a serialized ModelProto has its trainer_spec (field 2) and normalizer_spec (field 3).
// spm_train writes both after the pieces (field 1), and protobuf parses a file cut after any
// whole piece as a valid model with fewer pieces and default settings. False also for
// malformed input.
bool has_trainer_and_normalizer(const std::string& serialized) {
    WireReader reader(serialized.data(), serialized.size());
    bool trainer = false, normalizer = false;
    while (!reader.done()) {
        std::uint64_t number = 0, value = 0;
        std::string_view bytes;
        if (!reader.field(number, value, bytes)) return false;
        trainer = trainer || number == 2;
        normalizer = normalizer || number == 3;
    }
    return trainer && normalizer;
}

// The normal pieces of a unigram model as a byte trie, so that the pieces that start at a
// position are found in one walk, shortest first, instead of one hash lookup per length.
class PieceTrie {
public:
    void add(std::string_view piece, int id, float score) {
        int node = 0;
        for (char c : piece) {
            auto byte = static_cast<unsigned char>(c);
            auto found = building_[static_cast<std::size_t>(node)].find(byte);
            if (found == building_[static_cast<std::size_t>(node)].end()) {
                building_.emplace_back();
                nodes_.emplace_back();
                found = building_[static_cast<std::size_t>(node)].emplace(byte, static_cast<int>(nodes_.size() - 1)).first;
            }
            node = found->second;
        }
        nodes_[static_cast<std::size_t>(node)].id = id;
        nodes_[static_cast<std::size_t>(node)].score = score;
    }

    // Lays the children of each node out next to each other; call once after the last add().
    void finish() {
        for (std::size_t node = 0; node < nodes_.size(); ++node) {
            nodes_[node].first_edge = static_cast<std::uint32_t>(edge_bytes_.size());
            nodes_[node].edge_count = static_cast<std::uint32_t>(building_[node].size());
            for (const auto& edge : building_[node]) {
                edge_bytes_.push_back(edge.first);
                edge_targets_.push_back(edge.second);
            }
        }
        root_.fill(-1);
        for (const auto& edge : building_[0]) root_[edge.first] = edge.second;
        building_.clear();
    }

    // Calls visit(length, id, score) for each piece that `text` starts with, shortest first.
    template <typename Visit>
    void for_each_prefix(std::string_view text, Visit&& visit) const {
        if (text.empty()) return;
        int node = root_[static_cast<unsigned char>(text[0])];
        for (std::size_t length = 1; node >= 0; ++length) {
            const Node& here = nodes_[static_cast<std::size_t>(node)];
            if (here.id >= 0) visit(length, here.id, here.score);
            if (length == text.size()) return;
            auto byte = static_cast<unsigned char>(text[length]);
            node = -1;
            for (std::uint32_t e = here.first_edge; e < here.first_edge + here.edge_count; ++e) {
                if (edge_bytes_[e] == byte) {
                    node = edge_targets_[e];
                    break;
                }
            }
        }
    }

private:
    struct Node {
        int id = -1;  // the piece that ends here, or -1
        float score = 0;
        std::uint32_t first_edge = 0, edge_count = 0;
    };
    std::vector<Node> nodes_ = std::vector<Node>(1);
    std::vector<std::map<unsigned char, int>> building_ = std::vector<std::map<unsigned char, int>>(1);
    std::vector<unsigned char> edge_bytes_;
    std::vector<int> edge_targets_;
    std::array<int, 256> root_{};
};

std::atomic<std::uint64_t> next_tokenizer_id{1};

}  // namespace

struct SentencePieceTokenizer::Impl {
    sentencepiece::SentencePieceProcessor processor;
    // The unigram model's normal pieces (text -> id), also as a trie with their scores for the
    // searches of viterbi_word() and best_margin(), and the score of an unknown character
    // (min_score - 10, kUnkPenalty). The keys view the model's own piece strings, which live as
    // long as `processor`.
    std::unordered_map<std::string_view, int> normal_pieces;
    PieceTrie trie;
    float unknown_score = 0;
    // Whether the normaliser leaves printable ASCII as it is, so that an ASCII word normalises
    // to "▁" + word without calling SentencePiece. The built-in NFKC and identity rules do.
    // Case folding and user-defined rules may not.
    bool keeps_ascii = false;

    double best_margin(std::string_view normalized) const;
};

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& path)
    : impl_(std::make_unique<Impl>()), path_(path), id_(next_tokenizer_id++) {
    // SentencePiece reads a directory with a std::ifstream that throws, and reports a file that
    // is not a model protobuf by the source line of its failed parse, so both get a reason here.
    struct stat info{};
    if (::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) {
        throw Error(describe("cannot load SentencePiece model", path, "it is a directory",
                             "give a .model file written by spm_train"));
    }
    // Both would only read as a failed parse: an interrupted copy, or a model kept compressed.
    if (S_ISREG(info.st_mode) && info.st_size == 0) {
        throw Error(describe("cannot load SentencePiece model", path,
                             "it is empty (0 bytes), as an interrupted download or copy leaves it",
                             "copy the model again"));
    }
    if (has_gzip_magic(path)) {
        throw Error(describe("cannot load SentencePiece model", path, "it is gzip-compressed",
                             "decompress it (gzip -dc FILE > MODEL.model) and give the decompressed file"));
    }
    sentencepiece::util::Status status;
    try {
        status = impl_->processor.Load(path);
    } catch (const std::exception& error) {
        throw Error(describe("cannot load SentencePiece model", path, error.what(),
                             "give a .model file written by spm_train"));
    }
    if (!status.ok()) {
        std::string reason = status.ToString();
        if (status.code() == sentencepiece::util::StatusCode::kInternal) {
            reason = "not a SentencePiece model, or a truncated or damaged one";
        }
        throw Error(describe("cannot load SentencePiece model", path, reason, "give a .model file written by spm_train"));
    }
    if (!has_trainer_and_normalizer(impl_->processor.serialized_model_proto())) {
        throw Error(describe("cannot load SentencePiece model", path,
                             "it has no trainer or normalizer settings, which spm_train writes after the pieces, "
                             "so the file is truncated",
                             "copy or train the model again"));
    }
    splits_at_spaces_ = check_splits_at_spaces();
    if (!splits_at_spaces_) {
        log_verbose("SentencePiece model " + path + " does not split at whitespace: documents are encoded whole");
    }
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

// Whether the words of a text (its runs between ASCII spaces) can be encoded one by one: the
// model is a unigram model (for encode_word's second-best score) that splits at whitespace, each space becomes one "▁" that
// starts the next word (dummy prefix, runs of spaces collapsed, no suffix mode), "▁" is a
// piece of its own (so unknown characters never merge across a space), and no piece has a
// "▁" after its first character. Then a segmentation of the whole text is one of each word, but
// the whole-text Viterbi search adds the scores of earlier words before comparing, so its float
// rounding can break a near-tie inside a word differently (see encode_word). NOTE: this also
// assumes that the model's normalisation rules never match across a space.
bool SentencePieceTokenizer::check_splits_at_spaces() const {
    const auto& processor = impl_->processor;
    SplitSpec spec;
    if (!read_split_spec(processor.serialized_model_proto(), spec)) return false;
    if (spec.model_type != 1 || !spec.split_by_whitespace || spec.treat_whitespace_as_suffix || spec.allow_whitespace_only_pieces ||
        !spec.add_dummy_prefix || !spec.remove_extra_whitespaces || !spec.escape_whitespaces) {
        return false;
    }
    const std::string space = "\xe2\x96\x81";  // U+2581, SentencePiece's whitespace mark
    if (processor.IsUnknown(processor.PieceToId(space))) return false;
    impl_->keeps_ascii = spec.normalizer_name == "nmt_nfkc" || spec.normalizer_name == "nfkc" ||
                         spec.normalizer_name == "identity";
    float min_score = std::numeric_limits<float>::infinity();
    for (int id = 0; id < processor.GetPieceSize(); ++id) {
        const std::string& piece = processor.IdToPiece(id);
        if (piece.find(space, 1) != std::string::npos) return false;
        // viterbi_word() knows normal, unknown, control and unused pieces only. The API has no
        // test for user-defined pieces, which the trainer writes with score 0; a normal piece of
        // a unigram model has a negative score (a log probability).
        if (processor.IsUnknown(id) || processor.IsControl(id) || processor.IsUnused(id)) continue;
        if (processor.IsByte(id) || piece.empty() || !(processor.GetScore(id) < 0)) return false;
        impl_->normal_pieces.emplace(piece, id);
        impl_->trie.add(piece, id, processor.GetScore(id));
        min_score = std::min(min_score, processor.GetScore(id));
    }
    impl_->unknown_score = min_score - 10.0f;
    impl_->trie.finish();
    return true;
}

void SentencePieceTokenizer::encode(std::string_view text, std::vector<std::string>& pieces) const {
    pieces.clear();
    auto status = impl_->processor.Encode(text, &pieces);
    if (!status.ok()) throw Error(describe("SentencePiece encoding failed", path_, status.ToString(), ""));
}

// One n-best search gives both the pieces and the margin. Its best segmentation is the one
// encode() finds whenever the margin exceeds the float rounding of either search. Only then do
// callers use the pieces without viterbi_word(), and the pieces of any segmentation
// concatenate to the same normalised word.
void SentencePieceTokenizer::encode_word(std::string_view word, EncodedWord& encoded) const {
    if (encode_ascii_word(word, encoded)) return;
    const auto& processor = impl_->processor;
    auto nbest = processor.NBestEncodeAsImmutableProto(word, 2);
    encoded.scores.clear();
    encoded.known = true;
    encoded.margin = 0;  // no second-best score: treated as a tie
    if (nbest.nbests_size() == 0) {
        encode(word, encoded.pieces);
        for (const std::string& piece : encoded.pieces) {
            int id = processor.PieceToId(piece);
            encoded.known = encoded.known && !processor.IsUnknown(id);
            encoded.scores.push_back(processor.GetScore(id));
        }
        return;
    }
    const auto best = nbest.nbests(0);
    encoded.pieces.resize(best.pieces_size());
    for (std::size_t i = 0; i < best.pieces_size(); ++i) {
        const auto piece = best.pieces(static_cast<int>(i));
        encoded.pieces[i] = piece.piece();
        int id = static_cast<int>(piece.id());
        encoded.known = encoded.known && !processor.IsUnknown(id);
        encoded.scores.push_back(processor.GetScore(id));
    }
    if (nbest.nbests_size() == 1) encoded.margin = std::numeric_limits<float>::infinity();
    if (nbest.nbests_size() >= 2) encoded.margin = best.score() - nbest.nbests(1).score();
}

// encode_word() without SentencePiece's n-best search, for a word of printable ASCII under a
// normaliser that keeps it: the pieces from viterbi_word() started at 0 (the search encode()
// runs) and the margin from best_margin(). Returns false for any other word.
bool SentencePieceTokenizer::encode_ascii_word(std::string_view word, EncodedWord& encoded) const {
    if (!splits_at_spaces_ || !impl_->keeps_ascii || word.empty()) return false;
    for (char c : word) {
        if (c < 0x21 || c > 0x7e) return false;
    }
    thread_local std::string normalized;
    normalized.assign("\xe2\x96\x81");
    normalized.append(word);
    float offset = 0;
    if (!viterbi_word(normalized, offset, encoded.pieces)) return false;

    const auto& processor = impl_->processor;
    encoded.scores.clear();
    encoded.known = true;
    for (const std::string& piece : encoded.pieces) {
        auto found = impl_->normal_pieces.find(piece);
        encoded.known = encoded.known && found != impl_->normal_pieces.end();
        encoded.scores.push_back(processor.GetScore(found != impl_->normal_pieces.end() ? found->second : processor.unk_id()));
    }
    encoded.margin = static_cast<float>(impl_->best_margin(normalized));
    return true;
}

// The score gap between the best and the second-best segmentation of a normalised word, in
// double precision. The lattice is the one viterbi_word() searches: normal pieces, and one
// unknown character where no one-character piece starts. Each position keeps the two best
// scores of distinct paths that end there. Infinity if the word has one segmentation.
double SentencePieceTokenizer::Impl::best_margin(std::string_view normalized) const {
    constexpr double kNone = -std::numeric_limits<double>::infinity();
    struct TopTwo {
        double first = kNone, second = kNone;
        void offer(double score) {
            if (score > first) {
                second = first;
                first = score;
            } else if (score > second) {
                second = score;
            }
        }
    };
    thread_local std::vector<TopTwo> top;
    const std::size_t size = normalized.size();
    top.assign(size + 1, TopTwo());
    top[0].first = 0;
    auto extend = [&](std::size_t start, std::size_t length, double score) {
        TopTwo& target = top[start + length];
        target.offer(top[start].first + score);
        if (top[start].second != kNone) target.offer(top[start].second + score);
    };
    for (std::size_t start = 0; start < size;) {
        std::size_t char_bytes = std::min<std::size_t>(
            "\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[(static_cast<unsigned char>(normalized[start])) >> 4], size - start);
        bool has_single = false;
        trie.for_each_prefix(normalized.substr(start), [&](std::size_t length, int, float score) {
            extend(start, length, score);
            has_single = has_single || length == char_bytes;
        });
        if (!has_single) extend(start, char_bytes, unknown_score);
        start += char_bytes;
    }
    return top[size].first - top[size].second;
}

float SentencePieceTokenizer::unknown_score() const { return impl_->unknown_score; }

float SentencePieceTokenizer::add_scores(float offset, const std::vector<float>& scores) {
    for (float score : scores) offset = static_cast<float>(static_cast<double>(score) + static_cast<double>(offset));
    return offset;
}

// SentencePiece 0.1.97's unigram Model::EncodeOptimized on one word, started from the score
// `offset` that the search has accumulated before the word: candidates from each character
// position in order of increasing length, the candidate score computed in double and compared
// with the float stored at its end position, an unknown-character candidate where no
// one-character piece starts, and the best path read back from the end with runs of unknown
// characters merged into one piece.
bool SentencePieceTokenizer::viterbi_word(std::string_view normalized, float& offset,
                                          std::vector<std::string>& pieces) const {
    struct Node {
        float score = 0;
        int starts_at = -1;
        int id = -1;
    };
    thread_local std::vector<Node> nodes;
    const std::size_t size = normalized.size();
    nodes.assign(size + 1, Node());
    nodes[0].score = offset;
    const auto& processor = impl_->processor;
    const int unknown_id = processor.unk_id();
    for (std::size_t start = 0; start < size;) {
        std::size_t char_bytes = std::min<std::size_t>(
            "\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[(static_cast<unsigned char>(normalized[start])) >> 4], size - start);
        const double score_here = nodes[start].score;
        bool has_single = false;
        impl_->trie.for_each_prefix(normalized.substr(start), [&](std::size_t length, int id, float score) {
            Node& target = nodes[start + length];
            double candidate = static_cast<double>(score) + score_here;
            if (target.starts_at == -1 || candidate > target.score) {
                target.score = static_cast<float>(candidate);
                target.starts_at = static_cast<int>(start);
                target.id = id;
            }
            has_single = has_single || length == char_bytes;
        });
        if (!has_single) {
            Node& target = nodes[start + char_bytes];
            double candidate = static_cast<double>(impl_->unknown_score) + score_here;
            if (target.starts_at == -1 || candidate > target.score) {
                target.score = static_cast<float>(candidate);
                target.starts_at = static_cast<int>(start);
                target.id = unknown_id;
            }
        }
        start += char_bytes;
    }
    // Read the path back; a run of unknown characters becomes one piece, as in SentencePiece.
    pieces.clear();
    bool previous_unknown = false;
    for (std::size_t end = size; end > 0;) {
        const Node& node = nodes[end];
        if (node.starts_at < 0) return false;
        std::string_view piece = normalized.substr(static_cast<std::size_t>(node.starts_at), end - node.starts_at);
        bool unknown = node.id == unknown_id;
        if (unknown && previous_unknown) {
            pieces.back().insert(0, piece.data(), piece.size());
        } else {
            pieces.emplace_back(piece);
        }
        previous_unknown = unknown;
        end = static_cast<std::size_t>(node.starts_at);
    }
    std::reverse(pieces.begin(), pieces.end());
    offset = nodes[size].score;
    return true;
}

}  // namespace scorekit::text
