#pragma once
// SHA-256 (FIPS 180-4), used to verify data files and to record their identity in results.
// Internal to the library: not an installed header.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace dalenet {

class Sha256 {
 public:
  Sha256();
  void update(std::span<const std::uint8_t> bytes);
  std::string hex_digest();  // finalises; the object must not be updated afterwards

 private:
  void block(const std::uint8_t* p);
  std::uint32_t h_[8];
  std::uint8_t buf_[64];
  std::size_t buf_len_ = 0;
  std::uint64_t total_ = 0;
};

std::string sha256_hex(std::span<const std::uint8_t> bytes);
// Hash of a file's bytes as stored on disk (for .gz files: of the compressed bytes).
std::string sha256_file(const std::string& path);

}  // namespace dalenet
