// Image folders: reading, label order, sizes and resizing, export round trip, bad folders.
#include <gtest/gtest.h>

#include <filesystem>

#include "ember/data/image_folder.hpp"
#include "ember/io/png.hpp"
#include "io/test_files.hpp"

using namespace ember;
using namespace ember::data;
using ember::testing::expect_error;
using ember::testing::TempDir;
namespace fs = std::filesystem;

namespace {

// A grey image h x w filled with `value`.
void put(const std::string& path, std::int64_t h, std::int64_t w, std::uint8_t value) {
  fs::create_directories(fs::path(path).parent_path());
  io::write_png(full({h, w}, value, DType::u8), path);
}

// ROOT/{train,valid}/{a,b}: train a: 2 images, b: 3; valid a: 1, b: 1. Pixel value tells which.
void make_folder(const TempDir& root) {
  put(root / "train/a/1.png", 4, 3, 10);
  put(root / "train/a/2.png", 4, 3, 11);
  put(root / "train/b/x2.png", 4, 3, 22);
  put(root / "train/b/x10.png", 4, 3, 23);  // natural order: x2 before x10
  put(root / "train/b/x1.png", 4, 3, 21);
  put(root / "valid/a/0.png", 4, 3, 30);
  put(root / "valid/b/0.png", 4, 3, 40);
  ember::testing::write_bytes(root / "train/b/notes.txt", {'h', 'i'});  // not an image: skipped
}

std::vector<std::uint8_t> first_pixels(const ImageData& d) {
  std::vector<std::uint8_t> out;
  const auto px = d.images.to_vector<std::uint8_t>();
  const auto per = static_cast<std::size_t>(d.images.size(1) * d.images.size(2));
  for (std::int64_t i = 0; i < d.size(); ++i) out.push_back(px[static_cast<std::size_t>(i) * per]);
  return out;
}

}  // namespace

TEST(ImageFolder, ReadsLabelsFromFolderNames) {
  TempDir root;
  make_folder(root);
  const DataSplit s = load_image_folder(root.str());
  EXPECT_EQ(s.train.classes, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(s.train.images.shape(), (Shape{5, 4, 3}));
  EXPECT_EQ(s.train.images.dtype(), DType::u8);
  EXPECT_EQ(first_pixels(s.train), (std::vector<std::uint8_t>{10, 11, 21, 22, 23}));
  EXPECT_EQ(s.train.labels.to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 0, 1, 1, 1}));
  EXPECT_EQ(first_pixels(s.valid), (std::vector<std::uint8_t>{30, 40}));
  EXPECT_EQ(s.valid.labels.to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 1}));
  EXPECT_EQ(load_dataset(root.str()).train.size(), 5);
}

TEST(ImageFolder, NumericLabelsSortAsNumbers) {
  TempDir root;
  for (const char* label : {"10", "2", "1"}) {
    put(root / (std::string("train/") + label + "/0.png"), 2, 2, 1);
    put(root / (std::string("valid/") + label + "/0.png"), 2, 2, 1);
  }
  EXPECT_EQ(load_image_folder(root.str()).train.classes,
            (std::vector<std::string>{"1", "2", "10"}));
}

TEST(ImageFolder, DifferentSizeIsAnErrorUnlessResize) {
  TempDir root;
  make_folder(root);
  put(root / "valid/b/1.png", 8, 6, 50);
  expect_error([&] { load_image_folder(root.str()); }, {root / "valid/b/1.png", "6x8", "3x4"});
  const DataSplit s = load_image_folder(root.str(), /*resize=*/true);
  EXPECT_EQ(s.valid.images.shape(), (Shape{3, 4, 3}));  // to the first image's size
  EXPECT_EQ(first_pixels(s.valid)[2], 50);
  const DataSplit t = load_image_folder(root.str(), true, 7);
  EXPECT_EQ(t.train.images.shape(), (Shape{5, 7, 7}));
  EXPECT_EQ(t.valid.images.shape(), (Shape{3, 7, 7}));
}

TEST(ImageFolder, EmptyAndMissingFolders) {
  TempDir root;
  expect_error([&] { load_image_folder(root.str()); }, {root / "train"});
  fs::create_directories(root / "train");
  expect_error([&] { load_image_folder(root.str()); }, {root / "train", "no label folders"});
  fs::create_directories(root / "train/3");
  ember::testing::write_bytes(root / "train/3/readme.txt", {'x'});
  expect_error([&] { load_image_folder(root.str()); }, {root / "train/3", "no PNG images"});
  put(root / "train/3/0.png", 2, 2, 0);
  expect_error([&] { load_image_folder(root.str()); }, {root / "valid"});
  put(root / "valid/9/0.png", 2, 2, 0);
  expect_error([&] { load_image_folder(root.str()); }, {root / "valid/9", "not in the training"});
  expect_error([&] { load_image_folder(root / "nothing-here"); }, {"nothing-here", "not a folder"});
}

TEST(ImageFolder, BadPngNamed) {
  TempDir root;
  make_folder(root);
  ember::testing::write_bytes(root / "train/a/3.png", {'n', 'o', 'p', 'e'});
  expect_error([&] { load_image_folder(root.str()); }, {root / "train/a/3.png", "not a PNG"});
}

TEST(ImageFolder, ExportThenLoadRoundTrips) {
  TempDir tmp;
  DataSplit s;
  s.name = "test";
  s.train.images = empty({5, 3, 2}, DType::u8);
  for (std::int64_t i = 0; i < 30; ++i)
    s.train.images.data_ptr<std::uint8_t>()[i] = static_cast<std::uint8_t>(i * 8);
  s.train.labels = from_vector<std::int64_t>({1, 0, 1, 1, 0}, {5});
  s.train.classes = {"7", "3"};  // label order that sorting would not give
  s.valid.images = full({2, 3, 2}, 9, DType::u8);
  s.valid.labels = from_vector<std::int64_t>({0, 1}, {2});
  s.valid.classes = s.train.classes;
  export_png(s, tmp / "out");
  EXPECT_TRUE(fs::exists(tmp / "out/train/3/0.png"));
  EXPECT_TRUE(fs::exists(tmp / "out/train/7/1.png"));
  EXPECT_TRUE(fs::exists(tmp / "out/valid/7/0.png"));
  const DataSplit r = load_image_folder(tmp / "out");
  EXPECT_EQ(r.train.classes, s.train.classes);  // kept by classes.txt
  // Read back grouped by label folder in name order (3s, then 7s), each in index order: for
  // mnist-sample that is the order it was made in.
  EXPECT_EQ(r.train.labels.to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 1, 1, 0, 0}));
  const auto px = r.train.images.to_vector<std::uint8_t>();
  EXPECT_EQ(px[0], 0);        // index 0 (a "3")
  EXPECT_EQ(px[6], 2 * 48);   // index 2
  EXPECT_EQ(px[18], 48);      // index 1 (a "7")
  EXPECT_EQ(px[24], 4 * 48);  // index 4
  EXPECT_EQ(r.valid.size(), 2);
  // Exporting into a folder that is not empty is refused.
  expect_error([&] { export_png(s, tmp / "out"); }, {tmp / "out", "not an empty folder"});
}

TEST(ImageFolder, ResizeArea) {
  Tensor img = from_vector<std::uint8_t>({0, 100, 200, 40,  //
                                          20, 80, 0, 40,    //
                                          10, 10, 50, 50,   //
                                          30, 30, 50, 50},
                                         {4, 4});
  EXPECT_EQ(resize_area(img, 2, 2).to_vector<std::uint8_t>(),
            (std::vector<std::uint8_t>{50, 70, 20, 50}));
  const Tensor up = resize_area(full({3, 3}, 77, DType::u8), 7, 5);
  EXPECT_EQ(up.shape(), (Shape{7, 5}));
  for (std::uint8_t v : up.to_vector<std::uint8_t>()) EXPECT_EQ(v, 77);
  EXPECT_EQ(resize_area(img, 4, 4).to_vector<std::uint8_t>(), img.to_vector<std::uint8_t>());
}
