// dalenet analyze, dalenet represent
#include <iostream>
#include <memory>
#include <optional>

#include "cli.hpp"
#include "dalenet/analyze.hpp"
#include "dalenet/data.hpp"
#include "dalenet/io.hpp"
#include "dalenet/represent.hpp"
#include "dalenet/threads.hpp"

namespace dalenet::cli {
namespace {

struct AnalyzeArgs {
  std::string model_path, data, out, inputs;
  double silence = AnalyzeOptions{}.silence_threshold;
  std::size_t limit = AnalyzeOptions{}.activity_limit;
  bool json = false;
};

struct RepresentArgs {
  std::string model_path, data = "mnist:test", out, png;
  std::size_t limit = RepresentOptions{}.limit;
  int threads = 0;
};

int run_analyze(const AnalyzeArgs& a, const Globals& g) {
  const Model model = load_model(a.model_path);
  AnalyzeOptions o;
  o.silence_threshold = a.silence;
  if (a.limit > 0) o.activity_limit = a.limit;
  const std::string dir = data_dir_or_default(g);
  std::optional<Dataset> d, inputs;
  if (!a.data.empty()) d = load_dataset(a.data, dir);
  const std::string inputs_spec = a.inputs.empty() ? training_split_spec(a.data) : a.inputs;
  if (!inputs_spec.empty() && inputs_spec != "none") inputs = load_dataset(inputs_spec, dir);
  nlohmann::json rep = analyze_model(model, d ? &*d : nullptr, o, inputs ? &*inputs : nullptr);
  rep["model"] = a.model_path;
  if (!a.out.empty()) write_file_atomic(a.out, rep.dump(2) + "\n");
  std::cout << (a.json ? rep.dump(2) + "\n" : analyze_summary(rep));
  return 0;
}

int run_represent(const RepresentArgs& a, const Globals& g) {
  set_threads(a.threads);
  const Model model = load_model(a.model_path);
  const Dataset d = load_dataset(a.data, data_dir_or_default(g));
  RepresentOptions o;
  o.limit = a.limit;
  o.png = a.png;
  nlohmann::json rep = represent(model, d, o);
  rep["model"] = a.model_path;
  rep["data"] = a.data;
  if (!a.out.empty()) write_file_atomic(a.out, rep.dump(2) + "\n");
  std::cout << rep.dump(2) << "\n";
  return 0;
}

}  // namespace

void add_analyze_command(Node& root, const Globals& g, Commands& out) {
  auto a = std::make_shared<AnalyzeArgs>();
  Node cmd = root.subcommand("analyze", "Audit a model: sparsity, Dale's law, weight distributions, activity");
  cmd.option("--model,-m", a->model_path, "Model file (.safetensors)")
      .required()
      .option("--data,-d", a->data, "Data for activity statistics, e.g. mnist:test (none: weights only)")
      .option("--limit", a->limit, "Examples for activity statistics (0: the default)")
      .show_default()
      .option("--inputs", a->inputs,
              "Training images that define the active inputs (on, >= 0.5, in >= 1 % of images); "
              "default: the training split of --data; 'none': no active-input sparsity")
      .option("--threshold", a->silence,
              "Silence threshold on the strength the forward pass uses, relative to each neuron's "
              "largest |strength| (0: silent means exactly 0)")
      .show_default()
      .range(0.0, 1.0)
      .option("--out,-o", a->out, "Write the JSON report to this file")
      .flag("--json", a->json, "Print the JSON report instead of the summary");
  out.push_back({cmd, [a, &g] { return run_analyze(*a, g); }});
}

void add_represent_command(Node& root, const Globals& g, Commands& out) {
  auto a = std::make_shared<RepresentArgs>();
  Node cmd = root.subcommand("represent",
                             "Representation measures: receptive fields (PNG, Moran's I), selectivity, dimensionality");
  cmd.option("--model,-m", a->model_path, "Model file (.safetensors)")
      .required()
      .option("--data,-d", a->data, "Data for the activity statistics")
      .show_default()
      .option("--limit", a->limit, "Examples used")
      .show_default()
      .option("--png", a->png, "Write the receptive-field grid (PNG) here")
      .option("--out,-o", a->out, "Write the JSON report here")
      .option("--threads", a->threads, "Threads (0: all)");
  out.push_back({cmd, [a, &g] { return run_represent(*a, g); }});
}

}  // namespace dalenet::cli
