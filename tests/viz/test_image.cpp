// Images: base64, PNG data URIs, image grids and the show_batch-style HTML.
#include <gtest/gtest.h>

#include <fstream>

#include "ember/io/png.hpp"
#include "ember/viz/image.hpp"
#include "io/test_files.hpp"

using namespace ember;
using namespace ember::viz;
using ember::testing::TempDir;

namespace {

// The test's own decoder, to read back what base64_encode wrote.
std::vector<std::uint8_t> base64_decode(const std::string& text) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<std::uint8_t> out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    const auto v = alphabet.find(c);
    if (v == std::string::npos) ADD_FAILURE() << "not base64: " << c;
    acc = acc << 6 | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(acc >> bits & 0xFF));
    }
  }
  return out;
}

Tensor ramp_u8(std::int64_t h, std::int64_t w, int start) {
  Tensor t = empty({h, w}, DType::u8);
  auto* p = t.data_ptr<std::uint8_t>();
  for (std::int64_t i = 0; i < h * w; ++i) p[i] = static_cast<std::uint8_t>((start + i * 7) % 256);
  return t;
}

}  // namespace

TEST(VizBase64, Rfc4648Vectors) {
  EXPECT_EQ(base64_encode(std::string_view("")), "");
  EXPECT_EQ(base64_encode(std::string_view("f")), "Zg==");
  EXPECT_EQ(base64_encode(std::string_view("fo")), "Zm8=");
  EXPECT_EQ(base64_encode(std::string_view("foo")), "Zm9v");
  EXPECT_EQ(base64_encode(std::string_view("foob")), "Zm9vYg==");
  EXPECT_EQ(base64_encode(std::string_view("fooba")), "Zm9vYmE=");
  EXPECT_EQ(base64_encode(std::string_view("foobar")), "Zm9vYmFy");
}

TEST(VizBase64, AllByteValuesRoundTrip) {
  std::vector<std::uint8_t> bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<std::uint8_t>(i));
  bytes.push_back(0xFF);
  bytes.push_back(0xFE);
  const std::string enc = base64_encode(bytes);
  EXPECT_EQ(enc.size(), (bytes.size() + 2) / 3 * 4);
  EXPECT_EQ(enc.substr(0, 8), "AAECAwQF");
  EXPECT_EQ(base64_decode(enc), bytes);
}

TEST(VizImage, ToU8Image) {
  const Tensor f = tensor({{0.0, 0.5, 1.0}, {-1.0, 2.0, 0.25}});
  const Tensor u = to_u8_image(f);
  EXPECT_EQ(u.dtype(), DType::u8);
  EXPECT_EQ(u.to_vector<int>(), (std::vector<int>{0, 128, 255, 0, 255, 64}));
  EXPECT_EQ(to_u8_image(zeros({1, 4, 5})).shape(), (Shape{4, 5}));
  EXPECT_EQ(to_u8_image(zeros({4, 5, 1})).shape(), (Shape{4, 5}));
  EXPECT_THROW(to_u8_image(zeros({2, 3, 4, 5})), ember::Error);
}

TEST(VizImage, PngDataUriDecodesToTheImage) {
  const Tensor img = ramp_u8(5, 7, 3);
  const std::string uri = png_data_uri(img);
  const std::string prefix = "data:image/png;base64,";
  ASSERT_EQ(uri.rfind(prefix, 0), 0u);
  const auto bytes = base64_decode(uri.substr(prefix.size()));
  ASSERT_GT(bytes.size(), 8u);
  EXPECT_EQ(bytes[1], 'P');
  EXPECT_EQ(bytes[2], 'N');
  EXPECT_EQ(bytes[3], 'G');
  TempDir dir;
  ember::testing::write_bytes(dir / "x.png", bytes);
  const Tensor back = io::read_png(dir / "x.png");
  EXPECT_EQ(back.shape(), img.shape());
  EXPECT_EQ(back.to_vector<int>(), img.to_vector<int>());
}

TEST(VizImage, GridShapeAndValues) {
  std::vector<Tensor> imgs;
  for (int i = 0; i < 5; ++i) imgs.push_back(ramp_u8(3, 4, i * 10));
  const Tensor g = image_grid(imgs, 3, 2, 100);
  // 2 rows of 3: H = 2*3 + 3*2, W = 3*4 + 4*2.
  ASSERT_EQ(g.shape(), (Shape{12, 20}));
  EXPECT_EQ(g.dtype(), DType::u8);
  const auto v = g.to_vector<int>();
  auto at = [&](int y, int x) { return v[static_cast<std::size_t>(y * 20 + x)]; };
  EXPECT_EQ(at(0, 0), 100);  // border
  EXPECT_EQ(at(2, 6), 100);  // between the first two images
  for (int i = 0; i < 5; ++i) {
    const int y0 = 2 + (i / 3) * 5, x0 = 2 + (i % 3) * 6;
    const auto src = imgs[static_cast<std::size_t>(i)].to_vector<int>();
    for (int y = 0; y < 3; ++y) {
      for (int x = 0; x < 4; ++x)
        EXPECT_EQ(at(y0 + y, x0 + x), src[static_cast<std::size_t>(y * 4 + x)]);
    }
  }
  // The sixth cell is empty: the padding colour.
  EXPECT_EQ(at(7, 14), 100);
}

TEST(VizImage, GridOfFloatsAndMixedSizes) {
  const Tensor a = full({2, 2}, 1.0), b = full({4, 4}, 0.5);
  const Tensor g = image_grid({a, b}, 2, 0);
  ASSERT_EQ(g.shape(), (Shape{4, 8}));
  const auto v = g.to_vector<int>();
  EXPECT_EQ(v[0], 0);  // the 2x2 image sits centred in its 4x4 cell
  EXPECT_EQ(v[1 * 8 + 1], 255);
  EXPECT_EQ(v[1 * 8 + 5], 128);
  EXPECT_THROW(image_grid({}, 2), ember::Error);
  EXPECT_THROW(image_grid({a}, 0), ember::Error);
}

TEST(VizImage, GridHtmlHasImagesAndEscapedCaptions) {
  const std::vector<Tensor> imgs = {ramp_u8(28, 28, 0), ramp_u8(28, 28, 50)};
  const std::string html = image_grid_html(imgs, {"label 3", "label 3 / pred 7 / 0.98 <&>"}, 5, 2);
  std::size_t n = 0;
  for (auto at = html.find("data:image/png;base64,"); at != std::string::npos;
       at = html.find("data:image/png;base64,", at + 1)) {
    ++n;
  }
  EXPECT_EQ(n, 2u);
  EXPECT_NE(html.find("width=\"56\""), std::string::npos);
  EXPECT_NE(html.find("label 3 / pred 7 / 0.98 &lt;&amp;&gt;"), std::string::npos);
  EXPECT_NE(html.find("repeat(2,"), std::string::npos);  // no more columns than images
  EXPECT_THROW(image_grid_html(imgs, {"only one"}, 2), ember::Error);
}
