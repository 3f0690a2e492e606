#include "scorekit/rng.hpp"

#include <cmath>

namespace scorekit {
namespace {

double unnormalised_density(double x) { return std::exp(-0.5 * x * x); }

ZigguratTables build_ziggurat_tables() {
    constexpr int n = ZigguratTables::layers;
    // With 256 layers, this r makes the top layer end at x = 0, which the unit tests check.
    // v is the common layer area: the box r f(r) plus the tail integral sqrt(pi / 2) erfc(r / sqrt 2).
    const double r = 3.6541528853610088;
    const double v = r * unnormalised_density(r) + std::sqrt(M_PI / 2) * std::erfc(r / std::sqrt(2.0));

    ZigguratTables t{};
    t.tail_start = r;
    t.x[0] = v / unnormalised_density(r);
    t.x[1] = r;
    // Layer i has area x_i (f(x_{i+1}) - f(x_i)) = v, so f(x_{i+1}) = f(x_i) + v / x_i.
    for (int i = 1; i + 1 < n; ++i) {
        t.x[i + 1] = std::sqrt(-2 * std::log(unnormalised_density(t.x[i]) + v / t.x[i]));
    }
    t.x[n] = 0;

    for (int i = 0; i <= n; ++i) t.density[i] = unnormalised_density(t.x[i]);
    for (int i = 0; i < n; ++i) {
        t.scale[i] = t.x[i] * 0x1.0p-53;
        t.inner[i] = static_cast<std::uint64_t>(t.x[i + 1] / t.x[i] * 0x1.0p53);
    }
    return t;
}

}  // namespace

const ZigguratTables& ziggurat_tables() {
    static const ZigguratTables tables = build_ziggurat_tables();
    return tables;
}

bool ZigguratNormal::edge(Rng& rng, int layer, double x, double& result) const {
    if (layer == 0) {
        // Tail beyond r by rejection from an exponential: with a = -ln(U1) / r and b = -ln(U2),
        // accepting when 2 b >= a^2 makes r + a a normal deviate conditioned on exceeding r.
        const double r = tables_.tail_start;
        for (;;) {
            double a = -std::log(1 - rng.uniform()) / r;
            double b = -std::log(1 - rng.uniform());
            if (2 * b >= a * a) {
                result = r + a;
                return true;
            }
        }
    }

    // Wedge of layer i: x lies in [x_{i+1}, x_i); accept when a uniform height in the layer,
    // between f(x_i) and f(x_{i+1}), falls under f(x).
    const double low = tables_.density[layer], high = tables_.density[layer + 1];
    const double height = low + rng.uniform() * (high - low);
    if (height < unnormalised_density(x)) {
        result = x;
        return true;
    }
    return false;
}

}  // namespace scorekit
