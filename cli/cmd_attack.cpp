// dalenet attack
#include <unistd.h>

#include <fmt/format.h>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli.hpp"
#include "dalenet/attack.hpp"
#include "dalenet/io.hpp"
#include "dalenet/threads.hpp"

namespace dalenet::cli {
namespace {

struct AttackArgs {
  AttackJob job;
  std::vector<std::string> attacks, eps;
  std::string norm = "linf", out_dir;
  bool json = false, quiet = false, log_json = false;
  int threads = 0;
};

// The summary on stdout: per model the robust accuracy per eps and the raised flags.
void print_robustness_summary(const nlohmann::json& res, const std::string& out_dir) {
  std::size_t raised = 0;
  for (const auto& m : res["models"]) {
    std::cout << fmt::format("{}  clean {:.2f}%  ({} examples, {})\n", m["label"].get<std::string>(),
                             100.0 * m["clean_accuracy"].get<double>(), m["n"].get<std::size_t>(),
                             res["options"]["norm"].get<std::string>());
    std::cout << fmt::format("  {:>8}  {:>9}  {}\n", "eps", "robust", "strongest attack");
    for (const auto& r : m["robust"])
      std::cout << fmt::format("  {:>8g}  {:>8.2f}%  {}\n", r["eps"].get<double>(),
                               100.0 * r["robust_accuracy"].get<double>(), r["strongest_attack"].get<std::string>());
    for (const auto& f : m["flags"])
      if (f["raised"].get<bool>()) {
        ++raised;
        std::cout << fmt::format("  FLAG {}: {}\n", f["name"].get<std::string>(), f["detail"].get<std::string>());
      }
  }
  std::cout << (raised == 0 ? "gradient-masking checks: no flag raised\n"
                            : fmt::format("gradient-masking checks: {} flag(s) raised (see above)\n", raised));
  if (!out_dir.empty()) std::cout << "wrote " << out_dir << "/robustness.json and robustness.csv\n";
}

int run_attack(const AttackArgs& a, const Globals& g) {
  set_threads(a.threads);
  AttackJob job = a.job;
  job.data_dir = g.data_dir;
  job.options.norm = threat_norm_from_string(a.norm);
  job.options.attacks = split_list(a.attacks);
  job.options.eps = parse_number_list(a.eps, "--eps");
  const bool tty = ::isatty(2) == 1;
  if (a.log_json) {
    job.options.on_progress = [](const AttackProgress& p) { print_json_line(p.to_json()); };
  } else if (!a.quiet) {
    job.options.progress = [tty](const std::string& line) {
      std::fprintf(stderr, "%s%s\n", tty && line.rfind("!!", 0) == 0 ? "\033[1;31m" : "", line.c_str());
      if (tty && line.rfind("!!", 0) == 0) std::fprintf(stderr, "\033[0m");
      std::fflush(stderr);
    };
  }
  const nlohmann::json res = run_attack_job(job);
  if (!a.out_dir.empty()) {
    std::filesystem::create_directories(a.out_dir);
    write_file_atomic(a.out_dir + "/robustness.json", res.dump(2) + "\n");
    write_file_atomic(a.out_dir + "/robustness.csv", robustness_csv(res));
  }
  if (a.json) {
    std::cout << res.dump(2) << "\n";
    return 0;
  }
  if (a.log_json) {
    nlohmann::json done = {{"event", "done"}, {"models", nlohmann::json::array()}};
    for (const auto& m : res["models"])
      done["models"].push_back({{"label", m["label"]}, {"robust", m["robust"]}, {"flags_raised", m["flags_raised"]}});
    print_json_line(done);
    return 0;
  }
  print_robustness_summary(res, a.out_dir);
  return 0;
}

}  // namespace

void add_attack_command(Node& root, const Globals& g, Commands& out) {
  auto a = std::make_shared<AttackArgs>();
  AttackJob& job = a->job;
  Node cmd = root.subcommand(
      "attack",
      "Robust accuracy under adversarial and noise attacks, with gradient-masking checks (docs/EVALUATION.md)");
  cmd.option("--model,-m", job.models, "Model file(s) (.safetensors); repeat to compare on the same examples")
      .required()
      .option("--data,-d", job.data, "mnist:test | fashion:test | idx:IMAGES,LABELS")
      .show_default()
      .option("--n", job.n, "Attack a stratified subset of N examples (0: all)")
      .show_default()
      .option("--attacks", a->attacks,
              fmt::format("Comma list of {} (default for linf: {}; for l2: {}; and transfer when "
                          "--transfer-from is given. Of the defaults, pgd_bpda and pgd_drive run only on "
                          "models with competition and apgd_t only with >= 4 classes)",
                          fmt::join(attack_names(), ", "), fmt::join(default_attacks(ThreatNorm::linf), ", "),
                          fmt::join(default_attacks(ThreatNorm::l2), ", ")))
      .option("--eps", a->eps, "Comma list of radii (default: the grid of the data set, docs/EVALUATION.md)")
      .option("--norm", a->norm, "Threat model: linf or l2")
      .show_default()
      .option("--steps", job.options.steps, "Iterations of PGD per restart, and of APGD per run")
      .show_default()
      .option("--restarts", job.options.restarts, "PGD random restarts (worst case per example)")
      .show_default()
      .option("--step-factor", job.options.step_factor, "PGD step size = factor * eps / steps")
      .show_default()
      .option("--square-queries", job.options.square_queries, "Square attack query budget")
      .show_default()
      .option("--noise-draws", job.options.noise_draws, "Random draws per example for noise")
      .show_default()
      .option("--transfer-from", job.transfer_from, "Model file on which transfer examples are crafted")
      .option("--batch", job.options.batch, "Examples per forward/backward pass")
      .show_default()
      .option("--seed", job.options.seed, "Seed of the attacks' random starts")
      .show_default()
      .option("--subset-seed", job.subset_seed, "Seed of the stratified subset")
      .show_default()
      .flag(
          "--per-attack-full", [&job] { job.options.schedule = AttackSchedule::exhaustive; },
          "Run every attack on every example at every eps (for per-attack ablation tables). Default: eps from "
          "small to large and attacks by cost, each on what is still standing; the same robust accuracy, example "
          "by example, in a fraction of the time (docs/EVALUATION.md)")
      .flag(
          "--no-unbounded-check", [&job] { job.options.unbounded_check = false; },
          "Skip the eps = 1 (whole input box) sanity attack")
      .option("--out,-o", a->out_dir, "Write robustness.json and robustness.csv into this folder")
      .option("--save-adv", job.save_adv_dir,
              "Write the worst-case adversarial examples per eps as float32 IDX files here")
      .option("--threads", a->threads, "Threads (0: all)")
      .flag("--json", a->json, "Print the results document as JSON")
      .flag("--log-json", a->log_json,
            "Progress as JSON lines on stdout (one per attack and eps, with elapsed_s and eta_s), then a "
            "'done' line")
      .flag("--quiet,-q", a->quiet, "No progress output");
  out.push_back({cmd, [a, &g] { return run_attack(*a, g); }});
}

}  // namespace dalenet::cli
