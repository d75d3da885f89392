#pragma once
// Modules, layers, initialisation, losses and metrics.
#include "ember/nn/init.hpp"
#include "ember/nn/conv.hpp"
#include "ember/nn/layers.hpp"
#include "ember/nn/losses.hpp"
#include "ember/nn/metrics.hpp"
#include "ember/nn/module.hpp"
