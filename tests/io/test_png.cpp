// PNG reading in every colour type and bit depth, writing, and bad files.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "ember/io/png.hpp"
#include "io/test_files.hpp"

using namespace ember;
using ember::io::PngColor;
using ember::io::PngRaw;
using ember::testing::expect_error;
using ember::testing::TempDir;

namespace {

constexpr std::int64_t W = 5, H = 3;  // odd width: packed rows end in a partial byte

// Packs samples (each < 2^depth) into PNG rows: MSB first; 16-bit big-endian.
std::vector<std::uint8_t> pack(const std::vector<std::uint32_t>& samples, std::int64_t per_row,
                               int depth) {
  std::vector<std::uint8_t> out;
  const std::size_t rows = samples.size() / static_cast<std::size_t>(per_row);
  for (std::size_t r = 0; r < rows; ++r) {
    std::uint32_t acc = 0;
    int bits = 0;
    for (std::int64_t i = 0; i < per_row; ++i) {
      const std::uint32_t v =
          samples[r * static_cast<std::size_t>(per_row) + static_cast<std::size_t>(i)];
      if (depth == 16) {
        out.push_back(static_cast<std::uint8_t>(v >> 8));
        out.push_back(static_cast<std::uint8_t>(v));
      } else if (depth == 8) {
        out.push_back(static_cast<std::uint8_t>(v));
      } else {
        acc = (acc << depth) | v;
        bits += depth;
        if (bits == 8) {
          out.push_back(static_cast<std::uint8_t>(acc));
          acc = 0;
          bits = 0;
        }
      }
    }
    if (bits > 0) out.push_back(static_cast<std::uint8_t>(acc << (8 - bits)));
  }
  return out;
}

std::uint32_t max_of(int depth) { return (1u << depth) - 1; }

// The expected grey of normalised values (as documented in png.hpp).
std::uint8_t grey(double r, double g, double b, double a) {
  return static_cast<std::uint8_t>(std::lround(255.0 * (0.299 * r + 0.587 * g + 0.114 * b) * a));
}

std::vector<std::uint8_t> values(const Tensor& t) { return t.to_vector<std::uint8_t>(); }

Tensor write_and_read(const PngRaw& raw, const TempDir& dir, const std::string& name) {
  io::write_png_raw(raw, dir / name);
  Tensor t = io::read_png(dir / name);
  EXPECT_EQ(t.dtype(), DType::u8);
  EXPECT_EQ(t.shape(), (Shape{raw.height, raw.width}));
  return t;
}

}  // namespace

TEST(Png, GreyEveryDepth) {
  TempDir dir;
  for (int depth : {1, 2, 4, 8, 16}) {
    for (bool interlaced : {false, true}) {
      std::vector<std::uint32_t> s;
      std::vector<std::uint8_t> want;
      for (std::int64_t i = 0; i < W * H; ++i) {
        const std::uint32_t v = static_cast<std::uint32_t>(i * 2731 + 5) % (max_of(depth) + 1);
        s.push_back(v);
        want.push_back(static_cast<std::uint8_t>(std::lround(255.0 * v / max_of(depth))));
      }
      PngRaw raw{W, H, PngColor::gray, depth, pack(s, W, depth), {}, {}, interlaced};
      const Tensor t = write_and_read(raw, dir, "g" + std::to_string(depth) + ".png");
      EXPECT_EQ(values(t), want) << "depth " << depth << " interlaced " << interlaced;
    }
  }
}

TEST(Png, GreyAlphaCompositedOntoBlack) {
  TempDir dir;
  for (int depth : {8, 16}) {
    const double m = max_of(depth);
    std::vector<std::uint32_t> s;
    std::vector<std::uint8_t> want;
    for (std::int64_t i = 0; i < W * H; ++i) {
      const auto g = static_cast<std::uint32_t>((i * 977 + 3) % (static_cast<std::int64_t>(m) + 1));
      const auto a =
          static_cast<std::uint32_t>((i * 4099 + 1) % (static_cast<std::int64_t>(m) + 1));
      s.push_back(g);
      s.push_back(a);
      want.push_back(grey(g / m, g / m, g / m, a / m));
    }
    PngRaw raw{W, H, PngColor::gray_alpha, depth, pack(s, W * 2, depth), {}, {}, false};
    EXPECT_EQ(values(write_and_read(raw, dir, "ga.png")), want) << "depth " << depth;
  }
  // By hand: grey 200 at alpha 128 -> 200 * 128 / 255 = 100.4 -> 100; alpha 0 -> black.
  PngRaw raw{2, 1, PngColor::gray_alpha, 8, {200, 128, 255, 0}, {}, {}, false};
  EXPECT_EQ(values(write_and_read(raw, dir, "ga2.png")), (std::vector<std::uint8_t>{100, 0}));
}

TEST(Png, RgbToLuma) {
  TempDir dir;
  // By hand: red 0.299*255 = 76.2, green 149.7, blue 29.1, white 255, black 0.
  PngRaw raw{5,  1,  PngColor::rgb, 8, {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0},
             {}, {}, false};
  EXPECT_EQ(values(write_and_read(raw, dir, "c.png")),
            (std::vector<std::uint8_t>{76, 150, 29, 255, 0}));
  for (int depth : {8, 16}) {
    const double m = max_of(depth);
    for (bool alpha : {false, true}) {
      const int c = alpha ? 4 : 3;
      std::vector<std::uint32_t> s;
      std::vector<std::uint8_t> want;
      for (std::int64_t i = 0; i < W * H; ++i) {
        std::uint32_t v[4];
        for (int k = 0; k < c; ++k) {
          v[k] = static_cast<std::uint32_t>((i * 7919 + k * 104729 + 17) %
                                            (static_cast<std::int64_t>(m) + 1));
          s.push_back(v[k]);
        }
        want.push_back(grey(v[0] / m, v[1] / m, v[2] / m, alpha ? v[3] / m : 1.0));
      }
      PngRaw r{W,  H,    alpha ? PngColor::rgba : PngColor::rgb, depth, pack(s, W * c, depth), {},
               {}, false};
      EXPECT_EQ(values(write_and_read(r, dir, "rgb.png")), want)
          << "depth " << depth << " alpha " << alpha;
    }
  }
}

TEST(Png, PaletteEveryDepthWithTransparency) {
  TempDir dir;
  for (int depth : {1, 2, 4, 8}) {
    const std::uint32_t entries = std::min<std::uint32_t>(max_of(depth) + 1, 20);
    std::vector<std::uint8_t> palette, trns;
    for (std::uint32_t e = 0; e < entries; ++e) {
      palette.push_back(static_cast<std::uint8_t>(e * 50 + 5));
      palette.push_back(static_cast<std::uint8_t>(255 - e * 12));
      palette.push_back(static_cast<std::uint8_t>(e * 97 % 256));
      trns.push_back(static_cast<std::uint8_t>(255 - e * 13));
    }
    for (bool with_trns : {false, true}) {
      std::vector<std::uint32_t> s;
      std::vector<std::uint8_t> want;
      for (std::int64_t i = 0; i < W * H; ++i) {
        const auto e = static_cast<std::uint32_t>(i * 3 + 1) % entries;
        s.push_back(e);
        want.push_back(grey(palette[e * 3] / 255.0, palette[e * 3 + 1] / 255.0,
                            palette[e * 3 + 2] / 255.0, with_trns ? trns[e] / 255.0 : 1.0));
      }
      PngRaw raw{W,
                 H,
                 PngColor::palette,
                 depth,
                 pack(s, W, depth),
                 palette,
                 with_trns ? trns : std::vector<std::uint8_t>{},
                 false};
      EXPECT_EQ(values(write_and_read(raw, dir, "p.png")), want)
          << "depth " << depth << " tRNS " << with_trns;
    }
  }
}

TEST(Png, TransparentColourKey) {
  TempDir dir;
  // Grey 8-bit with tRNS marking 90 as transparent: those pixels become black.
  PngRaw g{3, 1, PngColor::gray, 8, {90, 91, 255}, {}, {0, 90}, false};
  EXPECT_EQ(values(write_and_read(g, dir, "gk.png")), (std::vector<std::uint8_t>{0, 91, 255}));
  // RGB 16-bit with tRNS marking (1000, 2000, 3000).
  PngRaw c{2,
           1,
           PngColor::rgb,
           16,
           {0x03, 0xE8, 0x07, 0xD0, 0x0B, 0xB8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF},
           {},
           {0x03, 0xE8, 0x07, 0xD0, 0x0B, 0xB8},
           false};
  EXPECT_EQ(values(write_and_read(c, dir, "ck.png")), (std::vector<std::uint8_t>{0, 255}));
}

TEST(Png, WritePngRoundTrips) {
  TempDir dir;
  Tensor g = empty({4, 6}, DType::u8);
  for (std::int64_t i = 0; i < 24; ++i)
    g.data_ptr<std::uint8_t>()[i] = static_cast<std::uint8_t>(i * 10);
  io::write_png(g, dir / "g.png");
  EXPECT_EQ(values(io::read_png(dir / "g.png")), values(g));

  // [H, W, 3] u8: read back as luma.
  Tensor rgb = zeros({1, 2, 3}, DType::u8);
  rgb.data_ptr<std::uint8_t>()[0] = 255;  // red pixel
  rgb.data_ptr<std::uint8_t>()[4] = 255;  // green pixel
  io::write_png(rgb, dir / "rgb.png");
  EXPECT_EQ(values(io::read_png(dir / "rgb.png")), (std::vector<std::uint8_t>{76, 150}));

  // f32 in [0, 1], out-of-range values clamped.
  Tensor f = from_vector<float>({0.0f, 0.5f, 1.0f, 2.0f, -1.0f, 0.2f}, {2, 3});
  io::write_png(f, dir / "f.png");
  EXPECT_EQ(values(io::read_png(dir / "f.png")),
            (std::vector<std::uint8_t>{0, 128, 255, 255, 0, 51}));

  // A view (non-contiguous) is written as its values.
  io::write_png(g.t(), dir / "t.png");
  EXPECT_EQ(values(io::read_png(dir / "t.png")), values(g.t().contiguous()));

  // No temporary files left behind.
  for (const auto& e : std::filesystem::directory_iterator(dir.str())) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
}

TEST(Png, WriteRejectsBadShapes) {
  TempDir dir;
  expect_error(
      [&] {
        io::write_png(zeros({2, 2, 5}, DType::u8), dir / "x.png");
      },
      {dir / "x.png", "[2, 2, 5]"});
  expect_error([&] { io::write_png(zeros({4}, DType::u8), dir / "y.png"); }, {dir / "y.png"});
  expect_error(
      [&] {
        io::write_png(zeros({2, 2}, DType::i64), dir / "z.png");
      },
      {dir / "z.png", "i64"});
  EXPECT_FALSE(std::filesystem::exists(dir / "x.png"));
}

TEST(Png, NotAPng) {
  TempDir dir;
  ember::testing::write_bytes(dir / "text.png",
                              {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'});
  expect_error([&] { io::read_png(dir / "text.png"); }, {dir / "text.png", "not a PNG"});
  ember::testing::write_bytes(dir / "tiny.png", {0x89, 'P'});
  expect_error([&] { io::read_png(dir / "tiny.png"); }, {dir / "tiny.png", "not a PNG"});
  expect_error([&] { io::read_png(dir / "missing.png"); }, {dir / "missing.png", "cannot open"});
}

TEST(Png, TruncatedPng) {
  TempDir dir;
  Tensor g = empty({40, 40}, DType::u8);
  for (std::int64_t i = 0; i < g.numel(); ++i)
    g.data_ptr<std::uint8_t>()[i] = static_cast<std::uint8_t>(i * 7919 % 251);
  io::write_png(g, dir / "full.png");
  auto bytes = ember::testing::read_bytes(dir / "full.png");
  for (std::size_t keep : {bytes.size() / 2, std::size_t{20}, std::size_t{40}}) {
    std::vector<std::uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(keep));
    ember::testing::write_bytes(dir / "cut.png", cut);
    expect_error([&] { io::read_png(dir / "cut.png"); }, {dir / "cut.png"});
  }
}

TEST(Png, HeaderClaimingGigapixels) {
  TempDir dir;
  io::write_png(zeros({1, 1}, DType::u8), dir / "one.png");
  auto bytes = ember::testing::read_bytes(dir / "one.png");
  // IHDR data sits at bytes 16..28 (width, height, ...), its CRC at 29..32 covers bytes 12..28.
  const std::uint32_t big = 100000;
  for (int k = 0; k < 2; ++k) {
    for (int s = 0; s < 4; ++s)
      bytes[static_cast<std::size_t>(16 + 4 * k + s)] =
          static_cast<std::uint8_t>(big >> (24 - 8 * s));
  }
  const std::uint32_t crc = ember::testing::crc32(&bytes[12], 17);
  for (int s = 0; s < 4; ++s)
    bytes[static_cast<std::size_t>(29 + s)] = static_cast<std::uint8_t>(crc >> (24 - 8 * s));
  ember::testing::write_bytes(dir / "huge.png", bytes);
  expect_error([&] { io::read_png(dir / "huge.png"); }, {dir / "huge.png", "100000x100000"});
}
