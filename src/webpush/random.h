// Source of the random bytes behind salts and ephemeral private keys. Injected so that the RFC
// test vectors reproduce byte for byte; production code uses system_random().
//
// Thread safety: system_random() may be shared by all threads; other implementations say.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

namespace flashwire::webpush {

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  // Fills `out` with random bytes. Aborts the process if the system generator fails: no
  // message may ever go out with a predictable salt or key.
  virtual void fill(std::span<std::uint8_t> out) = 0;
};

// Hands out fixed bytes in order: each fill() takes exactly the next queued string, whose
// length must match. For test vectors and reproducible CLI runs only; aborts when the script
// runs out or a length differs, because silently predictable bytes must never leak into use.
class FixedRandom final : public RandomSource {
 public:
  explicit FixedRandom(std::vector<std::vector<std::uint8_t>> script)
      : script_(std::move(script)) {}
  void fill(std::span<std::uint8_t> out) override {
    if (next_ >= script_.size() || script_[next_].size() != out.size()) {
      std::fprintf(stderr, "fatal: FixedRandom script does not match the requested bytes\n");
      std::abort();
    }
    std::copy(script_[next_].begin(), script_[next_].end(), out.begin());
    ++next_;
  }
  std::size_t remaining() const { return script_.size() - next_; }

 private:
  std::vector<std::vector<std::uint8_t>> script_;
  std::size_t next_ = 0;
};

// OpenSSL's private DRBG (RAND_priv_bytes), seeded by the kernel. Thread-safe.
RandomSource& system_random();

}  // namespace flashwire::webpush
