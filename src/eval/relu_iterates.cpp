// Incremental logits and input gradients of a one-hidden-layer ReLU network (relu_iterates.hpp).
#include "relu_iterates.hpp"

#include <algorithm>
#include <string>

#include "dalenet/backprop.hpp"
#include "dalenet/error.hpp"
#include "util/gemm.hpp"
#include "util/simd.hpp"

namespace dalenet::detail {

bool ReluIterates::applies(const Network& net) {
  if (net.layers.size() != 3 || net.projections.size() != 2) return false;
  const Layer& hidden = net.layers[1];
  const Layer& out = net.layers[2];
  return hidden.activation == Activation::relu && hidden.competition == Competition::none && !hidden.divisive &&
         out.activation == Activation::identity && out.competition == Competition::none && !out.divisive &&
         net.projections[0].efficacy == Efficacy::linear && net.projections[1].efficacy == Efficacy::linear;
}

ReluIterates::ReluIterates(const Network& net)
    : net_(net), w_(net.projections[0].weight), v_(net.projections[1].weight), w_cols_(w_) {
  if (!applies(net)) throw InputError("ReluIterates: the network is not input -> ReLU -> identity");
}

void ReluIterates::dense_forward(const Eigen::Ref<const Eigen::MatrixXf>& X) {
  z_.resize(w_.rows(), X.cols());
  split_rows_product(z_, w_, X);
  ++counters_.dense_forwards;
}

// drive_step_ (= W step_prev_) += sum over the pixels i whose step changed of
// (step_ib - step_prev_ib) W[:, i]. Hidden units are taken in tiles whose weights stay in cache
// while every example of the batch passes over them; each example's tile is accumulated in
// registers. Examples are independent and each is summed by one thread in pixel order, so the
// result does not depend on the thread count.
void ReluIterates::incremental_forward() {
  constexpr Eigen::Index kTile = 128;
  const Eigen::Index H = drive_step_.rows(), B = drive_step_.cols();
  const float* w = w_cols_.data();
  // One parallel region; tiles write disjoint rows of z, so threads need not wait between them.
#pragma omp parallel if (B >= 16)
  for (Eigen::Index h0 = 0; h0 < H; h0 += kTile) {
    const Eigen::Index n = std::min(kTile, H - h0);
#pragma omp for schedule(static) nowait
    for (Eigen::Index b = 0; b < B; ++b) {
      const std::int32_t* idx = changed_pixels_[static_cast<std::size_t>(b)].data();
      const float* by = changed_by_[static_cast<std::size_t>(b)].data();
      const std::size_t count = changed_count_[static_cast<std::size_t>(b)];
      float* z = drive_step_.col(b).data() + h0;
      if (n == kTile) {
        Eigen::Matrix<float, kTile, 1> acc = Eigen::Map<const Eigen::Matrix<float, kTile, 1>>(z);
        for (std::size_t k = 0; k < count; ++k)
          acc.noalias() += by[k] * Eigen::Map<const Eigen::Matrix<float, kTile, 1>>(w + idx[k] * H + h0);
        Eigen::Map<Eigen::Matrix<float, kTile, 1>> out(z);
        out = acc;
      } else {
        Eigen::Map<Eigen::VectorXf> acc(z, n);
        for (std::size_t k = 0; k < count; ++k)
          acc.noalias() += by[k] * Eigen::Map<const Eigen::VectorXf>(w + idx[k] * H + h0, n);
      }
    }
  }
  ++counters_.incremental_forwards;
}

namespace {
// Whether (rate[j] > 0) != (active[j] != 0) for some j < n (active holds 0 or 1). Packet
// comparisons: as an Eigen expression (a bool array cast to float, compared, .all()) this ran
// one float at a time and took over half of update_activity_and_logits (perf, PGD-100). Only
// decides which chunks the exact scan below visits, so it cannot change a result.
bool state_changed(const float* rate, const float* active, Eigen::Index n) {
  namespace ei = Eigen::internal;
  using detail::FloatPacket;
  constexpr Eigen::Index P = detail::kFloatPacket;
  Eigen::Index j = 0;
  if constexpr (detail::kFloatSimd) {
    const FloatPacket zero = ei::pset1<FloatPacket>(0.0F);
    FloatPacket any = zero;
    for (; j + P <= n; j += P)
      any = ei::por(any, ei::pxor(ei::pcmp_lt(zero, ei::ploadu<FloatPacket>(rate + j)),
                                  ei::pcmp_lt(zero, ei::ploadu<FloatPacket>(active + j))));
    if (ei::predux_any(any)) return true;
  }
  for (; j < n; ++j)
    if ((rate[j] > 0.0F) != (active[j] != 0.0F)) return true;
  return false;
}
}  // namespace

// rate = relu(z + b1); records which units changed state since J was last brought up to date;
// logits = V rate + b2.
void ReluIterates::update_activity_and_logits(Eigen::MatrixXf& logits, bool add_step, bool count_flips) {
  const Eigen::Index H = z_.rows(), B = z_.cols();
  const Eigen::VectorXf& b1 = net_.projections[0].bias;
  const Eigen::VectorXf& b2 = net_.projections[1].bias;
  rate_.resize(H, B);
  logits.resize(v_.rows(), B);
  flipped_.resize(static_cast<std::size_t>(B));
  std::int64_t flips = 0;
#pragma omp parallel for schedule(static) reduction(+ : flips) if (B >= 16)
  for (Eigen::Index b = 0; b < B; ++b) {
    auto& f = flipped_[static_cast<std::size_t>(b)];
    f.clear();
    // One sweep per example while its column is in cache: z += W s, the rates, whether any unit
    // changed state (vectorised; the scan for which ones runs only in chunks where one did: a PGD
    // step changes 1-4 units of 1000 per example), and the logits. As whole-matrix passes these
    // were four trips through memory, two of them on one thread.
    if (add_step) z_.col(b) += drive_step_.col(b);
    rate_.col(b) = (z_.col(b) + b1).cwiseMax(0.0F);
    constexpr Eigen::Index kChunk = 64;
    for (Eigen::Index j0 = 0; j0 < H; j0 += kChunk) {
      const Eigen::Index n = std::min(kChunk, H - j0);
      if (!state_changed(rate_.col(b).data() + j0, active_.col(b).data() + j0, n)) continue;
      for (Eigen::Index j = j0; j < j0 + n; ++j) {
        const bool on = rate_(j, b) > 0.0F;
        if (on == (active_(j, b) != 0.0F)) continue;
        // Units that turned on are stored as j, units that turned off as -(j + 1).
        f.push_back(on ? static_cast<std::int32_t>(j) : -static_cast<std::int32_t>(j) - 1);
        active_(j, b) = on ? 1.0F : 0.0F;
      }
    }
    flips += static_cast<std::int64_t>(f.size());
    logits.col(b).noalias() = v_ * rate_.col(b);
    logits.col(b) += b2;
  }
  if (count_flips) counters_.flips += flips;
  if (static_cast<double>(flips) > kNewBatchFlipFraction * static_cast<double>(H * B)) {
    // Not a small step but another batch or a new random start: updating J by hundreds of flips
    // per example would cost more than building it again once the new sequence is under way.
    calls_on_batch_ = 1;
    jacobian_ready_ = false;
  }
}

// J_b = W^T diag(active_b) V^T for every example: one GEMM per class over the whole batch,
// copied into the per-example layout that the updates and the gradient read.
void ReluIterates::build_jacobian() {
  const Eigen::Index D = w_.cols(), H = w_.rows(), C = v_.rows(), B = z_.cols();
  jac_.resize(D, C * B);
  Eigen::MatrixXf masked(H, B), block(D, B);
  for (Eigen::Index k = 0; k < C; ++k) {
#pragma omp parallel for schedule(static) if (B >= 16)
    for (Eigen::Index b = 0; b < B; ++b) masked.col(b) = active_.col(b).cwiseProduct(v_.row(k).transpose());
    split_rows_product(block, w_.transpose(), masked);
#pragma omp parallel for schedule(static) if (B >= 16)
    for (Eigen::Index b = 0; b < B; ++b) jac_.col(b * C + k) = block.col(b);
  }
  for (auto& f : flipped_) f.clear();
  jacobian_ready_ = true;
  jacobian_built_at_ = calls_on_batch_;
  ++counters_.jacobian_builds;
}

void ReluIterates::input_gradient(const Eigen::Ref<const Eigen::MatrixXf>& X, const LossGradient& loss,
                                  Eigen::MatrixXf& logits, Eigen::MatrixXf& grad) {
  if (X.rows() != w_.cols())
    throw InputError("input has " + std::to_string(X.rows()) + " features per example, network expects " +
                     std::to_string(w_.cols()));
  if (!X.allFinite()) throw InputError("input contains NaN or Inf");
  const Eigen::Index D = X.rows(), B = X.cols(), H = w_.rows(), C = v_.rows();
  ++counters_.calls;
  const bool new_batch = B != batch_;
  bool add_step = false;
  if (new_batch) {
    batch_ = B;
    calls_on_batch_ = 0;
    incremental_since_dense_ = 0;
    jacobian_ready_ = false;
    active_.setZero(H, B);
    changed_pixels_.assign(static_cast<std::size_t>(B), std::vector<std::int32_t>(static_cast<std::size_t>(D)));
    changed_by_.assign(static_cast<std::size_t>(B), std::vector<float>(static_cast<std::size_t>(D)));
    changed_count_.assign(static_cast<std::size_t>(B), 0);
    step_prev_.setZero(D, B);
    drive_step_.setZero(H, B);
    dense_forward(X);
    x_prev_ = X;
  } else {
    // This call's step s = X - x_prev per pixel, and the pixels where it differs from the previous
    // step (branch-free: after the first steps most pixels repeat their step or stay put).
    std::int64_t changed = 0;
#pragma omp parallel for schedule(static) reduction(+ : changed) if (B >= 16)
    for (Eigen::Index b = 0; b < B; ++b) {
      std::int32_t* idx = changed_pixels_[static_cast<std::size_t>(b)].data();
      float* by = changed_by_[static_cast<std::size_t>(b)].data();
      std::size_t n = 0;
      float* prev = x_prev_.col(b).data();
      float* step = step_prev_.col(b).data();
      for (Eigen::Index i = 0; i < D; ++i) {
        const float s = X(i, b) - prev[i];
        const float change = s - step[i];
        prev[i] = X(i, b);
        step[i] = s;
        idx[n] = static_cast<std::int32_t>(i);
        by[n] = change;
        n += change != 0.0F ? 1 : 0;
      }
      changed_count_[static_cast<std::size_t>(b)] = n;
      changed += static_cast<std::int64_t>(n);
    }
    counters_.changed_steps += changed;
    if (incremental_since_dense_ >= kRefreshAfterCalls) {
      // Rounding in the running sums grows with the number of updates: a dense pass now and then
      // bounds it (never within one PGD-100 run).
      dense_forward(X);
      split_rows_product(drive_step_, w_, step_prev_);
      incremental_since_dense_ = 0;
    } else {
      if (static_cast<double>(changed) > kDenseChangedFraction * static_cast<double>(D * B)) {
        split_rows_product(drive_step_, w_, step_prev_);
        ++counters_.dense_forwards;
      } else {
        incremental_forward();
      }
      add_step = true;  // z += W s, in the sweep below
      ++incremental_since_dense_;
    }
  }
  ++calls_on_batch_;
  update_activity_and_logits(logits, add_step, !new_batch);
  loss(logits, dlogits_);
  flush_subnormals(dlogits_);
  if (jacobian_ready_ && calls_on_batch_ - jacobian_built_at_ > kRefreshAfterCalls) jacobian_ready_ = false;
  if (!jacobian_ready_ && calls_on_batch_ > kCallsBeforeJacobian) build_jacobian();
  grad.resize(D, B);
  if (!jacobian_ready_) {
    // dL/dx = W^T (active .* V^T dL/dlogits), as backward() computes it.
    hidden_grad_.noalias() = v_.transpose() * dlogits_;
    hidden_grad_.array() *= active_.array();
    split_rows_product(grad, w_.transpose(), hidden_grad_);
    return;
  }
#pragma omp parallel for schedule(static) if (B >= 16)
  for (Eigen::Index b = 0; b < B; ++b) {
    auto J = jac_.middleCols(b * C, C);
    for (const std::int32_t s : flipped_[static_cast<std::size_t>(b)]) {
      const bool on = s >= 0;
      const Eigen::Index j = on ? s : -(s + 1);
      for (Eigen::Index k = 0; k < C; ++k) {
        const float vkj = on ? v_(k, j) : -v_(k, j);
        J.col(k).noalias() += vkj * w_.row(j).transpose();
      }
    }
    grad.col(b).noalias() = J * dlogits_.col(b);
  }
}

void ReluIterates::keep_columns(const std::vector<Eigen::Index>& keep) {
  if (batch_ < 0) return;
  const auto B = static_cast<Eigen::Index>(keep.size());
  const Eigen::Index C = v_.rows();
  for (Eigen::Index k = 0; k < B; ++k) {
    const Eigen::Index from = keep[static_cast<std::size_t>(k)];
    if (from < 0 || from >= batch_ || (k > 0 && from <= keep[static_cast<std::size_t>(k) - 1])) {
      reset();  // not an ordered subset: start again from a dense pass
      return;
    }
    if (from == k) continue;
    x_prev_.col(k) = x_prev_.col(from);
    step_prev_.col(k) = step_prev_.col(from);
    drive_step_.col(k) = drive_step_.col(from);
    z_.col(k) = z_.col(from);
    active_.col(k) = active_.col(from);
    if (jacobian_ready_) jac_.middleCols(k * C, C) = jac_.middleCols(from * C, C);
  }
  x_prev_.conservativeResize(Eigen::NoChange, B);
  step_prev_.conservativeResize(Eigen::NoChange, B);
  drive_step_.conservativeResize(Eigen::NoChange, B);
  z_.conservativeResize(Eigen::NoChange, B);
  active_.conservativeResize(Eigen::NoChange, B);
  if (jacobian_ready_) jac_.conservativeResize(Eigen::NoChange, C * B);
  batch_ = B;
}

}  // namespace dalenet::detail
