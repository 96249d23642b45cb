// libFuzzer target: the IDX readers (uint8 images and labels, float32 images) over raw bytes,
// and the same after gzip decompression (every reader of outside data-set bytes).
#include <cstddef>
#include <cstdint>
#include <span>

#include "dalenet/data.hpp"
#include "dalenet/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  auto parse_all = [](std::span<const std::uint8_t> b) {
    try {
      (void)dalenet::parse_idx_images(b, "fuzz");
    } catch (const dalenet::Error&) {
    }
    try {
      (void)dalenet::parse_idx_labels(b, "fuzz");
    } catch (const dalenet::Error&) {
    }
    try {
      (void)dalenet::parse_idx_float_images(b, "fuzz");
    } catch (const dalenet::Error&) {
    }
  };
  parse_all(bytes);
  if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
    try {
      const auto raw = dalenet::gunzip(bytes, "fuzz.gz");
      parse_all(raw);
    } catch (const dalenet::Error&) {
    }
  }
  return 0;
}
