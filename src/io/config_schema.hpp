#pragma once
// The train config's schema mechanism (internal): a KeyDef per key says how to read it from TOML,
// with its checks, and how to write it back. src/io/config.cpp holds the keys of TrainConfig's
// own sections ([data], [network], [train]); a module declares its section's keys beside its
// struct (add_bio_keys: src/rules/bio_config_keys.cpp). Every error names the key.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include <toml++/toml.h>

#include "dalenet/config.hpp"
#include "dalenet/enum_names.hpp"

namespace dalenet::config_key_defs {

struct KeyDef {
  std::string doc;
  std::function<void(TrainConfig&, const toml::node&, const std::string& where)> read;
  std::function<void(const TrainConfig&, toml::table&, const std::string& leaf)> write;
};
// Keyed "section.key".
using KeyTable = std::map<std::string, KeyDef>;

// ConfigError "<where>: <what>".
[[noreturn]] void fail(const std::string& where, const std::string& what);
// "a string", "an integer", ... for error messages.
std::string type_name(const toml::node& n);
// Typed reads with range checks; errors name `where` (the file and key).
std::int64_t get_int(const toml::node& n, const std::string& where, std::int64_t lo, std::int64_t hi);
double get_double(const toml::node& n, const std::string& where, double lo, double hi, bool lo_open = false);
std::string get_string(const toml::node& n, const std::string& where, const std::vector<std::string>& allowed = {});
bool get_bool(const toml::node& n, const std::string& where);

inline constexpr std::int64_t kBig = std::int64_t{1} << 40;

// Builders of schema entries. `get` is a generic lambda returning a reference to the field, so
// one accessor serves reading (non-const) and writing back (const).
template <class F>
KeyDef int_key(std::string doc, F get, std::int64_t lo, std::int64_t hi) {
  return {std::move(doc),
          [=](TrainConfig& c, const toml::node& n, const std::string& w) {
            using T = std::remove_reference_t<decltype(get(c))>;
            get(c) = static_cast<T>(get_int(n, w, lo, hi));
          },
          [=](const TrainConfig& c, toml::table& t, const std::string& leaf) {
            t.insert_or_assign(leaf, static_cast<std::int64_t>(get(c)));
          }};
}
// An array of integers, each in [lo, hi]; `example` completes the type error message.
template <class F>
KeyDef int_list_key(std::string doc, F get, std::int64_t lo, std::int64_t hi, const std::string& example) {
  return {std::move(doc),
          [=](TrainConfig& c, const toml::node& n, const std::string& w) {
            const auto* arr = n.as_array();
            if (arr == nullptr) fail(w, "expected an array of " + example);
            get(c).clear();
            for (std::size_t i = 0; i < arr->size(); ++i)
              get(c).push_back(static_cast<int>(
                  get_int(*arr->get(i), w.substr(0, w.size() - 1) + "[" + std::to_string(i) + "]'", lo, hi)));
          },
          [=](const TrainConfig& c, toml::table& t, const std::string& leaf) {
            toml::array a;
            for (int v : get(c)) a.push_back(v);
            t.insert_or_assign(leaf, a);
          }};
}
template <class F>
KeyDef double_key(std::string doc, F get, double lo, double hi, bool lo_open = false) {
  return {
      std::move(doc),
      [=](TrainConfig& c, const toml::node& n, const std::string& w) { get(c) = get_double(n, w, lo, hi, lo_open); },
      [=](const TrainConfig& c, toml::table& t, const std::string& leaf) { t.insert_or_assign(leaf, get(c)); }};
}
template <class F>
KeyDef string_key(std::string doc, F get, const std::vector<std::string>& allowed) {
  return {std::move(doc),
          [=](TrainConfig& c, const toml::node& n, const std::string& w) { get(c) = get_string(n, w, allowed); },
          [=](const TrainConfig& c, toml::table& t, const std::string& leaf) { t.insert_or_assign(leaf, get(c)); }};
}
// A key whose value is one of an enum's names (kXNames): parsed once here, written back by name.
template <class E, std::size_t N, class F>
KeyDef enum_key(std::string doc, F get, const EnumNames<E, N>& names) {
  return {std::move(doc),
          [=](TrainConfig& c, const toml::node& n, const std::string& w) {
            get(c) = *parse_enum(names, get_string(n, w, enum_names(names)));
          },
          [=](const TrainConfig& c, toml::table& t, const std::string& leaf) {
            t.insert_or_assign(leaf, std::string(enum_name(names, get(c))));
          }};
}
template <class F>
KeyDef bool_key(std::string doc, F get) {
  return {std::move(doc), [=](TrainConfig& c, const toml::node& n, const std::string& w) { get(c) = get_bool(n, w); },
          [=](const TrainConfig& c, toml::table& t, const std::string& leaf) { t.insert_or_assign(leaf, get(c)); }};
}

// [bio]: the bio rule's keys (src/rules/bio_config_keys.cpp).
void add_bio_keys(KeyTable& keys);

}  // namespace dalenet::config_key_defs
