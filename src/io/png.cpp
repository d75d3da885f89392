// PNG reading and writing with libpng.
//
// libpng reports errors by longjmp-ing out of the failing call. A longjmp that crosses a C++
// frame with live destructors is undefined behaviour, so every libpng call that can fail runs in a
// small function whose locals are all trivially destructible (read_header_png, read_rows_png,
// write_png_file); the resources (FILE*, png_struct, png_info) live in a RAII state object owned
// by the caller, which is cleaned up normally once the function has returned. The error callback
// only copies libpng's message into that state object and jumps.
#include "ember/io/png.hpp"

#include <png.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "io/file_util.hpp"

namespace ember::io {

namespace {

struct PngError {
  char msg[256] = {0};
};

void on_png_error(png_structp png, png_const_charp msg) {
  auto* err = static_cast<PngError*>(png_get_error_ptr(png));
  if (err) std::snprintf(err->msg, sizeof err->msg, "%s", msg ? msg : "libpng error");
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}  // warnings (e.g. bad CRC in ancillary) pass

struct ReadState {
  std::FILE* fp = nullptr;
  png_structp png = nullptr;
  png_infop info = nullptr;
  PngError err;
  ReadState() = default;
  ReadState(const ReadState&) = delete;
  ReadState& operator=(const ReadState&) = delete;
  ~ReadState() {
    if (png) png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
    if (fp) std::fclose(fp);
  }
};

// What read_header_png learns, after the expansion transforms: 8- or 16-bit samples, 1 to 4
// channels (grey, grey+alpha, RGB, RGBA).
struct DecodedInfo {
  png_uint_32 width = 0;
  png_uint_32 height = 0;
  int channels = 0;
  int bit_depth = 0;
  std::size_t rowbytes = 0;
};

// Only trivially destructible locals below: a longjmp out of libpng lands in the setjmp.
bool read_header_png(ReadState* st, DecodedInfo* out) {
  if (setjmp(png_jmpbuf(st->png))) return false;
  png_init_io(st->png, st->fp);
  png_set_sig_bytes(st->png, 8);
  png_read_info(st->png, st->info);
  const int color = png_get_color_type(st->png, st->info);
  const int depth = png_get_bit_depth(st->png, st->info);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(st->png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(st->png);
  if (png_get_valid(st->png, st->info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(st->png);
  png_set_interlace_handling(st->png);
  png_read_update_info(st->png, st->info);
  out->width = png_get_image_width(st->png, st->info);
  out->height = png_get_image_height(st->png, st->info);
  out->channels = png_get_channels(st->png, st->info);
  out->bit_depth = png_get_bit_depth(st->png, st->info);
  out->rowbytes = png_get_rowbytes(st->png, st->info);
  return true;
}

bool read_rows_png(ReadState* st, png_bytepp rows) {
  if (setjmp(png_jmpbuf(st->png))) return false;
  png_read_image(st->png, rows);
  png_read_end(st->png, nullptr);
  return true;
}

[[noreturn]] void read_fail(const std::string& path, const std::string& msg) {
  throw Error("read_png: " + path + ": " + msg);
}

// Samples of a decoded row -> grey u8, alpha composited onto black.
void to_grey(const DecodedInfo& info, const std::uint8_t* row, std::uint8_t* out) {
  const int c = info.channels;
  if (info.bit_depth == 8 && c == 1) {
    std::memcpy(out, row, info.width);
    return;
  }
  const bool wide = info.bit_depth == 16;
  const double maxv = wide ? 65535.0 : 255.0;
  auto sample = [&](std::size_t x, int k) -> double {
    const std::size_t i = x * static_cast<std::size_t>(c) + static_cast<std::size_t>(k);
    return wide ? static_cast<double>((row[2 * i] << 8) | row[2 * i + 1])
                : static_cast<double>(row[i]);
  };
  for (std::size_t x = 0; x < info.width; ++x) {
    double v;
    double alpha = 1.0;
    if (c <= 2) {
      v = sample(x, 0) / maxv;
      if (c == 2) alpha = sample(x, 1) / maxv;
    } else {
      v = (0.299 * sample(x, 0) + 0.587 * sample(x, 1) + 0.114 * sample(x, 2)) / maxv;
      if (c == 4) alpha = sample(x, 3) / maxv;
    }
    const double g = std::lround(v * alpha * 255.0);
    out[x] = static_cast<std::uint8_t>(std::clamp(g, 0.0, 255.0));
  }
}

struct WriteState {
  std::FILE* fp = nullptr;
  png_structp png = nullptr;
  png_infop info = nullptr;
  PngError err;
  WriteState() = default;
  WriteState(const WriteState&) = delete;
  WriteState& operator=(const WriteState&) = delete;
  ~WriteState() {
    if (png) png_destroy_write_struct(&png, info ? &info : nullptr);
    if (fp) std::fclose(fp);
  }
};

// Everything libpng needs to write, as plain pointers.
struct WriteJob {
  const PngRaw* raw;
  png_bytepp rows;
  const png_color* palette;
  int palette_size;
  png_color_16 trans_color;
  bool has_trns;
};

bool write_png_file(WriteState* st, const WriteJob* job) {
  if (setjmp(png_jmpbuf(st->png))) return false;
  const PngRaw& raw = *job->raw;
  png_init_io(st->png, st->fp);
  png_set_IHDR(st->png, st->info, static_cast<png_uint_32>(raw.width),
               static_cast<png_uint_32>(raw.height), raw.bit_depth, static_cast<int>(raw.color),
               raw.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (job->palette_size > 0) png_set_PLTE(st->png, st->info, job->palette, job->palette_size);
  if (job->has_trns) {
    if (raw.color == PngColor::palette) {
      png_set_tRNS(st->png, st->info, raw.trns.data(), static_cast<int>(raw.trns.size()), nullptr);
    } else {
      png_set_tRNS(st->png, st->info, nullptr, 0, &job->trans_color);
    }
  }
  png_write_info(st->png, st->info);
  if (raw.interlaced) png_set_interlace_handling(st->png);
  png_write_image(st->png, job->rows);
  png_write_end(st->png, nullptr);
  return true;
}

int channels_of(PngColor c) {
  switch (c) {
    case PngColor::gray:
      return 1;
    case PngColor::rgb:
      return 3;
    case PngColor::palette:
      return 1;
    case PngColor::gray_alpha:
      return 2;
    case PngColor::rgba:
      return 4;
  }
  return 0;
}

}  // namespace

Tensor read_png(const std::string& path) {
  ReadState st;
  st.fp = std::fopen(path.c_str(), "rb");
  if (!st.fp) read_fail(path, "cannot open: " + detail::errno_text(errno));
  unsigned char sig[8] = {0};
  if (std::fread(sig, 1, 8, st.fp) != 8 || png_sig_cmp(sig, 0, 8) != 0) {
    read_fail(path, "not a PNG file (wrong signature)");
  }
  std::error_code ec;
  const std::uint64_t file_size = std::filesystem::file_size(path, ec);
  st.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &st.err, on_png_error, on_png_warning);
  if (!st.png) read_fail(path, "libpng could not start");
  st.info = png_create_info_struct(st.png);
  if (!st.info) read_fail(path, "libpng could not start");
  DecodedInfo info;
  if (!read_header_png(&st, &info)) {
    const std::string msg = st.err.msg;
    read_fail(path,
              msg == "Read Error" ? "truncated PNG (the file ends early)" : "bad PNG: " + msg);
  }
  // Check the claimed size against what the file can hold before allocating: deflate expands at
  // most about 1032:1.
  const std::uint64_t raw_bytes = std::uint64_t{info.height} * (info.rowbytes + 1);
  if (ec || raw_bytes > file_size * 1100 + (std::uint64_t{1} << 20) ||
      std::uint64_t{info.width} * info.height > (std::uint64_t{1} << 30)) {
    read_fail(path, "header claims " + std::to_string(info.width) + "x" +
                        std::to_string(info.height) + " pixels, more than a file of " +
                        std::to_string(file_size) + " bytes can hold");
  }
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(info.height) * info.rowbytes);
  std::vector<png_bytep> rows(info.height);
  for (std::size_t y = 0; y < info.height; ++y) rows[y] = pixels.data() + y * info.rowbytes;
  if (!read_rows_png(&st, rows.data())) {
    const std::string msg = st.err.msg;
    read_fail(path,
              msg == "Read Error" ? "truncated PNG (the file ends early)" : "bad PNG: " + msg);
  }
  Tensor out = empty(
      {static_cast<std::int64_t>(info.height), static_cast<std::int64_t>(info.width)}, DType::u8);
  auto* dst = out.data_ptr<std::uint8_t>();
  for (std::size_t y = 0; y < info.height; ++y) to_grey(info, rows[y], dst + y * info.width);
  return out;
}

void write_png_raw(const PngRaw& raw, const std::string& path) {
  const std::string what = "write_png: " + path;
  if (raw.width < 1 || raw.height < 1 || raw.width > 0x7FFFFFFF || raw.height > 0x7FFFFFFF) {
    throw Error(what + ": bad size " + std::to_string(raw.width) + "x" +
                std::to_string(raw.height));
  }
  const int channels = channels_of(raw.color);
  if (channels == 0) throw Error(what + ": unknown colour type");
  const std::uint64_t rowbytes =
      (static_cast<std::uint64_t>(raw.width) * static_cast<std::uint64_t>(channels) *
           static_cast<std::uint64_t>(raw.bit_depth) +
       7) /
      8;
  if (raw.rows.size() != rowbytes * static_cast<std::uint64_t>(raw.height)) {
    throw Error(what + ": " + std::to_string(raw.rows.size()) + " bytes of pixels given, " +
                std::to_string(rowbytes * static_cast<std::uint64_t>(raw.height)) + " needed");
  }
  std::vector<png_color> palette;
  for (std::size_t i = 0; i + 2 < raw.palette.size(); i += 3) {
    palette.push_back(png_color{raw.palette[i], raw.palette[i + 1], raw.palette[i + 2]});
  }
  if (raw.color == PngColor::palette && (palette.empty() || palette.size() > 256)) {
    throw Error(what + ": a palette image needs 1 to 256 palette entries");
  }
  WriteJob job{};
  job.raw = &raw;
  job.palette = palette.data();
  job.palette_size = static_cast<int>(palette.size());
  job.has_trns = !raw.trns.empty();
  if (job.has_trns && raw.color != PngColor::palette) {
    auto be16 = [&](std::size_t i) {
      return static_cast<png_uint_16>((raw.trns[i] << 8) | raw.trns[i + 1]);
    };
    if (raw.color == PngColor::gray && raw.trns.size() == 2) {
      job.trans_color.gray = be16(0);
    } else if (raw.color == PngColor::rgb && raw.trns.size() == 6) {
      job.trans_color.red = be16(0);
      job.trans_color.green = be16(2);
      job.trans_color.blue = be16(4);
    } else {
      throw Error(what + ": tRNS needs 2 bytes (grey) or 6 bytes (RGB), or a palette image");
    }
  }
  std::vector<png_bytep> rows(static_cast<std::size_t>(raw.height));
  // libpng takes non-const row pointers but only reads them when writing.
  auto* base = const_cast<std::uint8_t*>(raw.rows.data());
  for (std::size_t y = 0; y < rows.size(); ++y) rows[y] = base + y * rowbytes;
  job.rows = rows.data();

  const std::string tmp = detail::temp_name_beside(path);
  bool ok = false;
  std::string msg;
  {
    WriteState st;
    st.fp = std::fopen(tmp.c_str(), "wb");
    if (!st.fp) throw Error(what + ": cannot create " + tmp + ": " + detail::errno_text(errno));
    st.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &st.err, on_png_error, on_png_warning);
    if (st.png) st.info = png_create_info_struct(st.png);
    if (st.png && st.info) {
      ok = write_png_file(&st, &job);
      msg = st.err.msg;
    } else {
      msg = "libpng could not start";
    }
    if (ok && std::fflush(st.fp) != 0) {
      ok = false;
      msg = detail::errno_text(errno);
    }
  }  // closes the file
  if (!ok) {
    std::remove(tmp.c_str());
    throw Error(what + ": " + msg);
  }
  detail::rename_over(tmp, path, "write_png");
}

void write_png(const Tensor& image, const std::string& path) {
  const std::string what = "write_png: " + path;
  if (!image.defined()) throw Error(what + ": undefined tensor");
  const std::int64_t c = image.rank() == 2 ? 1 : image.rank() == 3 ? image.size(2) : 0;
  if (c < 1 || c > 4) {
    throw Error(what + ": expected an image [H, W] or [H, W, C] with C in 1..4, got " +
                shape_str(image.shape()));
  }
  PngRaw raw;
  raw.height = image.size(0);
  raw.width = image.size(1);
  raw.bit_depth = 8;
  raw.color = c == 1   ? PngColor::gray
              : c == 2 ? PngColor::gray_alpha
              : c == 3 ? PngColor::rgb
                       : PngColor::rgba;
  const Tensor t = image.contiguous();
  const auto n = static_cast<std::size_t>(t.numel());
  raw.rows.resize(n);
  if (t.dtype() == DType::u8) {
    if (n) std::memcpy(raw.rows.data(), t.data_ptr<std::uint8_t>(), n);
  } else if (is_floating(t.dtype())) {
    dispatch_dtype(t.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* src = t.data_ptr<T>();
      for (std::size_t i = 0; i < n; ++i) {
        const double v = static_cast<double>(src[i]);
        const double s = std::isnan(v) ? 0.0 : std::clamp(v, 0.0, 1.0) * 255.0;
        raw.rows[i] = static_cast<std::uint8_t>(std::lround(s));
      }
    });
  } else {
    throw Error(what + ": expected u8 values or floats in [0, 1], got " + dtype_name(t.dtype()));
  }
  write_png_raw(raw, path);
}

}  // namespace ember::io
