// dalenet eval, dalenet predict
#include <fmt/format.h>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli.hpp"
#include "dalenet/data.hpp"
#include "dalenet/eval.hpp"
#include "dalenet/io.hpp"
#include "dalenet/threads.hpp"

namespace dalenet::cli {
namespace {

struct EvalArgs {
  std::string model_path, spec = "mnist:test";
  bool json = false;
  std::size_t limit = 0;
  int threads = 0;
};

struct PredictArgs {
  std::string model_path, images, csv_out = "-";
  int threads = 0;
};

int run_eval(const EvalArgs& a, const Globals& g) {
  set_threads(a.threads);
  const Model model = load_model(a.model_path);
  const Dataset d = load_dataset(a.spec, data_dir_or_default(g));
  const EvalResult r = evaluate(model.net, d, 1000, a.limit);
  if (a.json) {
    nlohmann::json j = r.to_json();
    j["model"] = a.model_path;
    j["data"] = a.spec;
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << fmt::format("{} on {}: accuracy {:.2f}% ({}/{}), mean loss {:.4f}\n", a.model_path, a.spec,
                             100.0 * r.accuracy, r.correct, r.n, r.mean_loss);
  }
  return 0;
}

int run_predict(const PredictArgs& a) {
  set_threads(a.threads);
  const Model model = load_model(a.model_path);
  IdxImages img = read_idx_images(a.images);
  Dataset d;
  d.name = a.images;
  d.rows = img.rows;
  d.cols = img.cols;
  d.pixels = std::move(img.pixels);
  d.labels.assign(img.count, 0);
  const Eigen::MatrixXf logits = logits_for(model.net, d);
  std::ostringstream os;
  os << "index";
  for (Eigen::Index c = 0; c < logits.rows(); ++c) os << ",logit_" << c;
  os << ",predicted\n";
  for (Eigen::Index i = 0; i < logits.cols(); ++i) {
    os << i;
    Eigen::Index arg = 0;
    logits.col(i).maxCoeff(&arg);
    for (Eigen::Index c = 0; c < logits.rows(); ++c) os << ',' << fmt::format("{:.9g}", logits(c, i));
    os << ',' << arg << '\n';
  }
  if (a.csv_out == "-") {
    std::cout << os.str();
  } else {
    write_file_atomic(a.csv_out, os.str());
    std::cerr << "wrote " << logits.cols() << " rows of logits to " << a.csv_out << "\n";
  }
  return 0;
}

}  // namespace

void add_eval_commands(Node& root, const Globals& g, Commands& out) {
  auto e = std::make_shared<EvalArgs>();
  Node eval_cmd = root.subcommand("eval", "Evaluate a model file on a data set");
  eval_cmd.option("--model,-m", e->model_path, "Model file (.safetensors)")
      .required()
      .option("--data,-d", e->spec, "mnist:test | fashion:test | idx:IMAGES,LABELS")
      .show_default()
      .option("--limit", e->limit, "Only the first N examples (0: all)")
      .option("--threads", e->threads, "Threads (0: all)")
      .flag("--json", e->json, "Print the result as JSON (with the confusion matrix)");
  out.push_back({eval_cmd, [e, &g] { return run_eval(*e, g); }});

  auto p = std::make_shared<PredictArgs>();
  Node predict_cmd = root.subcommand("predict", "Write a model's logits for an IDX image file as CSV");
  predict_cmd.option("--model,-m", p->model_path, "Model file (.safetensors)")
      .required()
      .option("--images,-i", p->images, "IDX image file (raw or .gz)")
      .required()
      .option("--out,-o", p->csv_out, "CSV output (- for stdout)")
      .show_default()
      .option("--threads", p->threads, "Threads (0: all)");
  out.push_back({predict_cmd, [p] { return run_predict(*p); }});
}

}  // namespace dalenet::cli
