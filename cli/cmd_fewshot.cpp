// dalenet fewshot
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli.hpp"
#include "dalenet/error.hpp"
#include "dalenet/fewshot.hpp"
#include "dalenet/io.hpp"
#include "dalenet/threads.hpp"

namespace dalenet::cli {
namespace {

struct FewShotArgs {
  std::string config, out;
  std::vector<std::string> shots;
  int draws = 0, episodes = 0, threads = 0;
  std::size_t test_limit = 0;
  bool no_novel = false, log_json = false, quiet = false;
};

// The config file with the command line's overrides.
FewShotOptions fewshot_options(const FewShotArgs& a, const Globals& g) {
  FewShotOptions o = load_fewshot_config(a.config);
  o.trainers = default_trainers();
  o.data_dir = g.data_dir;
  o.out_dir = a.out;
  if (!a.shots.empty()) {
    o.shots.clear();
    for (double v : parse_number_list(a.shots, "--shots")) {
      if (v < 1 || v != std::floor(v)) throw ConfigError("--shots: entries must be integers >= 1");
      o.shots.push_back(static_cast<int>(v));
    }
  }
  if (a.draws > 0) o.draws = a.draws;
  if (a.episodes > 0) o.episodes = a.episodes;
  if (a.test_limit > 0) o.test_limit = a.test_limit;
  if (a.no_novel) o.novel = false;
  if (!a.quiet) o.progress = print_progress_line;
  if (a.log_json) o.on_event = print_json_line;
  return o;
}

int run_fewshot_command(const FewShotArgs& a, const Globals& g) {
  set_threads(a.threads);
  const FewShotOptions o = fewshot_options(a, g);
  if (!a.out.empty()) std::filesystem::create_directories(a.out);
  const nlohmann::json res = run_fewshot(o);
  if (!a.out.empty()) {
    write_file_atomic(a.out + "/fewshot.json", res.dump(2) + "\n");
    write_file_atomic(a.out + "/fewshot.csv", fewshot_csv(res));
  }
  if (a.log_json) {
    print_json_line({{"event", "done"}, {"out", a.out}});
    return 0;
  }
  std::cout << fewshot_summary(res);
  if (!a.out.empty()) std::cout << "wrote " << a.out << "/fewshot.json and fewshot.csv\n";
  return 0;
}

}  // namespace

void add_fewshot_command(Node& root, const Globals& g, Commands& out) {
  auto a = std::make_shared<FewShotArgs>();
  Node cmd = root.subcommand(
      "fewshot",
      "Few-shot generalisation: k-shot draws (regime A), novel-class episodes (regime B) and, with fewshot.unlabelled, "
      "hidden layers from the unlabelled images with a k-label readout (regime C)");
  cmd.option("--config,-c", a->config, "Few-shot config (e.g. experiments/fewshot_mnist.toml)")
      .required()
      .option("--out,-o", a->out, "Folder for fewshot.json, fewshot.csv and the per-unit results (resumes from them)")
      .option("--shots", a->shots, "Override fewshot.shots, e.g. 1,5,10")
      .option("--draws", a->draws, "Override fewshot.draws")
      .option("--episodes", a->episodes, "Override fewshot.episodes (regime B)")
      .option("--test-limit", a->test_limit, "Evaluate on the first N test images (0: all)")
      .flag("--no-novel", a->no_novel, "Skip regime B")
      .option("--threads", a->threads, "Threads (0: all)")
      .flag("--log-json", a->log_json,
            "Progress as JSON lines on stdout (each budget choice and cell, with eta_s), then a 'done' "
            "line; the summary table is not printed")
      .flag("--quiet,-q", a->quiet, "No progress output");
  out.push_back({cmd, [a, &g] { return run_fewshot_command(*a, g); }});
}

}  // namespace dalenet::cli
