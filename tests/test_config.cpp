#include <gtest/gtest.h>

#include "dalenet/config.hpp"
#include "dalenet/error.hpp"
#include "helpers.hpp"

using namespace dalenet;
using dalenet::test::config_error;
using dalenet::test::has;

TEST(Config, DefaultsAreResolved) {
  const TrainConfig c = parse_config("", "t.toml");
  EXPECT_EQ(c.rule.name, "bp");
  EXPECT_EQ(c.rule.optim.optimizer, OptimizerKind::adam);
  EXPECT_EQ(c.network.sign_init, SignInit::free);
  EXPECT_EQ(c.network.hidden, std::vector<int>{1000});
  const TrainConfig e = parse_config("[train]\nrule = \"eg\"\n", "t.toml");
  EXPECT_EQ(e.rule.optim.optimizer, OptimizerKind::sgd);
  EXPECT_EQ(e.network.sign_init, SignInit::per_neuron);
}

TEST(Config, UnknownKeyNamesKeyAndFile) {
  const auto msg = config_error([] { parse_config("[train]\nlrr = 0.1\n", "exp/a.toml"); });
  EXPECT_TRUE(has(msg, "exp/a.toml")) << msg;
  EXPECT_TRUE(has(msg, "train.lrr")) << msg;
  EXPECT_TRUE(has(msg, "unknown key")) << msg;
  EXPECT_TRUE(has(msg, "lr")) << msg;  // the hint lists the known keys of [train]
  const auto sec = config_error([] { parse_config("[trian]\nlr = 0.1\n", "a.toml"); });
  EXPECT_TRUE(has(sec, "trian")) << sec;
  const auto top = config_error([] { parse_config("epochs = 3\n", "a.toml"); });
  EXPECT_TRUE(has(top, "epochs")) << top;
}

TEST(Config, WrongTypeAndRangeNameTheKey) {
  auto msg = config_error([] { parse_config("[train]\nepochs = \"ten\"\n", "a.toml"); });
  EXPECT_TRUE(has(msg, "train.epochs") && has(msg, "expected an integer")) << msg;
  msg = config_error([] { parse_config("[train]\nlr = -1.0\n", "a.toml"); });
  EXPECT_TRUE(has(msg, "train.lr") && has(msg, "out of range")) << msg;
  msg = config_error([] { parse_config("[train]\nlr = nan\n", "a.toml"); });
  EXPECT_TRUE(has(msg, "train.lr") && has(msg, "finite")) << msg;
  msg = config_error([] { parse_config("[network]\nhidden = [100, 0]\n", "a.toml"); });
  EXPECT_TRUE(has(msg, "network.hidden[1]")) << msg;
  msg = config_error([] { parse_config("[network]\nactivation = \"gelu\"\n", "a.toml"); });
  EXPECT_TRUE(has(msg, "network.activation") && has(msg, "sigmoid2")) << msg;
  msg = config_error([] { parse_config("[train]\nrule = \"hebb\"\n", "a.toml"); });
  EXPECT_TRUE(has(msg, "train.rule") && has(msg, "hebb")) << msg;
  msg = config_error([] { parse_config("[data]\ndataset = \"cifar\"\n", "a.toml"); });
  EXPECT_TRUE(has(msg, "data.dataset")) << msg;
}

TEST(Config, SyntaxErrorNamesFileAndLine) {
  const auto msg = config_error([] { parse_config("[train]\nlr = = 3\n", "bad.toml"); });
  EXPECT_TRUE(has(msg, "bad.toml:2")) << msg;
}

TEST(Config, IncompatibleRuleAndOptimizerIsAnError) {
  const auto msg = config_error([] { parse_config("[train]\nrule = \"eg\"\noptimizer = \"adam\"\n", "a.toml"); });
  EXPECT_TRUE(has(msg, "train.optimizer")) << msg;
}

// Enum keys are parsed once, here: an unknown name is refused naming the key and every known
// name, and the resolved config writes the name back.
TEST(Config, EnumKeysParseOnceAndWriteTheirNames) {
  const auto msg = config_error([] { parse_config("[train]\noptimizer = \"rmsprop\"\n", "a.toml"); });
  EXPECT_TRUE(has(msg, "train.optimizer") && has(msg, "'rmsprop' is not one of: auto, sgd, adam")) << msg;
  const auto bio = config_error([] { parse_config("[bio]\nhidden_update = \"median\"\n", "b.toml"); });
  EXPECT_TRUE(has(bio, "bio.hidden_update") && has(bio, "multiplicative, additive, mean, kmeans")) << bio;
  const TrainConfig c = parse_config("", "t",
                                     {"train.rule=bio", "bio.hidden_update=mean", "bio.competition=kwta",
                                      "bio.output_rule=perturbation", "train.lr_schedule=cosine"});
  EXPECT_EQ(c.rule.bio.hidden_update, HiddenUpdate::mean);
  EXPECT_EQ(c.rule.bio.competition, Competition::kwta);
  EXPECT_EQ(c.rule.bio.output_rule, OutputRule::perturbation);
  EXPECT_EQ(c.loop.lr_schedule, LrSchedule::cosine);
  const std::string toml = to_toml(c);
  for (const char* line : {"hidden_update = 'mean'", "competition = 'kwta'", "output_rule = 'perturbation'",
                           "lr_schedule = 'cosine'", "optimizer = 'adam'"})
    EXPECT_TRUE(has(toml, line)) << line << "\n" << toml;
  EXPECT_EQ(to_toml(parse_config(toml, "again")), toml);  // round trip
}

TEST(Config, OverridesApplyAndAreValidated) {
  const TrainConfig c = parse_config("[train]\nlr = 0.1\n", "a.toml",
                                     {"train.lr=0.5", "network.hidden=[20,10]", "network.activation=tanh"});
  EXPECT_DOUBLE_EQ(c.rule.optim.lr, 0.5);
  EXPECT_EQ(c.network.hidden, (std::vector<int>{20, 10}));
  EXPECT_EQ(c.network.activation, Activation::tanh);
  auto msg = config_error([] { parse_config("", "a.toml", {"train.lrx=0.5"}); });
  EXPECT_TRUE(has(msg, "train.lrx")) << msg;
  msg = config_error([] { parse_config("", "a.toml", {"novalue"}); });
  EXPECT_TRUE(has(msg, "key=value")) << msg;
}

TEST(Config, ResolvedTomlRoundTrips) {
  const TrainConfig a = parse_config("[train]\nrule = \"bp_sign\"\nlr = 0.002\n[network]\nhidden = [30]\n", "a.toml");
  const TrainConfig b = parse_config(to_toml(a), "resolved.toml");
  EXPECT_EQ(to_json(a), to_json(b));
  EXPECT_EQ(to_json(a)["train"]["rule"], "bp_sign");
}

TEST(Config, ShippedExperimentsParse) {
  for (const char* f :
       {"bp_mnist.toml", "bp_fashion.toml", "bp_sign_mnist.toml", "eg_mnist.toml", "bio_mnist.toml",
        "bio_mnist_ne200.toml", "bio_mnist_ne2000.toml", "bio_fashion.toml", "bio_fashion_ne8000.toml"}) {
    EXPECT_NO_THROW(load_config(std::string(DALENET_SOURCE_DIR) + "/experiments/" + f)) << f;
  }
  EXPECT_THROW(load_config("/nonexistent.toml"), ConfigError);
}
