// The attack ladder on models where the answer is known: a linear classifier's exact minimal
// L-inf perturbation (closed form per class pair, solved by bisection), a gradient-masked
// model (input binarisation) that must trip the flags, per-example worst cases, eps = 0 and
// the CLI with its output files.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>

#include "attack_models.hpp"
#include "dalenet/attack.hpp"
#include "dalenet/data.hpp"
#include "dalenet/error.hpp"
#include "dalenet/io.hpp"
#include "eval/relu_iterates.hpp"
#include "eval/sign_step.hpp"
#include "helpers.hpp"

using namespace dalenet;
using namespace dalenet::test;

namespace {

// Input binarisation, x -> step(x - 0.5) through a sigmoid of gain 1e5 (saturated in float
// everywhere but within 2e-4 of the threshold), then a linear readout: a model whose input
// gradient is exactly zero almost everywhere, the textbook case of gradient masking.
Network binarising_model(int dim, int classes, std::uint64_t seed) {
  NetworkSpec spec;
  spec.input = dim;
  spec.hidden = {dim};
  spec.output = classes;
  spec.hidden_activation = Activation::sigmoid;
  Network net = make_network(spec);
  net.projections[0].weight = WeightMatrix::Identity(dim, dim) * 1e5F;
  net.projections[0].bias.setConstant(-0.5e5F);
  Rng rng(seed);
  for (Eigen::Index i = 0; i < net.projections[1].weight.size(); ++i)
    net.projections[1].weight.data()[i] = static_cast<float>(rng.normal());
  return net;
}

}  // namespace

// The L-inf step x += alpha * sign(g), vectorised: bit for bit Eigen's expression, over lengths
// around the packet width (the scalar tail), with +-0, NaN, +-Inf, subnormals and x at the box
// edges. A sign of +-0 taken as +-1, or NaN taken as 0, fails here.
TEST(Attack, SignStepIsEigensExpression) {
  Rng rng(12);
  const float special[] = {0.0F,
                           -0.0F,
                           std::numeric_limits<float>::quiet_NaN(),
                           std::numeric_limits<float>::infinity(),
                           -std::numeric_limits<float>::infinity(),
                           std::numeric_limits<float>::denorm_min(),
                           -std::numeric_limits<float>::denorm_min(),
                           1e-30F,
                           -3.5F};
  for (const Eigen::Index n : {1, 7, 15, 16, 17, 31, 33, 784})
    for (const float alpha : {0.0025F, -0.01F, 1.0F}) {
      Eigen::ArrayXf g(n), x(n);
      for (Eigen::Index i = 0; i < n; ++i) {
        const double u = rng.uniform();
        g(i) =
            u < 0.3 ? special[static_cast<std::size_t>(rng.uniform() * 9) % 9] : static_cast<float>(rng.uniform(-1, 1));
        x(i) = u > 0.8 ? static_cast<float>(rng.uniform() < 0.5 ? 0 : 1) : static_cast<float>(rng.uniform());
      }
      Eigen::ArrayXf expected = x, got = x;
      expected += alpha * g.sign();
      detail::add_scaled_sign(alpha, g.data(), got.data(), n);
      for (Eigen::Index i = 0; i < n; ++i) {
        if (std::isnan(expected(i))) {
          EXPECT_TRUE(std::isnan(got(i))) << "n " << n << " i " << i;
        } else {
          EXPECT_EQ(std::bit_cast<std::uint32_t>(expected(i)), std::bit_cast<std::uint32_t>(got(i)))
              << "n " << n << " i " << i << " g " << g(i);
        }
      }
    }
}

TEST(Attack, PgdFindsTheExactMinimalPerturbationOfALinearClassifier) {
  const Network net = linear_model(16, 4, 3);
  const Points p = labelled_by(net, 400, 5);
  NetworkClassifier clf(net);
  std::vector<double> eps_star;
  for (Eigen::Index b = 0; b < p.X.cols(); ++b) eps_star.push_back(minimal_linf(net, p.X.col(b), p.labels[b]));
  const double eps = 0.1;
  // The data must straddle eps for the test to mean anything.
  const auto below = std::count_if(eps_star.begin(), eps_star.end(), [&](double e) { return e < eps; });
  ASSERT_GT(below, 40);
  ASSERT_LT(below, 360);
  PgdOptions opt;
  opt.eps = eps;
  opt.steps = 100;
  opt.restarts = 5;
  for (bool margin : {false, true}) {
    opt.margin_loss = margin;
    Eigen::MatrixXf adv;
    const auto robust = pgd_attack(clf, p.X, p.labels, opt, adv);
    int missed = 0;
    for (std::size_t i = 0; i < robust.size(); ++i) {
      const auto col = static_cast<Eigen::Index>(i);
      if (eps_star[i] > eps * 1.001) {
        EXPECT_EQ(robust[i], 1) << "fooled beyond the provable radius, example " << i;  // soundness
      } else if (eps_star[i] < eps * 0.98) {
        missed += robust[i];
      }
      if (robust[i] == 0) {  // the adversarial example is valid: in the ball, in the box, misclassified
        EXPECT_LE((adv.col(col) - p.X.col(col)).cwiseAbs().maxCoeff(), eps + 1e-6);
        EXPECT_GE(adv.col(col).minCoeff(), 0.0F);
        EXPECT_LE(adv.col(col).maxCoeff(), 1.0F);
        Eigen::Index arg = 0;
        predict_logits(net, adv.col(col)).col(0).maxCoeff(&arg);
        EXPECT_NE(arg, p.labels[i]);
      }
    }
    EXPECT_EQ(missed, 0) << (margin ? "margin" : "cross-entropy") << " PGD missed attackable examples";
  }
}

TEST(Attack, RestartsOnlyEverLowerAccuracyAndEpsZeroIsClean) {
  const Network net = linear_model(16, 4, 11);
  const Points p = labelled_by(net, 300, 13);
  NetworkClassifier clf(net);
  PgdOptions opt;
  opt.eps = 0.05;
  opt.steps = 5;  // weak on purpose, so restarts matter
  opt.restarts = 1;
  Eigen::MatrixXf adv;
  const auto one = pgd_attack(clf, p.X, p.labels, opt, adv);
  opt.restarts = 4;
  PgdStats st;
  const auto four = pgd_attack(clf, p.X, p.labels, opt, adv, &st);
  for (std::size_t i = 0; i < one.size(); ++i) EXPECT_LE(four[i], one[i]) << i;  // restart 1 is the same draw
  ASSERT_EQ(st.accuracy_by_restart.size(), 4u);
  for (std::size_t r = 1; r < 4; ++r) EXPECT_LE(st.accuracy_by_restart[r], st.accuracy_by_restart[r - 1]);

  AttackOptions ao;
  ao.eps = {0.0, 0.05};
  ao.steps = 10;
  ao.restarts = 2;
  ao.square_queries = 50;
  ao.image_rows = 4;
  ao.image_cols = 4;
  const RobustnessReport rep = evaluate_robustness(clf, p.X, p.labels, ao);
  EXPECT_EQ(rep.clean_accuracy, 1.0);
  EXPECT_EQ(rep.by_eps[0].robust_accuracy, 1.0);
  for (const auto& r : rep.runs)
    if (r.eps == 0.0) {
      EXPECT_EQ(r.accuracy, 1.0) << r.attack;
    }
  // Worst case per example: never above any single in-threat attack.
  for (const auto& r : rep.runs)
    if (r.eps == 0.05 && r.attack != "salt_pepper") {
      EXPECT_LE(rep.by_eps[1].robust_accuracy, r.accuracy) << r.attack;
    }
}

TEST(Attack, HealthyModelRaisesNoFlag) {
  const Network net = linear_model(16, 4, 3);
  const Points p = labelled_by(net, 300, 17);
  NetworkClassifier clf(net);
  AttackOptions ao;
  ao.eps = {0.0, 0.02, 0.05, 0.1, 0.2};
  ao.square_queries = 300;
  ao.image_rows = 4;
  ao.image_cols = 4;
  ao.keep_adversarial = true;
  const RobustnessReport rep = evaluate_robustness(clf, p.X, p.labels, ao);
  for (const auto& f : rep.flags) EXPECT_FALSE(f.raised) << f.name << ": " << f.detail;
  EXPECT_LE(rep.unbounded_accuracy, 0.01);
  // Every stored adversarial example of a non-robust example is valid and fools the model.
  for (const auto& e : rep.by_eps) {
    const Eigen::MatrixXf z = predict_logits(net, e.adversarial);
    for (Eigen::Index b = 0; b < p.X.cols(); ++b) {
      EXPECT_LE((e.adversarial.col(b) - p.X.col(b)).cwiseAbs().maxCoeff(), e.eps + 1e-6);
      Eigen::Index arg = 0;
      z.col(b).maxCoeff(&arg);
      EXPECT_EQ(arg == p.labels[static_cast<std::size_t>(b)], e.robust[static_cast<std::size_t>(b)] == 1) << b;
    }
  }
}

TEST(Attack, MaskedGradientTripsTheFlags) {
  const Network net = binarising_model(16, 4, 5);
  const Points p = labelled_by(net, 300, 19);
  NetworkClassifier clf(net);
  AttackOptions ao;
  ao.eps = {0.0, 0.1, 0.2};
  ao.steps = 50;
  ao.restarts = 2;
  ao.square_queries = 500;
  ao.image_rows = 4;
  ao.image_cols = 4;
  const RobustnessReport rep = evaluate_robustness(clf, p.X, p.labels, ao);
  auto raised = [&](const std::string& name) {
    for (const auto& f : rep.flags)
      if (f.name == name) return f.raised;
    ADD_FAILURE() << "no flag " << name;
    return false;
  };
  EXPECT_GT(rep.zero_gradient_fraction_margin, 0.9);
  EXPECT_TRUE(raised("zero_input_gradient"));
  EXPECT_TRUE(raised("black_box_beats_white_box"));
  EXPECT_FALSE(raised("eps0_differs_from_clean"));
  // The flag counts examples: those the Square attack or noise fooled and no gradient attack did.
  EXPECT_EQ(rep.by_eps[0].black_box_only, 0U);
  EXPECT_GT(rep.by_eps[2].black_box_only_fraction, 0.05);
  // The exhaustive schedule finds the same examples.
  ao.schedule = AttackSchedule::exhaustive;
  const RobustnessReport exhaustive = evaluate_robustness(clf, p.X, p.labels, ao);
  for (std::size_t i = 0; i < ao.eps.size(); ++i)
    EXPECT_EQ(exhaustive.by_eps[i].black_box_only, rep.by_eps[i].black_box_only) << ao.eps[i];
}

TEST(Attack, SquareAttackFindsWhatPgdFindsOnALinearModel) {
  const Network net = linear_model(64, 4, 23);
  const Points p = labelled_by(net, 200, 29);
  NetworkClassifier clf(net);
  PgdOptions opt;
  opt.eps = 0.1;
  opt.restarts = 2;
  Eigen::MatrixXf adv;
  const auto pgd = pgd_attack(clf, p.X, p.labels, opt, adv);
  const auto sq = square_attack(clf, p.X, p.labels, 0.1, 1000, 0.8, 8, 8, 1, 100, adv);
  const auto n_pgd = std::count(pgd.begin(), pgd.end(), 1);
  const auto n_sq = std::count(sq.begin(), sq.end(), 1);
  EXPECT_GE(n_sq, n_pgd);       // a gradient-free attack is never stronger on a linear model ...
  EXPECT_LE(n_sq, n_pgd + 20);  // ... but close to it: it works
  for (Eigen::Index b = 0; b < p.X.cols(); ++b)
    if (sq[static_cast<std::size_t>(b)] == 0) {
      EXPECT_LE((adv.col(b) - p.X.col(b)).cwiseAbs().maxCoeff(), 0.1F + 1e-6F);
    }
}

// ---- incremental logits and gradients of one-hidden-layer ReLU networks (relu_iterates.hpp) ----

namespace {

std::vector<std::uint8_t> cyclic_labels(Eigen::Index n, int classes) {
  std::vector<std::uint8_t> y(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = static_cast<std::uint8_t>(i % static_cast<std::size_t>(classes));
  return y;
}

}  // namespace

TEST(ReluIterates, AppliesExactlyToOneHiddenReluLayerWithIdentityOutput) {
  const Network mlp = random_network(12, {8}, 3, 1);
  EXPECT_TRUE(detail::ReluIterates::applies(mlp));
  EXPECT_TRUE(NetworkClassifier(mlp).incremental());
  EXPECT_FALSE(NetworkClassifier(mlp, false).incremental());
  Network sigmoid = mlp;
  sigmoid.layers[1].activation = Activation::sigmoid;
  Network kwta = mlp;
  kwta.layers[1].competition = Competition::kwta;
  Network efficacy = mlp;
  efficacy.projections[0].efficacy = Efficacy::log_normalized;
  NetworkSpec deep;
  deep.input = 12;
  deep.hidden = {8, 8};
  deep.output = 3;
  for (const Network& n : {sigmoid, kwta, efficacy, make_network(deep), linear_model(12, 3, 1)}) {
    EXPECT_FALSE(detail::ReluIterates::applies(n));
    EXPECT_FALSE(NetworkClassifier(n).incremental());
  }
  EXPECT_THROW(detail::ReluIterates{sigmoid}, InputError);
}

// Along a PGD path (steps that clip and repeat, a compaction of the batch, an invalid compaction, a
// new batch of the same shape) every call's logits and input gradient equal the dense pass
// (forward + backward) within float rounding, and every route of the class is taken.
TEST(ReluIterates, MatchesTheDensePassAlongAPgdPath) {
  const int D = 64, H = 48, C = 10;
  const Network net = random_network(D, {H}, C, 7);
  Rng rng(11);
  Eigen::MatrixXf x0 = uniform_batch(D, 37, rng);
  std::vector<std::uint8_t> labels = cyclic_labels(x0.cols(), C);
  const auto loss = [&labels](const Eigen::MatrixXf& z, Eigen::MatrixXf& d) {
    softmax_cross_entropy(z, labels, Reduction::sum, &d);
  };
  Eigen::MatrixXf x = x0;
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] += static_cast<float>(rng.uniform(-0.1, 0.1));
  detail::ReluIterates it(net);
  ForwardCache cache;
  BackwardScratch scratch;
  Eigen::MatrixXf logits, grad, ref_grad, dlogits;
  const float eps = 0.1F, alpha = 0.01F;
  for (int t = 0; t < 90; ++t) {
    x = x.array().max(x0.array() - eps).min(x0.array() + eps).max(0.0F).min(1.0F).matrix();
    it.input_gradient(x, loss, logits, grad);
    forward(net, x, cache);
    softmax_cross_entropy(cache.logits(), labels, Reduction::sum, &dlogits);
    backward(net, cache, dlogits, nullptr, &ref_grad, scratch);
    ASSERT_EQ(logits.cols(), x.cols());
    EXPECT_LT((logits - cache.logits()).cwiseAbs().maxCoeff(), 1e-4F * (1.0F + cache.logits().cwiseAbs().maxCoeff()))
        << "step " << t;
    EXPECT_LT((grad - ref_grad).cwiseAbs().maxCoeff(), 1e-4F * ref_grad.cwiseAbs().maxCoeff() + 1e-6F) << "step " << t;
    if (t == 30) {  // the attack drops examples 0, 5 and 17
      std::vector<Eigen::Index> keep;
      for (Eigen::Index b = 0; b < x.cols(); ++b)
        if (b != 0 && b != 5 && b != 17) keep.push_back(b);
      it.keep_columns(keep);
      Eigen::MatrixXf kx(D, static_cast<Eigen::Index>(keep.size())), kx0 = kx, kg = kx;
      std::vector<std::uint8_t> kl;
      for (std::size_t k = 0; k < keep.size(); ++k) {
        kx.col(static_cast<Eigen::Index>(k)) = x.col(keep[k]);
        kx0.col(static_cast<Eigen::Index>(k)) = x0.col(keep[k]);
        kg.col(static_cast<Eigen::Index>(k)) = grad.col(keep[k]);
        kl.push_back(labels[static_cast<std::size_t>(keep[k])]);
      }
      x = kx, x0 = kx0, grad = kg, labels = kl;
    }
    if (t == 45) it.keep_columns({3, 1});  // not ascending: the state is dropped, results stay right
    if (t == 60) {                         // another batch of the same shape
      x0 = uniform_batch(D, x0.cols(), rng);
      x = x0;
      continue;
    }
    x.array() += alpha * grad.array().sign();
  }
  const auto& c = it.counters();
  EXPECT_EQ(c.calls, 90);
  EXPECT_GE(c.jacobian_builds, 3);        // after call 5, after the reset at 45, after the new batch
  EXPECT_GE(c.incremental_forwards, 20);  // steps that repeat their predecessor's step
  EXPECT_GE(c.dense_forwards, 4);         // the first call of each sequence and steps that change a lot
  EXPECT_GT(c.flips, 0);
}

// The attack itself: PGD with restarts and early stopping (compaction) reaches the same verdicts
// with the incremental path as with the dense one.
TEST(ReluIterates, PgdVerdictsMatchTheDensePath) {
  const Network net = random_network(64, {48}, 10, 3);
  Rng rng(5);
  const Eigen::MatrixXf X = uniform_batch(64, 120, rng);
  Eigen::MatrixXf logits;
  predict_logits(net, X).swap(logits);
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(X.cols()));
  for (Eigen::Index b = 0; b < X.cols(); ++b) {  // the model's own decisions: every example starts correct
    Eigen::Index k = 0;
    logits.col(b).maxCoeff(&k);
    labels[static_cast<std::size_t>(b)] = static_cast<std::uint8_t>(k);
  }
  PgdOptions opt;
  opt.eps = 0.02;
  opt.steps = 40;
  opt.restarts = 2;
  opt.batch = 50;
  NetworkClassifier fast(net), dense(net, false);
  ASSERT_TRUE(fast.incremental());
  Eigen::MatrixXf adv_fast, adv_dense;
  const auto robust_fast = pgd_attack(fast, X, labels, opt, adv_fast);
  const auto robust_dense = pgd_attack(dense, X, labels, opt, adv_dense);
  std::size_t differ = 0, fooled = 0;
  for (std::size_t i = 0; i < robust_fast.size(); ++i) {
    differ += robust_fast[i] != robust_dense[i] ? 1 : 0;
    fooled += robust_dense[i] == 0 ? 1 : 0;
  }
  EXPECT_GT(fooled, 10U);  // the attack does something at this eps
  EXPECT_LT(fooled, 110U);
  EXPECT_LE(differ, 1U);  // rounding may tip an example whose loss ties; nothing more
}

TEST(Attack, BadOptionsAreRefused) {
  const Network net = linear_model(16, 4, 3);
  const Points p = labelled_by(net, 10, 1);
  NetworkClassifier clf(net);
  AttackOptions ao;
  ao.eps = {0.1};
  ao.attacks = {"pgd_ce", "pgd_bogus"};
  EXPECT_THROW(evaluate_robustness(clf, p.X, p.labels, ao), InputError);
  ao.attacks = {"transfer"};
  EXPECT_THROW(evaluate_robustness(clf, p.X, p.labels, ao), InputError);  // no source
  ao.attacks = {"square"};
  ao.norm = ThreatNorm::l2;
  EXPECT_THROW(evaluate_robustness(clf, p.X, p.labels, ao), InputError);
  ao = AttackOptions{};
  ao.eps = {-0.1};
  EXPECT_THROW(evaluate_robustness(clf, p.X, p.labels, ao), InputError);
  ao.eps = {0.1};
  Eigen::MatrixXf bad = p.X;
  bad(3, 2) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(evaluate_robustness(clf, bad, p.labels, ao), InputError);
  bad(3, 2) = 1.5F;
  EXPECT_THROW(evaluate_robustness(clf, bad, p.labels, ao), InputError);
}

TEST(Data, StratifiedIndicesAreExactAndSeeded) {
  Dataset d;
  d.name = "toy";
  d.rows = d.cols = 1;
  for (int i = 0; i < 1000; ++i) d.labels.push_back(static_cast<std::uint8_t>((i * 7) % 10));
  d.pixels.assign(1000, 0);
  const auto a = stratified_indices(d, 53, 1);
  ASSERT_EQ(a.size(), 53u);
  std::vector<int> per(10, 0);
  for (auto i : a) per[d.labels[i]]++;
  for (int c = 0; c < 10; ++c) EXPECT_EQ(per[static_cast<std::size_t>(c)], c < 3 ? 6 : 5) << c;
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_EQ(std::adjacent_find(a.begin(), a.end()), a.end());  // no repeats
  EXPECT_EQ(stratified_indices(d, 53, 1), a);
  EXPECT_NE(stratified_indices(d, 53, 2), a);
  EXPECT_THROW(stratified_indices(d, 1001, 1), DataError);
}

TEST(Data, FloatIdxRoundTripsExactlyAndRejectsBadFiles) {
  Eigen::MatrixXf X(6, 3);
  X << 0.0F, 1.0F, 0.5F, 1e-7F, 0.25F, 0.3333F, 0.1F, 0.2F, 0.3F, 0.4F, 0.5F, 0.6F, 0.7F, 0.8F, 0.9F, 0.123F, 0.456F,
      0.789F;
  const auto bytes = idx_float_images_bytes(X, 2, 3);
  const IdxFloatImages img = parse_idx_float_images(bytes, "mem");
  ASSERT_EQ(img.count, 3u);
  EXPECT_EQ(img.rows, 2);
  for (Eigen::Index b = 0; b < 3; ++b)
    for (Eigen::Index i = 0; i < 6; ++i) EXPECT_EQ(img.values[static_cast<std::size_t>(b * 6 + i)], X(i, b));
  auto truncated = bytes;
  truncated.pop_back();
  EXPECT_THROW(parse_idx_float_images(truncated, "mem"), DataError);
  auto nan = bytes;
  nan[16] = 0x7F;
  nan[17] = 0xC0;
  EXPECT_THROW(parse_idx_float_images(nan, "mem"), DataError);
  EXPECT_THROW(parse_idx_images(bytes, "mem"), DataError);  // a float file is not a uint8 file
}

TEST(Cli, AttackWritesTablesAndAdversarialExamplesThatFoolTheModel) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 600, 200);
  const CliRun t =
      run_cli("train --quiet --set \"data.dataset='" + ds +
              "'\" --set data.validation=100 --set network.hidden=[20] --set train.epochs=2 --out " + (dir / "run"));
  ASSERT_EQ(t.code, 0) << t.output;
  const std::string test = "idx:" + (dir / "test-images") + "," + (dir / "test-labels");
  const CliRun a = run_cli("attack --model " + (dir / "run/model.safetensors") + " --data " + test +
                           " --n 100 --eps 0,0.1,0.3 --steps 20 --restarts 2 --square-queries 100 --out " +
                           (dir / "att") + " --save-adv " + (dir / "adv"));
  ASSERT_EQ(a.code, 0) << a.output;
  EXPECT_TRUE(has(a.output, "gradient-masking checks")) << a.output;
  const auto res = nlohmann::json::parse(read_bytes(dir / "att/robustness.json"));
  EXPECT_EQ(res["format"], "dalenet-robustness");
  EXPECT_EQ(res["n"], 100);
  const auto& m = res["models"][0];
  EXPECT_EQ(m["robust"].size(), 3u);
  const auto csv_bytes = read_bytes(dir / "att/robustness.csv");
  const std::string csv(csv_bytes.begin(), csv_bytes.end());
  EXPECT_TRUE(has(csv, "model,data,norm,attack,eps,accuracy,correct,n")) << csv;
  EXPECT_TRUE(has(csv, "worst_case,0.3,")) << csv;
  // Re-evaluate the saved eps = 0.3 examples independently of the attack code.
  const Model model = load_model(dir / "run/model.safetensors");
  const auto adv = read_idx_float_images(dir / ("adv/" + m["adversarial_files"][2]["images"].get<std::string>()));
  const auto labels = read_idx_labels(dir / "adv/labels-idx1-ubyte");
  ASSERT_EQ(adv.count, 100u);
  const Eigen::Map<const Eigen::MatrixXf> X(adv.values.data(), 64, 100);
  const Eigen::MatrixXf z = predict_logits(model.net, X);
  std::size_t correct = 0;
  for (Eigen::Index b = 0; b < 100; ++b) {
    Eigen::Index arg = 0;
    z.col(b).maxCoeff(&arg);
    correct += arg == labels[static_cast<std::size_t>(b)] ? 1 : 0;
  }
  EXPECT_EQ(correct, m["robust"][2]["robust_correct"].get<std::size_t>());

  // The exhaustive schedule: the same robust accuracies; progress as JSON lines with an ETA.
  const CliRun full =
      run_cli("attack --model " + (dir / "run/model.safetensors") + " --data " + test +
              " --n 100 --eps 0,0.1,0.3 --steps 20 --restarts 2 --square-queries 100 --per-attack-full" +
              " --log-json --out " + (dir / "att_full"));
  ASSERT_EQ(full.code, 0) << full.output;
  const auto res_full = nlohmann::json::parse(read_bytes(dir / "att_full/robustness.json"));
  EXPECT_EQ(res_full["options"]["schedule"], "exhaustive");
  EXPECT_EQ(res["options"]["schedule"], "carried");
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_EQ(res_full["models"][0]["robust"][i]["robust_correct"], m["robust"][i]["robust_correct"]) << i;
  std::size_t events = 0;
  bool done = false, eta = false;
  std::istringstream lines(full.output);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '{') continue;
    const auto e = nlohmann::json::parse(line);
    events += e["event"] == "attack" ? 1 : 0;
    eta = eta || (e["event"] == "attack" && e["eta_s"].get<double>() >= 0.0);
    done = done || e["event"] == "done";
  }
  EXPECT_EQ(events, res_full["models"][0]["attacks"].size());
  EXPECT_TRUE(eta && done) << full.output;

  const CliRun bad = run_cli("attack --model " + (dir / "run/model.safetensors") + " --data " + test +
                             " --attacks pgd_ce,nope --eps 0.1");
  EXPECT_NE(bad.code, 0);
  EXPECT_TRUE(has(bad.output, "unknown attack 'nope'")) << bad.output;
  const CliRun bad_eps = run_cli("attack --model " + (dir / "run/model.safetensors") + " --data " + test + " --eps x");
  EXPECT_EQ(bad_eps.code, 2);
  EXPECT_TRUE(has(bad_eps.output, "'x' is not a number")) << bad_eps.output;
}
