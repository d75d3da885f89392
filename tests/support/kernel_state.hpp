#pragma once
// Restores the pool's thread count, the gemm's instruction set and its row-sparse setting after a
// test that changes them (kernels tests force each path and thread count in turn).
#include "ember/core/parallel.hpp"
#include "kernels/gemm.hpp"

namespace ember::testing {

class RestoreThreadsAndIsa {
 public:
  RestoreThreadsAndIsa()
      : threads_(get_num_threads()),
        isa_(kernels::active_isa()),
        sparse_rows_(kernels::sparse_rows_allowed()) {}
  ~RestoreThreadsAndIsa() {
    set_num_threads(threads_);
    kernels::force_isa(isa_);
    kernels::allow_sparse_rows(sparse_rows_);
  }
  RestoreThreadsAndIsa(const RestoreThreadsAndIsa&) = delete;
  RestoreThreadsAndIsa& operator=(const RestoreThreadsAndIsa&) = delete;

 private:
  int threads_;
  kernels::Isa isa_;
  bool sparse_rows_;
};

}  // namespace ember::testing
