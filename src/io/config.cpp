#include "dalenet/config.hpp"

#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include <toml++/toml.h>

#include "dalenet/error.hpp"

namespace dalenet {
namespace {

// One entry per configuration key: how to read it from a TOML node (with range checks) and
// how to write it back. The table is the single source of truth for the schema.
struct KeyDef {
  std::string doc;
  std::function<void(TrainConfig&, const toml::node&, const std::string& where)> read;
  std::function<void(const TrainConfig&, toml::table&)> write;
};

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

double get_double(const toml::node& n, const std::string& where, double lo, double hi, bool lo_open = false) {
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

std::string get_string(const toml::node& n, const std::string& where, const std::vector<std::string>& allowed = {}) {
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

constexpr std::int64_t kBig = std::int64_t{1} << 40;

const std::map<std::string, KeyDef>& schema() {
  static const std::map<std::string, KeyDef> keys = {
      {"bio.hidden_update",
       {"multiplicative (H3) | additive (H3a)",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.rule.bio.hidden_update = get_string(n, w, {"multiplicative", "additive"});
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("hidden_update", c.rule.bio.hidden_update); }}},
      {"bio.divisive",
       {"H2b: divide the hidden rates sent to the output by their sum (divisive normalisation)",
        [](TrainConfig& c, const toml::node& n, const std::string& w) { c.rule.bio.divisive = get_bool(n, w); },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("divisive", c.rule.bio.divisive); }}},
      {"bio.eta_hidden",
       {"hidden plasticity rate, > 0",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.rule.bio.eta_hidden = get_double(n, w, 0.0, 10.0, true);
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("eta_hidden", c.rule.bio.eta_hidden); }}},
      {"bio.competition",
       {"feedback_inhibition (interneurons) | kwta (fixed k-WTA ablation)",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.rule.bio.competition = get_string(n, w, {"feedback_inhibition", "kwta"});
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("competition", c.rule.bio.competition); }}},
      {"bio.inhibition_gain",
       {"gain of the E->I->E feedback loop, > 0",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.rule.bio.inhibition_gain = get_double(n, w, 0.0, 1e6, true);
        },
        [](const TrainConfig& c, toml::table& t) {
          t.insert_or_assign("inhibition_gain", c.rule.bio.inhibition_gain);
        }}},
      {"bio.kwta_k",
       {"winners of the kwta ablation",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.rule.bio.kwta_k = static_cast<int>(get_int(n, w, 1, 1 << 20));
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("kwta_k", c.rule.bio.kwta_k); }}},
      {"bio.silence_factor",
       {"efficacy floor (and silence threshold) = silence_factor / fan_in",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.rule.bio.silence_factor = get_double(n, w, 0.0, 1.0, true);
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("silence_factor", c.rule.bio.silence_factor); }}},
      {"bio.homeostasis",
       {"homeostatic thresholds on/off",
        [](TrainConfig& c, const toml::node& n, const std::string& w) { c.rule.bio.homeostasis = get_bool(n, w); },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("homeostasis", c.rule.bio.homeostasis); }}},
      {"bio.homeostasis_rate",
       {"beta of the threshold update",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.rule.bio.homeostasis_rate = get_double(n, w, 0.0, 100.0);
        },
        [](const TrainConfig& c, toml::table& t) {
          t.insert_or_assign("homeostasis_rate", c.rule.bio.homeostasis_rate);
        }}},
      {"bio.rate_decay",
       {"alpha of the running rate, (0, 1]",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.rule.bio.rate_decay = get_double(n, w, 0.0, 1.0, true);
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("rate_decay", c.rule.bio.rate_decay); }}},
      {"bio.structural",
       {"structural plasticity on/off",
        [](TrainConfig& c, const toml::node& n, const std::string& w) { c.rule.bio.structural = get_bool(n, w); },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("structural", c.rule.bio.structural); }}},
      {"bio.regrowth",
       {"probability per silent synapse per structural step",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.rule.bio.regrowth = get_double(n, w, 0.0, 1.0);
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("regrowth", c.rule.bio.regrowth); }}},
      {"bio.structural_interval",
       {"batches between structural steps",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.rule.bio.structural_interval = (get_int(n, w, 1, 1 << 30));
        },
        [](const TrainConfig& c, toml::table& t) {
          t.insert_or_assign("structural_interval", c.rule.bio.structural_interval);
        }}},
      {"bio.output_rule",
       {"delta (O1, three-factor) | perturbation (O2, Hebbian + weight perturbation)",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.rule.bio.output_rule = get_string(n, w, {"delta", "perturbation"});
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("output_rule", c.rule.bio.output_rule); }}},
      {"bio.eta_output",
       {"output plasticity rate, > 0",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.rule.bio.eta_output = get_double(n, w, 0.0, 100.0, true);
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("eta_output", c.rule.bio.eta_output); }}},
      {"bio.perturbation_sigma",
       {"O2: size of the multiplicative weight perturbation",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.rule.bio.perturbation_sigma = get_double(n, w, 0.0, 10.0, true);
        },
        [](const TrainConfig& c, toml::table& t) {
          t.insert_or_assign("perturbation_sigma", c.rule.bio.perturbation_sigma);
        }}},
      {"bio.eta_hebbian",
       {"O2: rate of the label-gated Hebbian term",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.rule.bio.eta_hebbian = get_double(n, w, 0.0, 100.0);
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("eta_hebbian", c.rule.bio.eta_hebbian); }}},
      {"data.dataset",
       {"mnist | fashion | idx:IMAGES,LABELS (training pair; test defaults to none)",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.data.dataset = get_string(n, w);
          const auto& d = c.data.dataset;
          if (d != "mnist" && d != "fashion" && d.rfind("idx:", 0) != 0)
            fail(w, "'" + d + "' is not mnist, fashion or idx:IMAGES,LABELS");
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("dataset", c.data.dataset); }}},
      {"data.validation",
       {"examples carved from the training set for validation",
        [](TrainConfig& c, const toml::node& n, const std::string& w) { c.data.validation = get_int(n, w, 0, kBig); },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("validation", c.data.validation); }}},
      {"data.split_seed",
       {"seed of the validation split",
        [](TrainConfig& c, const toml::node& n, const std::string& w) { c.data.split_seed = get_int(n, w, 0, kBig); },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("split_seed", c.data.split_seed); }}},
      {"data.train_limit",
       {"use only the first N training examples (0: all)",
        [](TrainConfig& c, const toml::node& n, const std::string& w) { c.data.train_limit = get_int(n, w, 0, kBig); },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("train_limit", c.data.train_limit); }}},
      {"data.test_limit",
       {"evaluate on the first N test examples (0: all)",
        [](TrainConfig& c, const toml::node& n, const std::string& w) { c.data.test_limit = get_int(n, w, 0, kBig); },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("test_limit", c.data.test_limit); }}},
      {"network.hidden",
       {"hidden layer sizes, e.g. [1000]",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          const auto* arr = n.as_array();
          if (arr == nullptr) fail(w, "expected an array of integers, e.g. [1000]");
          c.network.hidden.clear();
          for (std::size_t i = 0; i < arr->size(); ++i)
            c.network.hidden.push_back(static_cast<int>(
                get_int(*arr->get(i), w.substr(0, w.size() - 1) + "[" + std::to_string(i) + "]'", 1, 1 << 20)));
        },
        [](const TrainConfig& c, toml::table& t) {
          toml::array a;
          for (int h : c.network.hidden) a.push_back(h);
          t.insert_or_assign("hidden", a);
        }}},
      {"network.activation",
       {"hidden activation: identity, relu, sigmoid, sigmoid2 (2*sigma(a)-1), tanh",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.network.activation = get_string(n, w, {"identity", "relu", "sigmoid", "sigmoid2", "tanh"});
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("activation", c.network.activation); }}},
      {"network.inhibitory_fraction",
       {"fraction of each hidden layer that is inhibitory, [0, 1)",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.network.inhibitory_fraction = get_double(n, w, 0.0, 0.99);
        },
        [](const TrainConfig& c, toml::table& t) {
          t.insert_or_assign("inhibitory_fraction", c.network.inhibitory_fraction);
        }}},
      {"network.init",
       {"uniform_fan_in (PyTorch default) | he_normal | uniform (init_low..init_high) | lognormal",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.network.init = get_string(n, w, {"uniform_fan_in", "he_normal", "uniform", "lognormal"});
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("init", c.network.init); }}},
      {"network.sign_init",
       {"auto | free | per_neuron | mixed",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.network.sign_init = get_string(n, w, {"auto", "free", "per_neuron", "mixed"});
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("sign_init", c.network.sign_init); }}},
      {"network.init_low",
       {"lower bound of |w| for init = uniform",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.network.init_low = get_double(n, w, 0.0, 1e3);
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("init_low", c.network.init_low); }}},
      {"network.init_high",
       {"upper bound of |w| for init = uniform",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.network.init_high = get_double(n, w, 0.0, 1e3, true);
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("init_high", c.network.init_high); }}},
      {"network.init_mu",
       {"mean of ln|w| for init = lognormal (before 1/sqrt(fan_in) scaling)",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.network.init_mu = get_double(n, w, -20.0, 20.0);
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("init_mu", c.network.init_mu); }}},
      {"network.init_sigma",
       {"std of ln|w| for init = lognormal",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.network.init_sigma = get_double(n, w, 0.0, 10.0, true);
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("init_sigma", c.network.init_sigma); }}},
      {"train.rule",
       {"bp | bp_sign | eg | bio",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.rule.name = get_string(n, w);
          try {
            find_rule(c.rule.name);
          } catch (const ConfigError& e) {
            fail(w, e.what());
          }
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("rule", c.rule.name); }}},
      {"train.optimizer",
       {"auto | sgd | adam (auto: adam for bp/bp_sign, sgd for eg)",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.rule.optim.optimizer = get_string(n, w, {"auto", "sgd", "adam"});
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("optimizer", c.rule.optim.optimizer); }}},
      {"train.lr",
       {"learning rate, > 0",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.rule.optim.lr = get_double(n, w, 0.0, 1e3, true);
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("lr", c.rule.optim.lr); }}},
      {"train.momentum",
       {"SGD momentum, [0, 1)",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.rule.optim.momentum = get_double(n, w, 0.0, 0.9999);
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("momentum", c.rule.optim.momentum); }}},
      {"train.beta1",
       {"Adam beta1, [0, 1)",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.rule.optim.beta1 = get_double(n, w, 0.0, 0.9999);
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("beta1", c.rule.optim.beta1); }}},
      {"train.beta2",
       {"Adam beta2, [0, 1)",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.rule.optim.beta2 = get_double(n, w, 0.0, 0.999999);
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("beta2", c.rule.optim.beta2); }}},
      {"train.eps",
       {"Adam epsilon, > 0",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.rule.optim.eps = get_double(n, w, 0.0, 1.0, true);
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("eps", c.rule.optim.eps); }}},
      {"train.weight_decay",
       {"L2 coefficient on weights, >= 0",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.rule.optim.weight_decay = get_double(n, w, 0.0, 1e3);
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("weight_decay", c.rule.optim.weight_decay); }}},
      {"train.epochs",
       {"passes over the training set",
        [](TrainConfig& c, const toml::node& n, const std::string& w) { c.loop.epochs = get_int(n, w, 1, 100000); },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("epochs", c.loop.epochs); }}},
      {"train.batch",
       {"mini-batch size",
        [](TrainConfig& c, const toml::node& n, const std::string& w) { c.loop.batch = get_int(n, w, 1, 1 << 20); },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("batch", c.loop.batch); }}},
      {"train.seed",
       {"seed of initialisation and shuffling",
        [](TrainConfig& c, const toml::node& n, const std::string& w) { c.loop.seed = get_int(n, w, 0, kBig); },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("seed", c.loop.seed); }}},
      {"train.lr_schedule",
       {"constant | cosine (lr * (1 + cos(pi * t / T)) / 2 over all T batches)",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.loop.lr_schedule = get_string(n, w, {"constant", "cosine"});
        },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("lr_schedule", c.loop.lr_schedule); }}},
      {"train.threads",
       {"threads (0: all hardware threads); results are bit-identical for a fixed count",
        [](TrainConfig& c, const toml::node& n, const std::string& w) { c.loop.threads = get_int(n, w, 0, 4096); },
        [](const TrainConfig& c, toml::table& t) { t.insert_or_assign("threads", c.loop.threads); }}},
  };
  return keys;
}

// Walks the table; every leaf must be a known key.
void read_table(const toml::table& tbl, const std::string& prefix, TrainConfig& cfg) {
  for (const auto& [k, node] : tbl) {
    const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
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

void resolve(TrainConfig& cfg) {
  const RuleInfo& info = find_rule(cfg.rule.name);
  if (cfg.network.sign_init == "auto") cfg.network.sign_init = to_string(info.default_sign_init);
  if (cfg.rule.optim.optimizer == "auto") cfg.rule.optim.optimizer = cfg.rule.name == "eg" ? "sgd" : "adam";
  if (cfg.network.init == "uniform" && !(cfg.network.init_high > cfg.network.init_low))
    fail(cfg.source + ": key 'network.init_high'", "must be greater than network.init_low");
  // Validate the rule's own constraints now, not after loading data.
  make_rule(cfg.rule);
}

}  // namespace

std::vector<ConfigKeyDoc> config_schema() {
  TrainConfig defaults;
  defaults.rule.optim.optimizer = "auto";
  const nlohmann::json d = to_json(defaults);
  std::vector<ConfigKeyDoc> out;
  for (const auto& [name, def] : schema()) {
    const auto dot = name.find('.');
    out.push_back({name, def.doc, d[name.substr(0, dot)][name.substr(dot + 1)].dump()});
  }
  return out;
}

NetworkSpec TrainConfig::network_spec(int input, int output) const {
  NetworkSpec s;
  s.input = input;
  s.output = output;
  s.hidden = network.hidden;
  s.hidden_activation = activation_from_string(network.activation);
  s.inhibitory_fraction = network.inhibitory_fraction;
  return s;
}

InitSpec TrainConfig::init_spec() const {
  InitSpec s;
  s.kind = init_kind_from_string(network.init);
  s.sign = sign_init_from_string(network.sign_init);
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
  cfg.rule.optim.optimizer = "auto";  // resolved with the rule (see resolve())
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

std::string to_toml(const TrainConfig& cfg) {
  toml::table root;
  for (const auto& [name, def] : schema()) {
    const std::string section = name.substr(0, name.find('.'));
    if (!root.contains(section)) root.insert_or_assign(section, toml::table{});
    def.write(cfg, *root[section].as_table());
  }
  std::ostringstream os;
  os << "# dalenet resolved configuration (every key; re-usable with --config)\n" << root << "\n";
  return os.str();
}

nlohmann::json to_json(const TrainConfig& cfg) {
  toml::table root;
  for (const auto& [name, def] : schema()) {
    const std::string section = name.substr(0, name.find('.'));
    if (!root.contains(section)) root.insert_or_assign(section, toml::table{});
    def.write(cfg, *root[section].as_table());
  }
  std::ostringstream os;
  os << toml::json_formatter{root};
  return nlohmann::json::parse(os.str());
}

}  // namespace dalenet
