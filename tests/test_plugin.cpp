// Rule plugins (include/dalenet/plugin.hpp): the example plugin of examples/custom_rule/ loaded
// through train.plugins, its [rule_params] resolved and round-tripped, training through the
// ordinary loop, and each way a plugin can be wrong refused with the key and the file named.
// Each test runs in its own process (gtest_discover_tests), so registrations do not leak.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "dalenet/config.hpp"
#include "dalenet/error.hpp"
#include "dalenet/plugin.hpp"
#include "dalenet/train.hpp"
#include "helpers.hpp"

namespace dalenet {
namespace {

using test::config_error;
using test::has;

std::string oja_config(const std::string& extra = "") {
  return std::string("[train]\nplugins = [\"") + DALENET_TEST_PLUGIN_OJA + "\"]\nrule = \"oja\"\n" + extra;
}

TEST(Plugin, LoadsTheExampleRuleAndResolvesItsParameters) {
  const TrainConfig cfg = parse_config(oja_config("[rule_params]\nwinners = 5\neta_hidden = 1\n"), "oja.toml");
  EXPECT_EQ(cfg.rule.name, "oja");
  EXPECT_EQ(cfg.rule.params.at("winners").get<int>(), 5);
  EXPECT_TRUE(cfg.rule.params.at("eta_hidden").is_number_float());  // 1 taken as the default's type
  EXPECT_DOUBLE_EQ(cfg.rule.params.at("eta_hidden").get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(cfg.rule.params.at("eta_output").get<double>(), 10.0);  // the plugin's default
  EXPECT_EQ(cfg.network.sign_init, SignInit::free);                        // the plugin's default sign init
  // The resolved configuration names the plugin by absolute path and round-trips.
  const std::string text = to_toml(cfg);
  EXPECT_TRUE(has(text, DALENET_TEST_PLUGIN_OJA)) << text;
  EXPECT_TRUE(has(text, "[rule_params]")) << text;
  EXPECT_EQ(to_toml(parse_config(text, "resolved")), text);
  // Loading it again (the round trip did) registered nothing twice.
  int oja = 0;
  for (const auto& r : rule_registry()) oja += r.name == "oja" ? 1 : 0;
  EXPECT_EQ(oja, 1);
}

TEST(Plugin, ConfigsWithoutPluginsResolveAsBefore) {
  // No plugins and no [rule_params] keys in the resolved TOML: a run without plugins keeps its
  // configuration text, hence its model file and its paper input hash.
  const std::string text = to_toml(parse_config("[train]\nrule = \"bio\"\n", "bio.toml"));
  EXPECT_FALSE(has(text, "plugins")) << text;
  EXPECT_FALSE(has(text, "rule_params")) << text;
}

TEST(Plugin, RelativePathsAreTakenFromTheConfigFilesFolder) {
  // A plugin that fails to register names the path it was loaded from (a plugin that succeeded
  // would register a rule that every later test in this process would then find taken).
  test::TempDir dir;
  std::filesystem::create_directories(dir.path() / "sub");
  std::filesystem::copy_file(DALENET_TEST_PLUGIN_THROWING, dir.path() / "sub" / "libp.so");
  std::ofstream(dir / "run.toml") << "[train]\nplugins = [\"sub/../sub/libp.so\"]\n";
  const std::string e = config_error([&] { load_config(dir / "run.toml"); });
  EXPECT_TRUE(has(e, "plugin '" + (dir.path() / "sub" / "libp.so").string() + "'")) << e;
}

TEST(Plugin, ARuleFromAnUnloadedPluginIsUnknown) {
  const auto r = test::run_cli("config show --set train.rule=oja");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(has(r.output, "unknown rule 'oja'")) << r.output;
}

TEST(Plugin, TheExampleRuleTrainsThroughTheOrdinaryLoop) {
  test::TempDir dir;
  const std::string ds = test::write_synthetic_idx(dir, 2000, 500);
  const TrainConfig cfg =
      parse_config(oja_config("epochs = 20\nbatch = 50\nthreads = 1\n[data]\ndataset = \"" + ds +
                              "\"\nvalidation = 200\n[network]\nhidden = [40]\n[rule_params]\nwinners = 4\neta_hidden "
                              "= 0.005\neta_output = 20.0\n"),
                   "oja.toml");
  TrainOptions opts;
  const TrainOutcome res = train(cfg, opts);
  // 10 noisy prototypes: a chance readout scores 10 %.
  EXPECT_GT(res.results["metrics"]["test"]["accuracy"].get<double>(), 0.8) << res.results.dump();
  // Oja's rule has |w| = 1 as its fixed point for a neuron that keeps winning: the rows that
  // learned end near unit norm without any normalisation step.
  const auto& w = res.model.net.projections[0].weight;
  int near_unit = 0;
  for (Eigen::Index j = 0; j < w.rows(); ++j) near_unit += std::abs(w.row(j).norm() - 1.0F) < 0.05F ? 1 : 0;
  EXPECT_GT(near_unit, w.rows() / 2);
  EXPECT_EQ(res.model.net.layers[1].competition, Competition::kwta);
  EXPECT_EQ(res.model.net.layers[1].kwta_k, 4);
}

TEST(Plugin, BadPluginsAndParametersAreConfigErrorsNamingTheKey) {
  test::TempDir dir;
  auto cfg_with = [](const std::string& path) { return "[train]\nplugins = [\"" + path + "\"]\n"; };
  std::string e = config_error([&] { parse_config(cfg_with(dir / "missing.so"), "a.toml"); });
  EXPECT_TRUE(has(e, "a.toml: key 'train.plugins[0]'") && has(e, "missing.so")) << e;
  std::ofstream(dir / "text.so") << "not an ELF file\n";
  e = config_error([&] { parse_config(cfg_with(dir / "text.so"), "a.toml"); });
  EXPECT_TRUE(has(e, "cannot load")) << e;
  e = config_error([&] { parse_config(cfg_with(DALENET_TEST_PLUGIN_NO_ENTRY), "a.toml"); });
  EXPECT_TRUE(has(e, "not a dalenet plugin")) << e;
  e = config_error([&] { parse_config(cfg_with(DALENET_TEST_PLUGIN_ABI_MISMATCH), "a.toml"); });
  EXPECT_TRUE(has(e, "rebuild the plugin") && has(e, "dalenet 0.0.0") && has(e, kVersion)) << e;
  e = config_error([&] { parse_config(cfg_with(DALENET_TEST_PLUGIN_THROWING), "a.toml"); });
  EXPECT_TRUE(has(e, "registration failed") && has(e, "no make function")) << e;
  e = config_error([&] { parse_config("[train]\nplugins = \"x.so\"\n", "a.toml"); });
  EXPECT_TRUE(has(e, "expected an array of paths")) << e;

  e = config_error([&] { parse_config(oja_config("[rule_params]\nwiners = 3\n"), "a.toml"); });
  EXPECT_TRUE(has(e, "a.toml: key 'rule_params.winers'") &&
              has(e, "known: eta_hidden, eta_output, eta_homeostasis, winners"))
      << e;
  e = config_error([&] { parse_config(oja_config("[rule_params]\nwinners = 2.5\n"), "a.toml"); });
  EXPECT_TRUE(has(e, "expected an integer")) << e;
  e = config_error([&] { parse_config(oja_config("[rule_params]\neta_hidden = \"fast\"\n"), "a.toml"); });
  EXPECT_TRUE(has(e, "expected a number")) << e;
  e = config_error([&] { parse_config(oja_config("[rule_params]\neta_hidden = -1.0\n"), "a.toml"); });
  EXPECT_TRUE(has(e, "must be > 0")) << e;  // the rule's own check, at load time
  e = config_error([&] { parse_config("[rule_params]\nwinners = 3\n", "a.toml"); });
  EXPECT_TRUE(has(e, "rule 'bp' has no such parameter (it takes none)")) << e;
}

TEST(Plugin, RegisteringATakenNameIsRefused) {
  RuleInfo dup = find_rule("bp");
  const std::string e = config_error([&] { register_rule(dup); });
  EXPECT_TRUE(has(e, "already registered")) << e;
}

TEST(Plugin, TheCliListsAndTrainsWithThePlugin) {
  auto r = test::run_cli(std::string("rules --plugin ") + DALENET_TEST_PLUGIN_OJA);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(has(r.output, "oja") && has(r.output, "rule_params.winners = 40")) << r.output;
  r = test::run_cli("rules --plugin /nonexistent/lib.so");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(has(r.output, "--plugin: plugin '/nonexistent/lib.so'")) << r.output;
}

}  // namespace
}  // namespace dalenet
