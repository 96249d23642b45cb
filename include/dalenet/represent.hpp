#pragma once
// Representations (docs/EVALUATION.md, "Representations"): receptive fields as an image grid with
// a spatial-structure score (Moran's I), and the hidden code's class selectivity, participation
// ratio and eigenspectrum power-law exponent, next to the activity sparseness of the audit.
#include <Eigen/Core>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dalenet/data.hpp"
#include "dalenet/io.hpp"

namespace dalenet {

struct RepresentOptions {
  std::size_t limit = 5000;  // test examples for the activity statistics
  int alpha_min_rank = 10;   // eigenspectrum fit over ranks [min, max] (1-based), as Stringer et al. 2019
  int alpha_max_rank = 500;  // (clamped to the number of positive eigenvalues / 2)
  int grid_neurons = 100;    // receptive fields in the PNG grid
  std::string png;           // write the receptive-field grid here ("" = don't)
};

// The representation report of the first hidden layer (docs/FORMATS.md, "Representation").
nlohmann::json represent(const Model& model, const Dataset& data, const RepresentOptions& opt = {});

// ---- the measures, exposed for tests ----
// Moran's I of an image (rook adjacency, binary weights): +1 smooth, ~ -1/(n-1) random, -1
// checkerboard. NaN for a constant image.
double morans_i(const float* image, int rows, int cols);
// Class selectivity index per unit from class-mean responses [units x classes]:
// (max - mean of the others) / (max + mean of the others); NaN for a unit that never responds.
std::vector<double> class_selectivity(const Eigen::MatrixXd& class_means);
// Participation ratio (sum l)^2 / sum l^2 of covariance eigenvalues (the effective dimensionality).
double participation_ratio(const Eigen::VectorXd& eigenvalues);
// Power-law exponent alpha of eigenvalues sorted in decreasing order, l_n ~ n^-alpha: least
// squares of log l_n on log n over ranks [lo, hi] (1-based, inclusive).
double power_law_exponent(const Eigen::VectorXd& eigenvalues_desc, int lo, int hi);
// Eigenvalues (decreasing) of the covariance of responses [units x examples].
Eigen::VectorXd covariance_spectrum(const Eigen::MatrixXf& responses);
// 8-bit greyscale PNG (zlib from the system); written atomically.
void write_png_gray(const std::string& path, int width, int height, const std::vector<std::uint8_t>& pixels);

}  // namespace dalenet
