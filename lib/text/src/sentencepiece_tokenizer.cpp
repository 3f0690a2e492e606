// SentencePiece tokenisation through Debian's libsentencepiece.
#include <sentencepiece_processor.h>

#include "scorekit/error.hpp"
#include "scorekit/text/language_model.hpp"

namespace scorekit::text {

struct SentencePieceTokenizer::Impl {
    sentencepiece::SentencePieceProcessor processor;
};

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& path)
    : impl_(std::make_unique<Impl>()), path_(path) {
    auto status = impl_->processor.Load(path);
    if (!status.ok()) {
        throw Error(describe("cannot load SentencePiece model", path, status.ToString(),
                             "give a .model file written by spm_train"));
    }
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

void SentencePieceTokenizer::encode(std::string_view text, std::vector<std::string>& pieces) const {
    pieces.clear();
    auto status = impl_->processor.Encode(text, &pieces);
    if (!status.ok()) throw Error(describe("SentencePiece encoding failed", path_, status.ToString(), ""));
}

}  // namespace scorekit::text
