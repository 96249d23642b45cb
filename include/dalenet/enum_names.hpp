#pragma once
// The names of a config enum, in one table per enum: what the TOML reader accepts and the writer
// writes. Strings are parsed once, at the config boundary; code after that compares enums.
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dalenet {

template <class E, std::size_t N>
using EnumNames = std::array<std::pair<E, std::string_view>, N>;

// The name of `value` in `names` ("" if the table lacks it, which a complete table never does).
template <class E, std::size_t N>
constexpr std::string_view enum_name(const EnumNames<E, N>& names, E value) {
  for (const auto& [e, name] : names)
    if (e == value) return name;
  return {};
}

// The value named `name`, or nullopt.
template <class E, std::size_t N>
constexpr std::optional<E> parse_enum(const EnumNames<E, N>& names, std::string_view name) {
  for (const auto& [e, n] : names)
    if (n == name) return e;
  return std::nullopt;
}

// Every name, in the table's order (for error messages and docs).
template <class E, std::size_t N>
std::vector<std::string> enum_names(const EnumNames<E, N>& names) {
  std::vector<std::string> out;
  out.reserve(N);
  for (const auto& entry : names) out.emplace_back(entry.second);
  return out;
}

}  // namespace dalenet
