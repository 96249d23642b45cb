#pragma once
// Data sets: IDX files (raw or gzip), the named sets MNIST and Fashion-MNIST in the data cache,
// validation splits, and conversion of uint8 pixels to float batches.
//
// Images stay uint8 in memory (one image contiguous, row-major 28x28) and are converted to
// floats in [0, 1] one batch at a time: the training set costs 47 MB, not 188 MB.
#include <Eigen/Core>
#include <cstdint>
#include <iosfwd>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dalenet {

struct IdxImages {
  std::size_t count = 0;
  int rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;  // count * rows * cols
};

// Readers of outside bytes: every count is checked against the file length before allocating.
// A path ending in ".gz" is decompressed (capped at kMaxIdxBytes).
inline constexpr std::size_t kMaxIdxBytes = std::size_t{1} << 31;
IdxImages read_idx_images(const std::string& path);
std::vector<std::uint8_t> read_idx_labels(const std::string& path);
// Decompresses gzip data (one or more members) in memory, capped at kMaxIdxBytes. Throws
// DataError naming `name` for corrupt or truncated input.
std::vector<std::uint8_t> gunzip(std::span<const std::uint8_t> bytes, const std::string& name);
// The same parsers over bytes in memory (`name` appears in errors); the fuzz targets call these.
IdxImages parse_idx_images(std::span<const std::uint8_t> bytes, const std::string& name);
std::vector<std::uint8_t> parse_idx_labels(std::span<const std::uint8_t> bytes, const std::string& name);

// Float32 images (IDX type 0x0D, big-endian): adversarial examples leave dalenet in this form,
// so no rounding to 1/255 changes them. Non-finite values are refused.
struct IdxFloatImages {
  std::size_t count = 0;
  int rows = 0, cols = 0;
  std::vector<float> values;  // count * rows * cols, one image contiguous
};
IdxFloatImages read_idx_float_images(const std::string& path);
IdxFloatImages parse_idx_float_images(std::span<const std::uint8_t> bytes, const std::string& name);
// Serialisers: X is [rows*cols x N], one image per column.
std::vector<std::uint8_t> idx_float_images_bytes(const Eigen::Ref<const Eigen::MatrixXf>& X, int rows, int cols);
std::vector<std::uint8_t> idx_labels_bytes(std::span<const std::uint8_t> labels);

struct DataFile {
  std::string path;
  std::string sha256;
};

struct Dataset {
  std::string name;                  // e.g. "mnist:train"
  int rows = 0, cols = 0;            // image shape
  std::vector<std::uint8_t> pixels;  // size() * dim(), one image contiguous
  std::vector<std::uint8_t> labels;  // size(), values in [0, num_classes)
  int num_classes = 10;
  std::vector<DataFile> sources;  // the files it was read from, with their hashes

  std::size_t size() const { return labels.size(); }
  int dim() const { return rows * cols; }
  std::span<const std::uint8_t> image(std::size_t i) const {
    return {pixels.data() + i * static_cast<std::size_t>(dim()), static_cast<std::size_t>(dim())};
  }
};

// A pair of IDX files; labels must be < num_classes and the counts must agree.
Dataset load_idx_pair(const std::string& images_path, const std::string& labels_path, const std::string& name,
                      int num_classes = 10);

// Specs: "mnist:train", "mnist:test", "fashion:train", "fashion:test" (from the data cache),
// or "idx:IMAGES,LABELS" (any IDX pair, raw or .gz). Errors name the spec and the fix.
Dataset load_dataset(const std::string& spec, const std::string& cache_dir);
// The training split of a named set's spec ("mnist:test" -> "mnist:train"); empty for idx: specs
// (their training images are not known from the spec).
std::string training_split_spec(const std::string& spec);

// The subset of `d` at `indices`, in that order.
Dataset subset(const Dataset& d, std::span<const std::uint32_t> indices, const std::string& name);

// n indices of `d` drawn without replacement, stratified by class: n / C per class, the
// remainder going one each to the lowest classes. Seeded; returned in increasing order.
// Throws DataError if a class has too few examples.
std::vector<std::uint32_t> stratified_indices(const Dataset& d, std::size_t n, std::uint64_t seed);

struct TrainValSplit {
  Dataset train, validation;
};
// Carves `n_validation` examples (random, seeded) from a training set; never from test.
TrainValSplit split_validation(const Dataset& d, std::size_t n_validation, std::uint64_t seed);

// Converts images `indices` of `d` to floats in [0, 1], one column per image: X is dim x B.
// X is resized only if its shape changes, so a reused X allocates once.
void fill_batch(const Dataset& d, std::span<const std::uint32_t> indices, Eigen::MatrixXf& X);
// A translation of an image by dx columns (positive: to the right) and dy rows (positive: down).
struct ImageShift {
  int dx = 0, dy = 0;
};
// As fill_batch, with image indices[k] translated by shifts[k] (shifts.size() == indices.size()):
// pixel (r, c) of the output is pixel (r - dy, c - dx) of the image, 0 where that lies outside.
// Used for fixational jitter during training (train.augment_shift, docs/RULE.md).
void fill_batch_shifted(const Dataset& d, std::span<const std::uint32_t> indices, std::span<const ImageShift> shifts,
                        Eigen::MatrixXf& X);
// As above for the range [begin, end).
void fill_batch_range(const Dataset& d, std::size_t begin, std::size_t end, Eigen::MatrixXf& X);

// ---- the data cache -------------------------------------------------------------------------
// $DALENET_DATA, else $HOME/.cache/dalenet.
std::string default_data_dir();
// `data_dir`, or default_data_dir() when it is "" (what every data_dir option means by "").
std::string data_dir_or_default(const std::string& data_dir);

struct KnownFile {
  std::string dataset;   // "mnist" or "fashion"
  std::string split;     // "train" or "test"
  std::string kind;      // "images" or "labels"
  std::string filename;  // name inside <cache>/<dataset>/
  std::string sha256;
};
const std::vector<KnownFile>& known_files();

// `dalenet data info`: {"images", "rows", "cols", "mean_pixel" (in [0, 1]), "class_counts" (per
// label), "sources" ([{"path", "sha256"}])}.
nlohmann::json dataset_info(const Dataset& d);

// The data sets the cache knows by name: "mnist", "fashion".
const std::vector<std::string>& cached_dataset_names();
// `datasets`, or every cached data set when it is empty (`dalenet data fetch|verify` with no names).
std::vector<std::string> dataset_names_or_all(const std::vector<std::string>& datasets);
// DataError naming the first name that is not a cached data set.
void check_dataset_names(const std::vector<std::string>& datasets);

struct VerifyEntry {
  KnownFile file;
  std::string path;
  bool present = false;
  bool ok = false;
  std::string actual_sha256;
};
// Hashes every known file of the named data sets; never throws for a mismatch (see entries).
std::vector<VerifyEntry> verify_data(const std::string& cache_dir, const std::vector<std::string>& datasets);

}  // namespace dalenet
