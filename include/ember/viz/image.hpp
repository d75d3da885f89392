#pragma once
// Images for reports: grids of digits, PNG bytes, base64 data: URIs, and a show_batch-style HTML
// figure with captions.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ember/core/tensor.hpp"

namespace ember::viz {

// Base64 (RFC 4648, standard alphabet, '=' padding): "foobar" -> "Zm9vYmFy".
std::string base64_encode(std::string_view bytes);
std::string base64_encode(const std::vector<std::uint8_t>& bytes);

// An image as u8 grey values: img is [H, W] (or [1, H, W] / [H, W, 1]); u8 values as they are,
// floating values in [0, 1] scaled by 255 (clamped, NaN -> 0), i64 values clamped to [0, 255].
// -> u8 [H, W]
Tensor to_u8_image(const Tensor& img);

// The bytes of a PNG file of `img` ([H, W] or [H, W, C] as io::write_png takes it), made with
// io::write_png through a temporary file.
std::vector<std::uint8_t> png_bytes(const Tensor& img);

// "data:image/png;base64,..." for `img`.
std::string png_data_uri(const Tensor& img);

// Tiles images into one: images[i] is [H, W] (u8, or floats in [0, 1]); they may differ in size
// (each cell is as large as the largest; a smaller image sits in the middle of its cell, on
// black). `cols` images per row, `pad` pixels of `pad_value` between cells and around the border;
// the unused cells of the last row are `pad_value` too.
// -> u8 [rows * Hmax + (rows + 1) * pad, cols * Wmax + (cols + 1) * pad]
Tensor image_grid(const std::vector<Tensor>& images, int cols, int pad = 2,
                  std::uint8_t pad_value = 128);

// A show_batch-style HTML fragment: the images in `cols` columns, each drawn `scale` times its
// size (pixelated), with its caption under it ("3", or "label 3 / pred 7 / 0.98" for the most-wrong
// images). captions may be empty, else one per image. Inline styles: it stands alone.
std::string image_grid_html(const std::vector<Tensor>& images,
                            const std::vector<std::string>& captions, int cols, int scale = 3);

}  // namespace ember::viz
