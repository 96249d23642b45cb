#include "dalenet/config.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <type_traits>

#include <toml++/toml.h>

#include "dalenet/error.hpp"
#include "dalenet/plugin.hpp"
#include "io/config_schema.hpp"

namespace dalenet {

namespace config_key_defs {

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw ConfigError(where + ": " + what);
}

std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    default:
      return "a date/time";
  }
}

std::int64_t get_int(const toml::node& n, const std::string& where, std::int64_t lo, std::int64_t hi) {
  const auto v = n.value_exact<std::int64_t>();
  if (!v) fail(where, "expected an integer, got " + type_name(n));
  if (*v < lo || *v > hi)
    fail(where,
         "value " + std::to_string(*v) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return *v;
}

double get_double(const toml::node& n, const std::string& where, double lo, double hi, bool lo_open) {
  std::optional<double> v;
  if (n.is_floating_point())
    v = n.value_exact<double>();
  else if (n.is_integer())
    v = static_cast<double>(*n.value_exact<std::int64_t>());
  if (!v) fail(where, "expected a number, got " + type_name(n));
  if (!std::isfinite(*v)) fail(where, "value must be finite");
  if ((lo_open ? *v <= lo : *v < lo) || *v > hi) {
    std::ostringstream os;
    os << "value " << *v << " is out of range " << (lo_open ? "(" : "[") << lo << ", " << hi << "]";
    fail(where, os.str());
  }
  return *v;
}

std::string get_string(const toml::node& n, const std::string& where, const std::vector<std::string>& allowed) {
  const auto v = n.value_exact<std::string>();
  if (!v) fail(where, "expected a string, got " + type_name(n));
  if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), *v) == allowed.end()) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    fail(where, "'" + *v + "' is not one of: " + list);
  }
  return *v;
}

bool get_bool(const toml::node& n, const std::string& where) {
  const auto v = n.value_exact<bool>();
  if (!v) fail(where, "expected true or false, got " + type_name(n));
  return *v;
}

}  // namespace config_key_defs

namespace {

using namespace config_key_defs;  // NOLINT(google-build-using-namespace): the schema's helpers (config_schema.hpp)

// network.sign_init: a SignInit, or "auto" (nullopt: the rule's default, filled in by resolve()).
KeyDef sign_init_key(std::string doc) {
  std::vector<std::string> allowed = enum_names(kSignInitNames);
  allowed.insert(allowed.begin(), "auto");
  return {std::move(doc),
          [=](TrainConfig& c, const toml::node& n, const std::string& w) {
            const std::string name = get_string(n, w, allowed);
            c.network.sign_init = name == "auto" ? std::nullopt : parse_enum(kSignInitNames, name);
          },
          [](const TrainConfig& c, toml::table& t, const std::string& leaf) {
            t.insert_or_assign(leaf, c.network.sign_init ? to_string(*c.network.sign_init) : std::string("auto"));
          }};
}
// A data table: one entry per key.
// The keys of [data], [network] and [train] (TrainConfig's own sections), then those each module
// declares beside its struct: [bio] in src/rules/bio_config_keys.cpp.
KeyTable make_schema() {  // NOLINT(readability-function-size)
  KeyTable keys = {
      // [data]
      {"data.dataset",
       {"mnist | fashion | idx:TRAIN_IMAGES,TRAIN_LABELS[;TEST_IMAGES,TEST_LABELS]",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.data.dataset = get_string(n, w);
          const auto& d = c.data.dataset;
          if (d != "mnist" && d != "fashion" && d.rfind("idx:", 0) != 0)
            fail(w, "'" + d + "' is not mnist, fashion or idx:IMAGES,LABELS");
        },
        [](const TrainConfig& c, toml::table& t, const std::string& leaf) {
          t.insert_or_assign(leaf, c.data.dataset);
        }}},
      {"data.validation", int_key(
                              "examples carved from the training set for validation",
                              [](auto& c) -> auto& { return c.data.validation; }, 0, kBig)},
      {"data.split_seed",
       int_key(
           "seed of the validation split", [](auto& c) -> auto& { return c.data.split_seed; }, 0, kBig)},
      {"data.train_limit", int_key(
                               "use only the first N training examples (0: all)",
                               [](auto& c) -> auto& { return c.data.train_limit; }, 0, kBig)},
      {"data.test_limit", int_key(
                              "evaluate on the first N test examples (0: all)",
                              [](auto& c) -> auto& { return c.data.test_limit; }, 0, kBig)},
      {"data.classes",
       int_list_key(
           "train and test on these classes only, e.g. [0, 1] (empty: all); for the task-growth analysis",
           [](auto& c) -> auto& { return c.data.classes; }, 0, 255, "class labels, e.g. [0, 1, 2]")},
      // [network]
      {"network.hidden", int_list_key(
                             "hidden layer sizes, e.g. [1000]", [](auto& c) -> auto& { return c.network.hidden; }, 1,
                             1 << 20, "integers, e.g. [1000]")},
      {"network.activation", enum_key(
                                 "hidden activation: identity, relu, sigmoid, sigmoid2 (2*sigma(a)-1), tanh",
                                 [](auto& c) -> auto& { return c.network.activation; }, kActivationNames)},
      {"network.inhibitory_fraction", double_key(
                                          "fraction of each hidden layer that is inhibitory, [0, 1)",
                                          [](auto& c) -> auto& { return c.network.inhibitory_fraction; }, 0.0, 0.99)},
      {"network.init", enum_key(
                           "uniform_fan_in (PyTorch default) | he_normal | uniform (init_low..init_high) | lognormal",
                           [](auto& c) -> auto& { return c.network.init; }, kInitKindNames)},
      {"network.sign_init", sign_init_key("auto | free | per_neuron | mixed")},
      {"network.init_low",
       double_key(
           "lower bound of |w| for init = uniform", [](auto& c) -> auto& { return c.network.init_low; }, 0.0, 1e3)},
      {"network.init_high", double_key(
                                "upper bound of |w| for init = uniform",
                                [](auto& c) -> auto& { return c.network.init_high; }, 0.0, 1e3, true)},
      {"network.init_mu", double_key(
                              "mean of ln|w| for init = lognormal (before 1/sqrt(fan_in) scaling)",
                              [](auto& c) -> auto& { return c.network.init_mu; }, -20.0, 20.0)},
      {"network.init_sigma", double_key(
                                 "std of ln|w| for init = lognormal",
                                 [](auto& c) -> auto& { return c.network.init_sigma; }, 0.0, 10.0, true)},
      // [train]
      {"train.rule",
       {"bp | bp_sign | eg | bp_arch | bio, or a rule registered by one of train.plugins (`dalenet rules`)",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.rule.name = get_string(n, w);
          try {
            find_rule(c.rule.name);
          } catch (const ConfigError& e) {
            fail(w, e.what());
          }
        },
        [](const TrainConfig& c, toml::table& t, const std::string& leaf) { t.insert_or_assign(leaf, c.rule.name); }}},
      {"train.plugins",
       {"rule plugins to load before train.rule is looked up, e.g. [\"build/liboja_rule.so\"]: shared objects built "
        "against this dalenet (docs/INSTALL.md); relative paths are taken from the config file's folder",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          const auto* arr = n.as_array();
          if (arr == nullptr) fail(w, "expected an array of paths, e.g. [\"liboja_rule.so\"]");
          c.rule.plugins.clear();
          for (std::size_t i = 0; i < arr->size(); ++i)
            c.rule.plugins.push_back(
                get_string(*arr->get(i), w.substr(0, w.size() - 1) + "[" + std::to_string(i) + "]'"));
        },
        [](const TrainConfig& c, toml::table& t, const std::string& leaf) {
          // Written only when set, so that the resolved configuration of a run without plugins
          // (and every hash and model file made from it) is what it was before the key existed.
          if (c.rule.plugins.empty()) return;
          toml::array a;
          for (const auto& p : c.rule.plugins) a.push_back(p);
          t.insert_or_assign(leaf, a);
        }}},
      {"train.optimizer", enum_key(
                              "auto | sgd | adam (auto: adam for bp/bp_sign, sgd for eg)",
                              [](auto& c) -> auto& { return c.rule.optim.optimizer; }, kOptimizerNames)},
      {"train.lr", double_key(
                       "learning rate, > 0", [](auto& c) -> auto& { return c.rule.optim.lr; }, 0.0, 1e3, true)},
      {"train.momentum",
       double_key(
           "SGD momentum, [0, 1)", [](auto& c) -> auto& { return c.rule.optim.momentum; }, 0.0, 0.9999)},
      {"train.beta1", double_key(
                          "Adam beta1, [0, 1)", [](auto& c) -> auto& { return c.rule.optim.beta1; }, 0.0, 0.9999)},
      {"train.beta2", double_key(
                          "Adam beta2, [0, 1)", [](auto& c) -> auto& { return c.rule.optim.beta2; }, 0.0, 0.999999)},
      {"train.eps", double_key(
                        "Adam epsilon, > 0", [](auto& c) -> auto& { return c.rule.optim.eps; }, 0.0, 1.0, true)},
      {"train.weight_decay",
       double_key(
           "L2 coefficient on weights, >= 0", [](auto& c) -> auto& { return c.rule.optim.weight_decay; }, 0.0, 1e3)},
      {"train.l1",
       double_key(
           "decoupled L1 on weights (bp, bp_sign): after each step w <- sign(w) max(|w| - lr * l1, 0), >= 0",
           [](auto& c) -> auto& { return c.rule.optim.l1; }, 0.0, 1e3)},
      {"train.epochs", int_key(
                           "passes over the training set", [](auto& c) -> auto& { return c.loop.epochs; }, 1, 100000)},
      {"train.batch", int_key(
                          "mini-batch size", [](auto& c) -> auto& { return c.loop.batch; }, 1, 1 << 20)},
      {"train.seed",
       int_key(
           "seed of initialisation and shuffling", [](auto& c) -> auto& { return c.loop.seed; }, 0, kBig)},
      {"train.lr_schedule",
       enum_key(
           "constant | cosine (lr * (1 + cos(pi * t / T)) / 2 over all T batches, or over each phase of a rule "
           "with phases (bio.readout_epochs); also scales the bio rule's rates)",
           [](auto& c) -> auto& { return c.loop.lr_schedule; }, kLrScheduleNames)},
      {"train.augment_shift",
       int_key(
           "fixational jitter: translate each training image by (dx, dy) uniform in {-S..S}^2 pixels, zero-filled "
           "(0: off; validation and test images are never shifted)",
           [](auto& c) -> auto& { return c.loop.augment_shift; }, 0, 64)},
      {"train.threads", int_key(
                            "threads (0: all hardware threads); results are bit-identical for a fixed count",
                            [](auto& c) -> auto& { return c.loop.threads; }, 0, 4096)},
  };
  add_bio_keys(keys);
  return keys;
}

const KeyTable& schema() {
  static const KeyTable keys = make_schema();
  return keys;
}

constexpr const char* kRuleParamsSection = "rule_params";

// [rule_params]: scalars kept as JSON; resolve() checks them against the rule's declared keys.
void read_rule_params(const toml::table& tbl, TrainConfig& cfg) {
  for (const auto& [k, node] : tbl) {
    const std::string where = cfg.source + ": key '" + kRuleParamsSection + "." + std::string(k.str()) + "'";
    nlohmann::json v;
    if (const auto b = node.value_exact<bool>())
      v = *b;
    else if (const auto i = node.value_exact<std::int64_t>())
      v = *i;
    else if (node.is_floating_point())
      v = get_double(node, where, -std::numeric_limits<double>::max(), std::numeric_limits<double>::max());
    else if (const auto str = node.value_exact<std::string>())
      v = *str;
    else
      fail(where, "expected a number, boolean or string, got " + type_name(node));
    cfg.rule.params[std::string(k.str())] = v;
  }
}

// Walks the table; every leaf must be a known key.
void read_table(const toml::table& tbl, const std::string& prefix, TrainConfig& cfg) {
  for (const auto& [k, node] : tbl) {
    const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (key == kRuleParamsSection) {
      const auto* sub = node.as_table();
      if (sub == nullptr) fail(cfg.source + ": key '" + key + "'", "expected a section [" + key + "]");
      read_rule_params(*sub, cfg);
      continue;
    }
    const auto& keys = schema();
    if (const auto* sub = node.as_table(); sub != nullptr && keys.find(key) == keys.end()) {
      bool is_section = false;
      for (const auto& [name, def] : keys)
        if (name.rfind(key + ".", 0) == 0) is_section = true;
      if (!is_section) fail(cfg.source + ": [" + key + "]", "unknown section");
      read_table(*sub, key, cfg);
      continue;
    }
    const auto it = keys.find(key);
    if (it == keys.end()) {
      // Suggest the closest known key in the same section, to catch typos.
      std::string hint;
      const auto dot = key.rfind('.');
      const std::string section = dot == std::string::npos ? "" : key.substr(0, dot + 1);
      for (const auto& [name, def] : keys)
        if (!section.empty() && name.rfind(section, 0) == 0)
          hint += (hint.empty() ? "" : ", ") + name.substr(section.size());
      fail(
          cfg.source + ": key '" + key + "'",
          "unknown key" + (hint.empty() ? std::string()
                                        : " (known in [" + section.substr(0, section.size() - 1) + "]: " + hint + ")"));
    }
    it->second.read(cfg, node, cfg.source + ": key '" + key + "'");
  }
}

// Applies "a.b=value" to the TOML table before validation.
void apply_override(toml::table& tbl, const std::string& ov) {
  const auto eq = ov.find('=');
  if (eq == std::string::npos || eq == 0) throw ConfigError("--set '" + ov + "': expected key=value");
  const std::string key = ov.substr(0, eq);
  const std::string value = ov.substr(eq + 1);
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    parsed = toml::table{{"v", value}};  // a bare word: take it as a string
  }
  toml::table* cur = &tbl;
  std::size_t start = 0;
  for (;;) {
    const auto dot = key.find('.', start);
    if (dot == std::string::npos) break;
    const std::string part = key.substr(start, dot - start);
    auto* next = (*cur)[part].as_table();
    if (next == nullptr) {
      cur->insert_or_assign(part, toml::table{});
      next = (*cur)[part].as_table();
    }
    cur = next;
    start = dot + 1;
  }
  cur->insert_or_assign(key.substr(start), *parsed.get("v"));
}

// Every key of [rule_params] must be one the rule declares, of its default's type; missing keys
// take their defaults, so the resolved configuration records every value the rule used.
void resolve_rule_params(TrainConfig& cfg, const RuleInfo& info) {
  nlohmann::json resolved = nlohmann::json::object();
  std::string known;
  for (const auto& p : info.params) known += (known.empty() ? "" : ", ") + p.key;
  for (const auto& item : cfg.rule.params.items()) {
    const std::string& key = item.key();
    const nlohmann::json& value = item.value();
    const std::string where = cfg.source + ": key '" + kRuleParamsSection + "." + key + "'";
    const auto it =
        std::find_if(info.params.begin(), info.params.end(), [&](const RuleParam& p) { return p.key == key; });
    if (it == info.params.end())
      fail(where, "rule '" + info.name + "' has no such parameter" +
                      (known.empty() ? std::string(" (it takes none)") : " (known: " + known + ")"));
    const auto& d = it->default_value;
    if (d.is_number() && !value.is_number()) fail(where, "expected a number, got " + value.dump());
    if (d.is_boolean() && !value.is_boolean()) fail(where, "expected true or false, got " + value.dump());
    if (d.is_string() && !value.is_string()) fail(where, "expected a string, got " + value.dump());
    if (d.is_number_integer() && !value.is_number_integer()) fail(where, "expected an integer, got " + value.dump());
    resolved[key] = d.is_number_float() ? nlohmann::json(value.get<double>()) : value;
  }
  for (const auto& p : info.params)
    if (!resolved.contains(p.key)) resolved[p.key] = p.default_value;
  cfg.rule.params = resolved;
}

// Loads train.plugins (they may register the rule train.rule names) before the table is read,
// and rewrites them as absolute paths, so that a model file's configuration loads them from
// anywhere. Relative paths are taken from the config file's folder (the working directory for
// text without a file).
void load_plugins(toml::table& tbl, TrainConfig& cfg) {
  auto* train = tbl["train"].as_table();
  if (train == nullptr || !train->contains("plugins")) return;
  const std::string where = cfg.source + ": key 'train.plugins'";
  schema().at("train.plugins").read(cfg, *train->get("plugins"), where);
  std::error_code ec;
  std::filesystem::path base = std::filesystem::current_path();
  if (std::filesystem::is_regular_file(cfg.source, ec)) base = std::filesystem::absolute(cfg.source).parent_path();
  toml::array resolved;
  for (std::size_t i = 0; i < cfg.rule.plugins.size(); ++i) {
    const std::filesystem::path p = cfg.rule.plugins[i];
    const std::string abs = (p.is_absolute() ? p : base / p).lexically_normal().string();
    load_plugin(abs, cfg.source + ": key 'train.plugins[" + std::to_string(i) + "]'");
    resolved.push_back(abs);
  }
  train->insert_or_assign("plugins", resolved);
}

void resolve(TrainConfig& cfg) {
  const RuleInfo& info = find_rule(cfg.rule.name);
  if (!cfg.network.sign_init) cfg.network.sign_init = info.default_sign_init;
  if (cfg.rule.optim.optimizer == OptimizerKind::by_rule)
    cfg.rule.optim.optimizer = cfg.rule.name == "eg" ? OptimizerKind::sgd : OptimizerKind::adam;
  if (cfg.network.init == InitKind::uniform && !(cfg.network.init_high > cfg.network.init_low))
    fail(cfg.source + ": key 'network.init_high'", "must be greater than network.init_low");
  resolve_rule_params(cfg, info);
  // Validate the rule's own constraints now, not after loading data.
  make_rule(cfg.rule);
}

}  // namespace

std::vector<ConfigKeyDoc> config_schema() {
  TrainConfig defaults;
  defaults.rule.optim.optimizer = OptimizerKind::by_rule;
  const nlohmann::json d = to_json(defaults);
  std::vector<ConfigKeyDoc> out;
  for (const auto& [name, def] : schema()) {
    const auto dot = name.find('.');
    const auto& section = d[name.substr(0, dot)];
    const std::string leaf = name.substr(dot + 1);
    out.push_back({name, def.doc, section.contains(leaf) ? section[leaf].dump() : "[]"});
  }
  for (const auto& rule : rule_registry())
    for (const auto& p : rule.params)
      out.push_back(
          {std::string(kRuleParamsSection) + "." + p.key, "(rule " + rule.name + ") " + p.doc, p.default_value.dump()});
  return out;
}

NetworkSpec TrainConfig::network_spec(int input, int output) const {
  NetworkSpec s;
  s.input = input;
  s.output = output;
  s.hidden = network.hidden;
  s.hidden_activation = network.activation;
  s.inhibitory_fraction = network.inhibitory_fraction;
  return s;
}

InitSpec TrainConfig::init_spec() const {
  InitSpec s;
  if (!network.sign_init)
    throw ConfigError("network.sign_init: 'auto' is filled in when the config is read (parse_config, load_config)");
  s.kind = network.init;
  s.sign = *network.sign_init;
  s.low = network.init_low;
  s.high = network.init_high;
  s.mu = network.init_mu;
  s.sigma = network.init_sigma;
  return s;
}

TrainConfig parse_config(const std::string& toml_text, const std::string& source,
                         const std::vector<std::string>& overrides) {
  TrainConfig cfg;
  cfg.source = source;
  cfg.rule.optim.optimizer = OptimizerKind::by_rule;  // resolved with the rule (see resolve())
  toml::table tbl;
  try {
    tbl = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << source << ":" << e.source().begin.line << ":" << e.source().begin.column
       << ": TOML syntax error: " << e.description();
    throw ConfigError(os.str());
  }
  for (const auto& ov : overrides) apply_override(tbl, ov);
  load_plugins(tbl, cfg);
  read_table(tbl, "", cfg);
  resolve(cfg);
  return cfg;
}

TrainConfig load_config(const std::string& path, const std::vector<std::string>& overrides) {
  if (path.empty()) return parse_config("", "<defaults>", overrides);
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot open config file '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path, overrides);
}

namespace {
// The configuration as a TOML table with every key of the schema.
toml::table to_table(const TrainConfig& cfg) {
  toml::table root;
  for (const auto& [name, def] : schema()) {
    const auto dot = name.find('.');
    const std::string section = name.substr(0, dot);
    if (!root.contains(section)) root.insert_or_assign(section, toml::table{});
    def.write(cfg, *root[section].as_table(), name.substr(dot + 1));
  }
  if (!cfg.rule.params.empty()) {
    toml::table params;
    for (const auto& [key, v] : cfg.rule.params.items()) {
      if (v.is_boolean())
        params.insert_or_assign(key, v.get<bool>());
      else if (v.is_number_integer())
        params.insert_or_assign(key, v.get<std::int64_t>());
      else if (v.is_number())
        params.insert_or_assign(key, v.get<double>());
      else
        params.insert_or_assign(key, v.get<std::string>());
    }
    root.insert_or_assign(kRuleParamsSection, params);
  }
  return root;
}
}  // namespace

std::string to_toml(const TrainConfig& cfg) {
  std::ostringstream os;
  os << "# dalenet resolved configuration (every key; re-usable with --config)\n" << to_table(cfg) << "\n";
  return os.str();
}

nlohmann::json to_json(const TrainConfig& cfg) {
  std::ostringstream os;
  os << toml::json_formatter{to_table(cfg)};
  return nlohmann::json::parse(os.str());
}

}  // namespace dalenet
