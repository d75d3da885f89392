#pragma once
// Saving and restoring per-parameter optimizer buffers as "<i>.<suffix>" tensors, and the
// parallel walk over a parameter's elements (private).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ember/core/parallel.hpp"
#include "ember/core/tensor.hpp"

namespace ember::optim::detail {

// The buffers named "<i>.<suffix>" in `state`, one per parameter (undefined where absent),
// copied and converted to each parameter's dtype; a shape that differs throws Error.
std::vector<Tensor> load_buffers(const std::vector<std::pair<std::string, Tensor>>& state,
                                 const std::string& suffix, const std::vector<Tensor>& params);
// Appends copies of the defined buffers as "<i>.<suffix>".
void save_buffers(const std::vector<Tensor>& bufs, const std::string& suffix,
                  std::vector<std::pair<std::string, Tensor>>& out);

// Runs update(lo, hi) over [0, n) in chunks shared by the threads. Each element's update reads
// only its own entries, so the result is the same bits however [0, n) is split.
template <class Update>
void for_elements(std::int64_t n, const Update& update) {
  parallel_for(0, n, std::int64_t{1} << 14, update);
}

}  // namespace ember::optim::detail
