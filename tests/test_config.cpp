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
  EXPECT_EQ(c.rule.optim.optimizer, "adam");
  EXPECT_EQ(c.network.sign_init, "free");
  EXPECT_EQ(c.network.hidden, std::vector<int>{1000});
  const TrainConfig e = parse_config("[train]\nrule = \"eg\"\n", "t.toml");
  EXPECT_EQ(e.rule.optim.optimizer, "sgd");
  EXPECT_EQ(e.network.sign_init, "per_neuron");
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

TEST(Config, OverridesApplyAndAreValidated) {
  const TrainConfig c = parse_config("[train]\nlr = 0.1\n", "a.toml",
                                     {"train.lr=0.5", "network.hidden=[20,10]", "network.activation=tanh"});
  EXPECT_DOUBLE_EQ(c.rule.optim.lr, 0.5);
  EXPECT_EQ(c.network.hidden, (std::vector<int>{20, 10}));
  EXPECT_EQ(c.network.activation, "tanh");
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
