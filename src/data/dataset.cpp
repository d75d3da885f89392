#include "ember/data/dataset.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "ember/core/error.hpp"
#include "ember/core/parallel.hpp"
#include "ember/ops/movement.hpp"
#include "kernels/convert.hpp"

namespace ember::data {

namespace {

Shape tail(const Shape& s) { return Shape(s.begin() + 1, s.end()); }

void check_index(std::int64_t i, std::int64_t n, const char* what) {
  if (i < 0 || i >= n) {
    throw Error(std::string(what) + ": index " + std::to_string(i) + " out of range for " +
                std::to_string(n) + " items");
  }
}

}  // namespace

std::vector<Tensor> to_batched(const Tensor& t, std::int64_t batch_size) {
  if (!t.defined() || t.rank() < 1) throw Error("to_batched: needs a tensor of rank >= 1");
  if (batch_size < 1) {
    throw Error("to_batched: batch size must be positive, got " + std::to_string(batch_size));
  }
  std::vector<Tensor> out;
  const std::int64_t n = t.size(0);
  for (std::int64_t start = 0; start < n; start += batch_size) {
    out.push_back(t.slice(0, start, std::min(n, start + batch_size)));
  }
  return out;
}

Tensor images_with_label(const ImageData& d, std::int64_t label) {
  if (label < 0 || label >= static_cast<std::int64_t>(d.classes.size())) {
    throw Error("images_with_label: label " + std::to_string(label) + " is outside the " +
                std::to_string(d.classes.size()) + " classes");
  }
  const Tensor labels = d.labels.contiguous();
  const std::int64_t* l = labels.data_ptr<std::int64_t>();
  std::vector<std::int64_t> idx;
  for (std::int64_t i = 0; i < labels.numel(); ++i)
    if (l[i] == label) idx.push_back(i);
  return index_select(d.images, 0, from_vector(idx, {static_cast<std::int64_t>(idx.size())}));
}

Tensor to_unit_float(const Tensor& t) {
  if (!t.defined() || t.dtype() != DType::u8) {
    throw Error(std::string("to_unit_float: expected a u8 tensor, got ") +
                (t.defined() ? dtype_name(t.dtype()) : "an undefined tensor"));
  }
  const Tensor c = t.contiguous();
  Tensor out = empty(c.shape(), DType::f32);
  kernels::u8_to_unit_float(c.data_ptr<std::uint8_t>(), out.data_ptr<float>(), c.numel());
  return out;
}

// ---- Dataset ----

std::pair<ItemSpec, ItemSpec> Dataset::item_spec() const {
  if (size() < 1) throw Error("Dataset: empty dataset has no item shape");
  auto [x, y] = get(0);
  return {ItemSpec{x.shape(), x.dtype()}, ItemSpec{y.shape(), y.dtype()}};
}

void Dataset::gather(std::span<const std::int64_t> indices, Tensor& x, Tensor& y) const {
  for (std::size_t k = 0; k < indices.size(); ++k) {
    auto [xi, yi] = get(indices[k]);
    const auto row = static_cast<std::int64_t>(k);
    x.select(0, row).copy_(xi);
    y.select(0, row).copy_(yi);
  }
}

// ---- TensorDataset ----

TensorDataset::TensorDataset(Tensor x, Tensor y) {
  if (!x.defined() || !y.defined() || x.rank() < 1 || y.rank() < 1) {
    throw Error("TensorDataset: x and y must be tensors of rank >= 1");
  }
  if (x.size(0) != y.size(0)) {
    throw Error("TensorDataset: x and y differ in length: " + shape_str(x.shape()) + " and " +
                shape_str(y.shape()));
  }
  x_ = x.detach().contiguous();
  y_ = y.detach().contiguous();
}

std::int64_t TensorDataset::size() const { return x_.size(0); }

std::pair<Tensor, Tensor> TensorDataset::get(std::int64_t i) const {
  check_index(i, size(), "TensorDataset");
  return {x_.select(0, i), y_.select(0, i)};
}

std::pair<ItemSpec, ItemSpec> TensorDataset::item_spec() const {
  return {ItemSpec{tail(x_.shape()), x_.dtype()}, ItemSpec{tail(y_.shape()), y_.dtype()}};
}

void TensorDataset::gather(std::span<const std::int64_t> indices, Tensor& x, Tensor& y) const {
  const std::int64_t n = size();
  auto copy_rows = [&](const Tensor& src, Tensor& dst) {
    if (dst.dtype() != src.dtype() || !dst.is_contiguous()) {
      throw Error("TensorDataset::gather: the batch buffer must be contiguous " +
                  std::string(dtype_name(src.dtype())));
    }
    const std::size_t row_bytes =
        static_cast<std::size_t>(n > 0 ? src.numel() / n : 0) * dtype_size(src.dtype());
    const auto* from = static_cast<const char*>(src.raw_data());
    auto* to = static_cast<char*>(dst.raw_data());
    for (std::size_t k = 0; k < indices.size(); ++k) {
      check_index(indices[k], n, "TensorDataset");
      std::memcpy(to + k * row_bytes, from + static_cast<std::size_t>(indices[k]) * row_bytes,
                  row_bytes);
    }
  };
  copy_rows(x_, x);
  copy_rows(y_, y);
}

// ---- ImageDataset ----

ImageDataset::ImageDataset(ImageData data, Layout layout)
    : data_(std::move(data)), layout_(layout) {
  if (!data_.images.defined() || data_.images.dtype() != DType::u8 || data_.images.rank() != 3) {
    throw Error("ImageDataset: images must be u8 [N, H, W], got " +
                (data_.images.defined() ? std::string(dtype_name(data_.images.dtype())) + " " +
                                              shape_str(data_.images.shape())
                                        : std::string("an undefined tensor")));
  }
  if (!data_.labels.defined() || data_.labels.rank() != 1 ||
      data_.labels.size(0) != data_.images.size(0)) {
    throw Error("ImageDataset: labels must be [N] with N = " +
                std::to_string(data_.images.size(0)));
  }
  data_.images = data_.images.contiguous();
  data_.labels = data_.labels.to(DType::i64).contiguous();
}

std::int64_t ImageDataset::size() const { return data_.images.size(0); }

std::pair<ItemSpec, ItemSpec> ImageDataset::item_spec() const {
  const std::int64_t h = data_.images.size(1), w = data_.images.size(2);
  Shape xs = layout_ == Layout::flat ? Shape{h * w} : Shape{1, h, w};
  return {ItemSpec{xs, DType::f32}, ItemSpec{{}, DType::i64}};
}

std::pair<Tensor, Tensor> ImageDataset::get(std::int64_t i) const {
  check_index(i, size(), "ImageDataset");
  auto [xs, ys] = item_spec();
  Shape xb = xs.shape;
  xb.insert(xb.begin(), 1);
  Tensor x = empty(xb, DType::f32);
  Tensor y = empty({1}, DType::i64);
  const std::int64_t idx[1] = {i};
  gather(idx, x, y);
  return {x.select(0, 0), y.select(0, 0)};
}

void ImageDataset::gather(std::span<const std::int64_t> indices, Tensor& x, Tensor& y) const {
  if (x.dtype() != DType::f32 || !x.is_contiguous() || y.dtype() != DType::i64 ||
      !y.is_contiguous()) {
    throw Error("ImageDataset::gather: needs contiguous f32 x and i64 y buffers");
  }
  const std::int64_t n = size();
  const auto pixels = static_cast<std::size_t>(data_.images.size(1) * data_.images.size(2));
  const std::uint8_t* images = data_.images.data_ptr<std::uint8_t>();
  const std::int64_t* labels = data_.labels.data_ptr<std::int64_t>();
  float* xd = x.data_ptr<float>();
  std::int64_t* yd = y.data_ptr<std::int64_t>();
  for (const std::int64_t i : indices) check_index(i, n, "ImageDataset");
  // Converting a batch is a pass over memory (a 256-image MNIST batch is 800 KB of f32): both
  // cores share it, a run of whole images each.
  const auto grain =
      static_cast<std::int64_t>(std::max<std::size_t>(1, (std::size_t{1} << 15) / pixels));
  parallel_for(
      0, static_cast<std::int64_t>(indices.size()), grain, [&](std::int64_t k0, std::int64_t k1) {
        for (auto k = static_cast<std::size_t>(k0); k < static_cast<std::size_t>(k1); ++k) {
          // shuffled rows lie scattered over the dataset: ask for the one after next early
          if (k + 2 < static_cast<std::size_t>(k1)) {
            const std::uint8_t* ahead = images + static_cast<std::size_t>(indices[k + 2]) * pixels;
            for (std::size_t off = 0; off < pixels; off += 64) __builtin_prefetch(ahead + off);
          }
          const std::int64_t i = indices[k];
          kernels::u8_to_unit_float(images + static_cast<std::size_t>(i) * pixels, xd + k * pixels,
                                    static_cast<std::int64_t>(pixels));
          yd[k] = labels[i];
        }
      });
}

}  // namespace ember::data
