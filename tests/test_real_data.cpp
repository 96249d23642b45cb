// Integration tests on the real data sets; they run after `dalenet data fetch` (make test does
// it) and are skipped, visibly, when the data cache is empty.
#include <gtest/gtest.h>

#include <filesystem>

#include "dalenet/data.hpp"
#include "dalenet/train.hpp"

using namespace dalenet;

namespace {
bool have(const std::string& name) {
  for (const auto& e : verify_data(default_data_dir(), {name}))
    if (!e.present) return false;
  return true;
}
}  // namespace

TEST(RealData, CachedFilesVerifyAndParse) {
  for (const char* name : {"mnist", "fashion"}) {
    if (!have(name)) GTEST_SKIP() << name << " not in " << default_data_dir() << " (run dalenet data fetch)";
    for (const auto& e : verify_data(default_data_dir(), {name})) EXPECT_TRUE(e.ok) << e.path;
    const Dataset tr = load_dataset(std::string(name) + ":train", default_data_dir());
    const Dataset te = load_dataset(std::string(name) + ":test", default_data_dir());
    EXPECT_EQ(tr.size(), 60000u);
    EXPECT_EQ(te.size(), 10000u);
    EXPECT_EQ(tr.dim(), 784);
  }
}

TEST(RealData, BackpropLearnsMnistQuickly) {
  if (!have("mnist")) GTEST_SKIP() << "MNIST not in " << default_data_dir() << " (run dalenet data fetch)";
  // Two epochs on 20 000 images: a smoke test of the whole path, not the accuracy target
  // (that one is measured by `make demo` and recorded in docs/RESULTS.md).
  const TrainConfig cfg = parse_config(
      "", "test",
      {"data.train_limit=20000", "data.validation=1000", "network.hidden=[256]", "train.epochs=2", "train.threads=2"});
  const TrainOutcome r = train(cfg, {});
  EXPECT_GT(r.results["metrics"]["test"]["accuracy"].get<double>(), 0.90);
}
