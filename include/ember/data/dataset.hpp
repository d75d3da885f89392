#pragma once
// Datasets: image classification data held as u8 tensors, and the Dataset interface the
// DataLoader draws (x, y) pairs from.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "ember/core/tensor.hpp"

namespace ember::data {

// Images and their labels. Images stay u8 (MNIST's 60000 training images take 47 MB, not
// 188 MB as f32); they become f32 in [0, 1] a batch at a time.
struct ImageData {
  Tensor images;                     // u8 [N, H, W]
  Tensor labels;                     // i64 [N], values in [0, classes.size())
  std::vector<std::string> classes;  // the name of each label: classes[label]
  std::int64_t size() const { return images.defined() ? images.size(0) : 0; }
};

// A training set and a validation set.
struct DataSplit {
  ImageData train;
  ImageData valid;
  std::string name;           // "mnist", "mnist-sample", or the folder it was read from
  bool image_folder = false;  // read from PNGs (train/<label>/*.png), else from MNIST IDX files
};

// The images of `d` whose label is `label`, in order: u8 [n, H, W] (the chapter's stacked_threes
// before the division by 255). Throws Error when the label is outside the class list.
Tensor images_with_label(const ImageData& d, std::int64_t label);

// The rows of t split into batches along the first axis: views (no copy); the last batch is
// smaller when batch_size does not divide t.size(0). As Nx's to_batched.
// t: [N, ...] -> ceil(N / batch_size) tensors [<=batch_size, ...]
std::vector<Tensor> to_batched(const Tensor& t, std::int64_t batch_size);

// u8 values -> f32 in [0, 1] (v / 255), same shape. t: u8 [...] -> f32 [...]
Tensor to_unit_float(const Tensor& t);

// Reads a dataset by name: "mnist" (all 10 digits), "mnist-sample" (the chapter's 3s and 7s),
// both fetched into the cache if needed (with a one-line note on stderr); or a folder holding the
// four MNIST IDX files (each possibly .gz), or an image folder (ROOT/train/<label>/*.png,
// ROOT/valid/<label>/*.png; `resize` and `size` as in load_image_folder).
DataSplit load_dataset(const std::string& spec, bool resize = false, std::int64_t size = 0);

// ---- Dataset: (x, y) pairs by index ----

// The shape and dtype of one item's x or y.
struct ItemSpec {
  Shape shape;
  DType dtype = DType::f32;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual std::int64_t size() const = 0;
  // Item i as (x, y); i in [0, size()).
  virtual std::pair<Tensor, Tensor> get(std::int64_t i) const = 0;
  // The shape and dtype of every item's x and y (the default asks get(0)).
  virtual std::pair<ItemSpec, ItemSpec> item_spec() const;
  // Writes items indices[0..n) into rows 0..n of x [>= n, ...] and y [>= n, ...], both contiguous
  // and of item_spec()'s dtypes. The default copies get(i) row by row; datasets override it to
  // gather without allocating.
  virtual void gather(std::span<const std::int64_t> indices, Tensor& x, Tensor& y) const;
  // Whether gather may run on another thread while the caller goes on (it reads only state that
  // nothing changes during an epoch, and draws no random numbers): the DataLoader then gathers
  // the next batch in the background. Off unless a dataset says so; TensorDataset and
  // ImageDataset say so for themselves only, so a subclass that overrides gather opts in itself.
  virtual bool concurrent_gather() const { return false; }
};

// Rows of two tensors: item i is (x[i], y[i]).
class TensorDataset : public Dataset {
 public:
  // x: [N, ...], y: [N, ...] (same N)
  TensorDataset(Tensor x, Tensor y);
  std::int64_t size() const override;
  std::pair<Tensor, Tensor> get(std::int64_t i) const override;
  std::pair<ItemSpec, ItemSpec> item_spec() const override;
  void gather(std::span<const std::int64_t> indices, Tensor& x, Tensor& y) const override;
  bool concurrent_gather() const override { return typeid(*this) == typeid(TensorDataset); }

 private:
  Tensor x_, y_;
};

// How ImageDataset shapes an image: flat [H*W] (a linear model's input, [784] for MNIST) or
// [1, H, W] (a convolution's input).
enum class Layout { flat, image };

// Images as f32 in [0, 1] (converted when gathered) with i64 labels.
class ImageDataset : public Dataset {
 public:
  explicit ImageDataset(ImageData data, Layout layout = Layout::flat);
  std::int64_t size() const override;
  // (f32 [H*W] or [1, H, W], i64 scalar)
  std::pair<Tensor, Tensor> get(std::int64_t i) const override;
  std::pair<ItemSpec, ItemSpec> item_spec() const override;
  void gather(std::span<const std::int64_t> indices, Tensor& x, Tensor& y) const override;
  bool concurrent_gather() const override { return typeid(*this) == typeid(ImageDataset); }
  const ImageData& data() const { return data_; }
  Layout layout() const { return layout_; }

 private:
  ImageData data_;
  Layout layout_;
};

}  // namespace ember::data
