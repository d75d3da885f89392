// safetensors reading and writing: the JSON header through nlohmann/json, the data with plain
// reads and writes. The reader checks the whole header against the file before reading any data.
#include "ember/io/safetensors.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "ember/core/error.hpp"
#include "io/file_util.hpp"

namespace ember::io {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; ember writes it straight from memory");

namespace {

using ordered_json = nlohmann::ordered_json;

// Headers larger than this are refused (the reference implementation's limit too).
constexpr std::uint64_t kMaxHeader = 100'000'000;

const char* safetensors_dtype(DType t) {
  switch (t) {
    case DType::u8:
      return "U8";
    case DType::i64:
      return "I64";
    case DType::f32:
      return "F32";
    case DType::f64:
      return "F64";
  }
  return "?";
}

bool parse_dtype(const std::string& s, DType& out) {
  if (s == "F32")
    out = DType::f32;
  else if (s == "F64")
    out = DType::f64;
  else if (s == "I64")
    out = DType::i64;
  else if (s == "U8")
    out = DType::u8;
  else
    return false;
  return true;
}

// One tensor's entry in the header, checked.
struct Entry {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  std::uint64_t begin = 0, end = 0;
};

struct Header {
  std::vector<Entry> entries;  // in order of their data
  std::map<std::string, std::string> metadata;
  std::uint64_t data_start = 0;
};

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error("load_safetensors: " + path + ": " + what);
}

bool as_u64(const ordered_json& j, std::uint64_t& out) {
  if (j.is_number_unsigned()) {
    out = j.get<std::uint64_t>();
    return true;
  }
  if (j.is_number_integer() && j.get<std::int64_t>() >= 0) {
    out = static_cast<std::uint64_t>(j.get<std::int64_t>());
    return true;
  }
  return false;
}

Entry parse_entry(const std::string& path, const std::string& name, const ordered_json& v) {
  const std::string where = "tensor \"" + name + "\": ";
  if (!v.is_object()) fail(path, where + "entry is not a JSON object");
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!v.contains(key)) fail(path, where + "no \"" + key + "\"");
  }
  Entry e;
  e.name = name;
  const auto& dt = v.at("dtype");
  if (!dt.is_string()) fail(path, where + "dtype is not a string");
  if (!parse_dtype(dt.get<std::string>(), e.dtype)) {
    fail(path, where + "dtype " + dt.get<std::string>() +
                   " is not supported (ember reads F32, F64, I64 and U8)");
  }
  const auto& sh = v.at("shape");
  if (!sh.is_array()) fail(path, where + "shape is not a list");
  for (const auto& d : sh) {
    std::uint64_t n = 0;
    if (!as_u64(d, n) || n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      fail(path, where + "shape " + sh.dump() + " is not a list of sizes");
    }
    e.shape.push_back(static_cast<std::int64_t>(n));
  }
  const auto& off = v.at("data_offsets");
  if (!off.is_array() || off.size() != 2 || !as_u64(off[0], e.begin) || !as_u64(off[1], e.end)) {
    fail(path, where + "data_offsets " + off.dump() + " is not [begin, end]");
  }
  if (e.end < e.begin) fail(path, where + "data_offsets " + off.dump() + " end before begin");
  return e;
}

// The byte size of a tensor of `shape` and `dtype`, or false when it does not fit in 64 bits.
bool byte_size(const Shape& shape, DType dtype, std::uint64_t& out) {
  constexpr std::uint64_t limit = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t n = dtype_size(dtype);
  for (auto d : shape) {
    if (d == 0) {
      out = 0;
      return true;
    }
  }
  for (auto d : shape) {
    const auto u = static_cast<std::uint64_t>(d);
    if (n > limit / u) return false;
    n *= u;
  }
  out = n;
  return true;
}

Header read_header(const std::string& path, std::ifstream& in) {
  std::error_code ec;
  const std::uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) fail(path, "cannot read: " + ec.message());
  if (file_size < 8) {
    fail(path, "file is too short (" + std::to_string(file_size) +
                   " bytes) to hold a safetensors header length");
  }
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  if (!in) fail(path, "cannot read the header length");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  if (n > file_size - 8) {
    fail(path, "header length " + std::to_string(n) + " goes beyond the end of the file (" +
                   std::to_string(file_size) + " bytes)");
  }
  if (n > kMaxHeader) fail(path, "header length " + std::to_string(n) + " is too large");
  std::string text(static_cast<std::size_t>(n), '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  if (!in) fail(path, "cannot read the header");

  // Duplicate names would silently shadow each other in a JSON object: find them while parsing.
  std::set<std::string> seen;
  std::string duplicate;
  ordered_json::parser_callback_t on_event = [&](int depth, nlohmann::json::parse_event_t event,
                                                 ordered_json& parsed) {
    if (depth == 1 && event == nlohmann::json::parse_event_t::key && parsed.is_string()) {
      if (!seen.insert(parsed.get<std::string>()).second && duplicate.empty()) {
        duplicate = parsed.get<std::string>();
      }
    }
    return true;
  };
  const ordered_json j = ordered_json::parse(text, on_event, /*allow_exceptions=*/false);
  if (j.is_discarded()) fail(path, "header is not valid JSON");
  if (!j.is_object()) fail(path, "header is not a JSON object");
  if (!duplicate.empty()) fail(path, "tensor \"" + duplicate + "\" appears twice in the header");

  Header h;
  h.data_start = 8 + n;
  const std::uint64_t data_size = file_size - h.data_start;
  for (const auto& [name, v] : j.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) fail(path, "__metadata__ is not a JSON object");
      for (const auto& [k, s] : v.items()) {
        if (!s.is_string()) fail(path, "__metadata__ value of \"" + k + "\" is not a string");
        h.metadata[k] = s.get<std::string>();
      }
      continue;
    }
    Entry e = parse_entry(path, name, v);
    std::uint64_t nbytes = 0;
    if (!byte_size(e.shape, e.dtype, nbytes)) {
      fail(path, "tensor \"" + name + "\": shape " + shape_str(e.shape) + " is too large");
    }
    if (e.end - e.begin != nbytes) {
      fail(path, "tensor \"" + name + "\": data_offsets [" + std::to_string(e.begin) + ", " +
                     std::to_string(e.end) + "] hold " + std::to_string(e.end - e.begin) +
                     " bytes, but " + dtype_name(e.dtype) + " " + shape_str(e.shape) + " needs " +
                     std::to_string(nbytes));
    }
    if (e.end > data_size) {
      fail(path, "tensor \"" + name + "\": data_offsets end " + std::to_string(e.end) +
                     " is beyond the data (" + std::to_string(data_size) + " bytes)");
    }
    h.entries.push_back(std::move(e));
  }
  // The tensors must tile the data exactly: no overlap, no gap, nothing left over.
  std::stable_sort(h.entries.begin(), h.entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t pos = 0;
  for (const Entry& e : h.entries) {
    if (e.begin < pos) fail(path, "tensor \"" + e.name + "\": data overlaps the previous tensor");
    if (e.begin > pos) {
      fail(path, "tensor \"" + e.name + "\": a gap of " + std::to_string(e.begin - pos) +
                     " bytes before its data");
    }
    pos = e.end;
  }
  if (pos != data_size) {
    fail(path, std::to_string(data_size - pos) + " bytes after the last tensor's data");
  }
  return h;
}

}  // namespace

void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const std::string what = "save_safetensors: " + path;
  ordered_json header = ordered_json::object();
  if (!metadata.empty()) {
    ordered_json m = ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = m;
  }
  std::set<std::string> names;
  std::vector<Tensor> data;
  std::uint64_t offset = 0;
  for (const auto& [name, t0] : tensors) {
    if (name.empty() || name == "__metadata__") {
      throw Error(what + ": invalid tensor name \"" + name + "\"");
    }
    if (!names.insert(name).second) throw Error(what + ": tensor \"" + name + "\" given twice");
    if (!t0.defined()) throw Error(what + ": tensor \"" + name + "\" is undefined");
    const Tensor t = t0.detach().contiguous();
    const auto nbytes = static_cast<std::uint64_t>(t.numel()) * dtype_size(t.dtype());
    header[name] = {{"dtype", safetensors_dtype(t.dtype())},
                    {"shape", t.shape()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    data.push_back(t);
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + ": a name or metadata value is not valid UTF-8");
  }
  text.append((8 - text.size() % 8) % 8, ' ');

  const std::string tmp = detail::temp_name_beside(path);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(what + ": cannot create " + tmp);
    unsigned char len_bytes[8];
    std::uint64_t n = text.size();
    for (auto& b : len_bytes) {
      b = static_cast<unsigned char>(n & 0xff);
      n >>= 8;
    }
    out.write(reinterpret_cast<const char*>(len_bytes), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const Tensor& t : data) {
      out.write(static_cast<const char*>(t.raw_data()),
                static_cast<std::streamsize>(static_cast<std::size_t>(t.numel()) *
                                             dtype_size(t.dtype())));
    }
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      throw Error(what + ": write failed (disk full?)");
    }
  }
  detail::rename_over(tmp, path, "save_safetensors");
}

std::vector<std::pair<std::string, Tensor>> load_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open the file");
  const Header h = read_header(path, in);
  std::vector<std::pair<std::string, Tensor>> out;
  out.reserve(h.entries.size());
  for (const Entry& e : h.entries) {
    Tensor t = empty(e.shape, e.dtype);
    const auto nbytes = static_cast<std::streamsize>(e.end - e.begin);
    if (nbytes > 0) {
      in.seekg(static_cast<std::streamoff>(h.data_start + e.begin));
      in.read(static_cast<char*>(t.raw_data()), nbytes);
      if (!in) fail(path, "tensor \"" + e.name + "\": cannot read its data");
    }
    out.emplace_back(e.name, std::move(t));
  }
  return out;
}

std::map<std::string, std::string> safetensors_metadata(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open the file");
  return read_header(path, in).metadata;
}

}  // namespace ember::io
