// Typed reads of one TOML file's values, each error naming the file and the key (internal).
//
// The readers of the paper config (app/paper/paper.cpp) and of the few-shot config
// (src/eval/fewshot.cpp) share it, so a key of either is checked the same way: the type, the
// range, and for a list whether it may be empty and whether its entries must be distinct.
#pragma once

#include <fmt/format.h>
#include <toml++/toml.h>

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "dalenet/error.hpp"

namespace dalenet {

class TomlReader {
 public:
  explicit TomlReader(std::string path) : path_(std::move(path)) {}

  // The file's top-level table; a syntax error is a ConfigError naming the file.
  toml::table parse() const {
    try {
      return toml::parse_file(path_);
    } catch (const toml::parse_error& e) {
      throw ConfigError("'" + path_ + "': " + std::string(e.description()));
    }
  }

  const std::string& path() const { return path_; }
  std::string where(const std::string& key) const { return "'" + path_ + "': key '" + key + "'"; }

  std::string str(const toml::node& n, const std::string& key) const {
    if (!n.is_string()) throw ConfigError(where(key) + ": expected a string");
    return *n.value<std::string>();
  }
  bool boolean(const toml::node& n, const std::string& key) const {
    if (!n.is_boolean()) throw ConfigError(where(key) + ": expected true or false");
    return *n.value<bool>();
  }
  std::int64_t integer(const toml::node& n, const std::string& key, std::int64_t lo, std::int64_t hi) const {
    const auto v = n.is_integer() ? n.value<std::int64_t>() : std::nullopt;
    if (!v || *v < lo || *v > hi)
      throw ConfigError(where(key) + ": expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                        "]");
    return *v;
  }
  // A number in the open interval (lo, hi).
  double number_between(const toml::node& n, const std::string& key, double lo, double hi) const {
    const auto v = n.value<double>();
    if (!v || !(*v > lo && *v < hi))
      throw ConfigError(where(key) + fmt::format(": expected a number in ({}, {})", lo, hi));
    return *v;
  }
  const toml::array& array(const toml::node& n, const std::string& key) const {
    const auto* a = n.as_array();
    if (a == nullptr) throw ConfigError(where(key) + ": expected an array");
    return *a;
  }
  std::vector<std::string> strings(const toml::node& n, const std::string& key, bool allow_empty) const {
    std::vector<std::string> out;
    for (const auto& e : array(n, key)) out.push_back(str(e, key));
    if (!allow_empty && out.empty()) throw ConfigError(where(key) + ": must not be empty");
    return out;
  }
  // A non-empty list of distinct integers in [lo, hi].
  std::vector<std::int64_t> integers(const toml::node& n, const std::string& key, std::int64_t lo,
                                     std::int64_t hi) const {
    std::vector<std::int64_t> out;
    for (const auto& e : array(n, key)) out.push_back(integer(e, key, lo, hi));
    if (out.empty()) throw ConfigError(where(key) + ": must not be empty");
    std::set<std::int64_t> seen(out.begin(), out.end());
    if (seen.size() != out.size()) throw ConfigError(where(key) + ": entries must be distinct");
    return out;
  }
  // A non-empty list of numbers in [lo, hi].
  std::vector<double> numbers(const toml::node& n, const std::string& key, double lo, double hi) const {
    std::vector<double> out;
    for (const auto& e : array(n, key)) {
      const auto v = e.value<double>();
      if (!v || !(*v >= lo && *v <= hi))
        throw ConfigError(where(key) + fmt::format(": entries must be numbers in [{}, {}]", lo, hi));
      out.push_back(*v);
    }
    if (out.empty()) throw ConfigError(where(key) + ": must not be empty");
    return out;
  }
  [[noreturn]] void unknown(const std::string& key, const std::string& known) const {
    throw ConfigError(where(key) + ": unknown key (known: " + known + ")");
  }

 private:
  std::string path_;
};

// The integers of TomlReader::integers as another integer type (the range was checked there).
template <class T>
std::vector<T> integers_as(const std::vector<std::int64_t>& v) {
  std::vector<T> out;
  out.reserve(v.size());
  for (const std::int64_t x : v) out.push_back(static_cast<T>(x));
  return out;
}

}  // namespace dalenet
