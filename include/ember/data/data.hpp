#pragma once
// Datasets, MNIST, image folders and the DataLoader.
#include "ember/data/augment.hpp"
#include "ember/data/dataloader.hpp"
#include "ember/data/dataset.hpp"
#include "ember/data/image_folder.hpp"
#include "ember/data/mnist.hpp"
