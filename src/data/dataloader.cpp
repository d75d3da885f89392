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
  float_targets_ = on;
  return *this;
}

DataLoader& DataLoader::transform(std::function<void(Batch&)> fn) {
  transform_ = std::move(fn);
  return *this;
}

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
  current_ = Batch{};
  new_epoch();
  if (size() > 0) load(0);
  return Iterator(this, 0);
}

DataLoader::Iterator DataLoader::end() { return Iterator(this, size()); }

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  ++index_;
  if (index_ < loader_->size()) {
    loader_->load(index_);
  } else {
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

void DataLoader::load(std::int64_t index) {
  current_ = Batch{};  // drop our own hold on the previous batch before deciding on reuse
  const std::int64_t n = dataset_->size();
  const std::int64_t start = index * batch_size_;
  const std::int64_t rows = std::min(batch_size_, n - start);
  if (order_.size() != static_cast<std::size_t>(n)) new_epoch();
  if (!spec_known_) {
    spec_ = dataset_->item_spec();
    spec_known_ = true;
  }
  Tensor x = reuse_or_alloc(xbuf_, with_batch(batch_size_, spec_.first.shape), spec_.first.dtype);
  Tensor y = reuse_or_alloc(ybuf_, with_batch(batch_size_, spec_.second.shape), spec_.second.dtype);
  const std::span<const std::int64_t> idx(order_.data() + start, static_cast<std::size_t>(rows));
  dataset_->gather(idx, x, y);
  Batch b;
  b.x = rows == batch_size_ ? x : x.slice(0, 0, rows);
  if (float_targets_) {
    Tensor t = reuse_or_alloc(tbuf_, {batch_size_, 1}, DType::f32);
    fill_float_targets(y, rows, t);
    b.y = rows == batch_size_ ? t : t.slice(0, 0, rows);
  } else {
    b.y = rows == batch_size_ ? y : y.slice(0, 0, rows);
  }
  if (transform_) transform_(b);
  current_ = std::move(b);
}

Batch DataLoader::batch(std::int64_t index) {
  if (index < 0 || index >= size()) {
    throw Error("DataLoader::batch: index " + std::to_string(index) + " out of range for " +
                std::to_string(size()) + " batches");
  }
  // Gathered into fresh buffers, so it never aliases the batches the iteration hands out.
  Tensor xkeep = std::move(xbuf_), ykeep = std::move(ybuf_), tkeep = std::move(tbuf_);
  Batch saved = std::move(current_);
  load(index);
  Batch out = std::move(current_);
  current_ = std::move(saved);
  xbuf_ = std::move(xkeep);
  ybuf_ = std::move(ykeep);
  tbuf_ = std::move(tkeep);
  return out;
}

}  // namespace ember::data
