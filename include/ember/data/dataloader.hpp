#pragma once
// DataLoader: a Dataset in mini-batches, shuffled with a new permutation each epoch drawn from a
// seeded Generator (so runs repeat exactly).
//
//   data::ImageDataset train(split.train, data::Layout::flat);
//   Generator gen(42);
//   data::DataLoader dl(train, 256, /*shuffle=*/true, &gen);
//   for (const data::Batch& b : dl) { ... b.x: f32 [256, 784], b.y: i64 [256] ... }
//
// Batches are gathered into buffers the loader keeps and reuses: a batch's tensors are
// overwritten by a later batch only when nothing else (the caller, a view of it, an autograd
// graph) still holds them; otherwise the loader allocates fresh ones. No allocation per item.
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <vector>

#include "ember/core/random.hpp"
#include "ember/core/tensor.hpp"
#include "ember/data/dataset.hpp"

namespace ember::data {

struct Batch {
  Tensor x;  // [B, ...item x shape]
  Tensor y;  // [B, ...item y shape], or f32 [B, 1] with float_targets
};

class DataLoader {
 public:
  // `gen` is needed when shuffle is true; it must outlive the loader. drop_last leaves out a last
  // batch smaller than batch_size.
  DataLoader(std::shared_ptr<const Dataset> dataset, std::int64_t batch_size, bool shuffle = false,
             Generator* gen = nullptr, bool drop_last = false);
  // Does not own `dataset`: it must outlive the loader.
  DataLoader(const Dataset& dataset, std::int64_t batch_size, bool shuffle = false,
             Generator* gen = nullptr, bool drop_last = false);

  // Targets as f32 [B, 1] (the label's value as a float) instead of the dataset's y: the chapter's
  // targets for mnist-sample (1.0 for a 3, 0.0 for a 7) used with a sigmoid and mnist_loss.
  DataLoader& float_targets(bool on = true);
  // Called on each batch after gathering (data augmentation, moving, ...). It may replace x and y.
  DataLoader& transform(std::function<void(Batch&)> fn);

  std::int64_t size() const;  // batches per epoch
  std::int64_t batch_size() const { return batch_size_; }
  const Dataset& dataset() const { return *dataset_; }

  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    using pointer = const Batch*;
    using reference = const Batch&;
    Iterator() = default;
    const Batch& operator*() const { return loader_->current_; }
    const Batch* operator->() const { return &loader_->current_; }
    Iterator& operator++();
    void operator++(int) { ++*this; }
    bool operator==(const Iterator& other) const { return index_ == other.index_; }

   private:
    friend class DataLoader;
    Iterator(DataLoader* loader, std::int64_t index) : loader_(loader), index_(index) {}
    DataLoader* loader_ = nullptr;
    std::int64_t index_ = 0;
  };

  // Starts an epoch: draws a new permutation (when shuffling) and gathers the first batch.
  // One pass at a time: a second begin() restarts the loader.
  Iterator begin();
  Iterator end();

  // Batch `index` (in [0, size())) of the current epoch's order, gathered on its own.
  Batch batch(std::int64_t index);

 private:
  void new_epoch();
  void load(std::int64_t index);
  Tensor reuse_or_alloc(Tensor& buffer, const Shape& shape, DType dtype);

  std::shared_ptr<const Dataset> dataset_;
  std::int64_t batch_size_;
  bool shuffle_;
  Generator* gen_;
  bool drop_last_;
  bool float_targets_ = false;
  std::function<void(Batch&)> transform_;
  std::vector<std::int64_t> order_;
  std::pair<ItemSpec, ItemSpec> spec_;  // item shapes, asked of the dataset at the first batch
  bool spec_known_ = false;
  Tensor xbuf_, ybuf_, tbuf_;  // reused batch buffers: x, y, float targets
  Batch current_;
};

}  // namespace ember::data
