// IDX reader (LeCun's format: big-endian magic 0x0000 <type> <ndims>, then ndims big-endian
// uint32 sizes, then the data). Images and labels are unsigned bytes (type 0x08); adversarial
// examples are written and read as float32 images (type 0x0D).
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "dalenet/data.hpp"
#include "dalenet/error.hpp"
#include "dalenet/rng.hpp"

namespace dalenet {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::uint8_t> read_raw(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw DataError("cannot read '" + path + "': " + ec.message());
  if (size > kMaxIdxBytes) throw DataError("'" + path + "' is larger than the IDX size limit");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError("cannot open '" + path + "'");
  std::vector<std::uint8_t> bytes(size);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
  if (static_cast<std::uintmax_t>(in.gcount()) != size) throw DataError("short read from '" + path + "'");
  return bytes;
}

std::vector<std::uint8_t> read_gz(const std::string& path) {
  return gunzip(read_raw(path), path);
}

std::vector<std::uint8_t> read_file_bytes(const std::string& path) {
  return ends_with(path, ".gz") ? read_gz(path) : read_raw(path);
}

std::string fmt_hex(std::uint8_t b) {
  const char* digits = "0123456789ABCDEF";
  return {digits[b >> 4], digits[b & 15]};
}

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

// Parses the header; returns the dimensions and checks that the payload length is exact.
// `type`: 0x08 (unsigned byte) or 0x0D (float32), `elem` its size in bytes.
std::vector<std::uint32_t> parse_header(std::span<const std::uint8_t> bytes, const std::string& path,
                                        int expected_ndims, std::uint8_t type = 0x08, std::size_t elem = 1) {
  if (bytes.size() < 4) throw DataError("'" + path + "' is too short to be an IDX file");
  if (bytes[0] != 0 || bytes[1] != 0) throw DataError("'" + path + "' has a wrong magic number (not an IDX file)");
  if (bytes[2] != type)
    throw DataError("'" + path + "' is an IDX file of type 0x" + fmt_hex(bytes[2]) + ", expected 0x" + fmt_hex(type) +
                    (type == 0x08 ? " (unsigned byte)" : " (float32)"));
  const int ndims = bytes[3];
  if (ndims != expected_ndims) {
    throw DataError("'" + path + "' has " + std::to_string(ndims) + " dimensions, expected " +
                    std::to_string(expected_ndims) + (expected_ndims == 3 ? " (an image file)" : " (a label file)"));
  }
  const std::size_t header = 4 + 4 * static_cast<std::size_t>(ndims);
  if (bytes.size() < header) throw DataError("'" + path + "' is truncated inside its header");
  std::vector<std::uint32_t> dims(static_cast<std::size_t>(ndims));
  u128 expected = elem;
  for (int i = 0; i < ndims; ++i) {
    dims[static_cast<std::size_t>(i)] = be32(bytes.data() + 4 + 4 * i);
    expected *= dims[static_cast<std::size_t>(i)];
  }
  const std::size_t payload = bytes.size() - header;
  if (expected > payload) {
    throw DataError("'" + path + "' is truncated: header promises " +
                    std::to_string(static_cast<unsigned long long>(expected)) + " bytes of data, file holds " +
                    std::to_string(payload));
  }
  if (expected < payload) {
    throw DataError("'" + path + "' has " + std::to_string(payload - static_cast<std::size_t>(expected)) +
                    " trailing bytes after the data its header describes");
  }
  return dims;
}

void check_image_size(const std::vector<std::uint32_t>& dims, const std::string& path) {
  if (dims[1] == 0 || dims[2] == 0 || dims[1] > 4096 || dims[2] > 4096)
    throw DataError("'" + path + "' has implausible image size " + std::to_string(dims[1]) + "x" +
                    std::to_string(dims[2]));
}

}  // namespace

std::vector<std::uint8_t> gunzip(std::span<const std::uint8_t> bytes, const std::string& name) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) throw DataError("cannot initialise zlib for '" + name + "'");
  std::vector<std::uint8_t> out;
  std::vector<std::uint8_t> chunk(1 << 20);
  std::size_t consumed = 0;
  int rc = Z_OK;
  // Members are decompressed one after the other (gzip allows concatenation).
  while (consumed < bytes.size()) {
    const std::size_t avail = std::min<std::size_t>(bytes.size() - consumed, 1U << 30);
    zs.next_in = const_cast<Bytef*>(bytes.data() + consumed);  // zlib's API is not const-correct
    zs.avail_in = static_cast<uInt>(avail);
    do {
      zs.next_out = chunk.data();
      zs.avail_out = static_cast<uInt>(chunk.size());
      rc = inflate(&zs, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
        const std::string msg = zs.msg != nullptr ? zs.msg : "corrupt data";
        inflateEnd(&zs);
        throw DataError("'" + name + "' is not a valid gzip file: " + msg);
      }
      const std::size_t got = chunk.size() - zs.avail_out;
      if (out.size() + got > kMaxIdxBytes) {
        inflateEnd(&zs);
        throw DataError("'" + name + "' decompresses past the IDX size limit");
      }
      out.insert(out.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(got));
      if (rc == Z_BUF_ERROR && got == 0) break;  // no progress possible: input exhausted
    } while (rc != Z_STREAM_END && zs.avail_in > 0);
    consumed += avail - zs.avail_in;
    if (rc != Z_STREAM_END) break;
    if (consumed < bytes.size() && inflateReset(&zs) != Z_OK) break;
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) throw DataError("'" + name + "' is a truncated gzip file");
  return out;
}

IdxImages parse_idx_images(std::span<const std::uint8_t> bytes, const std::string& name) {
  const auto dims = parse_header(bytes, name, 3);
  check_image_size(dims, name);
  IdxImages out;
  out.count = dims[0];
  out.rows = static_cast<int>(dims[1]);
  out.cols = static_cast<int>(dims[2]);
  out.pixels.assign(bytes.begin() + 16, bytes.end());
  return out;
}

std::vector<std::uint8_t> parse_idx_labels(std::span<const std::uint8_t> bytes, const std::string& name) {
  parse_header(bytes, name, 1);
  return {bytes.begin() + 8, bytes.end()};
}

IdxFloatImages parse_idx_float_images(std::span<const std::uint8_t> bytes, const std::string& name) {
  const auto dims = parse_header(bytes, name, 3, 0x0D, 4);
  check_image_size(dims, name);
  IdxFloatImages out;
  out.count = dims[0];
  out.rows = static_cast<int>(dims[1]);
  out.cols = static_cast<int>(dims[2]);
  out.values.resize((bytes.size() - 16) / 4);
  for (std::size_t i = 0; i < out.values.size(); ++i) {
    const std::uint32_t u = be32(bytes.data() + 16 + 4 * i);
    float v = 0.0F;
    std::memcpy(&v, &u, sizeof v);
    if (!std::isfinite(v)) throw DataError("'" + name + "' holds a non-finite value at element " + std::to_string(i));
    out.values[i] = v;
  }
  return out;
}

IdxImages read_idx_images(const std::string& path) {
  return parse_idx_images(read_file_bytes(path), path);
}
std::vector<std::uint8_t> read_idx_labels(const std::string& path) {
  return parse_idx_labels(read_file_bytes(path), path);
}
IdxFloatImages read_idx_float_images(const std::string& path) {
  return parse_idx_float_images(read_file_bytes(path), path);
}

namespace {
void put_be32(std::vector<std::uint8_t>& v, std::uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<std::uint8_t>(x >> s));
}
}  // namespace

std::vector<std::uint8_t> idx_float_images_bytes(const Eigen::Ref<const Eigen::MatrixXf>& X, int rows, int cols) {
  if (X.rows() != static_cast<Eigen::Index>(rows) * cols)
    throw InputError("idx_float_images_bytes: " + std::to_string(X.rows()) + " features per image, not " +
                     std::to_string(rows) + "x" + std::to_string(cols));
  std::vector<std::uint8_t> v = {0, 0, 0x0D, 3};
  v.reserve(16 + 4 * static_cast<std::size_t>(X.size()));
  put_be32(v, static_cast<std::uint32_t>(X.cols()));
  put_be32(v, static_cast<std::uint32_t>(rows));
  put_be32(v, static_cast<std::uint32_t>(cols));
  for (Eigen::Index b = 0; b < X.cols(); ++b)
    for (Eigen::Index i = 0; i < X.rows(); ++i) {
      std::uint32_t u = 0;
      const float x = X(i, b);
      std::memcpy(&u, &x, sizeof u);
      put_be32(v, u);
    }
  return v;
}

std::vector<std::uint8_t> idx_labels_bytes(std::span<const std::uint8_t> labels) {
  std::vector<std::uint8_t> v = {0, 0, 0x08, 1};
  put_be32(v, static_cast<std::uint32_t>(labels.size()));
  v.insert(v.end(), labels.begin(), labels.end());
  return v;
}

}  // namespace dalenet
