#pragma once
// The gradient rules' optimiser (SGD with momentum or Adam, PyTorch's conventions), internal: the
// backprop rules and the autoencoder pre-training of the few-shot regime C share it.
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "dalenet/backprop.hpp"
#include "dalenet/error.hpp"
#include "dalenet/network.hpp"
#include "dalenet/rule.hpp"

namespace dalenet::rules {

inline void check_optimizer(const OptimizerConfig& o) {
  if (o.optimizer != OptimizerKind::sgd && o.optimizer != OptimizerKind::adam)
    throw ConfigError("train.optimizer: 'auto' was not resolved to sgd or adam");
}

// SGD with momentum or Adam over all projections, in PyTorch's conventions.
class Optimizer {
 public:
  explicit Optimizer(const OptimizerConfig& cfg) : cfg_(cfg) { check_optimizer(cfg_); }

  void begin(const Network& net) {
    m_w_.clear(), v_w_.clear(), m_b_.clear(), v_b_.clear();
    for (const auto& p : net.projections) {
      m_w_.emplace_back(WeightMatrix::Zero(p.weight.rows(), p.weight.cols()));
      m_b_.emplace_back(Eigen::VectorXf::Zero(p.bias.size()));
      if (cfg_.optimizer == OptimizerKind::adam) {
        v_w_.emplace_back(WeightMatrix::Zero(p.weight.rows(), p.weight.cols()));
        v_b_.emplace_back(Eigen::VectorXf::Zero(p.bias.size()));
      }
    }
    step_ = 0;
  }

  void step(Network& net, Gradients& g, double lr_scale) {
    ++step_;
    lr_ = cfg_.lr * lr_scale;
    const auto lr = static_cast<float>(lr_);
    const auto wd = static_cast<float>(cfg_.weight_decay);
    for (std::size_t l = 0; l < net.projections.size(); ++l) {
      auto& p = net.projections[l];
      if (wd != 0.0F) g.weight[l] += wd * p.weight;
      if (cfg_.optimizer == OptimizerKind::sgd) {
        const auto mu = static_cast<float>(cfg_.momentum);
        m_w_[l] = mu * m_w_[l] + g.weight[l];
        m_b_[l] = mu * m_b_[l] + g.bias[l];
        p.weight -= lr * m_w_[l];
        p.bias -= lr * m_b_[l];
      } else {
        adam(p.weight.data(), g.weight[l].data(), m_w_[l].data(), v_w_[l].data(), p.weight.size());
        adam(p.bias.data(), g.bias[l].data(), m_b_[l].data(), v_b_[l].data(), p.bias.size());
      }
      // Masked (absent) synapses have zero gradient; with weight decay and momentum they stay 0
      // because they start at 0 and every term of their update is 0.
      if (cfg_.l1 > 0.0) soft_threshold(p.weight, lr * static_cast<float>(cfg_.l1));
    }
  }

  // Decoupled L1 (the BP-with-L1 control of docs/EVALUATION.md): after each step, the proximal
  // map of t * |w|, w <- sign(w) * max(|w| - t, 0), t = lr * l1. Unlike a subgradient it puts
  // weights at exactly 0, so the control's sparsity is functional, as the audit counts it.
  static void soft_threshold(WeightMatrix& w, float t) {
    auto a = w.array();
    a = a.sign() * (a.abs() - t).max(0.0F);
  }

 private:
  // Adam on n contiguous parameters, in PyTorch's form of the bias-corrected step,
  // lr/c1 · m / (√v / √c2 + eps): one square root and one division per parameter. Dividing m and v
  // by c1 and c2 per parameter (two more divisions) would make this memory-bound pass
  // compute-bound.
  // Split into chunks of kChunk floats (a multiple of every SIMD packet width, so each chunk is
  // processed in whole aligned packets exactly as one pass over the array would be, and the
  // results are bit-identical to it): the chunks are shared out over threads, and a chunk's three
  // passes (m, v, p) find their operands still in cache. One serial pass per expression over the
  // 785 k parameters was about a third of a BP epoch.
  void adam(float* p, const float* g, float* m, float* v, Eigen::Index n) const {
    const auto b1 = static_cast<float>(cfg_.beta1), b2 = static_cast<float>(cfg_.beta2);
    const auto t = static_cast<double>(step_);
    const auto step_size = static_cast<float>(lr_ / (1.0 - std::pow(cfg_.beta1, t)));
    const auto inv_sqrt_c2 = static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(cfg_.beta2, t)));
    const auto eps = static_cast<float>(cfg_.eps);
    constexpr Eigen::Index kChunk = 4096;
    const Eigen::Index chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (chunks >= 4)
    for (Eigen::Index c = 0; c < chunks; ++c) {
      const Eigen::Index begin = c * kChunk, len = std::min(kChunk, n - begin);
      Eigen::Map<Eigen::ArrayXf, Eigen::AlignedMax> P(p + begin, len), M(m + begin, len), V(v + begin, len);
      const Eigen::Map<const Eigen::ArrayXf, Eigen::AlignedMax> G(g + begin, len);
      M = b1 * M + (1.0F - b1) * G;
      V = b2 * V + (1.0F - b2) * G.square();
      // The moments of a weight whose gradient stays 0 (an input pixel that is rarely on) decay
      // geometrically into subnormal floats, where every multiply costs a microcode assist and
      // later epochs slow down measurably (the MNIST BP benchmark). They are flushed to
      // 0 instead. A subnormal m moves its weight by at most lr/c1 · 1.2e-38 / eps, under 1e-28:
      // below half a float step of any weight larger than 1e-20.
      Eigen::Map<Eigen::MatrixXf> m_chunk(m + begin, len, 1), v_chunk(v + begin, len, 1);
      flush_subnormals(m_chunk);
      flush_subnormals(v_chunk);
      P -= step_size * M / (V.sqrt() * inv_sqrt_c2 + eps);
    }
  }

  OptimizerConfig cfg_;
  std::vector<WeightMatrix> m_w_, v_w_;
  std::vector<Eigen::VectorXf> m_b_, v_b_;
  long step_ = 0;
  double lr_ = 0.0;  // learning rate of the current step (cfg_.lr times the schedule's factor)
};

}  // namespace dalenet::rules
