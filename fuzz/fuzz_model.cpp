// libFuzzer target: the model file parser (safetensors header, JSON, tensor table, offsets,
// architecture, values). Every failure must be a ModelFileError (a dalenet::Error).
#include <cstddef>
#include <cstdint>
#include <span>

#include "dalenet/error.hpp"
#include "dalenet/io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const dalenet::Model m = dalenet::parse_model(std::span<const std::uint8_t>(data, size), "fuzz.safetensors");
    // A model that parses must also be usable: validate() passed inside parse_model.
    (void)m.net.num_parameters();
  } catch (const dalenet::Error&) {
  }
  return 0;
}
