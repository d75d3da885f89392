// MNIST from IDX files, and the chapter's sample of 3s and 7s.
#include <algorithm>
#include <cstring>
#include <filesystem>

#include "ember/data/mnist.hpp"
#include "ember/io/idx.hpp"

namespace ember::data {

namespace fs = std::filesystem;

namespace {

// dir/<base> (or the spelling with a dot, "train-images.idx3-ubyte", as some copies have), each
// possibly with ".gz".
std::string find_idx_file(const std::string& dir, const std::string& base) {
  std::string dotted = base;
  dotted[dotted.find("-idx")] = '.';
  for (const std::string& name : {base, base + ".gz", dotted, dotted + ".gz"}) {
    const fs::path p = fs::path(dir) / name;
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) return p.string();
  }
  throw Error("load_idx_dir: " + dir + " has no " + base + " (nor " + base + ".gz)");
}

ImageData read_pair(const std::string& dir, const std::string& prefix) {
  const std::string images_path = find_idx_file(dir, prefix + "-images-idx3-ubyte");
  const std::string labels_path = find_idx_file(dir, prefix + "-labels-idx1-ubyte");
  ImageData d;
  d.images = io::read_idx(images_path);
  if (d.images.dtype() != DType::u8 || d.images.rank() != 3) {
    throw Error("load_idx_dir: " + images_path + ": expected u8 images [N, H, W], got " +
                dtype_name(d.images.dtype()) + " " + shape_str(d.images.shape()));
  }
  const Tensor labels = io::read_idx(labels_path);
  if (labels.rank() != 1) {
    throw Error("load_idx_dir: " + labels_path + ": expected labels [N], got " +
                shape_str(labels.shape()));
  }
  if (labels.size(0) != d.images.size(0)) {
    throw Error("load_idx_dir: " + labels_path + " has " + std::to_string(labels.size(0)) +
                " labels but " + images_path + " has " + std::to_string(d.images.size(0)) +
                " images");
  }
  d.labels = labels.to(DType::i64).contiguous();
  const std::int64_t* l = d.labels.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < d.labels.size(0); ++i) {
    if (l[i] < 0 || l[i] > 0xFFFF) {
      throw Error("load_idx_dir: " + labels_path + ": label " + std::to_string(l[i]) + " at " +
                  std::to_string(i) + " is not a class index");
    }
  }
  return d;
}

std::int64_t max_label(const ImageData& d) {
  std::int64_t m = -1;
  const std::int64_t* l = d.labels.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < d.labels.size(0); ++i) m = std::max(m, l[i]);
  return m;
}

// The 3s then the 7s of `d`, each in order; label 1 for a 3, 0 for a 7.
ImageData threes_and_sevens(const ImageData& d) {
  const Tensor images = d.images.contiguous();
  const std::int64_t* l = d.labels.data_ptr<std::int64_t>();
  std::vector<std::int64_t> picked;
  for (const std::int64_t digit : {3, 7}) {
    for (std::int64_t i = 0; i < d.labels.size(0); ++i) {
      if (l[i] == digit) picked.push_back(i);
    }
  }
  const std::int64_t h = images.size(1), w = images.size(2);
  const auto pixels = static_cast<std::size_t>(h * w);
  ImageData out;
  out.images = empty({static_cast<std::int64_t>(picked.size()), h, w}, DType::u8);
  out.labels = empty({static_cast<std::int64_t>(picked.size())}, DType::i64);
  out.classes = {"7", "3"};
  const std::uint8_t* src = images.data_ptr<std::uint8_t>();
  std::uint8_t* dst = out.images.data_ptr<std::uint8_t>();
  std::int64_t* labels = out.labels.data_ptr<std::int64_t>();
  for (std::size_t k = 0; k < picked.size(); ++k) {
    const auto i = static_cast<std::size_t>(picked[k]);
    std::memcpy(dst + k * pixels, src + i * pixels, pixels);
    labels[k] = l[i] == 3 ? 1 : 0;
  }
  return out;
}

}  // namespace

DataSplit load_idx_dir(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error("load_idx_dir: " + dir + " is not a folder");
  DataSplit s;
  s.train = read_pair(dir, "train");
  s.valid = read_pair(dir, "t10k");
  if (s.train.images.size(1) != s.valid.images.size(1) ||
      s.train.images.size(2) != s.valid.images.size(2)) {
    throw Error("load_idx_dir: " + dir + ": training images are " +
                shape_str(s.train.images.shape()) + " but test images are " +
                shape_str(s.valid.images.shape()));
  }
  // Classes "0".."max label" (MNIST: "0".."9").
  const std::int64_t classes = std::max(max_label(s.train), max_label(s.valid)) + 1;
  for (std::int64_t c = 0; c < classes; ++c) s.train.classes.push_back(std::to_string(c));
  s.valid.classes = s.train.classes;
  s.name = dir;
  return s;
}

DataSplit load_mnist(const std::string& dir) {
  DataSplit s = load_idx_dir(dir);
  s.name = "mnist";
  return s;
}

DataSplit mnist_sample(const DataSplit& mnist) {
  const auto& cls = mnist.train.classes;
  if (cls.size() < 8 || cls[3] != "3" || cls[7] != "7") {
    throw Error("mnist_sample: needs the 10-digit MNIST split (classes \"0\"..\"9\"), got " +
                mnist.name);
  }
  DataSplit s;
  s.train = threes_and_sevens(mnist.train);
  s.valid = threes_and_sevens(mnist.valid);
  s.name = "mnist-sample";
  return s;
}

DataSplit mnist_sample(const std::string& dir) { return mnist_sample(load_mnist(dir)); }

}  // namespace ember::data
