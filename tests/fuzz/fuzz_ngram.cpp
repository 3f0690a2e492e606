// Fuzzes the n-gram model reader: KenLM's probing binary (chosen by its magic bytes) and ARPA
// text, and scores a sentence with what it read.
#include "fuzz_support.hpp"
#include "scorekit/text/language_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string path = fuzz::write_input(data, size, ".arpa");
    fuzz::expect_clean_failure([&] {
        const auto model = scorekit::text::NgramModel::load(path);
        model.score_sentence({"the", "license", "of", "this", "program"});
    });
    return 0;
}
