#pragma once
// Feed-forward networks of neuron populations.
//
// A network is a chain of layers; layer 0 is the input. A layer holds one or more populations,
// each excitatory or inhibitory, and an activation function. Projection l connects layer l to
// layer l+1 with a weight matrix [post x pre] (row-major, the layout of PyTorch's nn.Linear and
// of the model file), a bias per postsynaptic neuron and, optionally, a connectivity mask
// (1 = synapse exists, 0 = silent/absent). Invariant: a masked-out weight is exactly 0, so the
// dense kernels need not consult the mask on the forward pass.
//
// Per-neuron state (threshold, running rate) lives in the layer and per-synapse state in the
// projection, so local learning rules (docs/RULE.md) fit without special cases. The sign a
// neuron's outgoing synapses *should* carry under Dale's law is its population's type; whether
// they do is measured, not imposed, except by the rules that impose it explicitly (bp_sign).
#include <Eigen/Core>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "dalenet/rng.hpp"

#include "dalenet/enum_names.hpp"

namespace dalenet {

using WeightMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MaskMatrix = Eigen::Matrix<std::uint8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

enum class Activation {
  identity,
  relu,
  sigmoid,
  sigmoid2,  // rescaled sigmoid 2*sigma(a) - 1: maps non-negative drive onto [0, 1)
  tanh,
};
inline constexpr EnumNames<Activation, 5> kActivationNames = {{{Activation::identity, "identity"},
                                                               {Activation::relu, "relu"},
                                                               {Activation::sigmoid, "sigmoid"},
                                                               {Activation::sigmoid2, "sigmoid2"},
                                                               {Activation::tanh, "tanh"}}};
std::string to_string(Activation a);
Activation activation_from_string(const std::string& s);  // throws ConfigError

// How the stored weights of a projection act on the postsynaptic drive.
enum class Efficacy {
  linear,          // drive = sum_i w_ij x_i (every gradient rule)
  log_normalized,  // drive = sum_i x_i sign(w_ij) ln(max(|w_ij| / sum_i' |w_i'j|, floor) / floor): a
                   // compressive efficacy with the synapse's sign (non-negative weights: non-negative
                   // efficacy); synapses at or below the floor contribute nothing (docs/RULE.md, H1)
};
std::string to_string(Efficacy e);
Efficacy efficacy_from_string(const std::string& s);

// Competition among a layer's neurons, applied to the drive z before the activation:
// y = f(max(0, z - I(z))), I a shared inhibition level (docs/RULE.md, equation H2).
enum class Competition {
  none,                 // y = f(z)
  feedback_inhibition,  // I solves I = gain * sum_j max(0, z_j - I): inhibitory interneurons pool
                        // the excitatory output and feed it back (unique fixed point, exact)
  kwta,                 // I = (k+1)-th largest z: exactly k winners (the fixed k-WTA ablation)
};
std::string to_string(Competition c);
Competition competition_from_string(const std::string& s);

enum class NeuronType : std::int8_t { excitatory = 1, inhibitory = -1 };
std::string to_string(NeuronType t);
NeuronType neuron_type_from_string(const std::string& s);

struct Population {
  std::string name;
  int size = 0;
  NeuronType type = NeuronType::excitatory;
};

struct Layer {
  std::string name;
  std::vector<Population> populations;  // neurons are numbered population by population
  Activation activation = Activation::identity;
  Competition competition = Competition::none;
  double inhibition_gain = 1.0;  // feedback_inhibition: gain of the E -> I -> E loop
  int kwta_k = 20;               // kwta: number of winners
  bool divisive = false;         // divide the rectified rates by their sum (divisive normalisation by the pool)
  // Local inhibition (docs/RULE.md, H6b): the excitatory neurons form this many equal, contiguous
  // pools, each with its own inhibition level (its own interneuron loop); 1: one pool, the layer.
  int inhibition_pools = 1;
  // Competition acts among the excitatory neurons; inhibitory neurons of the layer carry the
  // inhibition (their activity is the pooled inhibition level) and receive no feedforward input.
  // Per-neuron state for local rules; empty (size 0) when a rule does not use it.
  Eigen::VectorXf threshold;
  Eigen::VectorXf rate;

  int size() const;
  // Neurons of the leading excitatory populations (those that compete; interneurons follow).
  int excitatory_count() const;
  // Excitatory neurons per inhibition pool (excitatory_count() / inhibition_pools).
  int pool_size() const { return excitatory_count() / inhibition_pools; }
  // +1 / -1 per neuron, from its population's type.
  Eigen::VectorXf neuron_sign() const;
};

// Retinotopic potential connectivity (docs/RULE.md, H6): the presynaptic layer is an image of
// image_side x image_side pixels (row-major); window k is the square of side `window` whose top-left
// corner is the k-th point (row-major) of the grid {0, stride, 2 stride, ...}^2 that keeps the square
// inside the image. Postsynaptic neuron i may connect only to the pixels of window
// i / units_per_window: those are its potential synapses (Knoblauch, Koerner, Koerner & Sommer
// 2014); every other synapse is absent by wiring, and neurons past the last window have none.
struct ReceptiveFields {
  int image_side = 0;  // 0: none; every synapse is potential
  int window = 0;
  int stride = 1;
  int units_per_window = 0;

  bool enabled() const { return image_side > 0; }
  int per_side() const { return (image_side - window) / stride + 1; }
  int count() const { return per_side() * per_side(); }
  // Window k's top-left corner: its first row and first column.
  std::pair<Eigen::Index, Eigen::Index> corner(Eigen::Index k) const {
    return {(k / per_side()) * stride, (k % per_side()) * stride};
  }
  // Synapses the windows allow in all: window x window for each neuron of each window.
  std::int64_t potential_synapses() const {
    return static_cast<std::int64_t>(count()) * units_per_window * window * window;
  }
  bool potential(Eigen::Index post, Eigen::Index pre) const;
};

struct Projection {
  WeightMatrix weight;   // [post, pre]
  Eigen::VectorXf bias;  // [post]
  MaskMatrix mask;       // [post, pre] or empty (dense: every synapse exists)
  Efficacy efficacy = Efficacy::linear;
  float efficacy_floor = 0.0F;       // log_normalized only: the normalised weight below which a synapse is silent
  ReceptiveFields receptive_fields;  // which synapses may exist at all (default: every one)

  bool has_mask() const { return mask.size() != 0; }
  Eigen::Index num_post() const { return weight.rows(); }
  Eigen::Index num_pre() const { return weight.cols(); }
  // The matrix that multiplies the presynaptic rates: `weight` itself for linear efficacy.
  // For log_normalized, |w| rows are normalised to sum 1, mapped through ln(max(|w|, floor)/floor)
  // and given the weight's sign.
  void effective_weight(WeightMatrix& out) const;
  // dL/dweight from dL/d(effective weight) `d_effective` (same shape): the chain rule through
  // effective_weight, for backprop through the bio forward pass (the architecture control,
  // docs/EVALUATION.md). Linear efficacy: a copy. log_normalized, with a_ij = |w_ij| / S_i and
  // S_i = sum_k |w_ik|: dL/dw_ij = [a_ij > floor] G_ij / |w_ij| - sign(w_ij) / S_i *
  // sum_k [a_ik > floor] sign(w_ik) G_ik. A synapse at or below the floor has no direct term
  // (its efficacy is the constant 0) but still feels the row sum; an exact zero has none.
  void efficacy_gradient(const WeightMatrix& d_effective, WeightMatrix& d_weight) const;
};

// Signed weights (a mixed-sign start, docs/RULE.md) are handled through their magnitudes by the
// log-normalised efficacy and the bio rule; these two helpers are their shared first steps.
// Whether any weight is negative (false for an empty matrix).
bool any_negative(const Eigen::Ref<const WeightMatrix>& w);
// Row sums of |w|; when no weight is negative (`negative` false) the plain row sums, computed as
// such so that results from non-negative weights are bit-identical to the sums of w itself.
Eigen::VectorXf magnitude_row_sums(const Eigen::Ref<const WeightMatrix>& w, bool negative);
// One row's sum of |w| and whether the row holds a negative weight; for a row without one, the
// plain sum (bit-identical to the sum of w). The per-row form, for loops that run over rows in
// parallel (the log-normalised efficacy, H3).
struct RowMagnitude {
  float sum = 0.0F;
  bool negative = false;
};
RowMagnitude row_magnitude(const Eigen::Ref<const Eigen::RowVectorXf>& row);

class Network {
 public:
  std::vector<Layer> layers;            // layers[0] is the input layer
  std::vector<Projection> projections;  // projections[l]: layers[l] -> layers[l+1]

  int input_size() const { return layers.front().size(); }
  int output_size() const { return layers.back().size(); }
  std::size_t num_parameters() const;
  // Throws ModelFileError/InputError on any inconsistency (shapes, mask invariant, NaN/Inf).
  void validate() const;
};

// How to build a network from a configuration.
struct NetworkSpec {
  int input = 784;
  std::vector<int> hidden = {1000};
  int output = 10;
  Activation hidden_activation = Activation::relu;
  // Fraction of each hidden layer that is inhibitory (0: all excitatory). Inputs are excitatory.
  double inhibitory_fraction = 0.0;
};
Network make_network(const NetworkSpec& spec);

enum class InitKind {
  uniform_fan_in,  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch nn.Linear's default
  he_normal,       // N(0, 2/fan_in)
  uniform,         // magnitudes U(low, high) (the predecessor paper's 0.01..0.1)
  lognormal,       // magnitudes lognormal(mu, sigma) / sqrt(fan_in) (EG, Cornford et al.)
};
inline constexpr EnumNames<InitKind, 4> kInitKindNames = {{{InitKind::uniform_fan_in, "uniform_fan_in"},
                                                           {InitKind::he_normal, "he_normal"},
                                                           {InitKind::uniform, "uniform"},
                                                           {InitKind::lognormal, "lognormal"}}};
std::string to_string(InitKind k);
InitKind init_kind_from_string(const std::string& s);

enum class SignInit {
  free,        // signs as the distribution draws them (symmetric distributions: random)
  per_neuron,  // each weight's sign is its presynaptic neuron's type (Dale-consistent start)
  mixed,       // each weight's sign drawn at random, independent of the presynaptic neuron
};
inline constexpr EnumNames<SignInit, 3> kSignInitNames = {
    {{SignInit::free, "free"}, {SignInit::per_neuron, "per_neuron"}, {SignInit::mixed, "mixed"}}};
std::string to_string(SignInit s);
SignInit sign_init_from_string(const std::string& s);

struct InitSpec {
  InitKind kind = InitKind::uniform_fan_in;
  SignInit sign = SignInit::free;
  double low = 0.01, high = 0.1;  // for InitKind::uniform
  double mu = 0.0, sigma = 0.5;   // for InitKind::lognormal (of ln|w| before fan-in scaling)
};
// Draws all weights and biases. Biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for uniform_fan_in
// (as PyTorch), 0 otherwise.
void init_weights(Network& net, const InitSpec& spec, Rng& rng);

float activate(Activation a, float x);
// Derivative expressed through the pre-activation a and the output y = f(a).
float activate_derivative(Activation a, float pre, float y);

}  // namespace dalenet
