#pragma once
// Saving and restoring per-parameter optimizer buffers as "<i>.<suffix>" tensors (private).
#include <string>
#include <utility>
#include <vector>

#include "ember/core/tensor.hpp"

namespace ember::optim::detail {

// The buffers named "<i>.<suffix>" in `state`, one per parameter (undefined where absent),
// copied and converted to each parameter's dtype; a shape that differs throws Error.
std::vector<Tensor> load_buffers(const std::vector<std::pair<std::string, Tensor>>& state,
                                 const std::string& suffix, const std::vector<Tensor>& params);
// Appends copies of the defined buffers as "<i>.<suffix>".
void save_buffers(const std::vector<Tensor>& bufs, const std::string& suffix,
                  std::vector<std::pair<std::string, Tensor>>& out);

}  // namespace ember::optim::detail
