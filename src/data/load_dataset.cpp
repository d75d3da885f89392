// load_dataset: a dataset by name or folder.
#include <filesystem>

#include "ember/data/dataset.hpp"
#include "ember/data/image_folder.hpp"
#include "ember/data/mnist.hpp"

namespace ember::data {

namespace fs = std::filesystem;

DataSplit load_dataset(const std::string& spec, bool resize, std::int64_t size) {
  if (spec == "mnist") return load_mnist(fetch_mnist(true));
  if (spec == "mnist-sample") return mnist_sample(fetch_mnist(true));
  std::error_code ec;
  if (!fs::is_directory(spec, ec)) {
    throw Error("load_dataset: '" + spec +
                "' is neither mnist, mnist-sample nor a folder (of MNIST IDX files, or an image "
                "folder with train/ and valid/)");
  }
  const fs::path dir(spec);
  for (const char* name : {"train-images-idx3-ubyte", "train-images-idx3-ubyte.gz",
                           "train-images.idx3-ubyte", "train-images.idx3-ubyte.gz"}) {
    if (fs::exists(dir / name, ec)) return load_idx_dir(spec);
  }
  if (fs::is_directory(dir / "train", ec)) return load_image_folder(spec, resize, size);
  throw Error("load_dataset: " + spec +
              " holds neither MNIST IDX files (train-images-idx3-ubyte ...) nor an image folder "
              "(train/<label>/*.png, valid/<label>/*.png)");
}

}  // namespace ember::data
