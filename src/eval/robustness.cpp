// The robustness evaluation (docs/EVALUATION.md, "Robustness"): which attack runs on which
// examples at which eps (AttackSchedule), the per-example worst case, the convergence check and
// the gradient-masking flags. The attacks themselves are in attack.cpp.
#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <optional>

#include <fmt/format.h>

#include "attack_internal.hpp"
#include "attacks/registry.hpp"
#include "dalenet/attack.hpp"
#include "dalenet/error.hpp"
#include "dalenet/progress.hpp"

namespace dalenet {

using detail::AttackBatch;
using detail::Clock;
using detail::pct;

nlohmann::json AttackProgress::to_json() const {
  return {{"event", "attack"},
          {"eps", eps},
          {"attack", attack},
          {"attacked", attacked},
          {"newly_fooled", newly_fooled},
          {"accuracy", accuracy},
          {"seconds", seconds},
          {"elapsed_s", elapsed_s},
          {"eta_s", eta_s}};
}

std::string to_string(AttackSchedule s) {
  return s == AttackSchedule::carried ? "carried" : "exhaustive";
}
AttackSchedule attack_schedule_from_string(const std::string& s) {
  if (s == "carried") return AttackSchedule::carried;
  if (s == "exhaustive") return AttackSchedule::exhaustive;
  throw ConfigError("unknown attack schedule '" + s + "' (expected carried or exhaustive)");
}

namespace {

void validate(const Classifier& model, const Eigen::Ref<const Eigen::MatrixXf>& X, std::span<const std::uint8_t> labels,
              const AttackOptions& opt, const std::vector<std::string>& attacks, const Classifier* transfer_source) {
  if (X.rows() != model.input_size())
    throw InputError("attack: inputs have " + std::to_string(X.rows()) + " features, the model expects " +
                     std::to_string(model.input_size()));
  if (static_cast<std::size_t>(X.cols()) != labels.size())
    throw InputError("attack: " + std::to_string(X.cols()) + " inputs but " + std::to_string(labels.size()) +
                     " labels");
  if (!X.allFinite()) throw InputError("attack: inputs hold NaN or Inf");
  if (X.size() > 0 && (X.minCoeff() < 0.0F || X.maxCoeff() > 1.0F))
    throw InputError("attack: inputs must lie in [0, 1] (the threat model's input box)");
  if (opt.eps.empty()) throw InputError("attack: the eps grid is empty");
  for (double e : opt.eps)
    if (!std::isfinite(e) || e < 0.0 || (opt.norm == ThreatNorm::linf && e > 1.0))
      throw InputError("attack: eps " + std::to_string(e) + " is outside [0, " +
                       (opt.norm == ThreatNorm::linf ? "1" : "inf") + ")");
  if (opt.steps < 1 || opt.restarts < 1 || opt.square_queries < 0 || opt.noise_draws < 1 || opt.batch == 0)
    throw InputError("attack: steps, restarts, noise draws and batch must be >= 1");
  for (const auto& a : attacks) {
    const detail::AttackInfo& info = detail::attack_info(a);  // throws on an unknown name
    if (opt.norm == ThreatNorm::l2 && info.linf_only)
      throw InputError("attack: '" + a + "' is implemented for the L-inf threat model only");
    if (info.needs_source && transfer_source == nullptr)
      throw InputError("attack: '" + a + "' needs a source model (--transfer-from)");
  }
}

// Whether the ladder holds an iterative gradient attack (then the convergence check runs at every
// eps > 0).
bool runs_pgd(const std::vector<std::string>& attacks) {
  return std::any_of(attacks.begin(), attacks.end(),
                     [](const std::string& a) { return detail::attack_info(a).iterative; });
}

// The order in which the attacks run at each eps, as indices into `attacks`. Exhaustive: as
// listed. Carried: by the registry's cost_rank. The iterative white-box attacks first, then FGSM
// (one gradient; after PGD it checks that PGD fools what FGSM fools), then the gradient-free
// ones, the 5000-query Square attack last, so that each expensive attack meets only what the
// cheaper or stronger ones left standing. salt_pepper is outside the threat model and always runs
// on every example.
std::vector<std::size_t> run_order(const std::vector<std::string>& attacks, AttackSchedule schedule) {
  std::vector<std::size_t> order(attacks.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  if (schedule == AttackSchedule::exhaustive) return order;
  auto rank = [](const std::string& a) { return detail::attack_info(a).cost_rank; };
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t i, std::size_t j) { return rank(attacks[i]) < rank(attacks[j]); });
  return order;
}

// The examples under attack (the clean-correct ones) and what is known about them so far.
struct Campaign {
  Classifier& model;
  Classifier* transfer_source;
  const AttackOptions& opt;
  std::size_t n = 0;                // all examples, the denominator of every accuracy
  AttackBatch sub;                  // the clean-correct examples; their column is their stream key
  std::vector<std::uint8_t> alive;  // 1: no in-threat attack at any eps so far has fooled it
  Eigen::MatrixXf witness;          // keep_adversarial: the first input that fooled each example
  // Progress: the start, seconds per attacked example of each attack (its last eps > 0), and how
  // many eps > 0 are still to come after the current one.
  Clock::time_point start = Clock::now();
  std::map<std::string, double> rate;
  std::size_t later_eps = 0;
  std::size_t m() const { return sub.ids.size(); }
  double of_n(std::size_t k) const { return n == 0 ? 0.0 : static_cast<double>(k) / static_cast<double>(n); }
};

// ---- progress ----

// AttackProgress::eta_s: the attacks of `order` from position `next` on at this eps, the
// convergence check if still to run, every attack at each later eps > 0, and the unbounded check;
// each on the examples standing now (carried, in-threat) or on all clean-correct ones.
double eta_seconds(const Campaign& c, const std::vector<std::string>& order, std::size_t next, std::size_t standing,
                   bool check_pending) {
  const bool carried = c.opt.schedule == AttackSchedule::carried;
  double left = 0.0;
  auto cost = [&](const std::string& a, std::size_t examples) {
    const auto it = c.rate.find(a);
    if (it == c.rate.end()) return false;
    left += it->second * static_cast<double>(examples);
    return true;
  };
  auto meets = [&](const std::string& a) {
    return carried && detail::attack_info(a).in_threat_model ? standing : c.m();
  };
  const bool has_pgd = runs_pgd(order);
  for (std::size_t i = next; i < order.size(); ++i)
    if (!cost(order[i], meets(order[i]))) return -1.0;
  if (check_pending && !cost("pgd_check", standing)) return -1.0;
  for (std::size_t e = 0; e < c.later_eps; ++e) {
    for (const auto& a : order)
      if (!cost(a, meets(a))) return -1.0;
    if (has_pgd && !cost("pgd_check", standing)) return -1.0;
  }
  // The unbounded check: one restart of PGD-margin on every clean-correct example.
  if (c.opt.unbounded_check && c.rate.count("pgd_margin") != 0)
    left += c.rate.at("pgd_margin") / c.opt.restarts * static_cast<double>(c.m());
  return left;
}

void report(Campaign& c, const AttackRun& run, const std::vector<std::string>& order, std::size_t next,
            std::size_t standing, bool check_pending) {
  if (run.eps > 0.0) c.rate[run.attack] = run.seconds / static_cast<double>(std::max<std::size_t>(run.attacked, 1));
  if (!c.opt.progress && !c.opt.on_progress) return;
  AttackProgress p;
  p.eps = run.eps;
  p.attack = run.attack;
  p.attacked = run.attacked;
  p.newly_fooled = run.newly_fooled;
  p.accuracy = run.accuracy;
  p.seconds = run.seconds;
  p.elapsed_s = detail::seconds_since(c.start);
  p.eta_s = eta_seconds(c, order, next, standing, check_pending);
  if (c.opt.on_progress) c.opt.on_progress(p);
  if (c.opt.progress)
    c.opt.progress(
        fmt::format("  eps {:<6g} {:<11} accuracy {:>7}  ({} attacked, {} newly fooled, {:.1f}s)  [{} "
                    "elapsed, ETA {}]",
                    run.eps, run.attack, pct(run.accuracy), run.attacked, run.newly_fooled, run.seconds,
                    format_duration(p.elapsed_s),
                    p.eta_s < 0.0                               ? std::string("after the first eps > 0")
                    : c.opt.schedule == AttackSchedule::carried ? "<= " + format_duration(p.eta_s)
                                                                : format_duration(p.eta_s)));
}

// Runs `attack` at eps on the examples `targets` (columns of c.sub). Returns, per target, 1
// where the model is still correct, and the fooling inputs in `adv` (one column per target).
std::vector<std::uint8_t> run_attack_on(Campaign& c, const detail::AttackInfo& attack, double eps, std::uint64_t seed,
                                        const std::vector<std::size_t>& targets, Eigen::MatrixXf& adv, AttackRun& run) {
  const AttackBatch t = detail::make_batch(c.sub.x0, c.sub.labels, targets);
  const detail::AttackCall call{c.model, c.transfer_source, c.opt, eps, seed, t.x0, t.labels, targets};
  PgdStats st;
  auto ok = attack.run(call, adv, st);
  if (!st.accuracy_by_restart.empty()) {
    // Fractions of the targets, rescaled to fractions of all n examples.
    const double scale = c.of_n(targets.size());
    for (double acc : st.accuracy_by_restart) run.accuracy_by_restart.push_back(acc * scale);
    run.first_restart_accuracy = st.first_restart_accuracy * scale;
    run.first_restart_half_steps_accuracy = st.first_restart_half_steps_accuracy * scale;
  }
  return ok;
}

// Marks the targets that `ok` says were fooled as no longer standing at this eps; the first
// fooling input of an example still alive becomes its witness. Returns how many it marked.
std::size_t mark_fooled(Campaign& c, const std::vector<std::size_t>& targets, const std::vector<std::uint8_t>& ok,
                        const Eigen::MatrixXf& adv, std::vector<std::uint8_t>& standing) {
  std::size_t newly = 0;
  for (std::size_t k = 0; k < targets.size(); ++k) {
    const std::size_t e = targets[k];
    if (ok[k] != 0 || standing[e] == 0) continue;
    standing[e] = 0;
    ++newly;
    if (c.opt.keep_adversarial && c.alive[e] != 0)
      c.witness.col(static_cast<Eigen::Index>(e)) = adv.col(static_cast<Eigen::Index>(k));
  }
  return newly;
}

// The convergence check: PGD-margin with twice the steps on the examples that survived
// everything at this eps. It is one more attack (what it fools counts), and if it fools more
// than `tolerance` of the examples, the budget above was not enough: flag pgd_not_converged.
AttackRun convergence_check(Campaign& c, double eps, std::size_t ei, std::vector<std::uint8_t>& standing) {
  const auto t0 = Clock::now();
  const std::vector<std::size_t> targets = detail::ids_where(standing);
  PgdOptions p;
  p.norm = c.opt.norm;
  p.eps = eps;
  p.steps = 2 * c.opt.steps;
  p.restarts = 1;
  p.step_factor = c.opt.step_factor;
  p.margin_loss = true;
  p.batch = c.opt.batch;
  p.seed = c.opt.seed ^ 0xC0DEC0DEULL ^ (ei + 1);
  const AttackBatch t = detail::make_batch(c.sub.x0, c.sub.labels, targets);
  Eigen::MatrixXf adv;
  const auto ok = detail::pgd_attack_keyed(c.model, t.x0, t.labels, p, targets, adv);
  AttackRun run;
  run.attack = "pgd_check";
  run.eps = eps;
  run.attacked = targets.size();
  run.newly_fooled = mark_fooled(c, targets, ok, adv, standing);
  run.correct = targets.size() - run.newly_fooled;
  run.accuracy = c.of_n(run.correct);
  run.seconds = detail::seconds_since(t0);
  return run;
}

// Every attack at one eps (grid index ei), then the convergence check. Appends the runs to rep
// and returns the eps's result; updates c.alive.
EpsResult attack_at_eps(Campaign& c, const std::vector<std::string>& attacks, double eps, std::size_t ei,
                        RobustnessReport& rep) {
  const AttackOptions& opt = c.opt;
  const bool carried = opt.schedule == AttackSchedule::carried;
  // Not fooled by any attack at this eps so far (carried: nor at any smaller eps).
  std::vector<std::uint8_t> standing = carried ? c.alive : std::vector<std::uint8_t>(c.m(), 1);
  // Fooled at this eps by a white-box attack, and by another in-threat attack (EpsResult::black_box_only).
  std::vector<std::uint8_t> by_white(c.m(), 0), by_other(c.m(), 0);
  const std::vector<std::uint8_t> alive_before = c.alive;
  std::vector<std::size_t> all(c.m());
  std::iota(all.begin(), all.end(), std::size_t{0});
  EpsResult er;
  er.eps = eps;
  double lowest = 2.0;
  std::size_t most_fooled = 0;
  const std::vector<std::size_t> order = run_order(attacks, opt.schedule);
  std::vector<std::string> names;
  for (const std::size_t ai : order) names.push_back(attacks[ai]);
  const bool check = runs_pgd(attacks) && eps > 0.0;
  auto count_standing = [&] { return static_cast<std::size_t>(std::count(standing.begin(), standing.end(), 1)); };
  for (std::size_t pos = 0; pos < order.size(); ++pos) {
    const std::size_t ai = order[pos];
    const std::string& a = attacks[ai];
    const auto t0 = Clock::now();
    // The seed depends on the attack's name and the eps, not on the run order or the other attacks
    // of the ladder: both schedules, and any ladder that holds it, draw the same.
    const std::uint64_t seed = opt.seed ^ (0x9E37ULL * (ei + 1)) ^ detail::attack_seed_key(a);
    const detail::AttackInfo& info = detail::attack_info(a);
    const bool counts = info.in_threat_model;
    const std::vector<std::size_t> targets = carried && counts ? detail::ids_where(standing) : all;
    AttackRun run;
    run.attack = a;
    run.eps = eps;
    run.attacked = targets.size();
    Eigen::MatrixXf adv;
    const std::vector<std::uint8_t> ok = run_attack_on(c, info, eps, seed, targets, adv, run);
    const auto own_correct = static_cast<std::size_t>(std::count(ok.begin(), ok.end(), std::uint8_t{1}));
    if (counts) run.newly_fooled = mark_fooled(c, targets, ok, adv, standing);
    for (std::size_t k = 0; k < targets.size() && counts; ++k)
      if (ok[k] == 0) (info.white_box ? by_white : by_other)[targets[k]] = 1;
    run.correct = carried && counts ? targets.size() - run.newly_fooled : own_correct;
    run.accuracy = c.of_n(run.correct);
    run.seconds = detail::seconds_since(t0);
    if (counts && !carried && run.accuracy < lowest) {
      lowest = run.accuracy;
      er.strongest_attack = a;
    }
    if (counts && carried && run.newly_fooled > most_fooled) {
      most_fooled = run.newly_fooled;
      er.strongest_attack = a;
    }
    report(c, run, names, pos + 1, count_standing(), check);
    rep.runs.push_back(std::move(run));
  }
  if (er.strongest_attack.empty()) er.strongest_attack = "-";
  if (check) {
    rep.runs.push_back(convergence_check(c, eps, ei, standing));
    report(c, rep.runs.back(), names, names.size(), count_standing(), false);
  }

  if (!carried) {
    er.at_eps_correct = count_standing();
    er.at_eps_accuracy = c.of_n(er.at_eps_correct);
  }
  for (std::size_t k = 0; k < c.m(); ++k) c.alive[k] = c.alive[k] != 0 && standing[k] != 0 ? 1 : 0;
  er.robust.assign(c.n, 0);
  for (std::size_t k = 0; k < c.m(); ++k) er.robust[c.sub.ids[k]] = c.alive[k];
  er.robust_correct = static_cast<std::size_t>(std::count(c.alive.begin(), c.alive.end(), std::uint8_t{1}));
  er.robust_accuracy = c.of_n(er.robust_correct);
  for (std::size_t k = 0; k < c.m(); ++k)
    if (alive_before[k] != 0 && by_other[k] != 0 && by_white[k] == 0) ++er.black_box_only;
  er.black_box_only_fraction = c.of_n(er.black_box_only);
  if (opt.progress)
    opt.progress(fmt::format("eps {:<6g} robust accuracy {} (worst case over {} attacks and every eps up to this)", eps,
                             pct(er.robust_accuracy), attacks.size()));
  return er;
}

// PGD-margin with the whole input box as the ball, on every clean-correct example (both
// schedules): a model that keeps accuracy under it masks its gradients.
void unbounded_check(Campaign& c, const Eigen::Index dim, RobustnessReport& rep) {
  PgdOptions p;
  p.norm = c.opt.norm;
  p.eps = c.opt.norm == ThreatNorm::linf ? 1.0 : std::sqrt(static_cast<double>(dim));
  p.steps = c.opt.steps;
  p.step_factor = c.opt.step_factor;
  p.margin_loss = true;
  p.batch = c.opt.batch;
  p.seed = c.opt.seed ^ 0xB0B0ULL;
  Eigen::MatrixXf adv;
  const auto ok = pgd_attack(c.model, c.sub.x0, c.sub.labels, p, adv);
  rep.unbounded_eps = p.eps;
  rep.unbounded_accuracy = c.of_n(static_cast<std::size_t>(std::count(ok.begin(), ok.end(), std::uint8_t{1})));
  if (c.opt.progress)
    c.opt.progress(fmt::format("unbounded PGD (eps {:g}): accuracy {}", p.eps, pct(rep.unbounded_accuracy)));
}

// ---- gradient-masking checks (docs/EVALUATION.md, "Gradient-masking checks") ----

double accuracy_of(const RobustnessReport& rep, const std::string& a, double eps) {
  for (const auto& r : rep.runs)
    if (r.attack == a && r.eps == eps) return r.accuracy;
  return -1.0;
}
std::size_t newly_fooled_by(const RobustnessReport& rep, const std::string& a, double eps) {
  for (const auto& r : rep.runs)
    if (r.attack == a && r.eps == eps) return r.newly_fooled;
  return 0;
}

Flag eps0_flag(const RobustnessReport& rep) {
  Flag f{"eps0_differs_from_clean", false, "0 is not in the eps grid: not checked"};
  for (const auto& e : rep.by_eps)
    if (e.eps == 0.0) {
      f.raised = e.robust_correct != rep.clean_correct;
      f.detail = fmt::format("robust accuracy at eps 0 is {}, clean accuracy {}", pct(e.robust_accuracy),
                             pct(rep.clean_accuracy));
    }
  return f;
}

// Exhaustive: the attacks at a larger eps leave more examples standing than those at a smaller
// one. Carried: robust accuracy is non-increasing by construction, so there is nothing to check.
Flag monotone_flag(const RobustnessReport& rep, const AttackOptions& opt) {
  if (opt.schedule == AttackSchedule::carried)
    return {"robust_accuracy_increases_with_eps", false,
            "not checked: the carried schedule is monotone by construction (--per-attack-full checks it)"};
  Flag f{"robust_accuracy_increases_with_eps", false, "the attacks at each eps alone are non-increasing in eps"};
  std::vector<const EpsResult*> sorted;
  for (const auto& e : rep.by_eps) sorted.push_back(&e);
  std::stable_sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->eps < b->eps; });
  for (std::size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i]->at_eps_accuracy > sorted[i - 1]->at_eps_accuracy + opt.tolerance) {
      f.raised = true;
      f.detail = fmt::format("the attacks at eps {:g} alone leave {}, those at eps {:g} left {}", sorted[i]->eps,
                             pct(sorted[i]->at_eps_accuracy), sorted[i - 1]->eps, pct(sorted[i - 1]->at_eps_accuracy));
    }
  return f;
}

Flag unbounded_flag(const RobustnessReport& rep, const AttackOptions& opt) {
  Flag f{"unbounded_attack_fails", false, "not run"};
  if (rep.unbounded_accuracy >= 0.0) {
    f.raised = rep.unbounded_accuracy > opt.unbounded_max_accuracy;
    f.detail = fmt::format("PGD-margin with eps {:g} (the whole input box) leaves {} accuracy (allowed {})",
                           rep.unbounded_eps, pct(rep.unbounded_accuracy), pct(opt.unbounded_max_accuracy));
  }
  return f;
}

// Exhaustive: PGD's accuracy above FGSM's. Carried: FGSM runs after PGD, on its survivors, and
// fools more than `tolerance` of the examples.
Flag fgsm_flag(const RobustnessReport& rep, const AttackOptions& opt) {
  Flag f{"iterative_weaker_than_fgsm", false, "PGD is at least as strong as FGSM at every eps"};
  const double tol = opt.tolerance;
  for (const auto& e : rep.by_eps) {
    const double fg = accuracy_of(rep, "fgsm", e.eps);
    double pgd = 2.0;
    for (const auto& info : detail::attack_registry())
      if (info.iterative && accuracy_of(rep, info.name, e.eps) >= 0.0)
        pgd = std::min(pgd, accuracy_of(rep, info.name, e.eps));
    if (fg < 0.0 || pgd > 1.5) continue;
    if (opt.schedule == AttackSchedule::carried) {
      const std::size_t extra = newly_fooled_by(rep, "fgsm", e.eps);
      if (static_cast<double>(extra) > tol * static_cast<double>(rep.n)) {
        f.raised = true;
        f.detail = fmt::format("at eps {:g}: FGSM fooled {} examples that PGD had not", e.eps, extra);
      }
    } else if (pgd > fg + tol) {
      f.raised = true;
      f.detail = fmt::format("at eps {:g}: PGD {} vs FGSM {}", e.eps, pct(pgd), pct(fg));
    }
  }
  return f;
}

Flag convergence_flag(const RobustnessReport& rep, const AttackOptions& opt) {
  Flag f{"pgd_not_converged", false,
         "PGD with twice the steps fooled <= tol more examples, and the last restart lowered accuracy by <= tol"};
  const double tol = opt.tolerance;
  const auto n = static_cast<double>(std::max<std::size_t>(rep.n, 1));
  for (const auto& r : rep.runs) {
    if (r.eps == 0.0) continue;
    if (r.attack == "pgd_check" && static_cast<double>(r.newly_fooled) > tol * static_cast<double>(rep.n)) {
      f.raised = true;
      f.detail =
          fmt::format("at eps {:g}: PGD-margin with {} steps fooled {} more examples ({}) than all attacks before",
                      r.eps, 2 * opt.steps, r.newly_fooled, pct(static_cast<double>(r.newly_fooled) / n));
    }
    const auto R = r.accuracy_by_restart.size();
    const double restart_gain = R >= 2 ? r.accuracy_by_restart[R - 2] - r.accuracy_by_restart[R - 1] : 0.0;
    if (restart_gain > tol) {
      f.raised = true;
      f.detail =
          fmt::format("{} at eps {:g}: the last restart lowered accuracy by {}", r.attack, r.eps, pct(restart_gain));
    }
  }
  return f;
}

// Per example, in both schedules: more than `tolerance` of the examples were fooled at some eps by
// a gradient-free, transfer or noise attack and by no white-box attack (EpsResult::black_box_only).
// Gradients are then masked for those examples and the white-box numbers are not trusted.
Flag black_box_flag(const RobustnessReport& rep, const AttackOptions& opt, const std::vector<std::string>& attacks) {
  Flag f{"black_box_beats_white_box", false,
         "no example was fooled by a gradient-free, transfer or noise attack alone beyond the tolerance"};
  if (std::none_of(attacks.begin(), attacks.end(),
                   [](const std::string& a) { return detail::attack_info(a).white_box; }))
    return f;
  for (const auto& e : rep.by_eps) {
    if (static_cast<double>(e.black_box_only) <= opt.tolerance * static_cast<double>(rep.n)) continue;
    f.raised = true;
    f.detail = fmt::format(
        "at eps {:g}: {} examples ({}) were fooled by a gradient-free, transfer or noise attack and by no white-box "
        "attack (white-box numbers not trusted)",
        e.eps, e.black_box_only, pct(e.black_box_only_fraction));
  }
  return f;
}

void add_masking_flags(RobustnessReport& rep, const AttackOptions& opt, const std::vector<std::string>& attacks) {
  rep.flags.push_back(eps0_flag(rep));
  rep.flags.push_back(monotone_flag(rep, opt));
  rep.flags.push_back(unbounded_flag(rep, opt));
  rep.flags.push_back(fgsm_flag(rep, opt));
  rep.flags.push_back(convergence_flag(rep, opt));
  rep.flags.push_back(black_box_flag(rep, opt, attacks));
  rep.flags.push_back({"zero_input_gradient", rep.zero_gradient_fraction_margin > opt.zero_gradient_max_fraction,
                       fmt::format("{} of clean correct points have an all-zero margin-loss input gradient ({} for "
                                   "cross-entropy; allowed {})",
                                   pct(rep.zero_gradient_fraction_margin), pct(rep.zero_gradient_fraction_ce),
                                   pct(opt.zero_gradient_max_fraction))});
}

}  // namespace

RobustnessReport evaluate_robustness(Classifier& model, const Eigen::Ref<const Eigen::MatrixXf>& X,
                                     std::span<const std::uint8_t> labels, const AttackOptions& opt,
                                     Classifier* transfer_source) {
  const std::vector<std::string> attacks =
      opt.attacks.empty() ? detail::default_ladder(model, opt.norm, transfer_source != nullptr) : opt.attacks;
  validate(model, X, labels, opt, attacks, transfer_source);

  RobustnessReport rep;
  const auto n = static_cast<std::size_t>(X.cols());
  rep.n = n;
  const std::vector<std::uint8_t> clean = detail::clean_correct(model, X, labels, opt.batch);
  const std::vector<std::size_t> clean_ids = detail::ids_where(clean);
  rep.clean_correct = clean_ids.size();
  rep.clean_accuracy = detail::fraction(clean, n);
  rep.zero_gradient_fraction_margin = detail::zero_gradient_fraction(model, X, labels, clean_ids, true, opt.batch);
  rep.zero_gradient_fraction_ce = detail::zero_gradient_fraction(model, X, labels, clean_ids, false, opt.batch);

  // Attacks run on the clean-correct examples only (the others count as fooled already), eps
  // from small to large (results are reported in the grid's order).
  Campaign c{model, transfer_source, opt, n, detail::make_batch(X, labels, clean_ids), {}, {}, Clock::now(), {}, 0};
  c.alive.assign(c.m(), 1);
  if (opt.keep_adversarial) c.witness = c.sub.x0;
  std::vector<std::size_t> by_eps(opt.eps.size());
  std::iota(by_eps.begin(), by_eps.end(), std::size_t{0});
  std::stable_sort(by_eps.begin(), by_eps.end(), [&](std::size_t i, std::size_t j) { return opt.eps[i] < opt.eps[j]; });
  std::vector<EpsResult> results(opt.eps.size());
  for (std::size_t pos = 0; pos < by_eps.size(); ++pos) {
    const std::size_t ei = by_eps[pos];
    c.later_eps =
        static_cast<std::size_t>(std::count_if(by_eps.begin() + static_cast<std::ptrdiff_t>(pos) + 1, by_eps.end(),
                                               [&](std::size_t j) { return opt.eps[j] > 0.0; }));
    results[ei] = attack_at_eps(c, attacks, opt.eps[ei], ei, rep);
    if (opt.keep_adversarial) {
      results[ei].adversarial = X;
      for (std::size_t k = 0; k < clean_ids.size(); ++k)
        results[ei].adversarial.col(static_cast<Eigen::Index>(clean_ids[k])) =
            c.witness.col(static_cast<Eigen::Index>(k));
    }
  }
  rep.by_eps = std::move(results);
  if (opt.unbounded_check) unbounded_check(c, X.rows(), rep);
  add_masking_flags(rep, opt, attacks);
  return rep;
}

}  // namespace dalenet
