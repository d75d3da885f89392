#pragma once
// Matrix multiply kernels on raw pointers (no Tensor, no autograd).
//
//   C[M,N] = op(A)[M,K] * op(B)[K,N] + beta * C,   beta is 0 or 1.
//
// op(A) is A, row-major with element (i,k) at A[i*lda + k], or, when trans_a, A^T with element
// (i,k) at A[k*lda + i]; likewise B with ldb. C's element (i,j) is at C[i*ldc + j]. With beta 0
// C's old contents are never read (NaN in C does not leak into the result).
//
// The fast sgemm/dgemm pack panels of op(A) and op(B) into aligned per-thread buffers where they
// are reused enough to pay for the copy (else read them in place) and run a register-blocked
// micro-kernel (AVX-512F or AVX2+FMA when the CPU has it, else portable C++). Work is split over
// rows or columns of C, never over K, and every element of C is summed in the same order
// whatever the thread count or the split, so results are bit-identical for any number of
// threads.
//
// Zero skipping: where op(A) or op(B) is mostly zeros (MNIST: 81% of a batch's pixels, and at 56%
// of the pixels k all 6 images of a row panel are zero), the driver passes the micro-kernel only
// the steps k of a tile's slice where its panel of that operand holds a nonzero, provided the
// other operand is all finite: the skipped products are then exact zeros, and the sum differs
// from the full one at most in the sign of a zero (a -0 from an underflow that a skipped
// fma(0, b, -0) would have made +0, so the 6x16 and 12x32 geometries can differ there). Which steps
// are skipped depends on the data alone, never on the threads, so results stay bit-identical for
// any thread count.
#include <cstdint>
#include <type_traits>

namespace ember::kernels {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void dgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const double* A,
           int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc);

// The same, then on each element of C once its sum is complete: + bias[j] (bias [N], or null for
// none), then, with relu, v > 0 ? v : 0 (ember::relu's rule: NaN gives 0). A Linear layer's bias
// and ReLU: done on each tile of C while the micro-kernel's output is still in cache, instead of a
// pass over C before (the bias as C's initial value) and one after (the ReLU).
void sgemm_bias_relu(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A,
                     int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                     const float* bias, bool relu);
void dgemm_bias_relu(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const double* A,
                     int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc,
                     const double* bias, bool relu);

// Plain triple loops, single-threaded, summing k in order: the obviously-correct references.
void sgemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A,
                     int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void dgemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const double* A,
                     int64_t lda, const double* B, int64_t ldb, double beta, double* C,
                     int64_t ldc);

enum class Isa { generic, avx2, avx512 };

// The best instruction set this CPU (and OS) supports, by CPU features at run time.
Isa detected_isa();
// The path sgemm/dgemm take now: detected_isa(), lowered by EMBER_ISA=generic|avx2 at start-up or
// by force_isa. Only the matrix multiply and the Winograd products have AVX-512 kernels; every
// other kernel runs its AVX2 code on an AVX-512 CPU.
Isa active_isa();
// For tests and benchmarks: choose the path; a path the CPU lacks is clamped to the best it has.
void force_isa(Isa isa);

// The row-sparse path: a float product on an AVX2 CPU whose A is read in rows (not trans_a) and
// mostly zeros (at most a quarter of its first 8 rows' elements nonzero; a batch of MNIST
// images is 19% nonzero), with at least 16 columns, enough work, op(B) all finite and within the
// packed-B limit, lists each row's nonzeros once and sums each element of C over them only
// (gemm_sparse.cpp, gemm_sparse_row.hpp; 32-column blocks, 64 on an AVX-512 CPU), instead of
// the tiled kernels' zero skipping, which must take every step
// where any row of a panel holds a nonzero. Its sums are the tiled path's (the same kc slices), so
// the choice changes at most the sign of a zero. takes_sparse_rows says whether sgemm would take it
// for these operands; allow_sparse_rows (for tests and benchmarks; default yes) turns it off and
// on.
bool takes_sparse_rows(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A,
                       int64_t lda, const float* B, int64_t ldb);
void allow_sparse_rows(bool allow);
bool sparse_rows_allowed();

// ---- internals shared by gemm.cpp and the per-ISA files ----

// A micro-kernel computes one MR x NR tile: acc = sum over k < kc of a(r,k) * b(k,j), k in order,
// starting from zero, then C = acc (accumulate false) or C = C + acc (accumulate true).
// a(r,k) is a[r*rs_a + k*cs_a] for r < mr; rows r >= mr are not read (their results are junk the
// caller discards). b(k,j) is b[k*ldb + j] for j < NR: a packed panel (ldb = NR, 64-byte
// aligned) or NR columns of a row-major op(B) read in place (ldb its row stride).
template <class T>
using MicroKernel = void (*)(int64_t kc, int64_t mr, const T* a, int64_t rs_a, int64_t cs_a,
                             const T* b, int64_t ldb, T* c, int64_t ldc, bool accumulate);

// The same tile over chosen steps only: acc = sum over t < n of a(r,k) * b(k,j) with k = kidx[t]
// (increasing), the rest as MicroKernel. The driver passes the steps where a(.,k) or b(k,.)
// holds a nonzero: the skipped products are zeros.
template <class T>
using GatherKernel = void (*)(int64_t n, const int32_t* kidx, int64_t mr, const T* a, int64_t rs_a,
                              int64_t cs_a, const T* b, int64_t ldb, T* c, int64_t ldc,
                              bool accumulate);

// A SparseRowKernel computes c[0:w] (w <= the kernel's block width) of one row of C, from its row
// of op(A)'s n nonzeros (steps kidx, increasing, values vals) and op(B)'s block packed by
// pack_b_block_avx2 (below) at the kernel's width: as the tiled path, each kc slice of steps summed
// from zero in order and added to the total (c's old value when accumulate, else zero) in order;
// then + bias[0:w] (null: none), then, with relu, the ReLU. Every width gives the same bits. The
// kernels: sparse_row (gemm_sparse_row.hpp) in each ISA's kernel set (gemm_avx2.cpp,
// gemm_avx512.cpp).
using SparseRowKernel = void (*)(int64_t n, const int32_t* kidx, const float* vals, const float* bp,
                                 int64_t kc, bool accumulate, const float* bias, bool relu,
                                 float* c, int64_t w);
template <class T>
struct GemmKernel {
  int64_t mr, nr;      // register tile
  int64_t kc, mc, nc;  // cache blocks: kc deep, mc rows of A, nc columns of B
  MicroKernel<T> micro;
  GatherKernel<T> gather;
  // The row-sparse path's kernel and its block width (float only; null: no such path).
  SparseRowKernel sparse_row = nullptr;
  int64_t sparse_width = 0;
};

// A path's float and double kernels.
struct GemmKernels {
  GemmKernel<float> f;
  GemmKernel<double> d;
  template <class T>
  const GemmKernel<T>& get() const {
    if constexpr (std::is_same_v<T, float>) {
      return f;
    } else {
      return d;
    }
  }
};

// Defined in gemm_avx2.cpp; only call them when the CPU has AVX2 and FMA.
const GemmKernels& avx2_kernels();  // 6 x 16 floats, 6 x 8 doubles
// The AVX-512 kernels' source and geometry compiled for AVX2, for tests on any AVX2 CPU.
const GemmKernels& avx2_wide_kernels();  // 12 x 32, 12 x 16
// Defined in gemm_avx512.cpp; only call it when the CPU and OS support AVX-512F.
const GemmKernels& avx512_kernels();  // 12 x 32, 12 x 16

// Packs a panel of op(B) = B^T holding w <= nr columns: d[k * nr + j] = B[j * ldb + k] for
// k < kc, j < w, zero for w <= j < nr; nr a multiple of 8 (gemm_avx2.cpp; only on a CPU with AVX2).
void pack_b_transposed_avx2(const float* B, int64_t ldb, int64_t kc, int64_t w, int64_t nr,
                            float* d);
// Packs a full 6-row panel of op(A) = A: d[k * 6 + r] = A[r * lda + k] for k < kc, r < 6
// (gemm_avx2.cpp; only on a CPU with AVX2).
void pack_a_rows6_avx2(const float* A, int64_t lda, int64_t kc, float* d);

// Zero skipping (gemm_zeros.cpp): a block of h lines over kc steps, element (l, k) at
// p[l * rs + k * cs]. nonzero_steps writes to kidx the steps k < kc, increasing, where some line
// holds a nonzero (NaN included) and returns their count; kidx has room for kc + 8. all_finite
// says whether no element is infinite or NaN. (float and double are instantiated)
template <class T>
int64_t nonzero_steps(const T* p, int64_t rs, int64_t cs, int64_t h, int64_t kc, int32_t* kidx);
template <class T>
bool all_finite(const T* p, int64_t rs, int64_t cs, int64_t h, int64_t kc);

// The nonzeros (NaN included) of one row of kc floats: their steps k, increasing, into kidx and
// their values into vals, each with room for kc + 8; returns their count (gemm_zeros.cpp).
int64_t row_nonzeros(const float* p, int64_t kc, int32_t* kidx, float* vals);

// The row-sparse path's packing (gemm_sparse.cpp).
// pack_b_block_avx2: op(B)[0:K, j0:j0+w] (w <= width, width a multiple of 8) into
// d[k * width + j], zero for j >= w; d 64-byte aligned (only on a CPU with AVX2).
void pack_b_block_avx2(bool trans_b, const float* B, int64_t ldb, int64_t K, int64_t j0, int64_t w,
                       int64_t width, float* d);

// sgemm/dgemm's driver (packing, blocking, threads) with a chosen kernel instead of the active
// one, for tests and benchmarks, with sgemm_bias_relu's epilogue (bias [N] or null, relu). The
// kernel must be one the CPU can run. A float product the row-sparse path takes still takes it
// (with the kernel's kc) unless allow_sparse_rows(false). (float and double are instantiated)
template <class T>
void gemm_with(const GemmKernel<T>& kernel, bool trans_a, bool trans_b, int64_t M, int64_t N,
               int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C,
               int64_t ldc, const T* bias = nullptr, bool relu = false);

}  // namespace ember::kernels
