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
//
// With more than one thread, the loader gathers the next batch on an idle pool worker while the
// caller works on the current one (for datasets whose gather may run on another thread, as
// ImageDataset's and TensorDataset's may; prefetch(false) turns it off). The batches are the same
// either way, bit for bit; a transform still runs on the caller's thread, in order. Do not modify
// the dataset's tensors during an epoch.
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <vector>

#include "ember/core/parallel.hpp"
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
  // Whether to gather the next batch in the background (default on; see above).
  DataLoader& prefetch(bool on = true);

  ~DataLoader();                            // waits for a batch being gathered in the background
  DataLoader(const DataLoader&) = default;  // the copy starts with nothing in the background
  DataLoader& operator=(const DataLoader&) = default;
  DataLoader(DataLoader&&) noexcept = default;
  DataLoader& operator=(DataLoader&&) noexcept = default;

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
  // Reused batch buffers: x, y, float targets. Batch i of an epoch goes to slot i % 2, so the
  // batch being gathered in the background never overwrites the one the caller holds.
  struct Slot {
    Tensor x, y, t;
  };
  // A batch's buffers, gathered (or being gathered) but not yet sliced and transformed.
  struct Gathered {
    std::int64_t index = -1, rows = 0;
    Tensor x, y, t;
  };
  // The background gather; first among the members, so that a move or copy waits for it before
  // the members it reads (order_, the buffers) move. Copies start empty.
  struct Background {
    BackgroundTask task;
    Gathered batch;
    Background() = default;
    Background(const Background&) {}
    Background& operator=(const Background&) {
      reset();
      return *this;
    }
    Background(Background&& other) noexcept { other.reset(); }
    Background& operator=(Background&& other) noexcept {
      reset();
      other.reset();
      return *this;
    }
    void reset() {  // cancels the gather and lets go of its batch
      task.cancel();
      batch = Gathered{};
    }
  };

  void new_epoch();
  Gathered prepare(std::int64_t index);
  // Gathers rows [lo, hi) of g; may run on a pool worker (it reads only what prepare fixed).
  void fill(const Gathered& g, std::int64_t lo, std::int64_t hi) const;
  Gathered gather_here(std::int64_t index);  // prepare and fill, on this thread
  void finish(Gathered g);                   // slices, transforms and hands out g as current_
  void load(std::int64_t index);             // gather_here and finish
  void advance(std::int64_t index);          // batch `index`, from the background if gathered there
  void prefetch_next(std::int64_t index);
  void stop_background();
  Tensor reuse_or_alloc(Tensor& buffer, const Shape& shape, DType dtype);

  Background background_;
  std::shared_ptr<const Dataset> dataset_;
  std::int64_t batch_size_;
  bool shuffle_;
  Generator* gen_;
  bool drop_last_;
  bool float_targets_ = false;
  bool prefetch_ = true;
  std::function<void(Batch&)> transform_;
  std::vector<std::int64_t> order_;
  std::pair<ItemSpec, ItemSpec> spec_;  // item shapes, asked of the dataset at the first batch
  bool spec_known_ = false;
  Slot slots_[2];
  Batch current_;
};

}  // namespace ember::data
