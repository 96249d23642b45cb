// `dalenet paper`: the config, the plan of units, and running them (resumably, locally or over
// MPI). The report itself is written by report.cpp from the finished units' files.
#include "dalenet/paper.hpp"

#include <fmt/format.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include "dalenet/analyze.hpp"
#include "dalenet/attack.hpp"
#include "dalenet/config.hpp"
#include "dalenet/data.hpp"
#include "dalenet/error.hpp"
#include "dalenet/fewshot.hpp"
#include "dalenet/io.hpp"
#include "dalenet/progress.hpp"
#include "dalenet/represent.hpp"
#include "dalenet/threads.hpp"
#include "dalenet/train.hpp"
#include "data/sha256.hpp"
#include "io/toml_reader.hpp"
#include "paper_internal.hpp"

extern char** environ;

namespace dalenet {
namespace fs = std::filesystem;

namespace paper_detail {

// ---- units ----------------------------------------------------------------------------------
std::string run_name(const std::string& arm, const std::string& dataset, std::int64_t seed) {
  return fmt::format("{}_{}-seed{}", arm, dataset, seed);
}

std::string unit_dir(const std::string& out, const std::string& id) {
  return out + "/units/" + id;
}
bool unit_done(const std::string& out, const std::string& id) {
  return fs::exists(unit_dir(out, id) + "/done.json");
}

std::string model_path(const std::string& out, const std::string& arm, const std::string& dataset, std::int64_t seed) {
  return unit_dir(out, "train-" + run_name(arm, dataset, seed)) + "/model.safetensors";
}

std::vector<std::string> train_overrides(const PaperConfig& cfg, const std::string& arm, std::int64_t seed) {
  std::vector<std::string> sets = cfg.overrides;
  if (auto it = cfg.arm_overrides.find(arm); it != cfg.arm_overrides.end())
    sets.insert(sets.end(), it->second.begin(), it->second.end());
  sets.push_back("train.seed=" + std::to_string(seed));
  sets.push_back("train.threads=" + std::to_string(cfg.threads));
  return sets;
}

std::string arm_config(const PaperConfig& cfg, const std::string& arm, const std::string& dataset) {
  return cfg.config_dir + "/" + arm + "_" + dataset + ".toml";
}

}  // namespace paper_detail

std::string paper_unit_kind_name(PaperUnitKind kind) {
  return nlohmann::json(kind).get<std::string>();
}

namespace paper_detail {

// What the units' results depend on besides the code: the paper config's own settings and every
// train unit's resolved configuration (its arm file plus overrides, as `config show` prints it).
// Stored in plan.json; a resume finds units from other inputs and refuses to mix them.
std::string plan_inputs_sha256(const PaperConfig& cfg, const std::vector<PaperUnit>& units) {
  std::string text;
  if (!cfg.source.empty() && fs::exists(cfg.source)) {
    std::ifstream in(cfg.source, std::ios::binary);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  for (const auto& u : units) {
    if (u.kind != PaperUnitKind::train) continue;
    text += "\n# " + u.id + "\n" +
            to_toml(load_config(arm_config(cfg, u.arm, u.dataset), train_overrides(cfg, u.arm, u.seed)));
  }
  return sha256_hex(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

int unit_owner(std::size_t i, int share_of) {
  return static_cast<int>(i % static_cast<std::size_t>(share_of));
}

AttackJob attack_job(const PaperConfig& cfg, const PaperUnit& u, const std::string& out_dir,
                     const std::string& data_dir) {
  AttackJob job;
  job.models = {model_path(out_dir, u.arm, u.dataset, u.seed)};
  job.data = u.dataset + ":test";
  job.data_dir = data_dir;
  job.n = cfg.attack_n;
  job.subset_seed = cfg.attack_subset_seed;
  // Transfer source: BP of the same seed; for BP itself, BP of the next seed (none with one seed).
  std::int64_t src = u.seed;
  if (u.arm == "bp") {
    const auto it = std::find(cfg.seeds.begin(), cfg.seeds.end(), u.seed);
    src = cfg.seeds.size() > 1 ? (std::next(it) == cfg.seeds.end() ? cfg.seeds.front() : *std::next(it)) : -1;
  }
  if (src >= 0) job.transfer_from = model_path(out_dir, "bp", u.dataset, src);
  AttackOptions& o = job.options;
  o.steps = cfg.attack_steps;
  o.restarts = cfg.attack_restarts;
  o.square_queries = cfg.square_queries;
  o.noise_draws = cfg.noise_draws;
  o.schedule = cfg.attack_per_attack_full ? AttackSchedule::exhaustive : AttackSchedule::carried;
  o.attacks = cfg.attacks;
  if (auto it = cfg.eps.find(u.dataset); it != cfg.eps.end()) o.eps = it->second;
  return job;
}

FewShotOptions fewshot_options(const PaperConfig& cfg, const std::string& dataset, const std::string& data_dir) {
  FewShotOptions o;
  o.dataset = dataset;
  o.data_dir = data_dir;
  o.trainers = default_trainers();
  o.shots = cfg.shots;
  o.draws = cfg.draws;
  o.min_updates = cfg.min_updates;
  o.test_limit = cfg.fewshot_test_limit;
  o.novel = cfg.novel;
  o.novel_shots = cfg.novel_shots;
  o.episodes = cfg.episodes;
  o.novel_seeds = cfg.novel_seeds;
  o.unlabelled = cfg.fewshot_unlabelled;
  o.ae_epochs = cfg.ae_epochs;
  o.budgets = cfg.budgets;
  o.selection_draws = cfg.selection_draws;
  for (const auto& name : cfg.fewshot_arms) {
    FewShotArm arm;
    arm.name = name;
    if (const auto kind = parse_fewshot_arm_kind(name); kind && *kind != FewShotArmKind::train) {
      arm.kind = *kind;
    } else {
      arm.config = arm_config(cfg, name, dataset);
      arm.overrides = cfg.fewshot_overrides;
      arm.overrides.push_back("train.threads=" + std::to_string(cfg.threads));
    }
    o.arms.push_back(arm);
  }
  return o;
}
}  // namespace paper_detail

using namespace paper_detail;  // NOLINT(google-build-using-namespace): app/paper/paper_internal.hpp

namespace {

void run_train(const PaperConfig& cfg, const PaperUnit& u, const std::string& dir, const PaperOptions& opt) {
  const TrainConfig tc = load_config(arm_config(cfg, u.arm, u.dataset), train_overrides(cfg, u.arm, u.seed));
  TrainOptions to;
  to.out_dir = dir;
  to.data_dir = opt.data_dir;
  to.overwrite = true;  // a half-finished earlier attempt is redone from the start
  if (opt.progress) {
    to.progress = [&](const ProgressEvent& ev) {
      if (ev.kind != ProgressEvent::Kind::epoch) return;
      opt.progress(fmt::format("    {} epoch {}/{}: train acc {:.4f}, val acc {:.4f} ({:.0f} s)", u.id, ev.epoch,
                               ev.epochs, ev.accuracy, ev.val_accuracy, ev.elapsed_s));
    };
  }
  train(tc, to);
}

void run_audit(const PaperConfig& cfg, const PaperUnit& u, const std::string& dir, const PaperOptions& opt) {
  const Model model = load_model(model_path(opt.out_dir, u.arm, u.dataset, u.seed));
  const std::string data_dir = data_dir_or_default(opt.data_dir);
  const Dataset test = load_dataset(u.dataset + ":test", data_dir);
  const Dataset training_images = load_dataset(u.dataset + ":train", data_dir);  // defines the active inputs
  AnalyzeOptions ao;
  ao.activity_limit = cfg.analyze_limit;
  nlohmann::json analysis = analyze_model(model, &test, ao, &training_images);
  write_file_atomic(dir + "/analysis.json", analysis.dump(1) + "\n");
  RepresentOptions ro;
  ro.limit = cfg.represent_limit;
  ro.png = dir + "/receptive_fields.png";
  const nlohmann::json rep = represent(model, test, ro);
  write_file_atomic(dir + "/representation.json", rep.dump(1) + "\n");
}

void run_attack(const PaperConfig& cfg, const PaperUnit& u, const std::string& dir, const PaperOptions& opt) {
  AttackJob job = attack_job(cfg, u, opt.out_dir, opt.data_dir);
  if (opt.progress) job.options.progress = [&](const std::string& line) { opt.progress("    " + u.id + ": " + line); };
  const nlohmann::json res = run_attack_job(job);
  write_file_atomic(dir + "/robustness.json", res.dump(1) + "\n");
}

void run_fewshot_unit(const PaperConfig& cfg, const PaperUnit& u, const std::string& dir, const PaperOptions& opt) {
  FewShotOptions o = fewshot_options(cfg, u.dataset, opt.data_dir);
  o.out_dir = dir + "/draws";  // run_fewshot's own finer-grained resumable units
  if (opt.progress) o.progress = [&](const std::string& line) { opt.progress("    " + u.id + ": " + line); };
  fs::create_directories(o.out_dir);
  const nlohmann::json res = run_fewshot(o);
  write_file_atomic(dir + "/fewshot.json", res.dump(1) + "\n");
}

// Peak resident memory of this process so far, MiB (getrusage; Linux reports ru_maxrss in KiB).
double peak_rss_mib() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0.0;
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

void run_unit(const PaperConfig& cfg, const PaperUnit& u, const PaperOptions& opt) {
  const std::string dir = unit_dir(opt.out_dir, u.id);
  fs::create_directories(dir);
  const auto t0 = Clock::now();
  switch (u.kind) {
    case PaperUnitKind::train:
      run_train(cfg, u, dir, opt);
      break;
    case PaperUnitKind::audit:
      run_audit(cfg, u, dir, opt);
      break;
    case PaperUnitKind::attack:
      run_attack(cfg, u, dir, opt);
      break;
    case PaperUnitKind::fewshot:
      run_fewshot_unit(cfg, u, dir, opt);
      break;
  }
  const nlohmann::json done = {{"id", u.id},
                               {"kind", u.kind},
                               {"stage", u.stage},
                               {"seconds", seconds_since(t0)},
                               {"threads", current_threads()},
                               {"peak_rss_mib", peak_rss_mib()}};
  write_file_atomic(dir + "/done.json", done.dump(1) + "\n");
}

// Local workers: the front end's processes, one per worker, each taking every workers-th unit.
void run_local_workers(const PaperOptions& opt, int stage, int threads) {
  std::vector<PaperWorkerTask> tasks;
  for (int k = 0; k < opt.workers; ++k)
    tasks.push_back({opt.config_path, opt.out_dir, opt.data_dir, opt.workers, k, stage, threads});
  const int failed = opt.launch_workers(tasks);
  if (failed > 0)
    throw Error(
        fmt::format("paper: {} of {} local workers failed in stage {} (their errors are above); run the "
                    "command again to resume",
                    failed, opt.workers, stage));
}

// The up-front estimate (out_dir/estimate.json) against what the units took, per kind of unit,
// over the units that have both (docs/EVALUATION.md, "How long a paper run takes"). Null without
// an estimate.
nlohmann::json estimate_check(const std::string& out_dir, const std::map<std::string, double>& took) {
  std::ifstream in(out_dir + "/estimate.json");
  if (!in) return nullptr;
  const auto e = nlohmann::json::parse(in, nullptr, false);
  if (!e.is_object() || !e.contains("estimate") || !e["estimate"].contains("units")) return nullptr;
  std::map<std::string, std::array<double, 3>> by_kind;  // estimated, took, units
  for (const auto& u : e["estimate"]["units"]) {
    const auto it = took.find(u.value("id", std::string()));
    const double estimated = u.value("seconds", 0.0);
    if (it == took.end() || estimated <= 0.0) continue;
    auto& k = by_kind[u.value("kind", std::string())];
    k[0] += estimated;
    k[1] += it->second;
    k[2] += 1.0;
  }
  nlohmann::json check = nlohmann::json::object();
  for (const auto& [kind, k] : by_kind)
    check[kind] = {{"units", static_cast<int>(k[2])},
                   {"estimated_s", k[0]},
                   {"took_s", k[1]},
                   {"took_over_estimated", k[1] / k[0]}};
  return check;
}

nlohmann::json environment_json(const PaperConfig& cfg, const PaperOptions& opt, const PaperComm& comm,
                                const std::vector<PaperUnit>& units, double wall_s) {
  nlohmann::json env;
  env["build"] = build_info();
  env["threads_per_unit"] = cfg.threads == 0 ? hardware_threads() : cfg.threads;
  env["hardware_threads"] = hardware_threads();
  env["processes"] = comm.size() > 1 ? comm.size() : opt.workers;
  env["distribution"] = comm.size() > 1 ? "mpi" : opt.workers > 1 ? "local workers" : "single process";
  env["seeds"] = cfg.seeds;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  env["host"] = host;
  const std::string cache = data_dir_or_default(opt.data_dir);
  nlohmann::json hashes = nlohmann::json::object();
  for (const auto& e : verify_data(cache, cfg.datasets))
    hashes[e.file.dataset + "/" + e.file.filename] = e.present ? e.actual_sha256 : "missing";
  env["data_sha256"] = hashes;
  // Wall time per stage: the sum of the units' own times (across resumed invocations and processes).
  std::map<std::string, double> per_kind, per_stage, took;
  double total_units = 0.0, peak_rss = 0.0;
  for (const auto& u : units) {
    const std::string p = unit_dir(opt.out_dir, u.id) + "/done.json";
    std::ifstream f(p);
    if (!f) continue;
    const auto d = nlohmann::json::parse(f, nullptr, false);
    if (d.is_discarded()) continue;
    per_kind[paper_unit_kind_name(u.kind)] += d.value("seconds", 0.0);
    took[u.id] = d.value("seconds", 0.0);
    per_stage["stage " + std::to_string(u.stage)] += d.value("seconds", 0.0);
    total_units += d.value("seconds", 0.0);
    peak_rss = std::max(peak_rss, d.value("peak_rss_mib", 0.0));
  }
  env["unit_seconds_by_kind"] = per_kind;
  env["unit_seconds_by_stage"] = per_stage;
  env["unit_seconds_total"] = total_units;
  // The largest peak resident memory of a process while it ran units (the job's memory need).
  env["peak_rss_mib"] = peak_rss;
  env["this_invocation_wall_s"] = wall_s;
  env["estimate_check"] = estimate_check(opt.out_dir, took);
  return env;
}

}  // namespace

int run_processes(const std::vector<std::vector<std::string>>& argvs) {
  for (const auto& args : argvs)  // before any process starts, so none is left unwaited for
    if (args.empty()) throw IoError("run_processes: an empty command line");
  std::vector<pid_t> pids;
  for (const auto& args : argvs) {
    std::vector<std::string> copy = args;  // posix_spawn takes char* const[]
    std::vector<char*> argv;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    if (posix_spawn(&pid, copy[0].c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
      for (pid_t started : pids) waitpid(started, nullptr, 0);
      throw IoError("cannot start a process (" + args[0] + ")");
    }
    pids.push_back(pid);
  }
  int failed = 0;
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
  }
  return failed;
}

std::string preset_config_path(const std::string& preset) {
  for (char c : preset)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'))
      throw ConfigError("--preset '" + preset + "': a preset is a name (quick, full), not a path; use --config FILE");
  std::string p = "experiments/paper_" + preset + ".toml";
  if (!fs::exists(p))
    throw ConfigError("--preset '" + preset + "': " + p +
                      " does not exist (presets: quick, full; run from the repository root, or use --config FILE)");
  return p;
}

std::string default_paper_out(const PaperConfig& cfg) {
  return "runs/paper-" + cfg.preset;
}

namespace {

// ---- config parsing -----------------------------------------------------------------------

// [paper]: what is run (data sets, arms, seeds) and where the arm configs are.
void read_paper_section(const TomlReader& r, const toml::table& p, PaperConfig& c) {
  for (const auto& [k, v] : p) {
    const std::string leaf(k.str()), key = "paper." + leaf;
    if (leaf == "name") {
      c.preset = r.str(v, key);
    } else if (leaf == "datasets") {
      c.datasets = r.strings(v, key, false);
      for (const auto& d : c.datasets)
        if (d != "mnist" && d != "fashion") throw ConfigError(r.where(key) + ": '" + d + "' (known: mnist, fashion)");
    } else if (leaf == "arms") {
      c.arms = r.strings(v, key, false);
    } else if (leaf == "seeds") {
      c.seeds = r.integers(v, key, 0, INT32_MAX);
    } else if (leaf == "config_dir") {
      c.config_dir = r.str(v, key);
    } else if (leaf == "threads") {
      c.threads = static_cast<int>(r.integer(v, key, 0, 4096));
    } else {
      r.unknown(key, "name, datasets, arms, seeds, config_dir, threads");
    }
  }
}

// [overrides]: config overrides for every arm (all) or one arm.
void read_overrides_section(const TomlReader& r, const toml::table& o, PaperConfig& c) {
  for (const auto& [k, v] : o) {
    const std::string leaf(k.str()), key = "overrides." + leaf;
    if (leaf == "all") {
      c.overrides = r.strings(v, key, true);
    } else if (std::find(c.arms.begin(), c.arms.end(), leaf) != c.arms.end()) {
      c.arm_overrides[leaf] = r.strings(v, key, true);
    } else {
      r.unknown(key, "all, or an arm of paper.arms");
    }
  }
}

// [robustness]: the attack units' options.
void read_robustness_section(const TomlReader& r, const toml::table& a, PaperConfig& c) {
  for (const auto& [k, v] : a) {
    const std::string leaf(k.str()), key = "robustness." + leaf;
    if (leaf == "n") {
      c.attack_n = static_cast<std::size_t>(r.integer(v, key, 10, 10000));
    } else if (leaf == "subset_seed") {
      c.attack_subset_seed = static_cast<std::uint64_t>(r.integer(v, key, 0, INT64_MAX));
    } else if (leaf == "steps") {
      c.attack_steps = static_cast<int>(r.integer(v, key, 1, 100000));
    } else if (leaf == "restarts") {
      c.attack_restarts = static_cast<int>(r.integer(v, key, 1, 1000));
    } else if (leaf == "square_queries") {
      c.square_queries = static_cast<int>(r.integer(v, key, 1, 1000000));
    } else if (leaf == "noise_draws") {
      c.noise_draws = static_cast<int>(r.integer(v, key, 1, 10000));
    } else if (leaf == "per_attack_full") {
      c.attack_per_attack_full = r.boolean(v, key);
    } else if (leaf == "attacks") {
      c.attacks = r.strings(v, key, false);
      for (const auto& name : c.attacks)
        if (std::find(attack_names().begin(), attack_names().end(), name) == attack_names().end())
          throw ConfigError(r.where(key) + ": unknown attack '" + name + "'");
    } else if (leaf.starts_with("eps_")) {
      const std::string d = leaf.substr(4);
      if (std::find(c.datasets.begin(), c.datasets.end(), d) == c.datasets.end())
        throw ConfigError(r.where(key) + ": '" + d + "' is not in paper.datasets");
      c.eps[d] = r.numbers(v, key, 0.0, 1.0);
    } else {
      r.unknown(
          key, "n, subset_seed, steps, restarts, square_queries, noise_draws, per_attack_full, attacks, eps_<dataset>");
    }
  }
}

// [fewshot]: the few-shot unit's regimes and budgets.
void read_fewshot_section(const TomlReader& r, const toml::table& f, PaperConfig& c) {
  for (const auto& [k, v] : f) {
    const std::string leaf(k.str()), key = "fewshot." + leaf;
    if (leaf == "enabled") {
      c.fewshot = r.boolean(v, key);
    } else if (leaf == "arms") {
      c.fewshot_arms = r.strings(v, key, false);
    } else if (leaf == "shots") {
      c.shots = integers_as<int>(r.integers(v, key, 1, 100000));
    } else if (leaf == "draws") {
      c.draws = static_cast<int>(r.integer(v, key, 2, 100000));
    } else if (leaf == "min_updates") {
      c.min_updates = static_cast<int>(r.integer(v, key, 1, 10000000));
    } else if (leaf == "test_limit") {
      c.fewshot_test_limit = static_cast<std::size_t>(r.integer(v, key, 0, INT64_MAX));
    } else if (leaf == "overrides") {
      c.fewshot_overrides = r.strings(v, key, true);
    } else if (leaf == "novel") {
      c.novel = r.boolean(v, key);
    } else if (leaf == "novel_shots") {
      c.novel_shots = integers_as<int>(r.integers(v, key, 1, 100000));
    } else if (leaf == "episodes") {
      c.episodes = static_cast<int>(r.integer(v, key, 1, 10000000));
    } else if (leaf == "novel_seeds") {
      c.novel_seeds = integers_as<std::uint64_t>(r.integers(v, key, 0, INT32_MAX));
    } else if (leaf == "unlabelled") {
      c.fewshot_unlabelled = r.boolean(v, key);
    } else if (leaf == "ae_epochs") {
      c.ae_epochs = static_cast<int>(r.integer(v, key, 1, 10000));
    } else if (leaf == "budgets") {
      c.budgets = integers_as<int>(r.integers(v, key, 1, 1000));
    } else if (leaf == "selection_draws") {
      c.selection_draws = static_cast<int>(r.integer(v, key, 1, 1000));
    } else {
      r.unknown(key,
                "enabled, arms, shots, draws, min_updates, test_limit, overrides, novel, novel_shots, episodes, "
                "novel_seeds, unlabelled, ae_epochs, budgets, selection_draws");
    }
  }
}

// [audit]: how many test images the audit's statistics use.
void read_audit_section(const TomlReader& r, const toml::table& a, PaperConfig& c) {
  for (const auto& [k, v] : a) {
    const std::string leaf(k.str()), key = "audit." + leaf;
    if (leaf == "activity_limit") {
      c.analyze_limit = static_cast<std::size_t>(r.integer(v, key, 10, 100000));
    } else if (leaf == "represent_limit") {
      c.represent_limit = static_cast<std::size_t>(r.integer(v, key, 10, 100000));
    } else {
      r.unknown(key, "activity_limit, represent_limit");
    }
  }
}

// Every arm config must exist and parse (with the overrides) before hours of work start.
void check_arm_configs(const TomlReader& r, const PaperConfig& c, const std::string& path) {
  for (const auto& d : c.datasets)
    for (const auto& arm : c.arms) {
      const std::string p = arm_config(c, arm, d);
      if (!fs::exists(p))
        throw ConfigError(r.where("paper.arms") + ": arm '" + arm + "' needs " + p + " (paper.config_dir = '" +
                          c.config_dir + "')");
      try {
        (void)load_config(p, train_overrides(c, arm, c.seeds.front()));
      } catch (const ConfigError& e) {
        throw ConfigError("'" + path + "': arm '" + arm + "' on " + d + " (with overrides.all and overrides." + arm +
                          "): " + e.what());
      }
    }
}

}  // namespace

PaperConfig load_paper_config(const std::string& path) {
  const TomlReader r(path);
  const toml::table t = r.parse();
  PaperConfig c;
  c.source = path;
  c.preset = fs::path(path).stem().string();
  if (c.preset.starts_with("paper_")) c.preset = c.preset.substr(6);
  for (const auto& [k, v] : t) {
    const std::string key(k.str());
    if (key != "paper" && key != "overrides" && key != "robustness" && key != "fewshot" && key != "audit")
      throw ConfigError(r.where(key) + ": unknown section (known: paper, overrides, robustness, fewshot, audit)");
    if (!v.is_table()) throw ConfigError(r.where(key) + ": expected a table [" + key + "]");
  }
  if (const auto* p = t["paper"].as_table()) read_paper_section(r, *p, c);
  if (std::find(c.arms.begin(), c.arms.end(), "bio") == c.arms.end() ||
      std::find(c.arms.begin(), c.arms.end(), "bp") == c.arms.end())
    throw ConfigError(r.where("paper.arms") + ": must contain \"bio\" and \"bp\" (the verdicts compare them)");
  if (const auto* o = t["overrides"].as_table()) read_overrides_section(r, *o, c);
  if (const auto* a = t["robustness"].as_table()) read_robustness_section(r, *a, c);
  if (const auto* f = t["fewshot"].as_table()) read_fewshot_section(r, *f, c);
  if (c.fewshot) {
    if (std::find(c.fewshot_arms.begin(), c.fewshot_arms.end(), "bio") == c.fewshot_arms.end() ||
        std::find(c.fewshot_arms.begin(), c.fewshot_arms.end(), "bp") == c.fewshot_arms.end())
      throw ConfigError(r.where("fewshot.arms") + ": must contain \"bio\" and \"bp\" (the verdict compares them)");
  }
  if (const auto* a = t["audit"].as_table()) read_audit_section(r, *a, c);
  check_arm_configs(r, c, path);
  return c;
}

std::vector<PaperUnit> plan_paper(const PaperConfig& cfg) {
  std::vector<PaperUnit> units;
  for (const auto& d : cfg.datasets)
    for (const auto& arm : cfg.arms)
      for (auto s : cfg.seeds) units.push_back({"train-" + run_name(arm, d, s), PaperUnitKind::train, 1, arm, d, s});
  if (cfg.fewshot)
    for (const auto& d : cfg.datasets) units.push_back({"fewshot-" + d, PaperUnitKind::fewshot, 1, "", d, 0});
  for (const auto& d : cfg.datasets)
    for (const auto& arm : cfg.arms)
      for (auto s : cfg.seeds) {
        units.push_back({"audit-" + run_name(arm, d, s), PaperUnitKind::audit, 2, arm, d, s});
        units.push_back({"attack-" + run_name(arm, d, s), PaperUnitKind::attack, 2, arm, d, s});
      }
  return units;
}

namespace {
// The projection of estimate_paper, before the first unit (calibrated once per output folder).
PaperEstimate announce_estimate(const PaperConfig& cfg, const PaperOptions& opt, const PaperComm& comm,
                                const std::string& inputs, const std::function<void(const std::string&)>& say) {
  PaperEstimateOptions eo;
  eo.out_dir = opt.out_dir;
  eo.data_dir = opt.data_dir;
  eo.calibrate_from = opt.calibrate_from;
  eo.processes = comm.size() > 1 ? comm.size() : opt.workers;
  eo.same_machine = comm.size() == 1;
  eo.progress = say;
  bool reused = false;
  PaperEstimate e = estimate_for_run(cfg, eo, inputs, reused);
  if (opt.estimate_only) return e;  // the caller prints it
  std::string table = e.table();
  for (std::size_t start = 0, end = 0; start < table.size(); start = end + 1) {
    end = table.find('\n', start);
    if (end == std::string::npos) end = table.size();
    say(table.substr(start, end - start));
  }
  say(reused ? "[estimate] (calibrated by an earlier invocation on this folder: " + opt.out_dir + "/estimate.json)"
             : "[estimate] (stored in " + opt.out_dir + "/estimate.json; --no-estimate skips the calibration)");
  return e;
}

// The units' projected seconds from OUT/estimate.json (empty without one).
std::map<std::string, double> estimated_seconds(const std::string& out_dir) {
  std::map<std::string, double> out;
  std::ifstream in(out_dir + "/estimate.json");
  const auto e = in ? nlohmann::json::parse(in, nullptr, false) : nlohmann::json();
  if (!e.is_object() || !e.contains("estimate") || !e["estimate"].contains("units")) return out;
  for (const auto& u : e["estimate"]["units"]) out[u.value("id", std::string())] = u.value("seconds", 0.0);
  return out;
}

struct StageEta {
  std::size_t pending = 0;
  double seconds = 0.0;
};

// The time this process still needs for its share of a stage, from work done. A pending unit
// costs what this process's finished units of the same kind and arm took on average. Where none
// of its kind has run yet: its estimate (estimate.json) times how the finished units' time
// compared with theirs, or without an estimate, the mean of every finished unit.
StageEta stage_eta(const std::vector<PaperUnit>& here, std::size_t next, int share_of, int me,
                   const std::string& out_dir, const std::vector<std::pair<PaperUnit, double>>& finished,
                   const std::map<std::string, double>& estimated) {
  std::map<std::pair<PaperUnitKind, std::string>, std::pair<double, int>> by_kind;  // (kind, arm): seconds, units
  double took = 0.0, took_estimated = 0.0, projected = 0.0;
  for (const auto& [u, s] : finished) {
    auto& [sum, count] = by_kind[{u.kind, u.arm}];
    sum += s;
    ++count;
    took += s;
    if (const auto it = estimated.find(u.id); it != estimated.end() && it->second > 0.0) {
      projected += s;
      took_estimated += it->second;
    }
  }
  const double ratio = took_estimated > 0.0 ? projected / took_estimated : 1.0;
  StageEta eta;
  for (std::size_t i = next; i < here.size(); ++i) {
    if (unit_owner(i, share_of) != me || unit_done(out_dir, here[i].id)) continue;
    ++eta.pending;
    if (const auto it = by_kind.find({here[i].kind, here[i].arm}); it != by_kind.end()) {
      eta.seconds += it->second.first / it->second.second;
    } else if (const auto est = estimated.find(here[i].id); est != estimated.end() && est->second > 0.0) {
      eta.seconds += est->second * ratio;
    } else {
      eta.seconds += took / static_cast<double>(std::max<std::size_t>(finished.size(), 1));
    }
  }
  return eta;
}

// Runs this process's share of one stage's units (unit_owner), skipping finished ones.
void run_stage_share(const PaperConfig& cfg, const PaperOptions& opt, PaperComm& comm,
                     const std::vector<PaperUnit>& here, int stage, int stages, int share_of, int me,
                     Clock::time_point t0, const std::function<void(const std::string&)>& say) {
  const std::map<std::string, double> estimated = estimated_seconds(opt.out_dir);
  std::vector<std::pair<PaperUnit, double>> finished;  // by this process, in this invocation
  const std::string who = share_of > 1 ? fmt::format(" [{}]", me) : "";
  for (std::size_t i = 0; i < here.size(); ++i) {
    const auto& u = here[i];
    if (unit_owner(i, share_of) != me || unit_done(opt.out_dir, u.id)) continue;
    const auto tu = Clock::now();
    say(fmt::format("[paper]{} stage {}/{}, unit {}/{}: {} ...", who, stage, stages, i + 1, here.size(), u.id));
    try {
      run_unit(cfg, u, opt);
    } catch (const std::exception& e) {
      const std::string msg =
          "paper: unit " + u.id + " failed: " + e.what() + " (run the same command again to resume)";
      if (comm.size() > 1) {
        std::fprintf(stderr, "dalenet: error (rank %d): %s\n", comm.rank(), msg.c_str());
        comm.fail();
      }
      throw Error(msg);
    }
    const double took = seconds_since(tu);
    finished.emplace_back(u, took);
    const StageEta eta = stage_eta(here, i + 1, share_of, me, opt.out_dir, finished, estimated);
    say(fmt::format("[paper]{} {} done in {:.1f} s (run wall {:.0f} s; {})", who, u.id, took, seconds_since(t0),
                    eta.pending == 0 ? std::string("stage done here")
                                     : fmt::format("{} more unit(s) in this stage, ETA {}", eta.pending,
                                                   format_duration(eta.seconds))));
    if (opt.on_event)
      opt.on_event({{"event", "unit"},
                    {"id", u.id},
                    {"kind", u.kind},
                    {"stage", stage},
                    {"process", me},
                    {"seconds", took},
                    {"estimated_s", estimated.contains(u.id) ? nlohmann::json(estimated.at(u.id)) : nlohmann::json()},
                    {"run_elapsed_s", seconds_since(t0)},
                    {"stage_pending", eta.pending},
                    {"stage_eta_s", eta.seconds}});
  }
}
}  // namespace

nlohmann::json run_paper(const PaperConfig& cfg, const PaperOptions& opt, PaperComm& comm) {
  const auto t0 = Clock::now();
  set_threads(cfg.threads);
  const auto units = plan_paper(cfg);
  const bool worker = opt.only_worker >= 0;
  auto say = [&](const std::string& s) {
    if (opt.progress && (comm.rank() == 0 || comm.size() > 1)) opt.progress(s);
  };
  if (!worker && comm.size() == 1 && opt.workers > 1 && (!opt.launch_workers || opt.config_path.empty()))
    throw ConfigError(
        fmt::format("paper: {} local workers need a worker launcher and the config file's path "
                    "(PaperOptions::launch_workers, config_path)",
                    opt.workers));
  fs::create_directories(opt.out_dir + "/units");
  // One run per output folder (its workers and MPI ranks share it under this one lock).
  std::optional<DirectoryLock> lock;
  if (!worker && comm.rank() == 0) lock.emplace(opt.out_dir);
  if (!worker && comm.rank() == 0) {
    const std::string inputs = plan_inputs_sha256(cfg, units);
    const std::string plan_path = opt.out_dir + "/plan.json";
    bool any_done = false;
    for (const auto& u : units) any_done = any_done || unit_done(opt.out_dir, u.id);
    if (any_done && fs::exists(plan_path)) {
      std::ifstream in(plan_path);
      const auto old_plan = nlohmann::json::parse(in, nullptr, false);
      const std::string before = old_plan.is_object() ? old_plan.value("inputs_sha256", std::string()) : std::string();
      if (before != inputs)
        throw ConfigError(opt.out_dir + " holds units run from other inputs (the paper config or an arm's " +
                          "experiments/<arm>_<dataset>.toml changed since" +
                          (before.empty() ? std::string(", or they predate this check") : std::string()) +
                          "): resuming would mix them. Choose another --out, or delete " + opt.out_dir +
                          " to start again");
    }
    write_file_atomic(
        plan_path,
        nlohmann::json({{"config", cfg.source}, {"units", units.size()}, {"inputs_sha256", inputs}}).dump() + "\n");
    if (opt.estimate_only) return {{"estimate", announce_estimate(cfg, opt, comm, inputs, say).to_json()}};
    if (opt.estimate && !opt.report_only) {
      const nlohmann::json e = announce_estimate(cfg, opt, comm, inputs, say).to_json();
      if (opt.on_event)
        opt.on_event({{"event", "estimate"},
                      {"total_wall_s", e["total_wall_s"]},
                      {"total_wall_high_s", e["total_wall_high_s"]},
                      {"stages", e["stages"]},
                      {"calibration_s", e["calibration_s"]}});
    }
  }
  if (opt.estimate_only) return {};
  const int stages = units.empty() ? 0 : std::max_element(units.begin(), units.end(), [](auto& a, auto& b) {
                                           return a.stage < b.stage;
                                         })->stage;
  for (int stage = 1; stage <= stages && !opt.report_only; ++stage) {
    if (worker && stage != opt.only_stage) continue;
    std::vector<PaperUnit> here;
    for (const auto& u : units)
      if (u.stage == stage) here.push_back(u);
    std::size_t pending = 0;
    for (const auto& u : here) pending += unit_done(opt.out_dir, u.id) ? 0 : 1;
    if (!worker) {
      say(fmt::format("[paper] stage {}/{}: {} units, {} to run ({} done earlier)", stage, stages, here.size(), pending,
                      here.size() - pending));
      if (opt.on_event)
        opt.on_event(
            {{"event", "stage"}, {"stage", stage}, {"stages", stages}, {"units", here.size()}, {"pending", pending}});
    }
    if (!worker && comm.size() == 1 && opt.workers > 1 && pending > 0) {
      run_local_workers(opt, stage, cfg.threads);
      continue;
    }
    const int share_of = worker ? opt.workers : comm.size();
    const int me = worker ? opt.only_worker : comm.rank();
    run_stage_share(cfg, opt, comm, here, stage, stages, share_of, me, t0, say);
    std::vector<std::string> ids;
    std::vector<int> owners;
    for (std::size_t i = 0; i < here.size(); ++i) {
      ids.push_back(here[i].id);
      owners.push_back(unit_owner(i, share_of));
    }
    if (comm.size() > 1) comm.share(opt.out_dir + "/units", ids, owners);
  }
  if (worker || comm.rank() != 0) {
    comm.barrier();
    return {};
  }
  for (const auto& u : units)
    if (!unit_done(opt.out_dir, u.id))
      throw Error("paper: unit " + u.id + " has not finished (run without --report-only to compute it)");
  say("[paper] writing the report");
  const nlohmann::json env = environment_json(cfg, opt, comm, units, seconds_since(t0));
  nlohmann::json res = write_paper_report(cfg, opt.out_dir, env);
  comm.barrier();
  return res;
}

}  // namespace dalenet
