#pragma once
// Reproducible random numbers that do not depend on the standard library implementation
// (std::*_distribution differ between libstdc++ and libc++): xoshiro256** seeded by splitmix64,
// with our own uniform/normal/integer draws. Streams are derived from (seed, stream id) so that
// results do not depend on the order in which components ask for numbers.
#include <cmath>
#include <cstdint>
#include <numbers>
#include <span>
#include <utility>

namespace dalenet {

// The named random streams of a training run (Rng(train.seed, stream)). Each use draws from its
// own stream, so a new use leaves the others' numbers, and so the models, unchanged. The values
// are part of what defines a model: never renumber them.
namespace rng_stream {
inline constexpr std::uint64_t init = 1;           // initial weights
inline constexpr std::uint64_t shuffle = 2;        // the order of the training examples, per epoch
inline constexpr std::uint64_t prepare = 4;        // the rule's preparation (e.g. the bio rule's draws)
inline constexpr std::uint64_t augment_shift = 5;  // fixational jitter (train.augment_shift)
}  // namespace rng_stream

// 128-bit unsigned integer (a GCC/Clang extension) for overflow-free products of 64-bit sizes.
__extension__ using u128 = unsigned __int128;

class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0, std::uint64_t stream = 0) {
    std::uint64_t x = seed ^ (0x9E3779B97F4A7C15ULL * (stream + 1));
    for (auto& s : state_) s = splitmix64(x);
  }

  std::uint64_t next_u64() {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Standard normal (Box-Muller; one draw per call, the partner is discarded for simplicity).
  double normal() {
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }
  // Uniform integer in [0, n), unbiased (Lemire's method with rejection).
  std::uint64_t below(std::uint64_t n) {
    if (n == 0) return 0;
    for (;;) {
      const u128 m = static_cast<u128>(next_u64()) * n;
      const auto low = static_cast<std::uint64_t>(m);
      if (low >= n || low >= (-n) % n) return static_cast<std::uint64_t>(m >> 64);
    }
  }
  template <class T>
  void shuffle(std::span<T> v) {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  std::uint64_t state_[4]{};
};

}  // namespace dalenet
