// dalenet train
#include <unistd.h>

#include <fmt/format.h>
#include <cstdio>
#include <iostream>
#include <memory>

#include "cli.hpp"
#include "dalenet/config.hpp"
#include "dalenet/progress.hpp"
#include "dalenet/threads.hpp"
#include "dalenet/train.hpp"

namespace dalenet::cli {
namespace {

struct TrainArgs {
  std::string config, out;
  std::vector<std::string> sets;
  bool quiet = false, log_json = false, overwrite = false;
};

// Progress: a live line on a terminal, one line per epoch elsewhere, JSON lines with --log-json.
struct ProgressPrinter {
  bool quiet = false, json = false, tty = false;
  double last_draw = -1.0;
  void operator()(const ProgressEvent& e) {
    if (quiet) return;
    if (json) {
      if (e.kind == ProgressEvent::Kind::epoch)
        print_json_line({{"event", "epoch"},
                         {"epoch", e.epoch},
                         {"epochs", e.epochs},
                         {"train_loss", e.loss},
                         {"train_accuracy", e.accuracy},
                         {"val_loss", e.val_loss},
                         {"val_accuracy", e.val_accuracy},
                         {"elapsed_s", e.elapsed_s},
                         {"eta_s", e.eta_s}});
      return;
    }
    if (e.kind == ProgressEvent::Kind::batch) {
      if (!tty || (e.elapsed_s - last_draw < 0.2 && e.batch != e.batches)) return;
      last_draw = e.elapsed_s;
      std::fprintf(stderr, "\r  epoch %d/%d  batch %zu/%zu  loss %.4f  acc %.2f%%  ETA %s   ", e.epoch, e.epochs,
                   e.batch, e.batches, e.loss, 100.0 * e.accuracy, format_duration(e.eta_s).c_str());
      std::fflush(stderr);
      return;
    }
    std::fprintf(stderr, "%sepoch %d/%d  train loss %.4f acc %.2f%%  val loss %.4f acc %.2f%%  [%s elapsed, ETA %s]\n",
                 tty ? "\r" : "", e.epoch, e.epochs, e.loss, 100.0 * e.accuracy, e.val_loss, 100.0 * e.val_accuracy,
                 format_duration(e.elapsed_s).c_str(), format_duration(e.eta_s).c_str());
  }
};

int run_train(const TrainArgs& a, const Globals& g) {
  const TrainConfig cfg = load_config(a.config, a.sets);
  ProgressPrinter printer{a.quiet, a.log_json, ::isatty(2) == 1};
  TrainOptions opts;
  opts.out_dir = a.out;
  opts.data_dir = g.data_dir;
  opts.overwrite = a.overwrite;
  opts.progress = std::ref(printer);
  if (!a.quiet && !a.log_json)
    std::fprintf(stderr, "dalenet train: rule %s, data %s, hidden %s, %lld epochs, batch %lld, seed %lld, %d threads\n",
                 cfg.rule.name.c_str(), cfg.data.dataset.c_str(), to_json(cfg)["network"]["hidden"].dump().c_str(),
                 static_cast<long long>(cfg.loop.epochs), static_cast<long long>(cfg.loop.batch),
                 static_cast<long long>(cfg.loop.seed),
                 cfg.loop.threads > 0 ? static_cast<int>(cfg.loop.threads) : hardware_threads());
  const TrainOutcome r = train(cfg, opts);
  const auto& m = r.results["metrics"];
  if (a.log_json) {
    print_json_line({{"event", "done"}, {"metrics", m}, {"timings", r.results["timings"]}});
  } else if (!a.quiet) {
    std::string line = "done:";
    if (m.contains("test")) line += fmt::format(" test accuracy {:.2f}%", 100.0 * m["test"]["accuracy"].get<double>());
    if (m.contains("validation"))
      line += fmt::format("  validation accuracy {:.2f}%", 100.0 * m["validation"]["accuracy"].get<double>());
    line += fmt::format("  ({} training)", format_duration(r.results["timings"]["train_s"].get<double>()));
    std::cout << line << "\n";
    if (!a.out.empty()) std::cout << "run folder: " << a.out << " (config.toml, results.json, model.safetensors)\n";
  }
  return 0;
}

}  // namespace

void add_train_command(Node& root, const Globals& g, Commands& out) {
  auto a = std::make_shared<TrainArgs>();
  Node cmd = root.subcommand("train", "Train a network from a TOML config (docs/CONFIG.md)");
  cmd.option("--config,-c", a->config, "TOML config file (e.g. experiments/bp_mnist.toml); defaults if omitted")
      .option("--set,-s", a->sets, "Override a config key: section.key=value (repeatable), e.g. --set train.epochs=2")
      .option("--out,-o", a->out, "Run folder for config.toml, results.json, model.safetensors")
      .flag("--quiet,-q", a->quiet, "No progress output")
      .flag("--log-json", a->log_json, "Progress as JSON lines on stdout (one per epoch)")
      .flag("--overwrite", a->overwrite, "Allow --out to name a folder that holds a finished run");
  out.push_back({cmd, [a, &g] { return run_train(*a, g); }});
}

}  // namespace dalenet::cli
