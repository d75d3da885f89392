#pragma once
// Image folders in the layout fast.ai and torchvision use:
//   ROOT/train/<label>/*.png
//   ROOT/valid/<label>/*.png
// Labels are the folder names, sorted (names made of digits compare as numbers: "2" < "10"),
// unless ROOT/classes.txt lists them, one per line, in label order (export_png writes it so that
// a dataset read back has the labels it was written with). Images are read label folder by label
// folder, folders in name order, and the files of a folder in natural order ("2.png" before
// "10.png"); so an exported mnist-sample reads back in the order it was made (3s, then 7s).
#include <cstdint>
#include <string>

#include "ember/data/dataset.hpp"

namespace ember::data {

// Reads every PNG as grey u8 (see io::read_png). An image whose size differs from the first one
// read is an Error naming the file, unless `resize`: then every image is resampled (area
// averaging) to size x size, or to the first image's size when size is 0. A missing train/ or
// valid/ folder, or a label folder with no PNG in it, is an Error naming the folder.
DataSplit load_image_folder(const std::string& root, bool resize = false, std::int64_t size = 0);

// Writes a split as an image folder: DIR/train/<class>/<i>.png and DIR/valid/<class>/<i>.png,
// i the image's index in its set, plus DIR/classes.txt. DIR must be empty or not exist yet.
// For mnist-sample: 6131 + 6265 training and 1010 + 1028 validation PNGs, in folders 3 and 7.
void export_png(const DataSplit& data, const std::string& dir);

// An image resampled to height x width by area averaging (each output pixel is the mean of the
// source area it covers; upsampling blends neighbouring pixels at the seams).
// image: u8 [H, W] -> u8 [height, width]
Tensor resize_area(const Tensor& image, std::int64_t height, std::int64_t width);

}  // namespace ember::data
