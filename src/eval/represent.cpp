// Representation measures (docs/EVALUATION.md, "Representations").
#include "dalenet/represent.hpp"

#include <zlib.h>

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "dalenet/analyze.hpp"
#include "dalenet/backprop.hpp"
#include "dalenet/error.hpp"
#include "dalenet/fewshot.hpp"

namespace dalenet {

double morans_i(const float* image, int rows, int cols) {
  const int n = rows * cols;
  double mean = 0.0;
  for (int i = 0; i < n; ++i) mean += image[i];
  mean /= n;
  double num = 0.0, den = 0.0, w = 0.0;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const double d = image[r * cols + c] - mean;
      den += d * d;
      // Each unordered rook pair counted in both directions (W is symmetric).
      if (c + 1 < cols) {
        num += 2.0 * d * (image[r * cols + c + 1] - mean);
        w += 2.0;
      }
      if (r + 1 < rows) {
        num += 2.0 * d * (image[(r + 1) * cols + c] - mean);
        w += 2.0;
      }
    }
  if (!(den > 0.0)) return std::numeric_limits<double>::quiet_NaN();
  return static_cast<double>(n) / w * num / den;
}

std::vector<double> class_selectivity(const Eigen::MatrixXd& m) {
  std::vector<double> out(static_cast<std::size_t>(m.rows()));
  for (Eigen::Index u = 0; u < m.rows(); ++u) {
    Eigen::Index best = 0;
    const double mx = m.row(u).maxCoeff(&best);
    const double others = m.cols() > 1 ? (m.row(u).sum() - mx) / static_cast<double>(m.cols() - 1) : 0.0;
    out[static_cast<std::size_t>(u)] =
        mx + others > 0.0 ? (mx - others) / (mx + others) : std::numeric_limits<double>::quiet_NaN();
  }
  return out;
}

double participation_ratio(const Eigen::VectorXd& l) {
  const double s2 = l.squaredNorm();
  return s2 > 0.0 ? l.sum() * l.sum() / s2 : 0.0;
}

double power_law_exponent(const Eigen::VectorXd& l, int lo, int hi) {
  hi = std::min<int>(hi, static_cast<int>(l.size()));
  if (lo < 1 || hi - lo < 2) throw InputError("power_law_exponent: need at least 3 ranks in [lo, hi]");
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  int n = 0;
  for (int r = lo; r <= hi; ++r) {
    const double v = l(r - 1);
    if (!(v > 0.0)) break;
    const double x = std::log(static_cast<double>(r)), y = std::log(v);
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
    ++n;
  }
  if (n < 3) throw InputError("power_law_exponent: fewer than 3 positive eigenvalues in the fit range");
  const double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
  return -slope;
}

Eigen::VectorXd covariance_spectrum(const Eigen::MatrixXf& responses) {
  const Eigen::MatrixXd A = responses.cast<double>();
  const Eigen::MatrixXd C = A.colwise() - A.rowwise().mean();
  const Eigen::MatrixXd cov = C * C.transpose() / std::max<double>(1.0, static_cast<double>(A.cols() - 1));
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(cov, Eigen::EigenvaluesOnly);
  Eigen::VectorXd l = es.eigenvalues().reverse();  // decreasing
  return l.cwiseMax(0.0);
}

namespace {
std::uint32_t crc(const std::string& type, const std::vector<std::uint8_t>& data) {
  uLong c = crc32(0L, reinterpret_cast<const Bytef*>(type.data()), 4);
  if (!data.empty()) c = crc32(c, data.data(), static_cast<uInt>(data.size()));
  return static_cast<std::uint32_t>(c);
}
void put32(std::vector<std::uint8_t>& v, std::uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<std::uint8_t>(x >> s));
}
void chunk(std::vector<std::uint8_t>& png, const std::string& type, const std::vector<std::uint8_t>& data) {
  put32(png, static_cast<std::uint32_t>(data.size()));
  png.insert(png.end(), type.begin(), type.end());
  png.insert(png.end(), data.begin(), data.end());
  put32(png, crc(type, data));
}
}  // namespace

void write_png_gray(const std::string& path, int width, int height, const std::vector<std::uint8_t>& pixels) {
  if (width <= 0 || height <= 0 || pixels.size() != static_cast<std::size_t>(width) * static_cast<std::size_t>(height))
    throw InputError("write_png_gray: pixel count does not match " + std::to_string(width) + "x" +
                     std::to_string(height));
  std::vector<std::uint8_t> raw;  // each row: filter byte 0, then the pixels
  raw.reserve(static_cast<std::size_t>(height) * (static_cast<std::size_t>(width) + 1));
  for (int r = 0; r < height; ++r) {
    raw.push_back(0);
    raw.insert(raw.end(), pixels.begin() + static_cast<std::ptrdiff_t>(r) * width,
               pixels.begin() + static_cast<std::ptrdiff_t>(r + 1) * width);
  }
  uLongf len = compressBound(static_cast<uLong>(raw.size()));
  std::vector<std::uint8_t> z(len);
  if (compress2(z.data(), &len, raw.data(), static_cast<uLong>(raw.size()), 9) != Z_OK)
    throw IoError("cannot compress PNG data for '" + path + "'");
  z.resize(len);
  std::vector<std::uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  std::vector<std::uint8_t> ihdr;
  put32(ihdr, static_cast<std::uint32_t>(width));
  put32(ihdr, static_cast<std::uint32_t>(height));
  ihdr.insert(ihdr.end(), {8, 0, 0, 0, 0});  // 8-bit greyscale, deflate, no filter, no interlace
  chunk(png, "IHDR", ihdr);
  chunk(png, "IDAT", z);
  chunk(png, "IEND", {});
  write_file_atomic(path, png);
}

namespace {

// The examples described: the first opt.limit of the classes the model was trained on (a model
// trained on some classes only, data.classes, is described on those).
Dataset represented_examples(const Model& model, const Dataset& data, const RepresentOptions& opt) {
  std::vector<int> trained_on;
  if (model.info.contains("config") && model.info["config"].contains("data") &&
      model.info["config"]["data"].contains("classes"))
    trained_on = model.info["config"]["data"]["classes"].get<std::vector<int>>();
  std::vector<std::uint32_t> idx;
  for (std::size_t i = 0; i < data.size() && idx.size() < opt.limit; ++i)
    if (trained_on.empty() || std::find(trained_on.begin(), trained_on.end(), data.labels[i]) != trained_on.end())
      idx.push_back(static_cast<std::uint32_t>(i));
  if (idx.size() < 2) throw InputError(data.name + ": fewer than 2 examples of the model's classes");
  return subset(data, idx, data.name);
}

// The first hidden layer (whose input weights are the receptive fields). hidden_features reads
// the last hidden layer, so it is given the view [input -> hidden1 -> one dummy output].
Network first_hidden_view(const Network& net) {
  Network view = net;
  view.layers.resize(3);
  view.projections.resize(2);
  view.layers[2] = Layer{};
  view.layers[2].name = "view";
  view.layers[2].populations = {{"view", 1, NeuronType::excitatory}};
  view.projections[1].weight = WeightMatrix::Zero(1, view.layers[1].size());
  view.projections[1].bias = Eigen::VectorXf::Zero(1);
  view.projections[1].mask.resize(0, 0);
  view.projections[1].efficacy = Efficacy::linear;
  return view;
}

// Mean |response| of each unit per class, for the classes present in the data only (a model
// trained on 2 classes is judged on those 2): [units x present.size()].
struct ClassMeans {
  Eigen::MatrixXd means;
  std::vector<int> present;
};

ClassMeans class_mean_responses(const Eigen::MatrixXf& R, const Dataset& d) {
  const Eigen::Index units = R.rows();
  const int C = d.num_classes;
  Eigen::MatrixXd means = Eigen::MatrixXd::Zero(units, C);
  std::vector<double> count(static_cast<std::size_t>(C), 0.0);
  for (std::size_t i = 0; i < d.size(); ++i) {
    means.col(d.labels[i]) += R.col(static_cast<Eigen::Index>(i)).cast<double>().cwiseAbs();
    count[d.labels[i]] += 1.0;
  }
  ClassMeans out;
  for (int c = 0; c < C; ++c)
    if (count[static_cast<std::size_t>(c)] > 0) {
      means.col(c) /= count[static_cast<std::size_t>(c)];
      out.present.push_back(c);
    }
  out.means.resize(units, static_cast<Eigen::Index>(out.present.size()));
  for (std::size_t k = 0; k < out.present.size(); ++k)
    out.means.col(static_cast<Eigen::Index>(k)) = means.col(out.present[k]);
  return out;
}

// The receptive-field grid (PNG): up to grid_neurons responsive neurons, balanced over their
// preferred classes, dark = strong (signed weights: grey = 0).
// The units are the rows of means (the responses hidden_features reads, which need not be every
// row of W).
void write_receptive_field_grid(const RepresentOptions& opt, const WeightMatrix& W, int rows, int cols,
                                const Eigen::MatrixXd& means, const std::vector<double>& csi, std::size_t classes) {
  const Eigen::Index units = means.rows();
  // Up to grid_neurons responsive neurons, sorted by preferred class, then by selectivity.
  std::vector<Eigen::Index> order;
  for (Eigen::Index u = 0; u < units; ++u)
    if (!std::isnan(csi[static_cast<std::size_t>(u)])) order.push_back(u);
  auto pref = [&](Eigen::Index u) {
    Eigen::Index b = 0;
    means.row(u).maxCoeff(&b);
    return b;
  };
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) {
    return pref(a) != pref(b) ? pref(a) < pref(b) : csi[static_cast<std::size_t>(a)] > csi[static_cast<std::size_t>(b)];
  });
  // Keep the grid balanced over classes: take neurons round-robin by preferred class.
  std::vector<std::vector<Eigen::Index>> by(classes);
  for (auto u : order) by[static_cast<std::size_t>(pref(u))].push_back(u);
  std::vector<Eigen::Index> pick;
  for (std::size_t r = 0; pick.size() < static_cast<std::size_t>(opt.grid_neurons); ++r) {
    bool any = false;
    for (auto& v : by)
      if (r < v.size() && pick.size() < static_cast<std::size_t>(opt.grid_neurons)) {
        pick.push_back(v[r]);
        any = true;
      }
    if (!any) break;
  }
  std::sort(pick.begin(), pick.end(), [&](auto a, auto b) { return pref(a) < pref(b); });
  const int g = std::max(1, static_cast<int>(std::ceil(std::sqrt(static_cast<double>(pick.size())))));
  const int tile = rows + 2, width = g * (cols + 2), height = g * tile;
  std::vector<std::uint8_t> px(static_cast<std::size_t>(width) * static_cast<std::size_t>(height), 255);
  for (std::size_t k = 0; k < pick.size(); ++k) {
    const auto row = W.row(pick[k]);
    const float m = row.cwiseAbs().maxCoeff();
    const bool signed_w = row.minCoeff() < 0.0F;
    const int gy = static_cast<int>(k) / g, gx = static_cast<int>(k) % g;
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) {
        const float v = m > 0.0F ? row(r * cols + c) / m : 0.0F;                  // [-1, 1] or [0, 1]
        const float grey = signed_w ? 127.5F * (1.0F + v) : 255.0F * (1.0F - v);  // dark = strong
        const auto at = static_cast<std::size_t>(gy * tile + 1 + r) * static_cast<std::size_t>(width) +
                        static_cast<std::size_t>(gx * (cols + 2) + 1 + c);
        px[at] = static_cast<std::uint8_t>(std::clamp(grey, 0.0F, 255.0F));
      }
  }
  write_png_gray(opt.png, width, height, px);
}

}  // namespace

nlohmann::json represent(const Model& model, const Dataset& data, const RepresentOptions& opt) {
  const Network& net = model.net;
  if (net.layers.size() < 3) throw InputError("represent: the model has no hidden layer");
  if (data.dim() != net.input_size()) throw InputError(data.name + ": image size does not match the network input");
  const Dataset d = represented_examples(model, data, opt);
  const std::size_t n = d.size();
  const Eigen::MatrixXf R = hidden_features(first_hidden_view(net), d);  // [units x n]
  const Eigen::Index units = R.rows();

  // Class-mean responses and selectivity.
  const ClassMeans cm = class_mean_responses(R, d);
  const Eigen::MatrixXd& means = cm.means;
  const std::vector<int>& present = cm.present;
  const std::vector<double> csi = class_selectivity(means);
  double csi_sum = 0.0;
  std::size_t csi_n = 0, selective = 0;
  for (double v : csi)
    if (!std::isnan(v)) {
      csi_sum += v;
      ++csi_n;
      selective += v > 0.5 ? 1 : 0;
    }
  std::vector<int> per_class(present.size(), 0);
  for (Eigen::Index u = 0; u < units; ++u)
    if (!std::isnan(csi[static_cast<std::size_t>(u)])) {
      Eigen::Index best = 0;
      means.row(u).maxCoeff(&best);
      per_class[static_cast<std::size_t>(best)]++;
    }

  // Dimensionality.
  const Eigen::VectorXd spec = covariance_spectrum(R);
  const int positive = static_cast<int>((spec.array() > 1e-12 * std::max(1e-300, spec(0))).count());
  nlohmann::json alpha = nullptr;
  const int hi = std::min(opt.alpha_max_rank, positive / 2);
  if (hi - opt.alpha_min_rank >= 2) alpha = power_law_exponent(spec, opt.alpha_min_rank, hi);

  // Receptive fields: the input weights (effective weights for non-linear efficacies).
  WeightMatrix W;
  net.projections[0].effective_weight(W);
  const int rows = d.rows, cols = d.cols;
  double moran_sum = 0.0;
  std::size_t moran_n = 0;
  for (Eigen::Index u = 0; u < units; ++u) {
    const double mi = morans_i(W.row(u).data(), rows, cols);
    if (!std::isnan(mi)) {
      moran_sum += mi;
      ++moran_n;
    }
  }
  if (!opt.png.empty()) write_receptive_field_grid(opt, W, rows, cols, means, csi, present.size());

  AnalyzeOptions ao;
  ao.activity_limit = n;
  nlohmann::json activity = analyze_activity(net, d, ao);
  return {{"format", "dalenet-representation"},
          {"format_version", 1},
          {"layer", net.layers[1].name},
          {"examples", n},
          {"units", units},
          {"activity", activity.empty() ? nlohmann::json(nullptr) : activity[0]},
          {"class_selectivity",
           {{"mean", csi_n ? csi_sum / static_cast<double>(csi_n) : 0.0},
            {"fraction_above_0_5", csi_n ? static_cast<double>(selective) / static_cast<double>(csi_n) : 0.0},
            {"responsive_units", csi_n},
            {"classes", present},
            {"units_per_preferred_class", per_class}}},
          {"participation_ratio", participation_ratio(spec)},
          {"eigenspectrum_alpha", alpha},
          {"alpha_fit_ranks", {opt.alpha_min_rank, hi}},
          {"receptive_field_morans_i", moran_n ? moran_sum / static_cast<double>(moran_n) : 0.0},
          {"receptive_field_png", opt.png}};
}

}  // namespace dalenet
