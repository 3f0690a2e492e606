// Fuzzes the fastText .bin parser (the header, dictionary and matrix sizes) in memory.
#include "fasttext_file.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::expect_clean_failure([&] {
        scorekit::text::FastTextFile file;
        scorekit::text::parse_fasttext_file(data, size, file);
    });
    return 0;
}
