// Fuzzes the WET/WARC reader over plain and gzip input (gzip is detected by its magic bytes).
#include "fuzz_support.hpp"
#include "scorekit/text/wet_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string path = fuzz::write_input(data, size, ".warc.wet");
    fuzz::expect_clean_failure([&] {
        scorekit::text::ReaderFaults faults;
        scorekit::text::WetReader reader(path, faults);
        scorekit::text::WarcRecord record;
        while (reader.next(record)) {
        }
    });
    return 0;
}
