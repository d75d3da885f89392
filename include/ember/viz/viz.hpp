#pragma once
// Seeing what the model does: SVG plots, image grids, a self-contained HTML report, and digits in
// the terminal.
#include "ember/viz/figures.hpp"
#include "ember/viz/image.hpp"
#include "ember/viz/plot.hpp"
#include "ember/viz/report.hpp"
#include "ember/viz/terminal.hpp"
