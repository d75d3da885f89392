// Dataset, ImageDataset, DataLoader, to_batched.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "ember/core/error.hpp"
#include "ember/core/parallel.hpp"
#include "ember/core/random.hpp"
#include "ember/data/dataloader.hpp"
#include "ember/ops/elementwise.hpp"
#include "io/test_files.hpp"
#include "support/threads.hpp"

using namespace ember;
using namespace ember::data;
using ember::testing::expect_error;
using ember::testing::ThreadCount;

namespace {

// x: [n, 2] with row i = (i, 10 i); y: [n] = i.
std::shared_ptr<TensorDataset> numbered(std::int64_t n) {
  std::vector<float> x;
  std::vector<std::int64_t> y;
  for (std::int64_t i = 0; i < n; ++i) {
    x.push_back(static_cast<float>(i));
    x.push_back(static_cast<float>(10 * i));
    y.push_back(i);
  }
  return std::make_shared<TensorDataset>(from_vector(x, {n, 2}), from_vector(y, {n}));
}

// The item ids of one epoch, batch by batch.
std::vector<std::vector<std::int64_t>> epoch(DataLoader& dl) {
  std::vector<std::vector<std::int64_t>> out;
  for (const Batch& b : dl) out.push_back(b.y.to_vector<std::int64_t>());
  return out;
}

std::vector<std::int64_t> flat(const std::vector<std::vector<std::int64_t>>& e) {
  std::vector<std::int64_t> out;
  for (const auto& b : e) out.insert(out.end(), b.begin(), b.end());
  return out;
}

ImageData tiny_images(std::int64_t n) {
  ImageData d;
  d.images = empty({n, 2, 3}, DType::u8);
  d.labels = empty({n}, DType::i64);
  d.classes = {"zero", "one"};
  for (std::int64_t i = 0; i < n * 6; ++i)
    d.images.data_ptr<std::uint8_t>()[i] = static_cast<std::uint8_t>(i * 5);
  for (std::int64_t i = 0; i < n; ++i) d.labels.data_ptr<std::int64_t>()[i] = i % 2;
  return d;
}

}  // namespace

TEST(DataLoader, BatchCountAndOrderWithoutShuffle) {
  auto ds = numbered(10);
  DataLoader dl(ds, 3);
  EXPECT_EQ(dl.size(), 4);
  const auto e = epoch(dl);
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[0], (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_EQ(e[3], (std::vector<std::int64_t>{9}));
  // x rows follow y.
  for (const Batch& b : dl) {
    ASSERT_EQ(b.x.shape()[1], 2);
    const auto xs = b.x.to_vector<float>();
    const auto ys = b.y.to_vector<std::int64_t>();
    for (std::size_t k = 0; k < ys.size(); ++k) {
      EXPECT_EQ(xs[2 * k], static_cast<float>(ys[k]));
      EXPECT_EQ(xs[2 * k + 1], static_cast<float>(10 * ys[k]));
    }
  }
}

TEST(DataLoader, DropLast) {
  auto ds = numbered(10);
  DataLoader dl(ds, 3, false, nullptr, /*drop_last=*/true);
  EXPECT_EQ(dl.size(), 3);
  const auto e = epoch(dl);
  ASSERT_EQ(e.size(), 3u);
  for (const auto& b : e) EXPECT_EQ(b.size(), 3u);
  DataLoader exact(ds, 5, false, nullptr, true);
  EXPECT_EQ(exact.size(), 2);
  DataLoader big(ds, 11, false, nullptr, true);
  EXPECT_EQ(big.size(), 0);
  EXPECT_TRUE(epoch(big).empty());
}

TEST(DataLoader, ShuffleSeesEveryItemOncePerEpoch) {
  auto ds = numbered(103);
  Generator gen(7);
  DataLoader dl(ds, 16, true, &gen);
  for (int ep = 0; ep < 3; ++ep) {
    auto ids = flat(epoch(dl));
    ASSERT_EQ(ids.size(), 103u);
    std::sort(ids.begin(), ids.end());
    for (std::int64_t i = 0; i < 103; ++i) EXPECT_EQ(ids[static_cast<std::size_t>(i)], i);
  }
}

TEST(DataLoader, ShuffleRepeatsWithSeedAndDiffersEachEpoch) {
  auto ds = numbered(50);
  Generator g1(42), g2(42), g3(43);
  DataLoader a(ds, 8, true, &g1), b(ds, 8, true, &g2), c(ds, 8, true, &g3);
  const auto a1 = flat(epoch(a)), a2 = flat(epoch(a));
  const auto b1 = flat(epoch(b)), b2 = flat(epoch(b));
  const auto c1 = flat(epoch(c));
  EXPECT_EQ(a1, b1);
  EXPECT_EQ(a2, b2);
  EXPECT_NE(a1, a2);
  EXPECT_NE(a1, c1);
  std::vector<std::int64_t> identity(50);
  for (std::int64_t i = 0; i < 50; ++i) identity[static_cast<std::size_t>(i)] = i;
  EXPECT_NE(a1, identity);
}

TEST(DataLoader, ShuffleNeedsGenerator) {
  auto ds = numbered(4);
  expect_error([&] { DataLoader dl(ds, 2, true, nullptr); }, {"Generator"});
  expect_error([&] { DataLoader dl(ds, 0); }, {"batch size"});
}

TEST(DataLoader, ReusesBufferOnlyWhenNobodyHoldsIt) {
  auto ds = numbered(12);
  DataLoader dl(ds, 4);
  // Not held: two buffers (one filled while the caller uses the other) come back in turn, batch
  // i of each epoch (3 batches) in buffer i % 2.
  std::vector<const void*> seen;
  for (int e = 0; e < 2; ++e)
    for (const Batch& b : dl) seen.push_back(b.x.raw_data());
  ASSERT_EQ(seen.size(), 6u);
  EXPECT_NE(seen[0], seen[1]);
  for (std::size_t k = 2; k < seen.size(); ++k)
    EXPECT_EQ(seen[k], seen[k % 3 % 2]) << "batch " << k;
  // Held (a copy of the handle, or a view): the earlier batch keeps its values.
  std::vector<Tensor> kept;
  for (const Batch& b : dl) kept.push_back(b.x.reshape({-1}));
  ASSERT_EQ(kept.size(), 3u);
  for (std::size_t k = 0; k < kept.size(); ++k) {
    EXPECT_EQ(kept[k].to_vector<float>()[0], static_cast<float>(4 * k)) << "batch " << k;
  }
  EXPECT_NE(kept[0].raw_data(), kept[1].raw_data());
}

TEST(DataLoader, ImageDatasetLayouts) {
  auto images = tiny_images(5);
  auto flat_ds = std::make_shared<ImageDataset>(images, Layout::flat);
  DataLoader dl(flat_ds, 2);
  auto it = dl.begin();
  EXPECT_EQ(it->x.shape(), (Shape{2, 6}));
  EXPECT_EQ(it->x.dtype(), DType::f32);
  EXPECT_EQ(it->y.dtype(), DType::i64);
  EXPECT_EQ(it->y.shape(), (Shape{2}));
  const auto xs = it->x.to_vector<float>();
  for (std::size_t i = 0; i < xs.size(); ++i)
    EXPECT_FLOAT_EQ(xs[i], static_cast<float>(i * 5) / 255.0f);
  EXPECT_EQ(it->y.to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 1}));

  ImageDataset img_ds(images, Layout::image);
  DataLoader dl2(img_ds, 2);
  std::vector<Shape> shapes;
  for (const Batch& b : dl2) shapes.push_back(b.x.shape());
  EXPECT_EQ(shapes, (std::vector<Shape>{{2, 1, 2, 3}, {2, 1, 2, 3}, {1, 1, 2, 3}}));
  auto [x4, y4] = img_ds.get(4);
  EXPECT_EQ(x4.shape(), (Shape{1, 2, 3}));
  EXPECT_FLOAT_EQ(x4.to_vector<float>()[0], 120.0f / 255.0f);
  EXPECT_EQ(y4.item<std::int64_t>(), 0);
}

TEST(DataLoader, FloatTargetsAndTransform) {
  ImageDataset ds(tiny_images(5), Layout::flat);
  int calls = 0;
  DataLoader dl(ds, 2);
  dl.float_targets().transform([&](Batch& b) {
    ++calls;
    b.x = b.x.reshape({b.x.shape()[0], 2, 3});
  });
  std::vector<float> targets;
  for (const Batch& b : dl) {
    EXPECT_EQ(b.y.dtype(), DType::f32);
    EXPECT_EQ(b.y.shape(), (Shape{b.x.shape()[0], 1}));
    EXPECT_EQ(b.x.rank(), 3);
    for (float v : b.y.to_vector<float>()) targets.push_back(v);
  }
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(targets, (std::vector<float>{0, 1, 0, 1, 0}));
}

TEST(DataLoader, GenericDatasetThroughGet) {
  // A dataset that only implements size() and get(): the default gather stacks items.
  struct Squares : Dataset {
    std::int64_t size() const override { return 5; }
    std::pair<Tensor, Tensor> get(std::int64_t i) const override {
      return {full({3}, static_cast<double>(i * i)), scalar(static_cast<double>(i), DType::i64)};
    }
  };
  Squares ds;
  DataLoader dl(ds, 2);
  EXPECT_EQ(dl.size(), 3);
  std::vector<float> firsts;
  for (const Batch& b : dl) {
    const auto v = b.x.to_vector<float>();
    for (std::size_t k = 0; k < v.size(); k += 3) firsts.push_back(v[k]);
  }
  EXPECT_EQ(firsts, (std::vector<float>{0, 1, 4, 9, 16}));
}

TEST(DataLoader, BatchByIndex) {
  auto ds = numbered(7);
  DataLoader dl(ds, 3);
  const Batch b = dl.batch(2);
  EXPECT_EQ(b.y.to_vector<std::int64_t>(), (std::vector<std::int64_t>{6}));
  expect_error([&] { dl.batch(3); }, {"out of range"});
}

namespace {

// Every batch of `epochs` epochs, x and y copied out, stopping after `stop_at` batches of an
// epoch when that is >= 0 (an early break; the next epoch restarts the loader).
std::vector<std::vector<float>> all_batches(DataLoader& dl, int epochs, int stop_at = -1) {
  std::vector<std::vector<float>> out;
  for (int e = 0; e < epochs; ++e) {
    int k = 0;
    for (const Batch& b : dl) {
      if (k++ == stop_at) break;
      out.push_back(b.x.to_vector<float>());
      out.push_back(b.y.to_vector<float>());
    }
  }
  return out;
}

}  // namespace

TEST(DataLoader, PrefetchGivesTheSameBatchesBitForBit) {
  // The background gather against the same loader gathering each batch when asked: shuffled, a
  // short last batch, float targets, a transform, early breaks. Expected: identical batches.
  ThreadCount t(2);
  ImageDataset ds(tiny_images(23), Layout::flat);
  ASSERT_TRUE(ds.concurrent_gather());
  for (const int stop_at : {-1, 0, 1, 3}) {
    Generator g1(5), g2(5);
    DataLoader on(ds, 4, true, &g1), off(ds, 4, true, &g2);
    int calls_on = 0, calls_off = 0;
    on.float_targets().transform([&](Batch& b) { b.x = b.x * scalar(++calls_on); });
    off.float_targets().prefetch(false).transform(
        [&](Batch& b) { b.x = b.x * scalar(++calls_off); });
    const auto a = all_batches(on, 3, stop_at), b = all_batches(off, 3, stop_at);
    EXPECT_EQ(calls_on, calls_off);
    ASSERT_EQ(a.size(), b.size()) << "stop_at " << stop_at;
    for (std::size_t k = 0; k < a.size(); ++k) EXPECT_EQ(a[k], b[k]) << "item " << k;
  }
}

TEST(DataLoader, SettingsChangedMidEpochApplyToTheNextBatch) {
  // float_targets switched on during batch 0 (batch 1 already being gathered): batch 1 has f32
  // targets with and without prefetch.
  ThreadCount t(2);
  ImageDataset ds(tiny_images(12), Layout::flat);
  for (const bool prefetch : {true, false}) {
    DataLoader dl(ds, 4);
    dl.prefetch(prefetch);
    std::vector<DType> dtypes;
    for (const Batch& b : dl) {
      dtypes.push_back(b.y.dtype());
      dl.float_targets(true);
    }
    EXPECT_EQ(dtypes, (std::vector<DType>{DType::i64, DType::f32, DType::f32}))
        << "prefetch " << prefetch;
  }
}

TEST(DataLoader, OnlyDatasetsThatSaySoAreGatheredInTheBackground) {
  // A subclass may gather differently (say, with a Generator of the caller's): it does not
  // inherit its base's concurrent_gather().
  struct Noisy : TensorDataset {
    using TensorDataset::TensorDataset;
    void gather(std::span<const std::int64_t> idx, Tensor& x, Tensor& y) const override {
      TensorDataset::gather(idx, x, y);
    }
  };
  struct NoisyImages : ImageDataset {
    using ImageDataset::ImageDataset;
  };
  EXPECT_TRUE(numbered(3)->concurrent_gather());
  EXPECT_FALSE(Noisy(zeros({3, 2}), zeros({3})).concurrent_gather());
  EXPECT_FALSE(NoisyImages(tiny_images(3)).concurrent_gather());
}

TEST(DataLoader, PrefetchNeverOverwritesAHeldBatch) {
  ThreadCount t(2);
  auto ds = numbered(40);
  DataLoader dl(ds, 4);
  std::vector<Batch> kept;
  for (const Batch& b : dl) {
    kept.push_back(b);
    std::this_thread::sleep_for(std::chrono::microseconds(200));  // the next gather runs meanwhile
  }
  ASSERT_EQ(kept.size(), 10u);
  for (std::size_t k = 0; k < kept.size(); ++k)
    EXPECT_EQ(kept[k].y.to_vector<std::int64_t>()[0], static_cast<std::int64_t>(4 * k));
}

TEST(DataLoader, PrefetchErrorSurfacesAtItsBatch) {
  // A gather that fails on items 9 and 11 (batch 2 of 4, item 9 slowly): the error of item 9, as
  // a gather in order meets it first, comes out of the ++ that reaches batch 2, after batches 0
  // and 1 were handed out; a new epoch starts clean.
  struct Failing : TensorDataset {
    using TensorDataset::TensorDataset;
    void gather(std::span<const std::int64_t> idx, Tensor& x, Tensor& y) const override {
      for (const std::int64_t i : idx) {
        if (i == 9 && fail) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
          throw Error("Failing: item 9 is unreadable");
        }
        if (i == 11 && fail) throw Error("Failing: item 11 is unreadable");
      }
      TensorDataset::gather(idx, x, y);
    }
    bool concurrent_gather() const override { return true; }
    mutable std::atomic<bool> fail{true};
  };
  ThreadCount t(2);
  Failing ds(from_vector(std::vector<float>(32, 1.f), {16, 2}),
             from_vector(std::vector<std::int64_t>(16, 3), {16}));
  ASSERT_TRUE(ds.concurrent_gather());
  DataLoader dl(ds, 4);
  int seen = 0;
  expect_error(
      [&] {
        for (const Batch& b : dl) {
          (void)b;
          ++seen;
        }
      },
      {"item 9 is unreadable"});
  EXPECT_EQ(seen, 2);
  ds.fail = false;
  EXPECT_EQ(flat(epoch(dl)).size(), 16u);
}

TEST(DataLoader, MovedAndCopiedLoadersKeepWorking) {
  ThreadCount t(2);
  auto ds = numbered(10);
  DataLoader a(ds, 3);
  auto it = a.begin();  // a gather of batch 1 may be running now
  DataLoader b = std::move(a);
  EXPECT_EQ(flat(epoch(b)), (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  DataLoader c(b);
  (void)c.begin();
  EXPECT_EQ(flat(epoch(c)), flat(epoch(b)));
  (void)it;
}

TEST(DataLoader, TensorDatasetChecks) {
  expect_error([] { TensorDataset ds(zeros({3, 2}), zeros({4})); }, {"[3, 2]", "[4]"});
  TensorDataset ds(zeros({3, 2}), zeros({3}));
  expect_error([&] { ds.get(3); }, {"out of range"});
}

TEST(ToBatched, SplitsFirstAxisIntoViews) {
  const Tensor t = arange(0, 20, 1, DType::i64).reshape({10, 2});
  const auto batches = to_batched(t, 4);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].shape(), (Shape{4, 2}));
  EXPECT_EQ(batches[2].shape(), (Shape{2, 2}));
  EXPECT_EQ(batches[2].to_vector<std::int64_t>(), (std::vector<std::int64_t>{16, 17, 18, 19}));
  EXPECT_EQ(batches[0].impl().storage, t.impl().storage);  // views, no copy
  expect_error([&] { to_batched(t, 0); }, {"batch size"});
}

TEST(ToUnitFloat, DividesBy255) {
  const Tensor t = from_vector<std::uint8_t>({0, 51, 255}, {3});
  const Tensor f = to_unit_float(t);
  EXPECT_EQ(f.dtype(), DType::f32);
  EXPECT_EQ(f.to_vector<float>(), (std::vector<float>{0.0f, 0.2f, 1.0f}));
  expect_error([] { to_unit_float(zeros({2})); }, {"u8"});
}
