// `dalenet paper --estimate`: what every unit of a paper run will take on this machine, from a
// short calibration of each kind of unit at a small size, scaled by what its cost grows with.
// docs/EVALUATION.md, "How long a paper run takes", states the model and how it was checked.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <set>

#include "dalenet/analyze.hpp"
#include "dalenet/attack.hpp"
#include "dalenet/config.hpp"
#include "dalenet/data.hpp"
#include "dalenet/error.hpp"
#include "dalenet/fewshot.hpp"
#include "dalenet/io.hpp"
#include "dalenet/paper.hpp"
#include "dalenet/progress.hpp"
#include "dalenet/represent.hpp"
#include "dalenet/threads.hpp"
#include "dalenet/train.hpp"
#include "paper_internal.hpp"

namespace dalenet {
namespace fs = std::filesystem;
using namespace paper_detail;  // NOLINT(google-build-using-namespace): app/paper/paper_internal.hpp

namespace {

// The calibration's own models live here and are removed afterwards.
struct ScratchDir {
  fs::path path = fs::temp_directory_path() / fmt::format("dalenet-estimate-{}", ::getpid());
  ScratchDir() { fs::create_directories(path); }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

struct Context {
  const PaperConfig& cfg;
  const PaperEstimateOptions& opt;
  std::string data_dir;
  fs::path scratch;
  void say(const std::string& s) const {
    if (opt.progress) opt.progress(s);
  }
};

// One projected cost and how it was obtained.
struct Cost {
  double seconds = 0.0, low = 0.0, high = 0.0;
  std::string basis;
  nlohmann::json measured;  // the calibration's own timings
};
Cost exact(double s, std::string basis, nlohmann::json measured) {
  return {s, s, s, std::move(basis), std::move(measured)};
}

// Training: the arm's config (epochs, validation and test sets as configured) on the first
// train_examples training examples. The training epochs' time (results.json's timings.epoch_s)
// is scaled by the examples, which is what it grows with at fixed epochs; the rest (validation,
// test, setup) is taken as it is, plus loading the data. Timing two small sizes and fitting a line
// is no good: the difference of two runs of a second or two is mostly noise. The larger size's
// model is left in `dir`.
Cost calibrate_train(const Context& c, const std::string& arm, const std::string& d, const std::string& dir) {
  const TrainConfig tc = load_config(arm_config(c.cfg, arm, d), train_overrides(c.cfg, arm, c.cfg.seeds.front()));
  const auto t_load = Clock::now();
  TrainTestData data = load_config_data(tc.data, c.data_dir);
  const double load_s = seconds_since(t_load);
  TrainValSplit split;
  const auto n_val = static_cast<std::size_t>(tc.data.validation);
  if (n_val > 0) {
    split = split_validation(data.train, n_val, static_cast<std::uint64_t>(tc.data.split_seed));
  } else {
    split.train = std::move(data.train);
  }
  const std::size_t n = split.train.size();
  const std::size_t part_size = std::min(n, c.opt.train_examples);
  std::vector<std::uint32_t> idx(part_size);
  std::iota(idx.begin(), idx.end(), 0U);
  const Dataset part = subset(split.train, idx, split.train.name);
  TrainOptions to;
  to.train_data = &part;
  to.validation_data = n_val > 0 ? &split.validation : nullptr;
  to.test_data = &data.test;
  to.out_dir = dir;
  to.overwrite = true;
  const auto t0 = Clock::now();
  const TrainOutcome r = train(tc, to);
  const double total = seconds_since(t0);
  double epochs_s = 0.0;
  for (const auto& e : r.results.at("timings").at("epoch_s")) epochs_s += e.get<double>();
  const double scale = static_cast<double>(n) / static_cast<double>(part_size);
  const double s = load_s + total + epochs_s * (scale - 1.0);
  return exact(s,
               fmt::format("trained on {} of {} examples in {:.1f} s, of which epochs {:.1f} s (scaled x{:.1f})",
                           part_size, n, total, epochs_s, scale),
               {{"examples", part_size}, {"of", n}, {"seconds", total}, {"epochs_s", epochs_s}, {"load_s", load_s}});
}

// Audit: the analysis and representation statistics on 1/4 and all of min(limit, 1000) test
// images, each extrapolated linearly to its configured limit, plus loading the data. Each is
// written as the unit writes it (JSON, receptive-field figure).
Cost calibrate_audit(const Context& c, const std::string& d, const std::string& model_file) {
  const auto t_load = Clock::now();
  const Model model = load_model(model_file);
  const Dataset test = load_dataset(d + ":test", c.data_dir);
  const Dataset training_images = load_dataset(d + ":train", c.data_dir);
  const double load_s = seconds_since(t_load);
  auto analyze_at = [&](std::size_t limit) {
    AnalyzeOptions ao;
    ao.activity_limit = limit;
    const auto t0 = Clock::now();
    write_file_atomic((c.scratch / "analysis.json").string(),
                      analyze_model(model, &test, ao, &training_images).dump(1) + "\n");
    return seconds_since(t0);
  };
  auto represent_at = [&](std::size_t limit) {  // with its figure and file, as the unit writes them
    RepresentOptions ro;
    ro.limit = limit;
    ro.png = (c.scratch / "receptive_fields.png").string();
    const auto t0 = Clock::now();
    write_file_atomic((c.scratch / "representation.json").string(), represent(model, test, ro).dump(1) + "\n");
    return seconds_since(t0);
  };
  nlohmann::json measured = {{"load_s", load_s}};
  auto extrapolate = [&measured](auto&& time_at, std::size_t target, const char* what) {
    const std::size_t large = std::min<std::size_t>(target, 1000), small = std::max<std::size_t>(1, large / 4);
    const double t_small = time_at(small), t_large = time_at(large);
    measured[what] = {{"images", {small, large}}, {"seconds", {t_small, t_large}}};
    const double slope = large > small ? std::max(0.0, (t_large - t_small) / static_cast<double>(large - small)) : 0.0;
    return t_large + slope * static_cast<double>(target - large);
  };
  const double s = load_s + extrapolate(analyze_at, std::min(c.cfg.analyze_limit, test.size()), "analysis") +
                   extrapolate(represent_at, std::min(c.cfg.represent_limit, test.size()), "representations");
  return exact(s, "analysis and representations timed at two image counts, linear in images", measured);
}

// Attack: the unit's own job (ladder, ε grid, schedule, transfer) on stratified subsets of the
// two sizes of attack_calibration_images, extrapolated linearly in the images (the smaller run
// measures what does not grow with them: loading, clean evaluation). Without trained models the
// calibration's barely trained ones would fall too early; the exhaustive schedule then gives a
// rough upper bound.
Cost calibrate_attack(const Context& c, const PaperUnit& u, const std::string& model_file,
                      const std::string& transfer_file, bool trained, std::size_t test_size) {
  AttackJob job = attack_job(c.cfg, u, "", c.data_dir);
  job.models = {model_file};
  if (!job.transfer_from.empty()) job.transfer_from = transfer_file;
  if (!trained) job.options.schedule = AttackSchedule::exhaustive;
  const std::size_t n_full = std::min(c.cfg.attack_n, test_size);
  const auto [small, large] = attack_calibration_images(n_full, job.options.batch, trained, c.opt.attack_images);
  auto time_at = [&](std::size_t n) {
    job.n = n;
    const auto t0 = Clock::now();
    (void)run_attack_job(job);
    return seconds_since(t0);
  };
  const double t_small = time_at(small), t_large = time_at(large);
  double per_image = large > small ? (t_large - t_small) / static_cast<double>(large - small) : 0.0;
  if (per_image <= 0.0) per_image = t_large / static_cast<double>(large);  // timing noise: proportional
  const double s = t_large + per_image * static_cast<double>(n_full - large);
  return exact(
      s,
      fmt::format("{} and {} of {} images attacked in {:.1f} s and {:.1f} s{}", small, large, n_full, t_small, t_large,
                  trained ? " (trained model, the unit's schedule)"
                          : " (calibration model, exhaustive schedule: an upper bound)"),
      {{"images", {small, large}}, {"seconds", {t_small, t_large}}, {"model", model_file}});
}

// What one (arm, data set) costs, per kind of unit.
struct ArmCosts {
  Cost train, audit, attack;
};

// The model an attack or audit is timed on: a finished run's trained one when given, else the
// calibration's own.
std::pair<std::string, bool> timing_model(const Context& c, const std::string& arm, const std::string& d,
                                          const std::string& calibration_model) {
  if (!c.opt.calibrate_from.empty())
    for (const auto seed : c.cfg.seeds) {
      const std::string p = model_path(c.opt.calibrate_from, arm, d, seed);
      if (fs::exists(p)) return {p, true};
    }
  return {calibration_model, false};
}

// A few-shot unit. Every trained arm's regime-A cell is timed once per k (draw 0, the smallest
// budget, scored on at most 1000 test images); a cell's training time scales with its budget, the
// rest with the images it is scored on. Budget selection: every budget x selection_draws cells
// scored on the held-out training images. Regime A: `draws` cells per arm and k at the budget
// chosen later (range: smallest to largest; projection: their mean). Regime B: per trained arm and
// training seed, half a train unit (five of the ten classes); its episodes are not timed. Regime C:
// the bio-rule arms' train units (hidden layers from the unlabelled images), the autoencoder as
// 2 x ae_epochs / epochs of BP's train unit (encoder and decoder), and per k and draw one BP cell.
Cost estimate_fewshot(const Context& c, const std::string& d, const std::map<std::string, Cost>& train_cost) {
  const FewShotOptions fo = fewshot_options(c.cfg, d, c.data_dir);
  const Dataset train_all = load_dataset(d + ":train", c.data_dir);
  const Dataset test = load_dataset(d + ":test", c.data_dir);
  const std::size_t n_test = fo.test_limit > 0 ? std::min(fo.test_limit, test.size()) : test.size();
  const std::size_t n_cal = std::min<std::size_t>(n_test, 1000);
  std::vector<std::uint32_t> first(n_cal);
  std::iota(first.begin(), first.end(), 0U);
  const Dataset test_cal = subset(test, first, test.name);
  const std::size_t n_sel = std::min(fo.selection_images, train_all.size() / 2);
  const double b_min = *std::min_element(fo.budgets.begin(), fo.budgets.end());
  const double b_max = *std::max_element(fo.budgets.begin(), fo.budgets.end());
  const double b_mean =
      std::accumulate(fo.budgets.begin(), fo.budgets.end(), 0.0) / static_cast<double>(fo.budgets.size());
  const auto draws = static_cast<double>(fo.draws);
  double fixed = 0.0, low = 0.0, mid = 0.0, high = 0.0;
  int cells = 0;
  nlohmann::json measured = {{"test_images", n_cal}, {"budget", b_min}, {"cells", nlohmann::json::array()}};
  for (const auto& arm : fo.arms) {
    if (arm.kind != FewShotArmKind::train) continue;
    const bool readout_for_c = fo.unlabelled && arm.name == "bp";  // regime C's ae_bp cells
    for (const int k : fo.shots) {
      c.say(fmt::format("[estimate] {}: few-shot cell {} k={}", d, arm.name, k));
      const FewShotCellSeconds cell = time_fewshot_cell(fo, arm, train_all, test_cal, k, static_cast<int>(b_min));
      ++cells;
      measured["cells"].push_back(
          {{"arm", arm.name}, {"k", k}, {"training_s", cell.training}, {"other_s", cell.other}});
      auto cost = [&](double budget, std::size_t n_eval) {
        return cell.training * budget / b_min + cell.other * static_cast<double>(n_eval) / static_cast<double>(n_cal);
      };
      if (fo.budgets.size() >= 2)
        for (const int b : fo.budgets) fixed += fo.selection_draws * cost(b, n_sel);
      const double repeat = readout_for_c ? 2.0 * draws : draws;
      low += repeat * cost(b_min, n_test);
      mid += repeat * cost(b_mean, n_test);
      high += repeat * cost(b_max, n_test);
    }
  }
  auto train_of = [&](const std::string& arm) {
    const auto it = train_cost.find(arm);
    if (it == train_cost.end()) throw Error("paper --estimate: no training calibration for arm '" + arm + "'");
    return it->second.seconds;
  };
  for (const auto& arm : fo.arms) {
    if (arm.kind != FewShotArmKind::train) continue;
    if (fo.novel) fixed += static_cast<double>(fo.novel_seeds.size()) * 0.5 * train_of(arm.name);
    if (fo.unlabelled && load_config(arm.config, arm.overrides).rule.name == "bio") fixed += train_of(arm.name);
  }
  if (fo.unlabelled) {
    const auto bp = std::find_if(fo.arms.begin(), fo.arms.end(), [](const FewShotArm& a) { return a.name == "bp"; });
    const double epochs = static_cast<double>(load_config(bp->config, bp->overrides).loop.epochs);
    fixed += 2.0 * fo.ae_epochs / epochs * train_of("bp");
  }
  measured["selection_regime_b_c_s"] = fixed;
  return {fixed + mid, fixed + low, fixed + high,
          fmt::format("{} cells timed (one per trained arm and k){}{}", cells,
                      fo.novel ? "; regime B: half a train unit per arm and seed, episodes not timed" : "",
                      fo.unlabelled ? "; regime C: train units of the bio-rule arms, the autoencoder, BP cells" : ""),
          measured};
}

// Training, audit and attack costs of every arm on data set d; few-shot arms that are not paper
// arms are timed for training too (regimes B and C need them).
std::map<std::string, ArmCosts> calibrate_dataset(const Context& c, const std::string& d,
                                                  const std::vector<std::string>& arms) {
  std::map<std::string, ArmCosts> out;
  const Dataset test = load_dataset(d + ":test", c.data_dir);
  std::vector<std::string> order = arms;  // BP first: the transfer source of every attack
  std::stable_partition(order.begin(), order.end(), [](const std::string& a) { return a == "bp"; });
  std::string transfer;
  for (const auto& arm : order) {
    const std::string dir = (c.scratch / (arm + "_" + d)).string();
    c.say(fmt::format("[estimate] {}: training {} on {} examples", d, arm, c.opt.train_examples));
    ArmCosts& a = out[arm];
    a.train = calibrate_train(c, arm, d, dir);
    if (std::find(c.cfg.arms.begin(), c.cfg.arms.end(), arm) == c.cfg.arms.end()) continue;
    const auto [model, trained] = timing_model(c, arm, d, dir + "/model.safetensors");
    if (arm == "bp") transfer = model;
    c.say(fmt::format("[estimate] {}: audit and attack of {}", d, arm));
    a.audit = calibrate_audit(c, d, model);
    const PaperUnit u{
        "attack-" + run_name(arm, d, c.cfg.seeds.front()), PaperUnitKind::attack, 2, arm, d, c.cfg.seeds.front()};
    a.attack = calibrate_attack(c, u, model, transfer, trained, test.size());
  }
  return out;
}

}  // namespace

double PaperEstimate::stage_wall(int stage, bool use_high) const {
  std::vector<double> share(static_cast<std::size_t>(std::max(processes, 1)), 0.0);
  std::size_t i = 0;
  for (const auto& u : units) {
    if (u.stage != stage) continue;
    const int owner = unit_owner(i++, std::max(processes, 1));
    if (!u.done) share[static_cast<std::size_t>(owner)] += (use_high ? u.high : u.seconds) * slowdown;
  }
  return *std::max_element(share.begin(), share.end());
}

double PaperEstimate::total_wall(bool use_high) const {
  std::set<int> stages;
  for (const auto& u : units) stages.insert(u.stage);
  double total = 0.0;
  for (const int s : stages) total += stage_wall(s, use_high);
  return total;
}

nlohmann::json PaperEstimate::to_json() const {
  nlohmann::json j;
  j["processes"] = processes;
  j["threads"] = threads;
  j["hardware_threads"] = hardware_threads;
  j["slowdown"] = slowdown;
  j["calibration_s"] = calibration_s;
  j["total_wall_s"] = total_wall(false);
  j["total_wall_high_s"] = total_wall(true);
  std::map<int, nlohmann::json> stages;
  for (const auto& u : units) {
    nlohmann::json& s = stages[u.stage];
    s["stage"] = u.stage;
    nlohmann::json& k = s["kinds"][paper_unit_kind_name(u.kind)];
    if (k.is_null()) k = {{"units", 0}, {"pending", 0}, {"unit_seconds", 0.0}, {"unit_seconds_high", 0.0}};
    k["units"] = k["units"].get<int>() + 1;
    k["pending"] = k["pending"].get<int>() + (u.done ? 0 : 1);
    k["unit_seconds"] = k["unit_seconds"].get<double>() + u.seconds;
    k["unit_seconds_high"] = k["unit_seconds_high"].get<double>() + u.high;
  }
  j["stages"] = nlohmann::json::array();
  for (auto& [stage, s] : stages) {
    s["wall_s"] = stage_wall(stage, false);
    s["wall_high_s"] = stage_wall(stage, true);
    j["stages"].push_back(s);
  }
  j["units"] = nlohmann::json::array();
  for (const auto& u : units)
    j["units"].push_back({{"id", u.id},
                          {"kind", u.kind},
                          {"stage", u.stage},
                          {"seconds", u.seconds},
                          {"low", u.low},
                          {"high", u.high},
                          {"done", u.done},
                          {"basis", u.basis},
                          {"measured", u.measured}});
  j["notes"] = notes;
  return j;
}

std::string PaperEstimate::table() const {
  std::string out = fmt::format("[estimate] {} process(es) x {} thread(s) on a {}-thread machine; calibrated in {}\n",
                                processes, threads, hardware_threads, format_duration(calibration_s));
  const nlohmann::json j = to_json();
  for (const auto& s : j["stages"]) {
    std::string kinds;
    for (const auto& [kind, k] : s["kinds"].items()) {
      const double sec = k["unit_seconds"], high = k["unit_seconds_high"];
      kinds += fmt::format("{}{} {} ({} pending) {}{}", kinds.empty() ? "" : "; ", k["units"].get<int>(), kind,
                           k["pending"].get<int>(), format_duration(sec),
                           high > sec * 1.005 ? " to " + format_duration(high) : "");
    }
    const double wall = s["wall_s"], wall_high = s["wall_high_s"];
    out += fmt::format("[estimate] stage {}: {} of wall time{}  [unit time: {}]\n", s["stage"].get<int>(),
                       format_duration(wall),
                       wall_high > wall * 1.005 ? " (up to " + format_duration(wall_high) + ")" : "", kinds);
  }
  const double total = total_wall(false), high = total_wall(true);
  out += fmt::format("[estimate] total: {} of wall time{} for the pending units\n", format_duration(total),
                     high > total * 1.005 ? " (up to " + format_duration(high) + ")" : "");
  for (const auto& n : notes) out += "[estimate]   " + n + "\n";
  return out;
}

std::pair<std::size_t, std::size_t> attack_calibration_images(std::size_t n, std::size_t batch, bool trained,
                                                              std::size_t cap) {
  constexpr std::size_t least = 50;
  std::size_t large = least;
  if (cap > 0)
    large = cap;
  else if (trained)
    large = std::max(least, std::min(std::max<std::size_t>(batch, 1), n / 10));
  large = std::min(large, n);
  return {std::max<std::size_t>(1, large / 5), large};
}

PaperEstimate estimate_paper(const PaperConfig& cfg, const PaperEstimateOptions& opt) {
  const auto t0 = Clock::now();
  set_threads(cfg.threads);
  PaperEstimate est;
  est.processes = std::max(opt.processes, 1);
  est.threads = current_threads();
  est.hardware_threads = hardware_threads();
  if (opt.same_machine)
    est.slowdown = std::max(1.0, static_cast<double>(est.processes * est.threads) / est.hardware_threads);
  const ScratchDir scratch;
  const Context c{cfg, opt, data_dir_or_default(opt.data_dir), scratch.path};
  const auto plan = plan_paper(cfg);
  for (const auto& u : plan)
    est.units.push_back({u.id, u.kind, u.stage, 0, 0, 0, !opt.out_dir.empty() && unit_done(opt.out_dir, u.id), "", {}});
  for (const auto& d : cfg.datasets) {
    bool pending = false, fewshot_pending = false;
    for (std::size_t i = 0; i < plan.size(); ++i)
      if (plan[i].dataset == d && !est.units[i].done) {
        pending = true;
        fewshot_pending = fewshot_pending || plan[i].kind == PaperUnitKind::fewshot;
      }
    if (!pending) continue;
    std::vector<std::string> arms = cfg.arms;
    if (fewshot_pending)
      for (const auto& a : cfg.fewshot_arms)
        if (a != "ncm" && a != "knn" && std::find(arms.begin(), arms.end(), a) == arms.end()) arms.push_back(a);
    const auto costs = calibrate_dataset(c, d, arms);
    std::map<std::string, Cost> train_cost;
    for (const auto& [arm, a] : costs) train_cost[arm] = a.train;
    const Cost fewshot = fewshot_pending ? estimate_fewshot(c, d, train_cost) : Cost{};
    for (std::size_t i = 0; i < plan.size(); ++i) {
      const PaperUnit& p = plan[i];
      if (p.dataset != d) continue;
      const Cost* cost = p.kind == PaperUnitKind::fewshot ? &fewshot
                         : p.kind == PaperUnitKind::train ? &costs.at(p.arm).train
                         : p.kind == PaperUnitKind::audit ? &costs.at(p.arm).audit
                                                          : &costs.at(p.arm).attack;
      UnitEstimate& u = est.units[i];
      u.seconds = cost->seconds;
      u.low = cost->low;
      u.high = cost->high;
      u.basis = cost->basis;
      u.measured = cost->measured;
    }
  }
  est.notes = {"each unit timed at this thread count on this machine, at a small size, and scaled",
               "a stage's wall time is its slowest process's share of the pending units"};
  if (est.slowdown > 1.0)
    est.notes.push_back(fmt::format("{} processes x {} threads share {} cores: every unit {:.1f}x slower",
                                    est.processes, est.threads, est.hardware_threads, est.slowdown));
  if (opt.calibrate_from.empty())
    est.notes.emplace_back(
        "attacks timed on barely trained models with every attack on every example (an upper "
        "bound); --calibrate-from a finished run times them on trained models");
  est.calibration_s = seconds_since(t0);
  return est;
}

PaperEstimate PaperEstimate::from_json(const nlohmann::json& j) {
  PaperEstimate e;
  e.processes = j.at("processes");
  e.threads = j.at("threads");
  e.hardware_threads = j.at("hardware_threads");
  e.slowdown = j.at("slowdown");
  e.calibration_s = j.at("calibration_s");
  for (const auto& u : j.at("units"))
    e.units.push_back({u.at("id"), u.at("kind"), u.at("stage"), u.at("seconds"), u.at("low"), u.at("high"),
                       u.at("done"), u.at("basis"), u.value("measured", nlohmann::json())});
  e.notes = j.at("notes").get<std::vector<std::string>>();
  return e;
}

namespace paper_detail {

PaperEstimate estimate_for_run(const PaperConfig& cfg, const PaperEstimateOptions& opt,
                               const std::string& inputs_sha256, bool& reused) {
  set_threads(cfg.threads);
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  // method: bumped when the calibration changes, so that an older projection is not reused.
  constexpr int estimate_method = 2;
  const nlohmann::json key = {{"method", estimate_method},
                              {"inputs_sha256", inputs_sha256},
                              {"threads", current_threads()},
                              {"calibrate_from", opt.calibrate_from},
                              {"host", host},
                              {"build", build_info()}};
  const std::string path = opt.out_dir + "/estimate.json";
  reused = false;
  if (std::ifstream in(path); in) {
    const auto old = nlohmann::json::parse(in, nullptr, false);
    if (old.is_object() && old.value("key", nlohmann::json()) == key) {
      try {
        PaperEstimate e = PaperEstimate::from_json(old.at("estimate"));
        for (auto& u : e.units) u.done = unit_done(opt.out_dir, u.id);
        e.processes = std::max(opt.processes, 1);  // the units' times do not depend on how they are shared
        e.slowdown =
            opt.same_machine ? std::max(1.0, static_cast<double>(e.processes * e.threads) / e.hardware_threads) : 1.0;
        reused = true;
        return e;
      } catch (const nlohmann::json::exception&) {
        // an estimate.json this version cannot read is calibrated again
      }
    }
  }
  PaperEstimate e = estimate_paper(cfg, opt);
  write_file_atomic(path, nlohmann::json({{"key", key}, {"estimate", e.to_json()}}).dump(1) + "\n");
  return e;
}

}  // namespace paper_detail

}  // namespace dalenet
