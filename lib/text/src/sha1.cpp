// SHA-1 as FIPS 180-4 specifies it (sections 5.1.1, 5.3.1, 6.1.2), with a compression function
// for the x86 SHA extensions and a portable one.
#include "sha1.hpp"

#include <algorithm>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define SCOREKIT_SHA1_X86 1
#endif

#include "scorekit/error.hpp"

namespace scorekit::text {
namespace {

constexpr std::uint32_t kInitial[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};

inline std::uint32_t rotl(std::uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

inline std::uint32_t load_big_endian(const unsigned char* p) {
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}

// The first 8 digest bytes are H0 and H1, each big-endian; cc_net reads them as a
// little-endian integer.
inline std::uint64_t digest_prefix(std::uint32_t h0, std::uint32_t h1) {
    return std::uint64_t(__builtin_bswap32(h0)) | (std::uint64_t(__builtin_bswap32(h1)) << 32);
}

// FIPS 180-4, section 6.1.2: one 64-byte block into the state h[0..4].
void compress_portable(std::uint32_t* h, const unsigned char* block) {
    std::uint32_t w[80];
    for (int t = 0; t < 16; ++t) w[t] = load_big_endian(block + 4 * t);
    for (int t = 16; t < 80; ++t) w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);

    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int t = 0; t < 80; ++t) {
        std::uint32_t f, k;
        if (t < 20) {
            f = (b & c) ^ (~b & d);  // Ch
            k = 0x5A827999u;
        } else if (t < 40) {
            f = b ^ c ^ d;  // Parity
            k = 0x6ED9EBA1u;
        } else if (t < 60) {
            f = (b & c) ^ (b & d) ^ (c & d);  // Maj
            k = 0x8F1BBCDCu;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6u;
        }
        std::uint32_t temp = rotl(a, 5) + f + e + k + w[t];
        e = d;
        d = c;
        c = rotl(b, 30);
        b = a;
        a = temp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void hash_portable(const unsigned char* const* messages, const std::size_t* padded_sizes, std::size_t count,
                   std::uint64_t* out) {
    for (std::size_t i = 0; i < count; ++i) {
        std::uint32_t h[5];
        std::memcpy(h, kInitial, sizeof(h));
        for (std::size_t at = 0; at < padded_sizes[i]; at += 64) compress_portable(h, messages[i] + at);
        out[i] = digest_prefix(h[0], h[1]);
    }
}

#ifdef SCOREKIT_SHA1_X86

// Eight lanes measured 13% faster than four on an AMD EPYC (Zen 4), where the throughput of
// SHA1RNDS4 rather than its latency then bounds the speed.
constexpr int kLanes = 8;

// A register contains four message words, or the state words A, B, C, D with A in the highest
// 32 bits as the SHA instructions expect. E is kept in the highest 32 bits of its own register.
struct LaneState {
    __m128i abcd[kLanes];
    __m128i e[kLanes];
};

// Four rounds for every lane. The message words of group `g` (rounds 4g..4g+3) are computed
// from the four groups before it by SHA1MSG1, XOR and SHA1MSG2 (FIPS 180-4 section 6.1.2, step
// 1). SHA1NEXTE rotates E of the first round out of A of four rounds ago, and SHA1RNDS4 runs the
// rounds with the function and constant that `F` selects (0: Ch, 1: Parity, 2: Maj, 3: Parity).
template <int F>
__attribute__((target("sha,sse4.1,ssse3"), always_inline)) inline void round_group(int g, __m128i (&w)[kLanes][4],
                                                                                  __m128i (&previous)[kLanes],
                                                                                  LaneState& s) {
    for (int l = 0; l < kLanes; ++l) {
        __m128i* m = w[l];
        if (g >= 4) {
            m[g & 3] = _mm_sha1msg2_epu32(
                _mm_xor_si128(_mm_sha1msg1_epu32(m[g & 3], m[(g + 1) & 3]), m[(g + 2) & 3]), m[(g + 3) & 3]);
        }
        __m128i e_plus_w = _mm_sha1nexte_epu32(previous[l], m[g & 3]);
        previous[l] = s.abcd[l];
        s.abcd[l] = _mm_sha1rnds4_epu32(s.abcd[l], e_plus_w, F);
    }
}

// One block for each lane. The lanes are independent, so the processor overlaps
// their round chains, whose latency bounds the speed of a single message.
__attribute__((target("sha,sse4.1,ssse3"))) void compress_lanes(LaneState& s, const unsigned char* const* blocks) {
    const __m128i byte_swap = _mm_set_epi64x(0x0001020304050607LL, 0x08090A0B0C0D0E0FLL);
    __m128i w[kLanes][4], previous[kLanes], abcd_in[kLanes], e_in[kLanes];
    for (int l = 0; l < kLanes; ++l) {
        abcd_in[l] = s.abcd[l];
        e_in[l] = s.e[l];
        for (int i = 0; i < 4; ++i) {
            __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks[l] + 16 * i));
            w[l][i] = _mm_shuffle_epi8(bytes, byte_swap);
        }
        previous[l] = s.abcd[l];
        s.abcd[l] = _mm_sha1rnds4_epu32(s.abcd[l], _mm_add_epi32(s.e[l], w[l][0]), 0);
    }
    for (int g = 1; g < 5; ++g) round_group<0>(g, w, previous, s);
    for (int g = 5; g < 10; ++g) round_group<1>(g, w, previous, s);
    for (int g = 10; g < 15; ++g) round_group<2>(g, w, previous, s);
    for (int g = 15; g < 20; ++g) round_group<3>(g, w, previous, s);
    for (int l = 0; l < kLanes; ++l) {
        s.e[l] = _mm_sha1nexte_epu32(previous[l], e_in[l]);
        s.abcd[l] = _mm_add_epi32(s.abcd[l], abcd_in[l]);
    }
}

// Keeps kLanes messages in flight: a lane that finishes its message takes the next one, so the
// lanes stay busy whatever the mix of lengths. Idle lanes at the end hash a dummy block.
__attribute__((target("sha,sse4.1,ssse3"))) void hash_sha_ni(const unsigned char* const* messages,
                                                              const std::size_t* padded_sizes, std::size_t count,
                                                              std::uint64_t* out) {
    static const unsigned char dummy[64] = {};
    const __m128i abcd_initial = _mm_set_epi32(static_cast<int>(kInitial[0]), static_cast<int>(kInitial[1]),
                                               static_cast<int>(kInitial[2]), static_cast<int>(kInitial[3]));
    const __m128i e_initial = _mm_set_epi32(static_cast<int>(kInitial[4]), 0, 0, 0);
    constexpr std::size_t kIdle = ~std::size_t(0);

    LaneState s;
    std::size_t message[kLanes], offset[kLanes];
    std::size_t next = 0, active = 0;
    for (int l = 0; l < kLanes; ++l) {
        message[l] = next < count ? next++ : kIdle;
        active += message[l] != kIdle;
        offset[l] = 0;
        s.abcd[l] = abcd_initial;
        s.e[l] = e_initial;
    }
    const unsigned char* blocks[kLanes];
    while (active) {
        for (int l = 0; l < kLanes; ++l) blocks[l] = message[l] == kIdle ? dummy : messages[message[l]] + offset[l];
        compress_lanes(s, blocks);
        for (int l = 0; l < kLanes; ++l) {
            if (message[l] == kIdle) continue;
            offset[l] += 64;
            if (offset[l] < padded_sizes[message[l]]) continue;
            auto h0 = static_cast<std::uint32_t>(_mm_extract_epi32(s.abcd[l], 3));
            auto h1 = static_cast<std::uint32_t>(_mm_extract_epi32(s.abcd[l], 2));
            out[message[l]] = digest_prefix(h0, h1);
            if (next < count) {
                message[l] = next++;
            } else {
                message[l] = kIdle;
                --active;
            }
            offset[l] = 0;
            s.abcd[l] = abcd_initial;
            s.e[l] = e_initial;
        }
    }
}

// GCC 12's AVX-512 headers start some intrinsics from _mm512_undefined_epi32(), which
// -Wmaybe-uninitialized reports at every use; the values are fully written.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// Sixteen messages at once with AVX-512: the rounds of FIPS 180-4 on one 32-bit lane per
// message. On the AMD EPYC (Zen 4) of the benchmarks this hashed short lines 20% faster than
// eight lanes of SHA1RNDS4.
constexpr int kWideLanes = 16;

struct WideRegisters {
    __m512i a, b, c, d, e;
};

// Rounds t0..t1 of every lane with the round function whose truth table f(b, c, d) is the
// VPTERNLOGD immediate `F`: 0xCA is Ch, 0x96 Parity, 0xE8 Maj.
template <int F>
__attribute__((target("avx512f,avx512bw"), always_inline)) inline void wide_rounds(int t0, int t1, std::uint32_t k,
                                                                                  __m512i (&w)[16], WideRegisters& r) {
    const __m512i constant = _mm512_set1_epi32(static_cast<int>(k));
    for (int t = t0; t < t1; ++t) {
        if (t >= 16) {
            __m512i x = _mm512_ternarylogic_epi32(w[(t - 3) & 15], w[(t - 8) & 15], w[(t - 14) & 15], 0x96);
            w[t & 15] = _mm512_rol_epi32(_mm512_xor_si512(x, w[t & 15]), 1);
        }
        __m512i f = _mm512_ternarylogic_epi32(r.b, r.c, r.d, F);
        __m512i temp = _mm512_add_epi32(_mm512_add_epi32(_mm512_rol_epi32(r.a, 5), f),
                                        _mm512_add_epi32(_mm512_add_epi32(r.e, constant), w[t & 15]));
        r.e = r.d;
        r.d = r.c;
        r.c = _mm512_rol_epi32(r.b, 30);
        r.b = r.a;
        r.a = temp;
    }
}

// Transposes a 16 x 16 matrix of 32-bit words given as 16 rows. Interleaving 32-bit and then
// 64-bit pairs transposes each 4 x 4 block inside the 128-bit lanes. Two shuffles of 128-bit
// lanes then transpose the 4 x 4 grid of blocks.
__attribute__((target("avx512f,avx512bw"), always_inline)) inline void transpose_16x16(__m512i (&m)[16]) {
    __m512i t[16], u[16];
    for (int i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_unpacklo_epi32(m[2 * i], m[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(m[2 * i], m[2 * i + 1]);
    }
    // u[4i + j], 128-bit lane k: word 4k + j of rows 4i..4i+3.
    for (int i = 0; i < 4; ++i) {
        u[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    for (int j = 0; j < 4; ++j) {
        __m512i x0 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0x44), x1 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0xEE);
        __m512i y0 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0x44);
        __m512i y1 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0xEE);
        m[j] = _mm512_shuffle_i32x4(x0, y0, 0x88);
        m[4 + j] = _mm512_shuffle_i32x4(x0, y0, 0xDD);
        m[8 + j] = _mm512_shuffle_i32x4(x1, y1, 0x88);
        m[12 + j] = _mm512_shuffle_i32x4(x1, y1, 0xDD);
    }
}

// Compresses one block of each lane. `state` contains H0..H4 of every lane, one row per word.
__attribute__((target("avx512f,avx512bw"))) void compress_wide(std::uint32_t (*state)[kWideLanes],
                                                                const unsigned char* const* blocks) {
    // Each lane's block as big-endian words (a row), then transposed so that w[t] holds word t
    // of every lane. A gather per word made the whole hash 15% slower on Zen 4.
    const __m512i byte_swap = _mm512_set_epi8(
        12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3,
        12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
    __m512i w[16];
    for (int l = 0; l < kWideLanes; ++l) w[l] = _mm512_shuffle_epi8(_mm512_loadu_si512(blocks[l]), byte_swap);
    transpose_16x16(w);

    __m512i a = _mm512_load_si512(state[0]), b = _mm512_load_si512(state[1]), c = _mm512_load_si512(state[2]);
    __m512i d = _mm512_load_si512(state[3]), e = _mm512_load_si512(state[4]);
    const __m512i a0 = a, b0 = b, c0 = c, d0 = d, e0 = e;

    WideRegisters r{a, b, c, d, e};
    wide_rounds<0xCA>(0, 20, 0x5A827999u, w, r);
    wide_rounds<0x96>(20, 40, 0x6ED9EBA1u, w, r);
    wide_rounds<0xE8>(40, 60, 0x8F1BBCDCu, w, r);
    wide_rounds<0x96>(60, 80, 0xCA62C1D6u, w, r);
    a = r.a;
    b = r.b;
    c = r.c;
    d = r.d;
    e = r.e;

    _mm512_store_si512(state[0], _mm512_add_epi32(a, a0));
    _mm512_store_si512(state[1], _mm512_add_epi32(b, b0));
    _mm512_store_si512(state[2], _mm512_add_epi32(c, c0));
    _mm512_store_si512(state[3], _mm512_add_epi32(d, d0));
    _mm512_store_si512(state[4], _mm512_add_epi32(e, e0));
}

// The lane scheduling of hash_sha_ni() over sixteen lanes.
__attribute__((target("avx512f,avx512bw"))) void hash_wide(const unsigned char* const* messages,
                                                            const std::size_t* padded_sizes, std::size_t count,
                                                            std::uint64_t* out) {
    static const unsigned char dummy[64] = {};
    constexpr std::size_t kIdle = ~std::size_t(0);
    alignas(64) std::uint32_t state[5][kWideLanes];
    std::size_t message[kWideLanes], offset[kWideLanes];
    std::size_t next = 0, active = 0;
    auto start = [&](int l) {
        for (int i = 0; i < 5; ++i) state[i][l] = kInitial[i];
        offset[l] = 0;
    };
    for (int l = 0; l < kWideLanes; ++l) {
        message[l] = next < count ? next++ : kIdle;
        active += message[l] != kIdle;
        start(l);
    }
    const unsigned char* blocks[kWideLanes];
    while (active) {
        for (int l = 0; l < kWideLanes; ++l) blocks[l] = message[l] == kIdle ? dummy : messages[message[l]] + offset[l];
        compress_wide(state, blocks);
        for (int l = 0; l < kWideLanes; ++l) {
            if (message[l] == kIdle) continue;
            offset[l] += 64;
            if (offset[l] < padded_sizes[message[l]]) continue;
            out[message[l]] = digest_prefix(state[0][l], state[1][l]);
            if (next < count) {
                message[l] = next++;
            } else {
                message[l] = kIdle;
                --active;
            }
            start(l);
        }
    }
}

#pragma GCC diagnostic pop

#endif  // SCOREKIT_SHA1_X86

}  // namespace

std::size_t sha1_pad(unsigned char* message, std::size_t length) {
    std::size_t padded = (length + 8) / 64 * 64 + 64;
    message[length] = 0x80;
    // The zeros take at most 63 bytes. A fixed 64 bytes compiles to a few stores, where a
    // variable size calls memset. It stays within the room, and the length overwrites the excess.
    std::memset(message + length + 1, 0, 64);
    std::uint64_t big_endian_bits = __builtin_bswap64(static_cast<std::uint64_t>(length) * 8);
    std::memcpy(message + padded - 8, &big_endian_bits, 8);
    return padded;
}

bool cpu_has_sha_ni() {
#ifdef SCOREKIT_SHA1_X86
    static const bool present = [] {
        unsigned a, b, c, d;
        if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
        bool ssse3 = c & (1u << 9), sse41 = c & (1u << 19);
        if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
        bool sha = b & (1u << 29);
        return ssse3 && sse41 && sha;
    }();
    return present;
#else
    return false;
#endif
}

bool cpu_has_avx512() {
#ifdef SCOREKIT_SHA1_X86
    // libgcc's check also reads XGETBV, so it is false when the operating system does not save
    // the AVX-512 state.
    static const bool present = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
    return present;
#else
    return false;
#endif
}

void sha1_prefix64_padded(const unsigned char* const* messages, const std::size_t* padded_sizes, std::size_t count,
                          std::uint64_t* out, Sha1Backend backend) {
    if (backend == Sha1Backend::sha_ni && !cpu_has_sha_ni()) {
        throw Error("cannot hash with SHA-NI: this CPU has no SHA extensions; use Sha1Backend::automatic");
    }
    if (backend == Sha1Backend::avx512 && !cpu_has_avx512()) {
        throw Error("cannot hash with AVX-512: this CPU or operating system has no AVX-512; use Sha1Backend::automatic");
    }
#ifdef SCOREKIT_SHA1_X86
    if (backend == Sha1Backend::avx512 || (backend == Sha1Backend::automatic && cpu_has_avx512())) {
        hash_wide(messages, padded_sizes, count, out);
        return;
    }
    if (backend != Sha1Backend::portable && cpu_has_sha_ni()) {
        hash_sha_ni(messages, padded_sizes, count, out);
        return;
    }
#endif
    hash_portable(messages, padded_sizes, count, out);
}

void PaddedMessages::clear() {
    used_ = 0;
    offsets_.clear();
    padded_sizes_.clear();
}

char* PaddedMessages::room(std::size_t bytes) {
    std::size_t needed = used_ + bytes + kSha1PadRoom;
    if (needed > buffer_.size()) buffer_.resize(std::max(needed, 2 * buffer_.size()));
    return reinterpret_cast<char*>(buffer_.data() + used_);
}

void PaddedMessages::add(std::size_t size) {
    std::size_t padded = sha1_pad(buffer_.data() + used_, size);
    offsets_.push_back(used_);
    padded_sizes_.push_back(padded);
    used_ += padded;
}

void PaddedMessages::hash(std::size_t first, std::size_t n, std::vector<std::uint64_t>& out) {
    pointers_.resize(n);
    for (std::size_t i = 0; i < n; ++i) pointers_[i] = buffer_.data() + offsets_[first + i];
    std::size_t old_size = out.size();
    out.resize(old_size + n);
    sha1_prefix64_padded(pointers_.data(), padded_sizes_.data() + first, n, out.data() + old_size);
}

}  // namespace scorekit::text
