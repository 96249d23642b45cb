// dalenet paper
#include <fmt/format.h>
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli.hpp"
#include "dalenet/error.hpp"
#include "dalenet/paper.hpp"

namespace dalenet::cli {
namespace {

struct PaperArgs {
  std::string preset, config, out, calibrate_from;
  int workers = 1, worker_index = -1, stage = -1, threads = -1;
  bool report_only = false, estimate_only = false, no_estimate = false, log_json = false, quiet = false;
};

// Local workers of `dalenet paper --workers N`: this binary again, with the hidden
// --worker-index and --stage options.
int launch_cli_workers(const std::vector<PaperWorkerTask>& tasks) {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  std::vector<std::vector<std::string>> argvs;
  for (const auto& t : tasks) {
    std::vector<std::string> args = {self};
    if (!t.data_dir.empty()) args.insert(args.end(), {"--data-dir", t.data_dir});  // before the subcommand
    args.insert(args.end(), {"paper", "--config", t.config_path, "--out", t.out_dir, "--workers",
                             std::to_string(t.workers), "--worker-index", std::to_string(t.index), "--stage",
                             std::to_string(t.stage), "--threads", std::to_string(t.threads)});
    argvs.push_back(std::move(args));
  }
  return run_processes(argvs);
}

PaperOptions paper_options(const PaperArgs& a, const PaperConfig& cfg, const std::string& path, const Globals& g) {
  PaperOptions o;
  o.out_dir = a.out.empty() ? default_paper_out(cfg) : a.out;
  o.data_dir = g.data_dir;
  o.workers = a.workers;
  o.only_worker = a.worker_index;
  o.only_stage = a.stage;
  o.report_only = a.report_only;
  o.estimate = !a.no_estimate;
  o.estimate_only = a.estimate_only;
  o.calibrate_from = a.calibrate_from;
  o.config_path = path;
  o.launch_workers = launch_cli_workers;
  if (!a.quiet) o.progress = print_progress_line;
  if (a.log_json) o.on_event = print_json_line;
  return o;
}

int run_paper_command(const PaperArgs& a, Globals& g) {
  if (a.preset.empty() && a.config.empty()) throw ConfigError("paper: give --preset quick|full or --config FILE");
  const std::string path = a.config.empty() ? preset_config_path(a.preset) : a.config;
  PaperConfig cfg = load_paper_config(path);
  if (a.threads >= 0) cfg.threads = a.threads;
  const PaperOptions o = paper_options(a, cfg, path, g);
  std::unique_ptr<PaperComm> mpi = make_mpi_comm(&g.argc, &g.argv);
  PaperComm single;
  PaperComm& comm = mpi ? *mpi : single;
  if (mpi && a.workers > 1) throw ConfigError("paper: --workers is for runs without MPI (use mpirun -np N)");
  const nlohmann::json res = run_paper(cfg, o, comm);
  if (res.contains("estimate")) {
    std::cout << PaperEstimate::from_json(res["estimate"]).table();
    return 0;
  }
  if (!res.empty() && a.log_json) {
    nlohmann::json done = {
        {"event", "done"}, {"report", o.out_dir + "/index.html"}, {"claims", nlohmann::json::array()}};
    for (const auto& c : res["claims"]) done["claims"].push_back({{"claim", c["claim"]}, {"verdict", c["verdict"]}});
    print_json_line(done);
    return 0;
  }
  if (!res.empty()) {
    std::size_t width = 0;  // the longest claim, so that the verdicts line up
    for (const auto& c : res["claims"]) width = std::max(width, c["claim"].get<std::string>().size());
    for (const auto& c : res["claims"])
      std::cout << fmt::format("{:{}}  {}\n", c["claim"].get<std::string>(), width, c["verdict"].get<std::string>());
    std::cout << "report: " << o.out_dir << "/index.html (also summary.md, results.json, figures/)\n";
  }
  return 0;
}

}  // namespace

void add_paper_command(Node& root, Globals& g, Commands& out) {
  auto a = std::make_shared<PaperArgs>();
  Node cmd = root.subcommand(
      "paper",
      "Test every claim of the paper end to end (train, audit, attack, few-shot) and write the report: "
      "OUT/index.html, summary.md, results.json, figures/. Resumable: run it again after an interruption (a folder "
      "whose units came from other inputs is refused). "
      "Under `mpirun -np N` the units are spread over the ranks.");
  cmd.option("--preset,-p", a->preset,
             "quick (about 45 min on 2 cores) or full (about 11 h on 2 cores; --estimate "
             "projects it): experiments/paper_<preset>.toml")
      .option("--config,-c", a->config, "A paper config file (copy experiments/paper_quick.toml to edit)")
      .excludes("--preset")
      .option("--out,-o", a->out, "Output folder (default: runs/paper-<preset>)")
      .option("--workers", a->workers, "Local worker processes per stage (without MPI)")
      .range(1, 256)
      .show_default()
      .option("--threads", a->threads, "Threads per unit (overrides paper.threads; 0: all cores)")
      .flag("--report-only", a->report_only, "Only rebuild the report from the finished units")
      .flag("--estimate", a->estimate_only,
            "Only project the wall time of every stage and the total, for this config, --workers (or mpirun -np) "
            "and --threads, from a short calibration of each kind of unit on this machine; then exit. Every run "
            "prints this projection before its first unit (stored in OUT/estimate.json)")
      .flag("--no-estimate", a->no_estimate, "Start without calibrating and printing the estimate")
      .excludes("--estimate")
      .option("--calibrate-from", a->calibrate_from,
              "A finished paper run's folder (e.g. runs/paper-quick): time the attacks and audits on its "
              "trained models (default: on the calibration's own models, an upper bound for attacks)")
      .existing_directory()
      .option("--worker-index", a->worker_index)  // internal: a local worker
      .hidden()
      .option("--stage", a->stage)
      .hidden()
      .flag("--log-json", a->log_json,
            "Progress as JSON lines on stdout: the estimate, each stage, each finished unit (with "
            "stage_eta_s), then a 'done' line with the verdicts")
      .flag("--quiet,-q", a->quiet, "No progress output");
  out.push_back({cmd, [a, &g] { return run_paper_command(*a, g); }});
}

}  // namespace dalenet::cli
