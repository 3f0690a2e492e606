// Counter-free, platform-independent random numbers (xoshiro256++ seeded by SplitMix64).
//
// Standard-library distributions differ between implementations, so scorekit draws its own:
// the same seed gives the same numbers with any compiler. Independent streams are derived from
// (seed, stream id), which keeps results independent of thread count and sharding.
#pragma once

#include <cmath>
#include <cstdint>

namespace scorekit {

inline std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// Mixes a seed and a stream id into one 64-bit seed.
inline std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) {
    std::uint64_t state = seed ^ (0xd1b54a32d192ed03ULL * (stream + 1));
    splitmix64(state);
    return splitmix64(state);
}

class Rng {
public:
    explicit Rng(std::uint64_t seed = 0, std::uint64_t stream = 0) {
        std::uint64_t state = derive_seed(seed, stream);
        for (auto& word : s_) word = splitmix64(state);
    }

    std::uint64_t next() {
        std::uint64_t result = rotl(s_[0] + s_[3], 23) + s_[0];
        std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    // The whole generator state, for checkpoints: restore() continues the same sequence.
    struct State {
        std::uint64_t words[4];
        double spare;
        bool has_spare;
    };
    State state() const { return State{{s_[0], s_[1], s_[2], s_[3]}, spare_, has_spare_}; }
    void restore(const State& state) {
        for (int i = 0; i < 4; ++i) s_[i] = state.words[i];
        spare_ = state.spare;
        has_spare_ = state.has_spare;
    }

    // Uniform on [0, 1) with 53 random bits.
    double uniform() { return (next() >> 11) * 0x1.0p-53; }

    // Uniform integer on [0, n) without modulo bias (Lemire's method).
    std::uint64_t below(std::uint64_t n) {
        __uint128_t product = static_cast<__uint128_t>(next()) * n;
        auto low = static_cast<std::uint64_t>(product);
        if (low < n) {
            std::uint64_t threshold = -n % n;
            while (low < threshold) {
                product = static_cast<__uint128_t>(next()) * n;
                low = static_cast<std::uint64_t>(product);
            }
        }
        return static_cast<std::uint64_t>(product >> 64);
    }

    // Standard normal by the Marsaglia polar method. ZigguratNormal below is faster and gives
    // other numbers for the same seed.
    double normal() {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        double u, v, s;
        do {
            u = 2 * uniform() - 1;
            v = 2 * uniform() - 1;
            s = u * u + v * v;
        } while (s >= 1 || s == 0);
        double factor = std::sqrt(-2 * std::log(s) / s);
        spare_ = v * factor;
        has_spare_ = true;
        return u * factor;
    }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    std::uint64_t s_[4];
    double spare_ = 0;
    bool has_spare_ = false;
};

// Tables of the 256-layer ziggurat for the standard normal (see ZigguratNormal). Layer i >= 1
// is the box [0, x_i] x [f(x_i), f(x_{i+1})] under f(x) = exp(-x^2 / 2), with x_1 = r =
// 3.6541528853610088 and x_256 = 0. Layer 0 is the box [0, r] x [0, f(r)] plus the tail x > r,
// and its width x_0 = v / f(r) makes its area v, the area of every layer.
struct ZigguratTables {
    static constexpr int layers = 256;
    double scale[layers];          // x_i * 2^-53: maps a 53-bit integer m to x = m * scale[i]
    std::uint64_t inner[layers];   // floor(2^53 x_{i+1} / x_i): m below it lies under f in every row
    double density[layers + 1];    // f(x_i); f(x_256) = 1, and layer 0 does not use f(x_0)
    double x[layers + 1];          // x_i
    double tail_start;             // r
};

// Built on first use; safe to call from several threads.
const ZigguratTables& ziggurat_tables();

// Standard normal deviates by the ziggurat method of Marsaglia and Tsang (2000, "The Ziggurat
// Method for Generating Random Variables", J. Stat. Softw. 5(8)), drawing from a caller's Rng,
// so per-chain streams stay per chain. One 64-bit draw gives the layer (8 bits), the sign (1 bit)
// and the abscissa (53 bits). About 99 % of deviates need nothing more, and the rest take the
// exact wedge or tail test. It is not the sequence of Rng::normal(). The common path uses integer
// operations and one multiplication, but the wedge and tail tests call exp and log, so another
// libm than glibc's may change a rare deviate.
class ZigguratNormal {
public:
    ZigguratNormal() : tables_(ziggurat_tables()) {}

    double operator()(Rng& rng) const {
        for (;;) {
            const std::uint64_t bits = rng.next();
            const int layer = static_cast<int>(bits & 0xff);
            const bool negative = (bits >> 8) & 1;
            const std::uint64_t m = bits >> 11;
            const double x = static_cast<double>(m) * tables_.scale[layer];
            if (m < tables_.inner[layer]) return negative ? -x : x;
            double result;
            if (edge(rng, layer, x, result)) return negative ? -result : result;
        }
    }

private:
    // The wedge test of layers 1 to 255 and the tail of layer 0. Sets `result` (positive) and
    // returns true when accepted; false means start over with a new draw.
    bool edge(Rng& rng, int layer, double x, double& result) const;

    const ZigguratTables& tables_;
};

}  // namespace scorekit
