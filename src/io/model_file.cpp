// Model files in the safetensors layout (docs/FORMATS.md).
#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "dalenet/error.hpp"
#include "dalenet/io.hpp"
#include "dalenet/rng.hpp"
#include "dalenet/version.hpp"

static_assert(std::endian::native == std::endian::little,
              "model files store little-endian tensors; big-endian hosts need byte swapping");

namespace dalenet {
namespace {

using nlohmann::json;

struct TensorRef {
  std::string name;
  std::string dtype;  // "F32" or "U8"
  std::vector<std::int64_t> shape;
  const void* data;
  std::size_t bytes;
};

std::vector<TensorRef> tensors_of(const Network& net) {
  std::vector<TensorRef> t;
  for (std::size_t l = 0; l < net.projections.size(); ++l) {
    const auto& p = net.projections[l];
    const std::string pre = "projections." + std::to_string(l) + ".";
    t.push_back({pre + "weight",
                 "F32",
                 {p.weight.rows(), p.weight.cols()},
                 p.weight.data(),
                 static_cast<std::size_t>(p.weight.size()) * sizeof(float)});
    t.push_back(
        {pre + "bias", "F32", {p.bias.size()}, p.bias.data(), static_cast<std::size_t>(p.bias.size()) * sizeof(float)});
    if (p.has_mask())
      t.push_back(
          {pre + "mask", "U8", {p.mask.rows(), p.mask.cols()}, p.mask.data(), static_cast<std::size_t>(p.mask.size())});
  }
  for (std::size_t l = 0; l < net.layers.size(); ++l) {
    const auto& L = net.layers[l];
    const std::string pre = "layers." + std::to_string(l) + ".";
    if (L.threshold.size() != 0)
      t.push_back({pre + "threshold",
                   "F32",
                   {L.threshold.size()},
                   L.threshold.data(),
                   static_cast<std::size_t>(L.threshold.size()) * sizeof(float)});
    if (L.rate.size() != 0)
      t.push_back({pre + "rate",
                   "F32",
                   {L.rate.size()},
                   L.rate.data(),
                   static_cast<std::size_t>(L.rate.size()) * sizeof(float)});
  }
  return t;
}

[[noreturn]] void bad(const std::string& name, const std::string& what) {
  throw ModelFileError("model file '" + name + "': " + what);
}

Network network_from_architecture(const json& arch, const std::string& name) {
  if (!arch.is_object() || !arch.contains("layers") || !arch["layers"].is_array())
    bad(name, "metadata has no architecture.layers array");
  Network net;
  for (const auto& jl : arch["layers"]) {
    Layer L;
    try {
      L.name = jl.at("name").get<std::string>();
      L.activation = activation_from_string(jl.at("activation").get<std::string>());
      for (const auto& jp : jl.at("populations")) {
        Population p;
        p.name = jp.at("name").get<std::string>();
        const auto size = jp.at("size").get<std::int64_t>();
        if (size <= 0 || size > (1 << 24))
          bad(name, "population '" + p.name + "' has implausible size " + std::to_string(size));
        p.size = static_cast<int>(size);
        p.type = neuron_type_from_string(jp.at("type").get<std::string>());
        L.populations.push_back(p);
      }
      if (jl.contains("competition")) {
        L.competition = competition_from_string(jl.at("competition").get<std::string>());
        L.inhibition_gain = jl.at("inhibition_gain").get<double>();
        L.kwta_k = jl.at("kwta_k").get<int>();
        L.divisive = jl.value("divisive", false);
        L.inhibition_pools = jl.value("inhibition_pools", 1);
        if (!(L.inhibition_gain > 0.0) || L.kwta_k < 1)
          bad(name, "layer '" + L.name + "': invalid competition parameters");
      }
    } catch (const json::exception& e) {
      bad(name, std::string("malformed architecture entry: ") + e.what());
    } catch (const ConfigError& e) {
      bad(name, e.what());
    }
    if (L.populations.empty()) bad(name, "layer '" + L.name + "' has no populations");
    net.layers.push_back(std::move(L));
  }
  if (net.layers.size() < 2) bad(name, "architecture needs at least two layers");
  net.projections.resize(net.layers.size() - 1);
  if (arch.contains("projections")) {
    if (!arch["projections"].is_array() || arch["projections"].size() != net.projections.size())
      bad(name, "architecture.projections must list one entry per projection");
    for (std::size_t l = 0; l < net.projections.size(); ++l) {
      try {
        const auto& jp = arch["projections"][l];
        net.projections[l].efficacy = efficacy_from_string(jp.at("efficacy").get<std::string>());
        if (net.projections[l].efficacy != Efficacy::linear)
          net.projections[l].efficacy_floor = jp.at("floor").get<float>();
        if (jp.contains("receptive_fields")) {
          const auto& jr = jp.at("receptive_fields");
          ReceptiveFields& rf = net.projections[l].receptive_fields;
          rf.image_side = jr.at("image_side").get<int>();
          rf.window = jr.at("window").get<int>();
          rf.stride = jr.at("stride").get<int>();
          rf.units_per_window = jr.at("units_per_window").get<int>();
          if (!rf.enabled()) bad(name, "architecture.projections: receptive_fields.image_side must be positive");
        }
      } catch (const json::exception& e) {
        bad(name, std::string("malformed architecture.projections entry: ") + e.what());
      } catch (const ConfigError& e) {
        bad(name, e.what());
      }
    }
  }
  return net;
}

}  // namespace

json architecture_to_json(const Network& net) {
  json layers = json::array();
  for (const auto& L : net.layers) {
    json pops = json::array();
    for (const auto& p : L.populations)
      pops.push_back({{"name", p.name}, {"size", p.size}, {"type", to_string(p.type)}});
    nlohmann::json jl = {{"name", L.name}, {"activation", to_string(L.activation)}, {"populations", pops}};
    if (L.competition != Competition::none) {
      jl["competition"] = to_string(L.competition);
      jl["inhibition_gain"] = L.inhibition_gain;
      jl["kwta_k"] = L.kwta_k;
      jl["divisive"] = L.divisive;
      if (L.inhibition_pools != 1) jl["inhibition_pools"] = L.inhibition_pools;
    }
    layers.push_back(jl);
  }
  json projections = json::array();
  for (const auto& p : net.projections) {
    json jp = {{"efficacy", to_string(p.efficacy)}};
    if (p.efficacy != Efficacy::linear) jp["floor"] = p.efficacy_floor;
    if (p.receptive_fields.enabled()) {
      const ReceptiveFields& rf = p.receptive_fields;
      jp["receptive_fields"] = {{"image_side", rf.image_side},
                                {"window", rf.window},
                                {"stride", rf.stride},
                                {"units_per_window", rf.units_per_window}};
    }
    projections.push_back(jp);
  }
  return {{"layers", layers}, {"projections", projections}};
}

void save_model(const std::string& path, const Model& model) {
  model.net.validate();
  const auto tensors = tensors_of(model.net);
  json header = json::object();
  std::size_t offset = 0;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes}}};
    offset += t.bytes;
  }
  const json meta = {{"format_version", kModelFormatVersion},
                     {"dalenet_version", kVersion},
                     {"architecture", architecture_to_json(model.net)},
                     {"info", model.info}};
  // safetensors metadata values must be strings: our metadata is one JSON document in a string.
  header["__metadata__"] = {{"format", "dalenet"}, {"dalenet", meta.dump()}};
  std::string h = header.dump();
  while ((8 + h.size()) % 8 != 0) h.push_back(' ');  // align the data section to 8 bytes
  std::vector<std::uint8_t> out(8 + h.size() + offset);
  const std::uint64_t n = h.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, h.data(), h.size());
  std::size_t pos = 8 + h.size();
  for (const auto& t : tensors) {
    std::memcpy(out.data() + pos, t.data, t.bytes);
    pos += t.bytes;
  }
  write_file_atomic(path, out);
}

namespace {

struct SafetensorsFile {
  json header;                         // the JSON header: tensor table and __metadata__
  std::span<const std::uint8_t> data;  // the data section the tensor offsets point into
};

// The 8-byte header length and the JSON header, bounded before anything is parsed.
SafetensorsFile read_header(std::span<const std::uint8_t> bytes, const std::string& name) {
  if (bytes.size() < 8) bad(name, "truncated: " + std::to_string(bytes.size()) + " bytes, no header length");
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  if (n > kMaxModelHeaderBytes)
    bad(name, "header length " + std::to_string(n) + " exceeds the limit of " + std::to_string(kMaxModelHeaderBytes) +
                  " bytes");
  if (n > bytes.size() - 8)
    bad(name, "truncated: header length " + std::to_string(n) + " but only " + std::to_string(bytes.size() - 8) +
                  " bytes follow");
  json header;
  try {
    header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  } catch (const json::exception& e) {
    bad(name, std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) bad(name, "header is not a JSON object");
  return {header, bytes.subspan(8 + n)};
}

// dalenet's own metadata (__metadata__.dalenet): format version, architecture, provenance.
json read_metadata(const json& header, const std::string& name) {
  if (!header.contains("__metadata__") || !header["__metadata__"].is_object() ||
      !header["__metadata__"].contains("dalenet") || !header["__metadata__"]["dalenet"].is_string())
    bad(name, "no __metadata__.dalenet entry (not a dalenet model, or a foreign safetensors file)");
  json meta;
  try {
    meta = json::parse(header["__metadata__"]["dalenet"].get<std::string>());
  } catch (const json::exception& e) {
    bad(name, std::string("__metadata__.dalenet is not valid JSON: ") + e.what());
  }
  if (!meta.is_object() || !meta.contains("format_version") || !meta["format_version"].is_number_integer())
    bad(name, "metadata has no integer format_version");
  if (meta["format_version"].get<int>() != kModelFormatVersion)
    bad(name, "format_version " + meta["format_version"].dump() + " is not supported (this build reads " +
                  std::to_string(kModelFormatVersion) + ")");
  return meta;
}

// One tensor of the table: dtype, shape and its byte range within the data section.
struct TensorEntry {
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin, end;
};

// The tensor table: dtype, shape, offsets within the data section, no overlaps, no gaps.
std::map<std::string, TensorEntry> read_tensor_table(const json& header, std::span<const std::uint8_t> data,
                                                     const std::string& name) {
  std::map<std::string, TensorEntry> entries;
  for (const auto& [key, val] : header.items()) {
    if (key == "__metadata__") continue;
    try {
      TensorEntry e;
      e.dtype = val.at("dtype").get<std::string>();
      e.shape = val.at("shape").get<std::vector<std::int64_t>>();
      const auto offs = val.at("data_offsets").get<std::vector<std::uint64_t>>();
      if (offs.size() != 2) bad(name, "tensor '" + key + "': data_offsets must have two entries");
      e.begin = offs[0];
      e.end = offs[1];
      if (e.dtype != "F32" && e.dtype != "U8") bad(name, "tensor '" + key + "': unsupported dtype " + e.dtype);
      if (e.begin > e.end || e.end > data.size())
        bad(name, "tensor '" + key + "': data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                      ") outside the " + std::to_string(data.size()) + "-byte data section (truncated file?)");
      u128 count = 1;
      for (auto d : e.shape) {
        if (d < 0) bad(name, "tensor '" + key + "': negative dimension");
        count *= static_cast<std::uint64_t>(d);
      }
      const u128 elem = e.dtype == "F32" ? 4 : 1;
      if (count * elem != e.end - e.begin) bad(name, "tensor '" + key + "': shape does not match its byte range");
      entries[key] = e;
    } catch (const json::exception& ex) {
      bad(name, "tensor '" + key + "': malformed entry: " + ex.what());
    }
  }
  {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
    for (const auto& [k, e] : entries) ranges.emplace_back(e.begin, e.end);
    std::sort(ranges.begin(), ranges.end());
    std::uint64_t pos = 0;
    for (const auto& [b, e] : ranges) {
      if (b != pos) bad(name, b < pos ? "tensors overlap" : "gap between tensors in the data section");
      pos = e;
    }
    if (pos != data.size()) bad(name, std::to_string(data.size() - pos) + " trailing bytes after the last tensor");
  }
  return entries;
}

// Copies every tensor the architecture names into net; a missing, misshapen or unexpected tensor
// is an error.
void copy_tensors(Network& net, std::map<std::string, TensorEntry>& entries, std::span<const std::uint8_t> data,
                  const std::string& name) {
  // Shapes come from the architecture; each tensor entry (whose bytes lie inside the file) is
  // checked against them *before* anything is allocated, so a header that claims huge layers
  // cannot make us allocate more than the file holds.
  auto check = [&](const std::string& key, const std::string& dtype,
                   const std::vector<std::int64_t>& shape) -> const TensorEntry& {
    const auto it = entries.find(key);
    if (it == entries.end()) bad(name, "missing tensor '" + key + "'");
    const TensorEntry& e = it->second;
    if (e.dtype != dtype) bad(name, "tensor '" + key + "' has dtype " + e.dtype + ", expected " + dtype);
    if (e.shape != shape) {
      std::string want, got;
      for (auto d : shape) want += (want.empty() ? "" : "x") + std::to_string(d);
      for (auto d : e.shape) got += (got.empty() ? "" : "x") + std::to_string(d);
      bad(name, "tensor '" + key + "' has shape " + got + ", the architecture needs " + want);
    }
    return e;
  };
  auto copy_out = [&](const std::string& key, void* dst) {
    const TensorEntry& e = entries.at(key);
    std::memcpy(dst, data.data() + e.begin, e.end - e.begin);
    entries.erase(key);
  };
  for (std::size_t l = 0; l < net.projections.size(); ++l) {
    auto& p = net.projections[l];
    const std::int64_t post = net.layers[l + 1].size(), pre = net.layers[l].size();
    const std::string k = "projections." + std::to_string(l) + ".";
    check(k + "weight", "F32", {post, pre});
    p.weight.resize(post, pre);
    copy_out(k + "weight", p.weight.data());
    check(k + "bias", "F32", {post});
    p.bias.resize(post);
    copy_out(k + "bias", p.bias.data());
    if (entries.contains(k + "mask")) {
      check(k + "mask", "U8", {post, pre});
      p.mask.resize(post, pre);
      copy_out(k + "mask", p.mask.data());
    }
  }
  for (std::size_t l = 0; l < net.layers.size(); ++l) {
    auto& L = net.layers[l];
    const std::string k = "layers." + std::to_string(l) + ".";
    const std::int64_t n_l = L.size();
    if (entries.contains(k + "threshold")) {
      check(k + "threshold", "F32", {n_l});
      L.threshold.resize(n_l);
      copy_out(k + "threshold", L.threshold.data());
    }
    if (entries.contains(k + "rate")) {
      check(k + "rate", "F32", {n_l});
      L.rate.resize(n_l);
      copy_out(k + "rate", L.rate.data());
    }
  }
  if (!entries.empty()) bad(name, "unexpected tensor '" + entries.begin()->first + "'");
}

}  // namespace

Model parse_model(std::span<const std::uint8_t> bytes, const std::string& name) {
  const SafetensorsFile file = read_header(bytes, name);
  const json meta = read_metadata(file.header, name);
  Model model;
  model.net = network_from_architecture(meta.contains("architecture") ? meta["architecture"] : json(), name);
  if (meta.contains("info")) model.info = meta["info"];
  std::map<std::string, TensorEntry> entries = read_tensor_table(file.header, file.data, name);
  copy_tensors(model.net, entries, file.data, name);
  try {
    model.net.validate();
  } catch (const Error& e) {
    bad(name, e.what());
  }
  return model;
}

Model load_model(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw ModelFileError("cannot read model file '" + path + "': " + ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ModelFileError("cannot open model file '" + path + "'");
  std::vector<std::uint8_t> bytes(size);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
  if (static_cast<std::uintmax_t>(in.gcount()) != size)
    throw ModelFileError("short read from model file '" + path + "'");
  return parse_model(bytes, path);
}

}  // namespace dalenet
