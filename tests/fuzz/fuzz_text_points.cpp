// Fuzzes the text point reader (tab, space or comma separated, header, comments, gzip) and the
// polyline reader built on it.
#include "fuzz_support.hpp"
#include "scorekit/metric_curves.hpp"
#include "scorekit/points.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string path = fuzz::write_input(data, size, ".tsv");
    fuzz::expect_clean_failure([&] { scorekit::read_points(path); });
    fuzz::expect_clean_failure([&] { scorekit::read_points(path, 2); });
    fuzz::expect_clean_failure([&] { scorekit::read_polylines(path, 2); });
    return 0;
}
