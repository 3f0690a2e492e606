// Fuzzes SentencePiece model loading: libsentencepiece parses the model, then scorekit reads its
// trainer and normaliser specs itself and builds its piece trie, and encodes a sentence.
#include "fuzz_support.hpp"
#include "scorekit/text/language_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string path = fuzz::write_input(data, size, ".model");
    fuzz::expect_clean_failure([&] {
        scorekit::text::SentencePieceTokenizer tokenizer(path);
        std::vector<std::string> pieces;
        tokenizer.encode("the license of this program, version 3", pieces);
    });
    return 0;
}
