#pragma once
// Inference and exact reverse-mode gradients over the network's own graph.
//
// Batches are column-major matrices with one example per column: X is [input x B], so each
// example's features are contiguous (the memory layout of a PyTorch [B x input] tensor).
// Gradients with respect to parameters are used by the backprop rules; gradients with respect
// to the inputs are used by attacks. Both are checked against finite differences in the tests.
#include <Eigen/Core>
#include <Eigen/SparseCore>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "dalenet/network.hpp"

namespace dalenet {

// Activations of one forward pass; reused across batches (allocates only when B changes).
// How a projection's product runs. Sparse execution keeps the effective weights in compressed
// sparse row storage (CSR) and skips silent synapses in the forward product and in the input
// gradient; both kernels give the same results within float rounding (tests/test_sparse.cpp).
// automatic: sparse when the weights are fixed (ForwardCache::weights_fixed: evaluation, attacks,
// analysis) and at least kSparseZeroFraction of the projection's effective weights are zero. The
// threshold is fixed, not timed at run time, so the same input always takes the same kernel and
// results stay reproducible; it is the crossover measured by `make bench` (docs/PERFORMANCE.md).
enum class Execution { automatic, dense, sparse };
inline constexpr double kSparseZeroFraction = 0.50;

struct ForwardCache {
  std::vector<Eigen::MatrixXf> pre;  // pre[l]: drive of layer l, [size_l x B] (pre[0] unused)
  std::vector<Eigen::MatrixXf> act;  // act[l]: output of layer l; act[0] = X; act.back() = logits
  // Layers with competition: pre[l] holds z - I for excitatory rows (I for inhibitory rows),
  // inhibition[l] the level I per example and inhibition pool (index b * pools + q; one pool: b),
  // and for the backward pass the size of each pool's active set (feedback_inhibition) or the unit
  // whose drive sets its I (kwta; an index into the layer).
  std::vector<Eigen::VectorXf> inhibition;
  std::vector<Eigen::VectorXi> active_count, threshold_unit;
  std::vector<Eigen::VectorXf> pool;    // divisive layers: sum of rectified excitatory rates per example
  std::vector<WeightMatrix> effective;  // effective weights of non-linear-efficacy projections
  // Set by callers whose weights do not change between passes (attacks, evaluation): the
  // effective weights computed by the first pass are reused instead of recomputed.
  bool weights_fixed = false;
  // Set by callers that run no backward pass on this cache (the bio rule's training passes): a
  // log_normalized projection whose weights change between passes then computes its effective
  // weights block by block inside the product instead of storing them (effective[l] is stale),
  // bit-identical and faster. backward() refuses such a cache.
  bool forward_only = false;
  std::vector<RowMagnitude> row_magnitudes;  // scratch of those products: per row of the weights
  Execution execution = Execution::automatic;
  // Optional per-projection choice: when it has an entry for projection l, that entry replaces
  // `execution` for l (a benchmark runs one projection sparse and leaves the others automatic).
  std::vector<Execution> projection_execution;
  // Per projection, prepared once per weight matrix while weights_fixed: whether it runs sparse, its CSR weights
  // [post x pre] and their transpose (for the input gradient; row-major so both products thread).
  std::vector<const float*> prepared;  // the weights each layer was prepared from (nullptr: none)
  std::vector<std::pair<Eigen::Index, Eigen::Index>> prepared_shape;
  std::vector<char> sparse_active;
  // Per projection: rows of the (effective) weights up to the last non-zero one. A layer's
  // interneurons take no feedforward input, so their trailing all-zero rows are skipped by the
  // dense products (non-linear efficacy only; linear projections use every row).
  std::vector<Eigen::Index> live_rows;
  std::vector<Eigen::SparseMatrix<float, Eigen::RowMajor>> sparse, sparse_t;
  struct SparseScratch {  // the CSR kernel's row-major copy of its right-hand side (reused: no per-batch allocation)
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rhs;
  } sparse_scratch;
  Eigen::MatrixXf rect;  // scratch: rectified drives of a competition layer
  const Eigen::MatrixXf& logits() const { return act.back(); }
};

// Runs the network on X [input x B]. Throws InputError on a shape mismatch.
void forward(const Network& net, const Eigen::Ref<const Eigen::MatrixXf>& X, ForwardCache& cache);
// Convenience: logits [output x B].
Eigen::MatrixXf predict_logits(const Network& net, const Eigen::Ref<const Eigen::MatrixXf>& X);

enum class Reduction { mean, sum };

// Sets every entry of m whose magnitude is below the smallest normal float (1.2e-38) to 0.
// Softmax probabilities of confidently wrong classes underflow to subnormal floats, and on
// Intel cores every multiply-add with a subnormal operand takes a microcode assist (measured:
// a sparse input-gradient pass 5x slower). Such values are below float resolution of anything
// they are added to, so the results are unchanged except for these entries.
void flush_subnormals(Eigen::Ref<Eigen::MatrixXf> m);  // any contiguous float matrix or map

// Softmax cross-entropy of logits [C x B] against labels (B entries, each < C). Returns the
// loss (mean or sum over the batch) and, if dlogits != nullptr, its gradient [C x B].
// Computed with the log-sum-exp shift, so large logits do not overflow.
double softmax_cross_entropy(const Eigen::Ref<const Eigen::MatrixXf>& logits, std::span<const std::uint8_t> labels,
                             Reduction reduction, Eigen::MatrixXf* dlogits);
// Number of columns whose arg-max equals the label.
std::size_t count_correct(const Eigen::Ref<const Eigen::MatrixXf>& logits, std::span<const std::uint8_t> labels);

// Parameter gradients, same shapes as the projections' weight/bias.
struct Gradients {
  std::vector<WeightMatrix> weight;
  std::vector<Eigen::VectorXf> bias;
  void resize_like(const Network& net);
};

// Back-propagates dlogits [output x B] through the activations of the last forward pass.
// Fills `grads` (if non-null; masked synapses get gradient 0) and `input_grad` [input x B]
// (if non-null). `scratch` holds per-layer deltas and is reused across calls.
struct BackwardScratch {
  std::vector<Eigen::MatrixXf> delta;
  ForwardCache::SparseScratch sparse;
  Eigen::MatrixXf rect, dtop;  // a competition layer's rectified drive and excitatory deltas [N_E x B]
  Eigen::MatrixXf dy;          // competition_leak > 0: dL/dy of a competition layer's excitatory units
  WeightMatrix d_effective;    // dL/d(effective weight) of a non-linear-efficacy projection
  // A surrogate for attacks (BPDA, Athalye et al. 2018), never for training: in the backward pass
  // an excitatory unit of a competition layer that the competition silenced (drive at or below
  // the inhibition level) passes `competition_leak` times dL/d(its rate) to its drive, as through
  // a leaky rectifier, so that the gradient reaches units which could win. The exact gradient
  // gives them none. 0: the exact gradient.
  float competition_leak = 0.0F;
};
void backward(const Network& net, const ForwardCache& cache, const Eigen::Ref<const Eigen::MatrixXf>& dlogits,
              Gradients* grads, Eigen::MatrixXf* input_grad, BackwardScratch& scratch);

// d(sum over the batch of per-example cross-entropy)/dX, [input x B]: column i is the gradient
// of example i's own loss, which is what an attack on example i needs.
Eigen::MatrixXf input_gradient(const Network& net, const Eigen::Ref<const Eigen::MatrixXf>& X,
                               std::span<const std::uint8_t> labels);

}  // namespace dalenet
