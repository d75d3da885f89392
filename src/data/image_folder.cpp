// Image folders (ROOT/train/<label>/*.png, ROOT/valid/<label>/*.png): reading and writing.
#include "ember/data/image_folder.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "ember/core/parallel.hpp"
#include "ember/io/png.hpp"

namespace ember::data {

namespace fs = std::filesystem;

namespace {

// "img2" < "img10": runs of digits compare by value, the rest byte by byte.
bool natural_less(const std::string& a, const std::string& b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const bool da = std::isdigit(static_cast<unsigned char>(a[i])) != 0;
    const bool db = std::isdigit(static_cast<unsigned char>(b[j])) != 0;
    if (da && db) {
      std::size_t ie = i, je = j;
      while (ie < a.size() && std::isdigit(static_cast<unsigned char>(a[ie]))) ++ie;
      while (je < b.size() && std::isdigit(static_cast<unsigned char>(b[je]))) ++je;
      std::size_t is = i, js = j;  // skip leading zeros
      while (is + 1 < ie && a[is] == '0') ++is;
      while (js + 1 < je && b[js] == '0') ++js;
      if (ie - is != je - js) return ie - is < je - js;
      const int c = a.compare(is, ie - is, b, js, je - js);
      if (c != 0) return c < 0;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  if ((a.size() - i) != (b.size() - j)) return a.size() - i < b.size() - j;
  return a < b;  // equal up to leading zeros: any fixed order
}

bool is_png_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".png";
}

std::vector<std::string> subfolders(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_directory()) out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end(), natural_less);
  return out;
}

struct FileList {
  std::vector<std::string> paths;
  std::vector<std::int64_t> labels;
};

FileList list_set(const fs::path& set_dir, const std::vector<std::string>& classes) {
  std::error_code ec;
  if (!fs::is_directory(set_dir, ec)) {
    throw Error("load_image_folder: no folder " + set_dir.string() +
                " (expected <root>/train/<label>/*.png and <root>/valid/<label>/*.png)");
  }
  const auto folders = subfolders(set_dir);
  if (folders.empty()) {
    throw Error("load_image_folder: " + set_dir.string() + " has no label folders");
  }
  FileList list;
  for (const std::string& folder : folders) {
    const auto it = std::find(classes.begin(), classes.end(), folder);
    if (it == classes.end()) {
      throw Error("load_image_folder: " + (set_dir / folder).string() +
                  " is a label not in the training set's labels (or classes.txt)");
    }
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(set_dir / folder)) {
      if (e.is_regular_file() && is_png_name(e.path()))
        files.push_back(e.path().filename().string());
    }
    if (files.empty())
      throw Error("load_image_folder: " + (set_dir / folder).string() + " has no PNG images");
    std::sort(files.begin(), files.end(), natural_less);
    for (const auto& f : files) {
      list.paths.push_back((set_dir / folder / f).string());
      list.labels.push_back(it - classes.begin());
    }
  }
  return list;
}

std::vector<std::string> read_classes_txt(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  if (out.empty()) throw Error("load_image_folder: " + p.string() + " lists no classes");
  return out;
}

// Decodes every file into one u8 [N, h, w] tensor, in parallel.
ImageData read_images(const FileList& list, const std::vector<std::string>& classes, std::int64_t h,
                      std::int64_t w, bool resize) {
  const auto n = static_cast<std::int64_t>(list.paths.size());
  ImageData d;
  d.images = empty({n, h, w}, DType::u8);
  d.labels = empty({n}, DType::i64);
  d.classes = classes;
  std::copy(list.labels.begin(), list.labels.end(), d.labels.data_ptr<std::int64_t>());
  std::uint8_t* dst = d.images.data_ptr<std::uint8_t>();
  const auto pixels = static_cast<std::size_t>(h * w);
  parallel_for(0, n, 64, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      const std::string& path = list.paths[static_cast<std::size_t>(i)];
      Tensor img = io::read_png(path);
      if (img.size(0) != h || img.size(1) != w) {
        if (!resize) {
          throw Error("load_image_folder: " + path + " is " + std::to_string(img.size(1)) + "x" +
                      std::to_string(img.size(0)) + " but the first image is " + std::to_string(w) +
                      "x" + std::to_string(h) +
                      " (use resize to resample every image to one size)");
        }
        img = resize_area(img, h, w);
      }
      std::memcpy(dst + static_cast<std::size_t>(i) * pixels, img.data_ptr<std::uint8_t>(), pixels);
    }
  });
  return d;
}

// Per-axis area weights: output o covers source [o * s, (o + 1) * s), s = in / out.
struct Tap {
  std::int64_t src;
  double weight;
};
std::vector<std::vector<Tap>> area_taps(std::int64_t in, std::int64_t out) {
  std::vector<std::vector<Tap>> taps(static_cast<std::size_t>(out));
  const double s = static_cast<double>(in) / static_cast<double>(out);
  for (std::int64_t o = 0; o < out; ++o) {
    const double a = static_cast<double>(o) * s, b = static_cast<double>(o + 1) * s;
    const auto first = static_cast<std::int64_t>(std::floor(a));
    const auto last = std::min(in - 1, static_cast<std::int64_t>(std::ceil(b)) - 1);
    for (std::int64_t p = first; p <= last; ++p) {
      const double cover =
          std::min(b, static_cast<double>(p + 1)) - std::max(a, static_cast<double>(p));
      if (cover > 0) taps[static_cast<std::size_t>(o)].push_back({p, cover / s});
    }
  }
  return taps;
}

}  // namespace

Tensor resize_area(const Tensor& image, std::int64_t height, std::int64_t width) {
  if (!image.defined() || image.dtype() != DType::u8 || image.rank() != 2) {
    throw Error("resize_area: expected a u8 image [H, W]");
  }
  if (height < 1 || width < 1) {
    throw Error("resize_area: bad target size " + std::to_string(width) + "x" +
                std::to_string(height));
  }
  const Tensor src = image.contiguous();
  const std::int64_t h = src.size(0), w = src.size(1);
  const auto xt = area_taps(w, width), yt = area_taps(h, height);
  const std::uint8_t* s = src.data_ptr<std::uint8_t>();
  std::vector<double> rows(static_cast<std::size_t>(h * width));  // resized along x
  for (std::int64_t y = 0; y < h; ++y) {
    for (std::int64_t x = 0; x < width; ++x) {
      double acc = 0;
      for (const Tap& t : xt[static_cast<std::size_t>(x)]) acc += t.weight * s[y * w + t.src];
      rows[static_cast<std::size_t>(y * width + x)] = acc;
    }
  }
  Tensor out = empty({height, width}, DType::u8);
  std::uint8_t* d = out.data_ptr<std::uint8_t>();
  for (std::int64_t y = 0; y < height; ++y) {
    for (std::int64_t x = 0; x < width; ++x) {
      double acc = 0;
      for (const Tap& t : yt[static_cast<std::size_t>(y)]) {
        acc += t.weight * rows[static_cast<std::size_t>(t.src * width + x)];
      }
      d[y * width + x] = static_cast<std::uint8_t>(std::clamp(std::round(acc), 0.0, 255.0));
    }
  }
  return out;
}

DataSplit load_image_folder(const std::string& root, bool resize, std::int64_t size) {
  const fs::path r(root);
  std::error_code ec;
  if (!fs::is_directory(r, ec)) throw Error("load_image_folder: " + root + " is not a folder");
  if (!fs::is_directory(r / "train", ec)) {
    throw Error("load_image_folder: no folder " + (r / "train").string() +
                " (expected <root>/train/<label>/*.png and <root>/valid/<label>/*.png)");
  }
  const fs::path classes_txt = r / "classes.txt";
  const std::vector<std::string> classes = fs::is_regular_file(classes_txt, ec)
                                               ? read_classes_txt(classes_txt)
                                               : subfolders(r / "train");
  const FileList train = list_set(r / "train", classes);
  const FileList valid = list_set(r / "valid", classes);
  std::int64_t h = size, w = size;
  if (!resize || size <= 0) {
    const Tensor first = io::read_png(train.paths.front());
    h = first.size(0);
    w = first.size(1);
  }
  DataSplit s;
  s.train = read_images(train, classes, h, w, resize);
  s.valid = read_images(valid, classes, h, w, resize);
  s.name = root;
  s.image_folder = true;
  return s;
}

void export_png(const DataSplit& data, const std::string& dir) {
  const fs::path root(dir);
  std::error_code ec;
  if (fs::exists(root, ec) && !(fs::is_directory(root, ec) && fs::is_empty(root, ec))) {
    throw Error("export_png: " + dir + " exists and is not an empty folder");
  }
  const auto& classes = data.train.classes;
  if (classes.empty()) throw Error("export_png: the dataset has no class names");
  for (const auto& c : classes) {
    if (c.empty() || c == "." || c == ".." || c.find('/') != std::string::npos ||
        c.find('\n') != std::string::npos) {
      throw Error("export_png: class name \"" + c + "\" cannot be a folder name");
    }
  }
  fs::create_directories(root, ec);
  if (ec) throw Error("export_png: cannot create " + dir + ": " + ec.message());
  {
    std::ofstream out(root / "classes.txt");
    for (const auto& c : classes) out << c << "\n";
    if (!out) throw Error("export_png: cannot write " + (root / "classes.txt").string());
  }
  for (const auto& [set, d] :
       {std::pair<const char*, const ImageData*>{"train", &data.train}, {"valid", &data.valid}}) {
    if (d->size() == 0) continue;
    if (d->images.dtype() != DType::u8 || d->images.rank() != 3) {
      throw Error(std::string("export_png: ") + set + " images must be u8 [N, H, W], got " +
                  shape_str(d->images.shape()));
    }
    for (const auto& c : classes) fs::create_directories(root / set / c);
    const Tensor images = d->images.contiguous();
    const Tensor labels = d->labels.to(DType::i64).contiguous();
    const std::int64_t n = images.size(0), h = images.size(1), w = images.size(2);
    const std::uint8_t* src = images.data_ptr<std::uint8_t>();
    const std::int64_t* lab = labels.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < n; ++i) {
      if (lab[i] < 0 || lab[i] >= static_cast<std::int64_t>(classes.size())) {
        throw Error(std::string("export_png: ") + set + " label " + std::to_string(lab[i]) +
                    " at " + std::to_string(i) + " has no class name");
      }
    }
    const fs::path set_dir = root / set;
    parallel_for(0, n, 256, [&](std::int64_t begin, std::int64_t end) {
      io::PngRaw raw;
      raw.width = w;
      raw.height = h;
      raw.color = io::PngColor::gray;
      raw.bit_depth = 8;
      const auto pixels = static_cast<std::size_t>(h * w);
      for (std::int64_t i = begin; i < end; ++i) {
        raw.rows.assign(src + static_cast<std::size_t>(i) * pixels,
                        src + static_cast<std::size_t>(i + 1) * pixels);
        const auto& cls = classes[static_cast<std::size_t>(lab[i])];
        io::write_png_raw(raw, (set_dir / cls / (std::to_string(i) + ".png")).string());
      }
    });
  }
}

}  // namespace ember::data
