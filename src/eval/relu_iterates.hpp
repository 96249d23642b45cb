#pragma once
// Exact logits and input gradients of a one-hidden-layer ReLU network over a sequence of nearby
// inputs: the iterates of an L-inf PGD attack (docs/PERFORMANCE.md, "PGD on ReLU networks").
//
// The network is piecewise linear: for a fixed set of active hidden units m_b of example b,
//   logits_b = V diag(m_b) (W x_b + b1) + b2   and   dL/dx_b = J_b dL/dlogits_b,
//   J_b = W^T diag(m_b) V^T   [input x classes].
// A PGD step moves each pixel by +-alpha or leaves it on the boundary of its box, and the sign of
// the gradient changes little from one step to the next (measured on the 784-1000-10 BP model,
// PGD-100 at eps 0.1: 1-4 of 1000 hidden units change state per step and example). So this class
// keeps, per example, the hidden drive z_b = W x_b, the last step s_b = x_b - x_b_previous, its
// drive W s_b, the active set and J_b, and per call updates them instead of recomputing:
//   W s_b   += W (s_b - s_b_previous)   over the pixels whose step changed (a pixel that reversed,
//                                       reached its boundary or left it); a dense GEMM W s_b when
//                                       many did,
//   z_b     += W s_b,
//   J_b     += +-W_j^T V_j^T            for each unit j that turned on (+) or off (-),
// and returns the gradient as J_b dL/dlogits_b (784 x 10 per example instead of 784 x 1000 x 2).
// The arithmetic is the same function in another summation order: results agree with
// forward/backward within float rounding (tests/test_attack.cpp, ReluIterates.*), and the running
// sums are recomputed from scratch every kRefreshAfterCalls calls.
//
// Not part of the public API: NetworkClassifier uses it for the networks it applies to.
#include <Eigen/Core>
#include <cstdint>
#include <vector>

#include "dalenet/attack.hpp"
#include "dalenet/network.hpp"

namespace dalenet::detail {

class ReluIterates {
 public:
  using LossGradient = Classifier::LossGradient;
  // Whether `net` has the form this class computes exactly: input -> one hidden layer (ReLU, no
  // competition, no divisive normalisation, linear efficacy) -> identity output layer.
  static bool applies(const Network& net);
  // `net` must satisfy applies() and must not change while this object is in use.
  explicit ReluIterates(const Network& net);

  // The contract of Classifier::input_gradient. State from the previous call is reused when X has
  // the same shape; any X is accepted (a changed batch makes many pixels move and takes the
  // dense route).
  void input_gradient(const Eigen::Ref<const Eigen::MatrixXf>& X, const LossGradient& loss, Eigen::MatrixXf& logits,
                      Eigen::MatrixXf& grad);
  // Keep only the listed columns (in that order) of the state: the attack dropped the others.
  void keep_columns(const std::vector<Eigen::Index>& keep);
  // Forget the state: the next call starts from a dense pass.
  void reset() { batch_ = -1; }

  // What the calls did (for tests and benchmarks).
  struct Counters {
    std::int64_t calls = 0;
    std::int64_t dense_forwards = 0;        // z = W X or W s by a dense GEMM
    std::int64_t incremental_forwards = 0;  // W s updated over the pixels whose step changed
    std::int64_t jacobian_builds = 0;       // J built for the whole batch
    std::int64_t flips = 0;                 // hidden units that changed state, over all examples
    std::int64_t changed_steps = 0;         // pixels whose step changed, over all examples
  };
  const Counters& counters() const { return counters_; }

  // A dense GEMM for W s when the step changed at more than this fraction of the batch's pixels.
  // The incremental kernel reads one weight per multiply-add (no register reuse across examples,
  // as a GEMM has), so it pays only when few changed. The PGD-100 benchmark's time is flat over a
  // range of thresholds around this one and much slower at 1.0 (docs/PERFORMANCE.md).
  static constexpr double kDenseChangedFraction = 0.25;
  // More than this fraction of hidden units changed state (a PGD step flips ~0.4 %): a new batch
  // or random start; J is dropped and built again after kCallsBeforeJacobian calls.
  static constexpr double kNewBatchFlipFraction = 0.05;
  // J is built after this many consecutive calls on one batch: building it costs about as much as
  // five dense input gradients and saves about a third of each later call, so FGSM and attacks
  // of a few steps never pay for it (PGD-100 on the benchmark: 0.51 s at 4, 0.52 s at 10).
  static constexpr int kCallsBeforeJacobian = 4;
  // z and J are recomputed from scratch after this many updates on one batch, which bounds the
  // rounding that running sums accumulate (relative error ~ sqrt(updates) * 6e-8).
  static constexpr int kRefreshAfterCalls = 256;

 private:
  void dense_forward(const Eigen::Ref<const Eigen::MatrixXf>& X);
  void incremental_forward();  // drive_step_ += W (change of the step), from changed_pixels_ / changed_by_
  // z += drive_step_ if add_step; rates, state changes (flipped_), logits.
  void update_activity_and_logits(Eigen::MatrixXf& logits, bool add_step, bool count_flips);
  void build_jacobian();

  const Network& net_;
  const WeightMatrix& w_;   // [hidden x input], row-major: row j is unit j's afferent weights
  const WeightMatrix& v_;   // [classes x hidden]
  Eigen::MatrixXf w_cols_;  // w_ column-major: column i is pixel i's efferent weights
  Eigen::Index batch_ = -1;
  int calls_on_batch_ = 0;
  int incremental_since_dense_ = 0;
  int jacobian_built_at_ = 0;
  bool jacobian_ready_ = false;
  Eigen::MatrixXf x_prev_;      // [input x B]
  Eigen::MatrixXf step_prev_;   // [input x B], the last step: x - x_prev of the previous call
  Eigen::MatrixXf drive_step_;  // [hidden x B], W step_prev_: what that step added to z
  Eigen::MatrixXf z_;           // [hidden x B], W x without the bias
  Eigen::MatrixXf rate_;        // [hidden x B], relu(z + b1)
  Eigen::MatrixXf active_;      // [hidden x B], 1 or 0: the active sets as J knows them
  Eigen::MatrixXf jac_;         // [input x classes*B]: J_b = columns b*C .. b*C+C-1
  Eigen::MatrixXf dlogits_, hidden_grad_;
  std::vector<std::vector<std::int32_t>> changed_pixels_;  // per example: pixels whose step changed this call
  std::vector<std::vector<float>> changed_by_;             // and the change (first changed_count_ entries)
  std::vector<std::size_t> changed_count_;
  std::vector<std::vector<std::int32_t>> flipped_;  // per example: units whose state changed
  Counters counters_;
};

}  // namespace dalenet::detail
