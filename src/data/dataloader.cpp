#include "ember/data/dataloader.hpp"

#include <algorithm>
#include <numeric>

#include "ember/core/error.hpp"

namespace ember::data {

namespace {

Shape with_batch(std::int64_t b, const Shape& item) {
  Shape s{b};
  s.insert(s.end(), item.begin(), item.end());
  return s;
}

// Nothing but `buffer` itself refers to its data: no copy of the handle, no view of the storage.
bool only_owner(const Tensor& buffer) {
  return buffer.defined() && buffer.impl_ptr().use_count() == 1 &&
         buffer.impl().storage.use_count() == 1;
}

}  // namespace

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, std::int64_t batch_size,
                       bool shuffle, Generator* gen, bool drop_last)
    : dataset_(std::move(dataset)),
      batch_size_(batch_size),
      shuffle_(shuffle),
      gen_(gen),
      drop_last_(drop_last) {
  if (!dataset_) throw Error("DataLoader: no dataset");
  if (batch_size_ < 1) {
    throw Error("DataLoader: batch size must be positive, got " + std::to_string(batch_size_));
  }
  if (shuffle_ && !gen_) {
    throw Error("DataLoader: shuffle needs a Generator (pass &gen; runs repeat with its seed)");
  }
}

DataLoader::DataLoader(const Dataset& dataset, std::int64_t batch_size, bool shuffle,
                       Generator* gen, bool drop_last)
    : DataLoader(std::shared_ptr<const Dataset>(&dataset, [](const Dataset*) {}), batch_size,
                 shuffle, gen, drop_last) {}

DataLoader& DataLoader::float_targets(bool on) {
  if (on != float_targets_) stop_background();  // a batch being gathered has the old targets
  float_targets_ = on;
  return *this;
}

DataLoader& DataLoader::transform(std::function<void(Batch&)> fn) {
  transform_ = std::move(fn);
  return *this;
}

DataLoader& DataLoader::prefetch(bool on) {
  if (!on) stop_background();
  prefetch_ = on;
  return *this;
}

DataLoader::~DataLoader() { stop_background(); }

void DataLoader::stop_background() { background_.reset(); }

std::int64_t DataLoader::size() const {
  const std::int64_t n = dataset_->size();
  return drop_last_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

void DataLoader::new_epoch() {
  const std::int64_t n = dataset_->size();
  if (shuffle_) {
    const Tensor perm = randperm(n, *gen_);
    order_ = perm.to_vector<std::int64_t>();
  } else {
    order_.resize(static_cast<std::size_t>(n));
    std::iota(order_.begin(), order_.end(), std::int64_t{0});
  }
}

DataLoader::Iterator DataLoader::begin() {
  stop_background();  // a restart: the batch being gathered belongs to the last epoch
  current_ = Batch{};
  new_epoch();
  if (size() > 0) advance(0);
  return Iterator(this, 0);
}

DataLoader::Iterator DataLoader::end() { return Iterator(this, size()); }

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  ++index_;
  if (index_ < loader_->size()) {
    loader_->advance(index_);
  } else {
    loader_->stop_background();
    loader_->current_ = Batch{};  // the epoch is over: let go of the last batch
  }
  return *this;
}

Tensor DataLoader::reuse_or_alloc(Tensor& buffer, const Shape& shape, DType dtype) {
  if (!(only_owner(buffer) && buffer.shape() == shape && buffer.dtype() == dtype)) {
    buffer = empty(shape, dtype);
  }
  return buffer;
}

namespace {

// y (any dtype, one value per item) -> f32 [B, 1].
void fill_float_targets(const Tensor& y, std::int64_t rows, Tensor& out) {
  if (rows > 0 && y.numel() / y.size(0) != 1) {
    throw Error("DataLoader: float_targets needs one label per item, got items of shape " +
                shape_str(Shape(y.shape().begin() + 1, y.shape().end())));
  }
  float* dst = out.data_ptr<float>();
  dispatch_dtype(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = y.data_ptr<T>();
    for (std::int64_t i = 0; i < rows; ++i) dst[i] = static_cast<float>(src[i]);
  });
}

}  // namespace

DataLoader::Gathered DataLoader::prepare(std::int64_t index) {
  const std::int64_t n = dataset_->size();
  if (order_.size() != static_cast<std::size_t>(n)) {
    stop_background();
    new_epoch();
  }
  if (!spec_known_) {
    spec_ = dataset_->item_spec();
    spec_known_ = true;
  }
  Slot& slot = slots_[index % 2];
  Gathered g;
  g.index = index;
  g.rows = std::min(batch_size_, n - index * batch_size_);
  g.x = reuse_or_alloc(slot.x, with_batch(batch_size_, spec_.first.shape), spec_.first.dtype);
  g.y = reuse_or_alloc(slot.y, with_batch(batch_size_, spec_.second.shape), spec_.second.dtype);
  if (float_targets_) g.t = reuse_or_alloc(slot.t, {batch_size_, 1}, DType::f32);
  return g;
}

void DataLoader::fill(const Gathered& g, std::int64_t lo, std::int64_t hi) const {
  const std::span<const std::int64_t> idx(order_.data() + g.index * batch_size_ + lo,
                                          static_cast<std::size_t>(hi - lo));
  Tensor x = g.x.slice(0, lo, hi), y = g.y.slice(0, lo, hi);
  dataset_->gather(idx, x, y);
  if (g.t.defined()) {
    Tensor t = g.t.slice(0, lo, hi);
    fill_float_targets(y, hi - lo, t);
  }
}

void DataLoader::finish(Gathered g) {
  const bool whole = g.rows == batch_size_;
  Batch b;
  b.x = whole ? std::move(g.x) : g.x.slice(0, 0, g.rows);
  const Tensor& y = g.t.defined() ? g.t : g.y;
  b.y = whole ? y : y.slice(0, 0, g.rows);
  g = Gathered{};  // the batch's tensors are held by b alone
  if (transform_) transform_(b);
  current_ = std::move(b);
}

DataLoader::Gathered DataLoader::gather_here(std::int64_t index) {
  Gathered g = prepare(index);
  if (g.rows > 0) fill(g, 0, g.rows);
  return g;
}

void DataLoader::load(std::int64_t index) { finish(gather_here(index)); }

void DataLoader::advance(std::int64_t index) {
  current_ = Batch{};  // drop our own hold on the previous batch before deciding on reuse
  Gathered g;
  if (background_.task.pending() && background_.batch.index == index) {
    g = std::move(background_.batch);
    background_.batch = Gathered{};
    background_.task.wait();  // rethrows what the gather threw, as a gather here would
  } else {
    stop_background();
    g = gather_here(index);
  }
  // the next batch is gathered while this one is transformed and used
  if (index + 1 < size()) prefetch_next(index + 1);
  finish(std::move(g));
}

void DataLoader::prefetch_next(std::int64_t index) {
  if (!prefetch_ || get_num_threads() < 2 || !dataset_->concurrent_gather()) return;
  background_.batch = prepare(index);
  // The task holds its own handles to the buffers (released when it has run) and reads order_,
  // which nothing changes before wait() or cancel(). In chunks of about 1/8 of the batch, so that
  // the caller, when it comes for the batch, takes over whatever the worker has not begun.
  const std::int64_t rows = background_.batch.rows;
  background_.task.start(
      0, rows, std::max<std::int64_t>(1, (rows + 7) / 8),
      [this, g = background_.batch](std::int64_t lo, std::int64_t hi) { fill(g, lo, hi); });
}

Batch DataLoader::batch(std::int64_t index) {
  if (index < 0 || index >= size()) {
    throw Error("DataLoader::batch: index " + std::to_string(index) + " out of range for " +
                std::to_string(size()) + " batches");
  }
  // Gathered into fresh buffers, so it never aliases the batches the iteration hands out.
  Slot keep[2] = {std::move(slots_[0]), std::move(slots_[1])};
  slots_[0] = Slot{};
  slots_[1] = Slot{};
  Batch saved = std::move(current_);
  load(index);
  Batch out = std::move(current_);
  current_ = std::move(saved);
  slots_[0] = std::move(keep[0]);
  slots_[1] = std::move(keep[1]);
  return out;
}

}  // namespace ember::data
