// libFuzzer target: the TOML configuration parser and its strict schema (unknown keys, types,
// ranges). Every failure must be a ConfigError (a dalenet::Error).
#include <cstddef>
#include <cstdint>
#include <string>

#include "dalenet/config.hpp"
#include "dalenet/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const dalenet::TrainConfig cfg = dalenet::parse_config(text, "fuzz.toml");
    // What parses must round-trip through its own TOML.
    (void)dalenet::parse_config(dalenet::to_toml(cfg), "fuzz-roundtrip.toml");
  } catch (const dalenet::Error&) {
  }
  return 0;
}
