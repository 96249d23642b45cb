#include "dalenet/network.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "dalenet/error.hpp"
#include "net/efficacy.hpp"
#include "util/packet_log.hpp"
#include "util/simd.hpp"

namespace dalenet {

std::string to_string(Activation a) {
  return std::string(enum_name(kActivationNames, a));
}
Activation activation_from_string(const std::string& s) {
  if (const auto a = parse_enum(kActivationNames, s)) return *a;
  throw ConfigError("unknown activation '" + s + "' (known: identity, relu, sigmoid, sigmoid2, tanh)");
}
std::string to_string(Efficacy e) {
  return e == Efficacy::linear ? "linear" : "log_normalized";
}
Efficacy efficacy_from_string(const std::string& s) {
  if (s == "linear") return Efficacy::linear;
  if (s == "log_normalized") return Efficacy::log_normalized;
  throw ConfigError("unknown efficacy '" + s + "' (known: linear, log_normalized)");
}
std::string to_string(Competition c) {
  switch (c) {
    case Competition::none:
      return "none";
    case Competition::feedback_inhibition:
      return "feedback_inhibition";
    case Competition::kwta:
      return "kwta";
  }
  return "?";
}
Competition competition_from_string(const std::string& s) {
  for (auto c : {Competition::none, Competition::feedback_inhibition, Competition::kwta})
    if (to_string(c) == s) return c;
  throw ConfigError("unknown competition '" + s + "' (known: none, feedback_inhibition, kwta)");
}

bool any_negative(const Eigen::Ref<const WeightMatrix>& w) {
  return w.size() > 0 && w.minCoeff() < 0.0F;
}

Eigen::VectorXf magnitude_row_sums(const Eigen::Ref<const WeightMatrix>& w, bool negative) {
  return negative ? Eigen::VectorXf(w.cwiseAbs().rowwise().sum()) : Eigen::VectorXf(w.rowwise().sum());
}

// One pass over the row for the sign check and the sum (called twice per row and batch by the bio
// rule; as minCoeff() then sum() it took two). The sum is Eigen's `row.sum()` to the bit: its
// vectorised reduction (Eigen 3.4, Redux.h, LinearVectorizedTraversal) is reproduced step by step
// with Eigen's own packet functions: packets from the first aligned element, in two interleaved
// accumulators, then the odd packet, the horizontal sum, the unaligned head and the tail;
// Row.MagnitudeMatchesEigensSum checks it at every length and alignment up to 200.
RowMagnitude row_magnitude(const Eigen::Ref<const Eigen::RowVectorXf>& row) {
  namespace ei = Eigen::internal;
  using Packet = detail::FloatPacket;
  constexpr Eigen::Index kSize = detail::kFloatPacket;
  const Eigen::Index n = row.size();
  if constexpr (!detail::kFloatSimd) {
    const bool negative = n > 0 && row.minCoeff() < 0.0F;
    return {negative ? row.cwiseAbs().sum() : row.sum(), negative};
  }
  if (n == 0) return {};
  const float* x = row.data();
  const Eigen::Index start = ei::first_default_aligned(x, n);
  const Eigen::Index end2 = start + (n - start) / (2 * kSize) * (2 * kSize);
  const Eigen::Index end = start + (n - start) / kSize * kSize;
  float sum = 0.0F;
  bool negative = false;
  if (end > start) {
    const Packet zero = ei::pset1<Packet>(0.0F);
    Packet s0 = ei::ploadu<Packet>(x + start), low = ei::pmin(s0, zero);
    if (end - start > kSize) {
      Packet s1 = ei::ploadu<Packet>(x + start + kSize);
      low = ei::pmin(low, s1);
      for (Eigen::Index i = start + 2 * kSize; i < end2; i += 2 * kSize) {
        const Packet a = ei::ploadu<Packet>(x + i), b = ei::ploadu<Packet>(x + i + kSize);
        s0 = ei::padd(s0, a);
        s1 = ei::padd(s1, b);
        low = ei::pmin(low, ei::pmin(a, b));
      }
      s0 = ei::padd(s0, s1);
      if (end > end2) {
        const Packet a = ei::ploadu<Packet>(x + end2);
        s0 = ei::padd(s0, a);
        low = ei::pmin(low, a);
      }
    }
    sum = ei::predux(s0);
    negative = ei::predux_min(low) < 0.0F;
    for (Eigen::Index i = 0; i < start; ++i) sum += x[i];
    for (Eigen::Index i = end; i < n; ++i) sum += x[i];
  } else {
    sum = x[0];
    for (Eigen::Index i = 1; i < n; ++i) sum += x[i];
  }
  for (Eigen::Index i = 0; i < start && !negative; ++i) negative = x[i] < 0.0F;
  for (Eigen::Index i = end; i < n && !negative; ++i) negative = x[i] < 0.0F;
  if (negative) return {row.cwiseAbs().sum(), true};
  return {sum, false};
}

namespace {
// e = ln(max(|w| * inv, floor)) - ln(floor) over one row of n weights, exactly 0 at or below the
// floor, with the weight's sign (negative: the row has a negative weight; otherwise w >= 0 and
// |w| is not formed). Computed for columns [c0, c1) into out[0, c1 - c0).
// Every value is the one the single-row expression evaluated at offsets 0, 16, ... gives:
// columns below n / 16 * 16 go through Eigen's vectorised log in packets of 16 (lane by lane, so a
// packet's position does not change its values; the GEMM's depth blocks start anywhere), the last
// n % 16 through std::log. A packet of silent synapses (most of them, once the bio rule has
// pruned) is zeroed without its 16 logarithms (the values the log gives them: ln(floor) - ln(floor)).
// ln(floor) is subtracted as the same log computes it: the vectorised log (packets) and std::log
// (the scalar tail) differ by one step for about 4 % of floors (e.g. floor 3.25e-6), where a
// silent synapse got -9.5e-7 instead of 0. silence_factor's default floors are not among them.
constexpr Eigen::Index kPacket = 16;
using Packet = Eigen::Array<float, 1, kPacket>;
struct LogFloor {
  float packet;  // ln(floor) as the vectorised log computes it
  float scalar;  // as std::log does
  explicit LogFloor(float floor) : packet(Packet(Packet::Constant(floor).log())(0)), scalar(std::log(floor)) {}
};
// Eigen's log of a packet whose values are finite and positive (detail::plog_finite_positive:
// the same values without the special cases).
Packet log_finite_positive(const Packet& a) {
  namespace ei = Eigen::internal;
  constexpr Eigen::Index kSize = detail::kFloatPacket;
  if constexpr (!detail::kFloatSimd || kPacket % kSize != 0) {
    return a.log();
  } else {
    Packet out;
    for (Eigen::Index k = 0; k < kPacket; k += kSize)
      ei::pstoreu(out.data() + k, detail::plog_finite_positive(ei::ploadu<detail::FloatPacket>(a.data() + k)));
    return out;
  }
}

void log_efficacy(const float* w, Eigen::Index c0, Eigen::Index c1, Eigen::Index n, float inv, bool negative,
                  float floor, const LogFloor& log_floor, float* out) {
  // With inv finite and > 0 the row's sum is finite, so |w| * inv <= 1 (up to rounding): every
  // value the log sees is finite and >= floor > 0. Otherwise (a row summing to less than about
  // 1e-38, or to +inf) Eigen's log with its special cases.
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const bool finite = inv > 0.0F && inv < kInf && floor > 0.0F && floor < kInf;
  const auto packet = [&](const Packet& v) {
    const Packet x = (negative ? Packet(v.abs()) : v) * inv;
    Packet e;
    if ((x <= floor).all())
      e.setZero();
    else if (finite)
      e = log_finite_positive(x.max(floor)) - log_floor.packet;
    else
      e = x.max(floor).log() - log_floor.packet;
    return negative ? Packet((v < 0.0F).select(-e, e)) : e;
  };
  const Eigen::Index whole = n / kPacket * kPacket, packed_end = std::min(c1, whole);
  Eigen::Index c = c0;
  for (; c + kPacket <= packed_end; c += kPacket)
    Eigen::Map<Packet>(out + (c - c0)) = packet(Eigen::Map<const Packet>(w + c));
  if (c < packed_end) {  // part of a packet (a depth block ends inside it): the same lanes, padded
    const Eigen::Index r = packed_end - c;
    Packet v = Packet::Zero();
    std::copy(w + c, w + packed_end, v.data());
    const Packet e = packet(v);
    std::copy(e.data(), e.data() + r, out + (c - c0));
    c = packed_end;
  }
  if (c < c1) {  // columns of the scalar tail
    using Row = Eigen::Array<float, 1, Eigen::Dynamic>;
    const Eigen::Map<const Row> v(w + c, c1 - c);
    Eigen::Map<Row> e(out + (c - c0), c1 - c);
    if (!negative) {
      e = (v * inv).max(floor).log() - log_floor.scalar;
    } else {
      e = (v.abs() * inv).max(floor).log() - log_floor.scalar;
      e = (v < 0.0F).select(-e, e);
    }
  }
}
}  // namespace

void Projection::effective_weight(WeightMatrix& out) const {
  if (efficacy == Efficacy::linear) {
    out = weight;
    return;
  }
  // Each row's sum and sign check are made in the same parallel sweep (for a non-negative row,
  // the sum of |w| is the plain sum, bit for bit): as separate whole-matrix passes they ran on
  // one thread, ~5 % of a bio-rule epoch. Row by row, so the log is Eigen's vectorised plog:
  // fused with a column-broadcast product over the whole matrix it fell back to scalar logf, a
  // fifth of a bio-rule epoch.
  const float floor = efficacy_floor;
  out.resize(weight.rows(), weight.cols());
  const LogFloor log_floor(floor);
  const Eigen::Index n = weight.cols();
  // Rows are independent: shared out over threads (each row by one thread: thread-count independent).
#pragma omp parallel for schedule(static) if (weight.rows() >= 64)
  for (Eigen::Index i = 0; i < weight.rows(); ++i) {
    const auto [sum, negative] = row_magnitude(weight.row(i));
    if (!(sum > 0.0F)) {
      out.row(i).setZero();  // a neuron without input synapses (e.g. an interneuron): ln(floor) - ln(floor)
      continue;
    }
    log_efficacy(weight.row(i).data(), 0, n, n, 1.0F / sum, negative, floor, log_floor, out.row(i).data());
  }
}

void Projection::efficacy_gradient(const WeightMatrix& d_effective, WeightMatrix& d_weight) const {
  if (efficacy == Efficacy::linear) {
    d_weight = d_effective;
    return;
  }
  d_weight.resize(weight.rows(), weight.cols());
  const float floor = efficacy_floor;
#pragma omp parallel for schedule(static) if (weight.rows() >= 64)
  for (Eigen::Index i = 0; i < weight.rows(); ++i) {
    const auto [sum, negative] = row_magnitude(weight.row(i));
    if (!(sum > 0.0F)) {
      d_weight.row(i).setZero();  // effective_weight's rows without input: constant 0
      continue;
    }
    const float inv = 1.0F / sum;
    // Accumulated in double: a row holds hundreds of terms of both signs.
    double through_sum = 0.0;  // sum_k [a_ik > floor] sign(w_ik) G_ik
    for (Eigen::Index k = 0; k < weight.cols(); ++k) {
      const float w = weight(i, k);
      if (std::abs(w) * inv > floor) through_sum += (w < 0.0F ? -1.0 : 1.0) * d_effective(i, k);
    }
    const auto shared = static_cast<float>(through_sum / static_cast<double>(sum));
    for (Eigen::Index k = 0; k < weight.cols(); ++k) {
      const float w = weight(i, k);
      const float magnitude = std::abs(w);
      const float sign = w > 0.0F ? 1.0F : (w < 0.0F ? -1.0F : 0.0F);
      const float direct = magnitude * inv > floor ? d_effective(i, k) / magnitude : 0.0F;
      d_weight(i, k) = direct - sign * shared;
    }
  }
}

namespace detail {

EfficacyPanels::EfficacyPanels(const Projection& p, std::span<const RowMagnitude> rows) : p_(p), rows_(rows) {}

void EfficacyPanels::pack(Eigen::Index row0, Eigen::Index mc, Eigen::Index col0, Eigen::Index kc, float* dst) const {
  // One panel at a time through a row-major scratch block that stays in L1 (kPanelRows x kc).
  thread_local std::vector<float, Eigen::aligned_allocator<float>> scratch;
  const auto need = static_cast<std::size_t>(kPanelRows * kc);
  if (scratch.size() < need) scratch.resize(need);
  const float floor = p_.efficacy_floor;
  const LogFloor log_floor(floor);
  const Eigen::Index n = p_.num_pre();
  for (Eigen::Index i0 = 0; i0 < mc; i0 += kPanelRows, dst += kc * kPanelRows) {
    const Eigen::Index mr = std::min(kPanelRows, mc - i0);
    for (Eigen::Index r = 0; r < mr; ++r) {
      const Eigen::Index i = row0 + i0 + r;
      float* out = scratch.data() + r * kc;
      const RowMagnitude m = rows_[static_cast<std::size_t>(i)];
      if (!(m.sum > 0.0F))
        std::fill(out, out + kc, 0.0F);  // as effective_weight: no input synapses
      else
        log_efficacy(p_.weight.row(i).data(), col0, col0 + kc, n, 1.0F / m.sum, m.negative, floor, log_floor, out);
    }
    pack_row_major_panels(scratch.data(), kc, mr, kc, dst);
  }
}

}  // namespace detail

std::string to_string(NeuronType t) {
  return t == NeuronType::excitatory ? "E" : "I";
}
NeuronType neuron_type_from_string(const std::string& s) {
  if (s == "E") return NeuronType::excitatory;
  if (s == "I") return NeuronType::inhibitory;
  throw ModelFileError("unknown neuron type '" + s + "' (known: E, I)");
}
std::string to_string(InitKind k) {
  return std::string(enum_name(kInitKindNames, k));
}
InitKind init_kind_from_string(const std::string& s) {
  if (const auto k = parse_enum(kInitKindNames, s)) return *k;
  throw ConfigError("unknown init '" + s + "' (known: uniform_fan_in, he_normal, uniform, lognormal)");
}
std::string to_string(SignInit s) {
  return std::string(enum_name(kSignInitNames, s));
}
SignInit sign_init_from_string(const std::string& s) {
  if (const auto k = parse_enum(kSignInitNames, s)) return *k;
  throw ConfigError("unknown sign init '" + s + "' (known: free, per_neuron, mixed)");
}

bool ReceptiveFields::potential(Eigen::Index post, Eigen::Index pre) const {
  if (!enabled()) return true;
  const Eigen::Index k = post / units_per_window;
  if (k >= count()) return false;
  const auto [top, left] = corner(k);
  const Eigen::Index y = pre / image_side, x = pre % image_side;
  return y >= top && y < top + window && x >= left && x < left + window;
}

int Layer::size() const {
  int n = 0;
  for (const auto& p : populations) n += p.size;
  return n;
}

int Layer::excitatory_count() const {
  int n = 0;
  for (const auto& p : populations) {
    if (p.type != NeuronType::excitatory) break;
    n += p.size;
  }
  return n;
}

Eigen::VectorXf Layer::neuron_sign() const {
  Eigen::VectorXf s(size());
  Eigen::Index i = 0;
  for (const auto& p : populations)
    for (int k = 0; k < p.size; ++k) s(i++) = p.type == NeuronType::excitatory ? 1.0F : -1.0F;
  return s;
}

std::size_t Network::num_parameters() const {
  std::size_t n = 0;
  for (const auto& p : projections) n += static_cast<std::size_t>(p.weight.size() + p.bias.size());
  return n;
}

void Network::validate() const {
  if (layers.size() < 2) throw ModelFileError("a network needs at least an input and an output layer");
  if (projections.size() + 1 != layers.size())
    throw ModelFileError("network has " + std::to_string(layers.size()) + " layers but " +
                         std::to_string(projections.size()) + " projections");
  for (std::size_t l = 0; l < layers.size(); ++l) {
    if (layers[l].size() <= 0) throw ModelFileError("layer " + std::to_string(l) + " is empty");
    for (const auto& p : layers[l].populations)
      if (p.size <= 0) throw ModelFileError("population '" + p.name + "' has non-positive size");
    const Layer& L = layers[l];
    if (L.inhibition_pools < 1 || L.excitatory_count() % L.inhibition_pools != 0)
      throw ModelFileError("layer '" + L.name + "': " + std::to_string(L.inhibition_pools) +
                           " inhibition pools do not divide its " + std::to_string(L.excitatory_count()) +
                           " excitatory neurons");
  }
  for (std::size_t l = 0; l < projections.size(); ++l) {
    const auto& p = projections[l];
    const std::string where = "projection " + std::to_string(l);
    if (p.weight.rows() != layers[l + 1].size() || p.weight.cols() != layers[l].size())
      throw ModelFileError(where + ": weight is " + std::to_string(p.weight.rows()) + "x" +
                           std::to_string(p.weight.cols()) + ", layers need " + std::to_string(layers[l + 1].size()) +
                           "x" + std::to_string(layers[l].size()));
    if (p.bias.size() != p.weight.rows()) throw ModelFileError(where + ": bias has the wrong length");
    if (!p.weight.allFinite()) throw ModelFileError(where + ": weight holds NaN or Inf");
    if (!p.bias.allFinite()) throw ModelFileError(where + ": bias holds NaN or Inf");
    if (p.efficacy == Efficacy::log_normalized) {
      if (!(p.efficacy_floor > 0.0F && p.efficacy_floor < 1.0F))
        throw ModelFileError(where + ": log_normalized efficacy needs a floor in (0, 1)");
    }
    if (p.has_mask()) {
      if (p.mask.rows() != p.weight.rows() || p.mask.cols() != p.weight.cols())
        throw ModelFileError(where + ": mask shape differs from weight shape");
      for (Eigen::Index i = 0; i < p.mask.size(); ++i) {
        if (p.mask.data()[i] > 1) throw ModelFileError(where + ": mask values must be 0 or 1");
        if (p.mask.data()[i] == 0 && p.weight.data()[i] != 0.0F)
          throw ModelFileError(where + ": a masked-out (silent) synapse has a non-zero weight");
      }
    }
    const ReceptiveFields& rf = p.receptive_fields;
    if (rf.enabled()) {
      if (rf.window < 1 || rf.window > rf.image_side || rf.stride < 1 || rf.units_per_window < 1 ||
          static_cast<Eigen::Index>(rf.image_side) * rf.image_side != p.num_pre() ||
          static_cast<Eigen::Index>(rf.count()) * rf.units_per_window > p.num_post())
        throw ModelFileError(where + ": receptive fields do not fit the projection's shape");
      if (!p.has_mask()) throw ModelFileError(where + ": receptive fields need a mask");
      for (Eigen::Index i = 0; i < p.num_post(); ++i)
        for (Eigen::Index j = 0; j < p.num_pre(); ++j)
          if (p.mask(i, j) != 0 && !rf.potential(i, j))
            throw ModelFileError(where + ": a synapse outside its neuron's receptive field");
    }
  }
}

Network make_network(const NetworkSpec& spec) {
  if (spec.input <= 0 || spec.output <= 0) throw ConfigError("network sizes must be positive");
  if (spec.inhibitory_fraction < 0.0 || spec.inhibitory_fraction >= 1.0)
    throw ConfigError("network.inhibitory_fraction must be in [0, 1)");
  Network net;
  auto single = [](const std::string& name, int size) {
    Layer L;
    L.name = name;
    L.populations = {{name, size, NeuronType::excitatory}};
    return L;
  };
  net.layers.push_back(single("input", spec.input));
  for (std::size_t h = 0; h < spec.hidden.size(); ++h) {
    const int n = spec.hidden[h];
    if (n <= 0) throw ConfigError("network.hidden sizes must be positive");
    const int n_inh = static_cast<int>(std::lround(spec.inhibitory_fraction * n));
    Layer layer;
    layer.name = "hidden" + std::to_string(h + 1);
    layer.activation = spec.hidden_activation;
    if (n - n_inh > 0) layer.populations.push_back({layer.name + ".E", n - n_inh, NeuronType::excitatory});
    if (n_inh > 0) layer.populations.push_back({layer.name + ".I", n_inh, NeuronType::inhibitory});
    net.layers.push_back(layer);
  }
  net.layers.push_back(single("output", spec.output));
  for (std::size_t l = 0; l + 1 < net.layers.size(); ++l) {
    Projection p;
    p.weight = WeightMatrix::Zero(net.layers[l + 1].size(), net.layers[l].size());
    p.bias = Eigen::VectorXf::Zero(net.layers[l + 1].size());
    net.projections.push_back(std::move(p));
  }
  return net;
}

void init_weights(Network& net, const InitSpec& spec, Rng& rng) {
  if (spec.kind == InitKind::uniform && !(spec.low >= 0.0 && spec.high > spec.low))
    throw ConfigError("network.init_low/init_high must satisfy 0 <= low < high");
  if (spec.kind == InitKind::lognormal && !(spec.sigma > 0.0)) throw ConfigError("network.init_sigma must be > 0");
  for (std::size_t l = 0; l < net.projections.size(); ++l) {
    auto& p = net.projections[l];
    const double fan_in = static_cast<double>(p.num_pre());
    const double bound = 1.0 / std::sqrt(fan_in);
    const Eigen::VectorXf pre_sign = net.layers[l].neuron_sign();
    for (Eigen::Index i = 0; i < p.weight.rows(); ++i) {
      for (Eigen::Index j = 0; j < p.weight.cols(); ++j) {
        double w = 0.0;
        switch (spec.kind) {
          case InitKind::uniform_fan_in:
            w = rng.uniform(-bound, bound);
            break;
          case InitKind::he_normal:
            w = rng.normal() * std::sqrt(2.0 / fan_in);
            break;
          case InitKind::uniform:
            w = rng.uniform(spec.low, spec.high);
            break;
          case InitKind::lognormal:
            w = std::exp(spec.mu + spec.sigma * rng.normal()) * bound;
            break;
        }
        if (spec.sign == SignInit::per_neuron) {
          w = std::abs(w) * pre_sign(j);
        } else if (spec.sign == SignInit::mixed) {
          w = std::abs(w) * (rng.uniform() < 0.5 ? -1.0 : 1.0);
        } else if (spec.kind == InitKind::uniform || spec.kind == InitKind::lognormal) {
          // Magnitude distributions with free signs: a random sign per synapse.
          w = w * (rng.uniform() < 0.5 ? -1.0 : 1.0);
        }
        p.weight(i, j) = static_cast<float>(w);
      }
    }
    for (Eigen::Index i = 0; i < p.bias.size(); ++i)
      p.bias(i) = spec.kind == InitKind::uniform_fan_in ? static_cast<float>(rng.uniform(-bound, bound)) : 0.0F;
    if (p.has_mask()) p.weight.array() *= p.mask.cast<float>().array();
  }
}

float activate(Activation a, float x) {
  switch (a) {
    case Activation::identity:
      return x;
    case Activation::relu:
      return x > 0.0F ? x : 0.0F;
    case Activation::sigmoid:
      return 1.0F / (1.0F + std::exp(-x));
    case Activation::sigmoid2:
      return 2.0F / (1.0F + std::exp(-x)) - 1.0F;
    case Activation::tanh:
      return std::tanh(x);
  }
  return x;
}

float activate_derivative(Activation a, float pre, float y) {
  switch (a) {
    case Activation::identity:
      return 1.0F;
    case Activation::relu:
      return pre > 0.0F ? 1.0F : 0.0F;
    case Activation::sigmoid:
      return y * (1.0F - y);
    case Activation::sigmoid2:
      return 0.5F * (1.0F - y * y);  // f = 2s-1, f' = 2s(1-s) = (1-f^2)/2
    case Activation::tanh:
      return 1.0F - y * y;
  }
  return 1.0F;
}

}  // namespace dalenet
