#pragma once
// File formats: IDX (MNIST), PNG, SHA-256 digests.
#include "ember/io/idx.hpp"
#include "ember/io/png.hpp"
#include "ember/io/safetensors.hpp"
#include "ember/io/sha256.hpp"
