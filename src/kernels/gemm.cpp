// sgemm/dgemm: the blocked driver, the portable micro-kernels, and the choice of instruction set.
//
// The driver's loops: columns of C in blocks (op(B) packed for all of K into nr-wide panels,
// once per call when it fits in kPackedBLimit; a row-major B under few row panels read in place
// instead), K in kc slices, rows in mc blocks (op(A)'s block packed into mr-high panels when
// many column panels reuse it, else read in place), then the mr x nr register tiles. The summation
// order of every C element is fixed: kc slices in order, k in order within a slice, so how rows or
// columns are split among threads never changes a bit.
//
// Packing buffers are per thread, 64-byte aligned and grow-only, so a steady stream of calls
// allocates nothing. The shared packed B (up to kPackedBLimit elements) lives in the caller's.
// A float product whose A, read in rows, is mostly zeros takes the row-sparse path instead
// (gemm_sparse_rows below; its kernel in gemm_sparse_row.hpp, its packing in gemm_sparse.cpp), with
// the same sums.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>

#include "ember/core/parallel.hpp"
#include "kernels/gemm.hpp"
#include "kernels/gemm_micro.hpp"
#include "kernels/gemv.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include "kernels/avx2_util.hpp"  // PrefetchShares
#endif

namespace ember::kernels {
namespace {

// ---- instruction set ----

Isa detect() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx2 && __builtin_cpu_supports("avx512f")) return Isa::avx512;
  if (avx2) return Isa::avx2;
#endif
  return Isa::generic;
}

// The wanted path, lowered to what the CPU has.
Isa clamp_isa(Isa wanted) {
  return static_cast<Isa>(std::min(static_cast<int>(wanted), static_cast<int>(detected_isa())));
}

// EMBER_ISA=generic|avx2|avx512 caps the path; another value is reported once on stderr and
// ignored (this runs at start-up, where an exception would end the program).
Isa initial_isa() {
  Isa isa = Isa::avx512;
  if (const char* env = std::getenv("EMBER_ISA")) {
    if (std::strcmp(env, "generic") == 0) {
      isa = Isa::generic;
    } else if (std::strcmp(env, "avx2") == 0) {
      isa = Isa::avx2;
    } else if (std::strcmp(env, "avx512") != 0) {
      std::fprintf(stderr,
                   "ember: EMBER_ISA=%s is not one of generic, avx2, avx512; using the best the "
                   "CPU has\n",
                   env);
    }
  }
  return clamp_isa(isa);
}

std::atomic<Isa>& isa_setting() {
  static std::atomic<Isa> isa{initial_isa()};
  return isa;
}

// ---- portable micro-kernels: micro_tile with 16-byte vectors (SSE2 on x86), a plain multiply
// and add (the compiler may fuse them where the baseline has FMA; the tests allow either) ----

struct PlainMadd {
  template <class V, class T>
  static void madd(V& acc, T a, const V& b) {
    acc += a * b;
  }
};

// The kernels of the active path.
const GemmKernels& active_kernels() {
#if defined(__x86_64__) || defined(__i386__)
  if (active_isa() == Isa::avx512) return avx512_kernels();
  if (active_isa() == Isa::avx2) return avx2_kernels();
#endif
  static const GemmKernels generic = tile_kernels<Floats4, Doubles2, PlainMadd, 6>();
  return generic;
}

// ---- per-thread packing buffers: grow-only, 64-byte aligned, reused across calls ----

class AlignedBuffer {
 public:
  template <class T>
  T* get(int64_t count) {
    const size_t bytes = (static_cast<size_t>(count) * sizeof(T) + 63) / 64 * 64;
    if (bytes > size_) {
      void* p = std::aligned_alloc(64, bytes);
      if (p == nullptr) throw std::bad_alloc();
      data_.reset(p);
      size_ = bytes;
    }
    return static_cast<T*>(data_.get());
  }

 private:
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  std::unique_ptr<void, Free> data_;
  size_t size_ = 0;
};

struct Workspace {
  AlignedBuffer a, b;
  AlignedBuffer steps;   // zero skipping's lists of steps
  AlignedBuffer starts;  // the row-sparse path's offsets of each row's list
};

Workspace& thread_workspace() {
  thread_local Workspace ws;
  return ws;
}

// ---- the driver ----

// Which operand's zeros a call skips (gemm.hpp): none, op(A)'s or op(B)'s.
enum class Skip { none, a, b };

template <class T>
struct Problem {
  bool trans_a, trans_b;
  int64_t K;
  const T* A;
  int64_t lda;
  const T* B;
  int64_t ldb;
  bool accumulate;  // beta == 1
  T* C;
  int64_t ldc;
  Skip skip = Skip::none;
  const T* bias = nullptr;  // the epilogue (sgemm_bias_relu): + bias[j], then the ReLU
  bool relu = false;
};

// The epilogue on C[0:h, 0:w] (rows ldc apart): + bias[j] (bias null: none), then the ReLU.
template <class T>
void finish_tile(const T* bias, bool relu, T* c, int64_t ldc, int64_t h, int64_t w) {
  for (int64_t r = 0; r < h; ++r) {
    T* cr = c + r * ldc;
    if (bias != nullptr)
      for (int64_t j = 0; j < w; ++j) cr[j] += bias[j];
    if (relu)
      for (int64_t j = 0; j < w; ++j) cr[j] = cr[j] > T(0) ? cr[j] : T(0);
  }
}

// Packs op(B)[pc:pc+kc, jc:jc+nc] into nr-wide panels, panel p at dst + p*nr*kc, element (k,j)
// of a panel at k*nr + j; columns past nc are zero. NR > 0 fixes nr at compile time (full panels
// then copy in fixed-size loops the compiler vectorises); NR == 0 handles any nr.
template <int64_t NR, class T>
void pack_b(const Problem<T>& p, int64_t nr, int64_t pc, int64_t kc, int64_t jc, int64_t nc,
            T* dst) {
  if constexpr (NR > 0) nr = NR;
  for (int64_t j0 = 0; j0 < nc; j0 += nr) {
    const int64_t w = std::min(nr, nc - j0);
    T* d = dst + j0 * kc;
    if (!p.trans_b) {
      const T* src = p.B + pc * p.ldb + jc + j0;
      if (NR > 0 && w == nr) {
        for (int64_t k = 0; k < kc; ++k)
          for (int64_t j = 0; j < NR; ++j) d[k * NR + j] = src[k * p.ldb + j];
        continue;
      }
      for (int64_t k = 0; k < kc; ++k) {
        for (int64_t j = 0; j < w; ++j) d[k * nr + j] = src[k * p.ldb + j];
        for (int64_t j = w; j < nr; ++j) d[k * nr + j] = T(0);
      }
    } else {
#if defined(__x86_64__) || defined(__i386__)
      if constexpr (std::is_same_v<T, float>) {
        if (nr % 8 == 0 && active_isa() != Isa::generic) {
          pack_b_transposed_avx2(p.B + (jc + j0) * p.ldb + pc, p.ldb, kc, w, nr, d);
          continue;
        }
      }
#endif
      for (int64_t j = 0; j < w; ++j) {
        const T* src = p.B + (jc + j0 + j) * p.ldb + pc;
        for (int64_t k = 0; k < kc; ++k) d[k * nr + j] = src[k];
      }
      for (int64_t j = w; j < nr; ++j)
        for (int64_t k = 0; k < kc; ++k) d[k * nr + j] = T(0);
    }
  }
}

template <class T>
void pack_b(const Problem<T>& p, int64_t nr, int64_t pc, int64_t kc, int64_t jc, int64_t nc,
            T* dst) {
  switch (nr) {
    case 4:
      return pack_b<4>(p, nr, pc, kc, jc, nc, dst);
    case 8:
      return pack_b<8>(p, nr, pc, kc, jc, nc, dst);
    case 16:
      return pack_b<16>(p, nr, pc, kc, jc, nc, dst);
    case 32:
      return pack_b<32>(p, nr, pc, kc, jc, nc, dst);
    default:
      return pack_b<0>(p, nr, pc, kc, jc, nc, dst);
  }
}

// Packs op(A)[ic:ic+mc, pc:pc+kc] into mr-high panels, panel p at dst + p*mr*kc, element (r,k)
// at k*mr + r. Rows past mc are left unset: the micro-kernel never reads them. MR as NR above.
template <int64_t MR, class T>
void pack_a(const Problem<T>& p, int64_t mr, int64_t ic, int64_t mc, int64_t pc, int64_t kc,
            T* dst) {
  if constexpr (MR > 0) mr = MR;
  for (int64_t i0 = 0; i0 < mc; i0 += mr) {
    const int64_t h = std::min(mr, mc - i0);
    T* d = dst + i0 * kc;
    if (!p.trans_a) {
      const T* src = p.A + (ic + i0) * p.lda + pc;
#if defined(__x86_64__) || defined(__i386__)
      if constexpr (std::is_same_v<T, float> && MR == 6) {
        if (h == mr && active_isa() != Isa::generic) {
          pack_a_rows6_avx2(src, p.lda, kc, d);
          continue;
        }
      }
#endif
      if (MR > 0 && h == mr) {
        for (int64_t k = 0; k < kc; ++k)
          for (int64_t r = 0; r < MR; ++r) d[k * MR + r] = src[r * p.lda + k];
        continue;
      }
      for (int64_t r = 0; r < h; ++r)
        for (int64_t k = 0; k < kc; ++k) d[k * mr + r] = src[r * p.lda + k];
    } else {
      const T* src = p.A + pc * p.lda + ic + i0;
      if (MR > 0 && h == mr) {
        for (int64_t k = 0; k < kc; ++k)
          for (int64_t r = 0; r < MR; ++r) d[k * MR + r] = src[k * p.lda + r];
        continue;
      }
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t r = 0; r < h; ++r) d[k * mr + r] = src[k * p.lda + r];
    }
  }
}

template <class T>
void pack_a(const Problem<T>& p, int64_t mr, int64_t ic, int64_t mc, int64_t pc, int64_t kc,
            T* dst) {
  if (mr == 6) return pack_a<6>(p, mr, ic, mc, pc, kc, dst);
  if (mr == 12) return pack_a<12>(p, mr, ic, mc, pc, kc, dst);
  pack_a<0>(p, mr, ic, mc, pc, kc, dst);
}

// A packed op(B) holds at most this many elements: all of K x N when it fits, else column blocks.
constexpr int64_t kPackedBLimit = int64_t{1} << 22;

// A block of C at most this many row panels high reads a row-major op(B) in place (gemm_block).
constexpr int64_t kInPlaceBPanels = 8;

// Below about this many multiply-adds, handing work to another thread costs more than it saves.
constexpr int64_t kMinParallelWork = int64_t{1} << 18;

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Whether a block of C `width` columns wide packs op(A) rather than read it in place (the
// micro-kernel takes any strides): when A is reused across more column panels than that saves,
// 8 for a row-major A (at 8 panels of 16, a Linear's 1000x784 x (128x784)^T, reading it in place
// was faster: inference 0.126 -> 0.113 s), 4 for op(A) = A^T, whose in-place reads take a new
// cache line at every k.
template <class T>
bool packs_a(const Problem<T>& p, int64_t width, int64_t nr) {
  return width > (p.trans_a ? 4 : 8) * nr;
}

// The length of the slices K is summed in: K in equal slices of at most kc (784 = 3 x 262 rather
// than 256 + 256 + 256 + 16: a short last slice pays the C tile's load and store for little work).
inline int64_t slice_step(int64_t K, int64_t kc) {
  const int64_t slices = (K + kc - 1) / kc;
  return (K + slices - 1) / slices;
}

// C[m0:m1, n0:n1] of the problem, on the calling thread. A packed B holds all of K at once:
// panel q of a packed column block at q*K*nr, its k slice [pc, pc+kc) at + pc*nr. `shared_b`,
// when not null, is op(B) packed that way for the columns [n0, n1); otherwise B is packed here,
// or read in place (b_in_place below).
// `shared_a`, when not null, is all of op(A) packed into mr-high panels holding all of K (panel
// q at q*mr*K, element (r,k) at + k*mr + r, as pack_a with pc 0 and kc K), and m0 is a multiple
// of mr: the block reads its rows there instead of packing or reading A itself.
template <class T>
void gemm_block(const GemmKernel<T>& g, const Problem<T>& p, int64_t m0, int64_t m1, int64_t n0,
                int64_t n1, const T* shared_b, const T* shared_a = nullptr) {
  const int64_t mr = g.mr, nr = g.nr, K = p.K;
  const bool pack_a_blocks = shared_a == nullptr && packs_a(p, n1 - n0, nr);
  // So is a row-major op(B) under few row panels: its copy would cost about as much as the
  // arithmetic it feeds (a weight gradient g^T x with 30 rows reads each packed float only 3 or 5
  // times). Only a last panel narrower than nr is packed, zero-padded. Not where B's rows lie a
  // multiple of 4 KiB apart: a panel's rows would then fall into the same few cache sets.
  const bool b_in_place = shared_b == nullptr && !p.trans_b && m1 - m0 <= kInPlaceBPanels * mr &&
                          p.ldb * int64_t{sizeof(T)} % 4096 != 0;
  const int64_t nc_max =
      shared_b != nullptr ? n1 - n0 : std::clamp(kPackedBLimit / K / nr * nr, nr, g.nc);
  Workspace& ws = thread_workspace();
  T* own_b = shared_b != nullptr ? nullptr
             : b_in_place        ? ws.b.get<T>(K * nr)
                                 : ws.b.get<T>(K * round_up(std::min(nc_max, n1 - n0), nr));
  const int64_t kc_step = slice_step(K, g.kc);
  T* abuf = pack_a_blocks ? ws.a.get<T>(kc_step * round_up(g.mc, mr)) : nullptr;
  alignas(64) T tile[16 * 32];  // an edge tile, mr x nr
  // Zero skipping: the steps of each A panel of the block (Skip::a), or of the B panel (Skip::b),
  // list q at steps + q * list_len, its count in counts[q]; the B panel's is the last list.
  const int64_t a_panels = (g.mc + mr - 1) / mr, list_len = kc_step + 8;
  int64_t counts[64];
  const Skip skip = a_panels <= 64 ? p.skip : Skip::none;
  int32_t* steps = skip == Skip::none ? nullptr : ws.steps.get<int32_t>((a_panels + 1) * list_len);
  int32_t* b_steps = skip == Skip::none ? nullptr : steps + a_panels * list_len;
  const auto use_steps = [](int64_t count, int64_t kc) { return 8 * count <= 7 * kc; };
  const bool epilogue = p.bias != nullptr || p.relu;

  for (int64_t jc = n0; jc < n1; jc += nc_max) {
    const int64_t nc = std::min(nc_max, n1 - jc);
    const T* bblock = shared_b;
    if (b_in_place) {
      if (nc % nr != 0) pack_b(p, nr, 0, K, jc + nc / nr * nr, nc % nr, own_b);
    } else if (shared_b == nullptr) {
      pack_b(p, nr, 0, K, jc, nc, own_b);
      bblock = own_b;
    }
    for (int64_t pc = 0; pc < K; pc += kc_step) {
      const int64_t kc = std::min(kc_step, K - pc);
      const bool accumulate = p.accumulate || pc > 0;
      for (int64_t ic = m0; ic < m1; ic += g.mc) {
        const int64_t mc = std::min(g.mc, m1 - ic);
        const T* ablock;
        int64_t rs_a, cs_a, panel_step;  // a(r,k) at ablock + ir*panel_step + r*rs_a + k*cs_a
        if (shared_a != nullptr) {
          ablock = shared_a + ic * K + pc * mr, rs_a = 1, cs_a = mr, panel_step = K;
        } else if (pack_a_blocks) {
          pack_a(p, mr, ic, mc, pc, kc, abuf);
          ablock = abuf, rs_a = 1, cs_a = mr, panel_step = kc;
        } else if (!p.trans_a) {
          ablock = p.A + ic * p.lda + pc, rs_a = p.lda, cs_a = 1, panel_step = p.lda;
        } else {
          ablock = p.A + pc * p.lda + ic, rs_a = 1, cs_a = p.lda, panel_step = 1;
        }
        if (skip == Skip::a)
          for (int64_t ir = 0; ir < mc; ir += mr)
            counts[ir / mr] = nonzero_steps(ablock + ir * panel_step, rs_a, cs_a,
                                            std::min(mr, mc - ir), kc, steps + ir / mr * list_len);
        for (int64_t jr = 0; jr < nc; jr += nr) {
          const int64_t w = std::min(nr, nc - jr);
          const T* bpanel = !b_in_place ? bblock + jr * K + pc * nr
                            : w == nr   ? p.B + pc * p.ldb + jc + jr
                                        : own_b + pc * nr;
          const int64_t ldb = b_in_place && w == nr ? p.ldb : nr;
          const int64_t b_count =
              skip == Skip::b ? nonzero_steps(bpanel, int64_t{1}, ldb, w, kc, b_steps) : kc;
          for (int64_t ir = 0; ir < mc; ir += mr) {
            const int64_t h = std::min(mr, mc - ir);
            const T* apanel = ablock + ir * panel_step;
            T* c = p.C + (ic + ir) * p.ldc + jc + jr;
            // the tile's steps: all of the slice, or the listed ones
            const int32_t* list = nullptr;
            int64_t n = kc;
            if (skip == Skip::a && use_steps(counts[ir / mr], kc)) {
              list = steps + ir / mr * list_len, n = counts[ir / mr];
            } else if (skip == Skip::b && use_steps(b_count, kc)) {
              list = b_steps, n = b_count;
            }
            const auto run = [&](T* cd, int64_t ldcd, bool acc) {
              if (list != nullptr) {
                g.gather(n, list, h, apanel, rs_a, cs_a, bpanel, ldb, cd, ldcd, acc);
              } else {
                g.micro(kc, h, apanel, rs_a, cs_a, bpanel, ldb, cd, ldcd, acc);
              }
            };
            if (h == mr && w == nr) {
              run(c, p.ldc, accumulate);
            } else {
              run(tile, nr, false);
              for (int64_t r = 0; r < h; ++r) {
                T* cr = c + r * p.ldc;
                const T* tr = tile + r * nr;
                for (int64_t j = 0; j < w; ++j) cr[j] = accumulate ? cr[j] + tr[j] : tr[j];
              }
            }
            if (epilogue && pc + kc == K)
              finish_tile(p.bias != nullptr ? p.bias + jc + jr : nullptr, p.relu, c, p.ldc, h, w);
          }
        }
      }
    }
  }
}

// Splits C into units (blocks of rows, or of columns when C has few rows) that the threads claim
// one at a time, so a thread slowed down by other work on its core just takes fewer units. Units
// are several per thread; each element's arithmetic is the same whichever unit holds it.
template <class T>
void gemm_parallel(const GemmKernel<T>& g, const Problem<T>& p, int64_t M, int64_t N,
                   int64_t threads) {
  const int64_t K = p.K;
  // Rows when C has many of them and is not much wider than high (or at least as many rows as
  // columns): every unit then reads all of op(B), packed once. Columns when it has few rows or
  // is at least 4x wider than high, where every unit reads all of op(A), packed once, and only its
  // own columns of B, packed or in place: a weight gradient g^T x reads x once instead of once per
  // unit of rows. The MLP's 128 x 784 = (256x128)^T x 256x784 on 2 threads, alternating runs:
  // rows 86-98 GFLOP/s (median of 15), columns 85-112 (110 in 3 of 4).
  const int64_t row_panels = (M + g.mr - 1) / g.mr;
  if ((row_panels >= 4 * threads && 4 * M > N) || (row_panels >= 2 * threads && M >= N)) {
    // Rows: pack op(B) once, here, for everyone, when it fits.
    const T* shared_b = nullptr;
    int64_t rows = round_up((M + 4 * threads - 1) / (4 * threads), g.mr);
    rows = std::max(rows, round_up(kMinParallelWork / (2 * N * K) + 1, g.mr));
    if (K * round_up(N, g.nr) <= kPackedBLimit) {
      T* buf = thread_workspace().b.get<T>(K * round_up(N, g.nr));
      // packed by all threads, a run of whole panels each (panel q at q*K*nr)
      const int64_t panels = (N + g.nr - 1) / g.nr;
      const int64_t min_panels = std::max<int64_t>(1, (int64_t{1} << 14) / (K * g.nr));
      parallel_for(0, panels, min_panels, [&](int64_t q0, int64_t q1) {
        const int64_t j0 = q0 * g.nr, j1 = std::min(N, q1 * g.nr);
        pack_b(p, g.nr, 0, K, j0, j1 - j0, buf + j0 * K);
      });
      shared_b = buf;
    } else {
      rows = std::max(rows, round_up(256, g.mr));  // each unit packs B again: keep them large
    }
    for_each_unit((M + rows - 1) / rows, [&](int64_t u) {
      gemm_block(g, p, u * rows, std::min(M, (u + 1) * rows), 0, N, shared_b);
    });
  } else {
    int64_t cols = round_up((N + 4 * threads - 1) / (4 * threads), g.nr);
    cols = std::max(cols, round_up(kMinParallelWork / (2 * M * K) + 1, g.nr));
    const int64_t units = (N + cols - 1) / cols;
    // Every unit reads all of op(A): packed once, here, where a unit would pack it anyway and it
    // fits the packed op(B)'s limit (each unit packing its own copy of a weight gradient's g^T,
    // 30 x 256, cost as much as the unit's arithmetic: (256x30)^T x 256x784 ran at 77 GFLOP/s on
    // one thread, 82 on two).
    const T* shared_a = nullptr;
    if (packs_a(p, cols, g.nr) && g.mc % g.mr == 0 && round_up(M, g.mr) * K <= kPackedBLimit) {
      T* buf = thread_workspace().a.get<T>(round_up(M, g.mr) * K);
      pack_a(p, g.mr, 0, M, 0, K, buf);
      shared_a = buf;
    }
    for_each_unit(units, [&](int64_t u) {
      gemm_block<T>(g, p, 0, M, u * cols, std::min(N, (u + 1) * cols), nullptr, shared_a);
    });
  }
}

// Below this many multiply-adds a call does not look for zeros to skip.
constexpr int64_t kMinSkipWork = int64_t{1} << 16;

// Whether the call skips op(A)'s zeros, op(B)'s or none (gemm.hpp): op(A)'s when its first row
// panel has a nonzero in at most 3/4 of its first 256 steps (or of all K when shorter), else
// op(B)'s when its first column panel does, and only where the other operand is all finite
// (0 * inf is NaN, not a zero to skip). The sample costs one panel's scan; a wrong guess costs
// speed only.
template <class T>
Skip choose_skip(const GemmKernel<T>& g, const Problem<T>& p, int64_t M, int64_t N) {
  const int64_t K = p.K;
  if (M * N * K < kMinSkipWork) return Skip::none;
  int32_t sample[256 + 8];
  const int64_t ks = std::min<int64_t>(K, 256);
  const auto sparse = [&](const T* q, int64_t rs, int64_t cs, int64_t h) {
    return 4 * nonzero_steps(q, rs, cs, h, ks, sample) <= 3 * ks;
  };
  // op(A)(r, k) at A[r * ars + k * acs], op(B)(k, j) at B[j * brs + k * bcs]
  const int64_t ars = p.trans_a ? 1 : p.lda, acs = p.trans_a ? p.lda : 1;
  const int64_t brs = p.trans_b ? p.ldb : 1, bcs = p.trans_b ? 1 : p.ldb;
  if (sparse(p.A, ars, acs, std::min(g.mr, M)) && all_finite(p.B, brs, bcs, N, K)) return Skip::a;
  if (sparse(p.B, brs, bcs, std::min(g.nr, N)) && all_finite(p.A, ars, acs, M, K)) return Skip::b;
  return Skip::none;
}

// ---- the row-sparse path (gemm.hpp; kernel: gemm_sparse_row.hpp, packing: gemm_sparse.cpp) ----
// gemm_sparse.cpp) ----

// At most kSparseRowsNum / kSparseRowsDen of op(A)'s first rows nonzero. On MNIST batches (19%
// nonzero), 784 -> 128 with bias and ReLU, alternating with the tiled path in one process
// (medians): 256 rows 425 against 477 us, 1000 rows 1708 against 2129 us on one thread; an MLP
// training step 1136 against 1151 us (quartile 922 against 989) on one thread, 604 against 641 on
// two; 1000 rows of inference 1272 against 1529 us on one, 756 against 857 on two.
constexpr int64_t kSparseRowsNum = 1, kSparseRowsDen = 4;

std::atomic<bool>& sparse_rows_setting() {
  static std::atomic<bool> on{true};
  return on;
}

// Whether op(A) is sparse enough and the shape right (op(B)'s finiteness is checked apart).
template <class T>
bool sparse_rows_shape(const GemmKernel<T>& g, const Problem<T>& p, int64_t M, int64_t N) {
#if defined(__x86_64__) || defined(__i386__)
  if constexpr (std::is_same_v<T, float>) {
    const int64_t K = p.K;
    // (op(B)'s packed blocks are capped as the tiled path's packed B is)
    if (!sparse_rows_setting().load(std::memory_order_relaxed) || g.sparse_row == nullptr ||
        p.trans_a || M < 2 || N < 16 || M * N * K < kMinSkipWork ||
        round_up(N, g.sparse_width) * K > kPackedBLimit)
      return false;
    Workspace& ws = thread_workspace();
    int32_t* kidx = ws.steps.get<int32_t>(K + 8);
    float* vals = ws.a.get<float>(K + 8);
    const int64_t rows = std::min<int64_t>(M, 8);
    int64_t nonzeros = 0;
    for (int64_t r = 0; r < rows; ++r) nonzeros += row_nonzeros(p.A + r * p.lda, K, kidx, vals);
    return nonzeros * kSparseRowsDen <= rows * K * kSparseRowsNum;
  }
#endif
  (void)g, (void)p, (void)M, (void)N;
  return false;
}

// The row-sparse path, where op(A) passes sparse_rows_shape: op(B) packed once, here, into
// 32-column blocks, and checked finite there (in cache, rather than by a pass of its own over B;
// else nothing is written and the call returns false, for the tiled path); then rows of C in
// units the threads claim one at a time, each row's nonzeros listed once for all its blocks. The
// sums are the tiled path's (the same kc slices), so which path a call takes changes at most the
// sign of a zero.
template <class T>
bool gemm_sparse_rows(const GemmKernel<T>& g, const Problem<T>& p, int64_t M, int64_t N) {
#if defined(__x86_64__) || defined(__i386__)
  if constexpr (std::is_same_v<T, float>) {
    const int64_t K = p.K, W = g.sparse_width, blocks = (N + W - 1) / W, kc = slice_step(K, g.kc);
    float* bp = thread_workspace().b.get<float>(blocks * K * W);
    const bool split =
        get_num_threads() > 1 && M * N * K >= 2 * kMinParallelWork && !in_parallel_region();
    // The blocks on both threads where the rows will be, in units of a block's steps [k0, k1)
    // (whole blocks, or parts of fewer than 4 blocks, so that a 784 x 30 weight splits too): a
    // transposed B is read down its columns (a 128 x 784 weight, out of cache, takes about 100 us
    // on one core).
    const int64_t parts = split && blocks < 4 ? 4 / blocks : 1;
    const int64_t part = round_up((K + parts - 1) / parts, 8);  // the 8 x 8 transposes' steps
    std::atomic<bool> finite{true};
    const auto pack = [&](int64_t u) {
      const int64_t q = u / parts, k0 = std::min(K, (u % parts) * part),
                    k1 = std::min(K, k0 + part);
      if (k0 == k1) return;
      float* at = bp + q * K * W + k0 * W;
      pack_b_block_avx2(p.trans_b, p.trans_b ? p.B + k0 : p.B + k0 * p.ldb, p.ldb, k1 - k0, W * q,
                        std::min(W, N - W * q), W, at);
      if (!all_finite(at, int64_t{0}, int64_t{1}, int64_t{1}, (k1 - k0) * W))
        finite.store(false, std::memory_order_relaxed);
    };
    if (split) {
      for_each_unit(blocks * parts, pack);
    } else {
      for (int64_t q = 0; q < blocks && finite.load(std::memory_order_relaxed); ++q) pack(q);
    }
    if (!finite.load(std::memory_order_relaxed)) return false;
    // rows [r0, r1) in chunks: a chunk's nonzeros listed one after another (row r's from
    // start[r]), then its rows block by block, so that a block stays in cache across the rows.
    // The lists have room for a chunk's every element: at most 256 rows and 2^15 elements (41
    // rows of 784). While a chunk's rows run, the next chunk's rows of A are asked for, a share
    // per row and block, so that listing them finds them in cache: 60 batches of 1000 MNIST rows
    // (188 MB, read once) through 784 -> 128 with bias and ReLU, alternating in one process, min
    // 55.3 -> 53.5 ms on two threads, 87 -> 83 ms on one (2^18-element chunks, no prefetch,
    // before).
    const int64_t chunk = std::clamp<int64_t>((int64_t{1} << 15) / K, 1, 256);
    const auto rows = [&](int64_t r0, int64_t r1) {
      Workspace& ws = thread_workspace();  // this thread's (the caller's b holds the blocks)
      const int64_t most = std::min(chunk, r1 - r0);
      int32_t* kidx = ws.steps.get<int32_t>(most * K + 8);
      float* vals = ws.a.get<float>(most * K + 8);
      int64_t* start = ws.starts.get<int64_t>(most + 1);
      for (int64_t c0 = r0; c0 < r1; c0 += chunk) {
        const int64_t h = std::min(chunk, r1 - c0);
        start[0] = 0;
        for (int64_t r = 0; r < h; ++r)
          start[r + 1] =
              start[r] + row_nonzeros(p.A + (c0 + r) * p.lda, K, kidx + start[r], vals + start[r]);
        const int64_t next = std::min(chunk, r1 - c0 - h);
        const PrefetchShares<> ahead(p.A + (c0 + h) * p.lda, p.lda == K ? next * K : 0, blocks * h);
        for (int64_t q = 0; q < blocks; ++q) {
          const int64_t w = std::min(W, N - W * q);
          for (int64_t r = 0; r < h; ++r) {
            ahead.share(q * h + r);
            g.sparse_row(start[r + 1] - start[r], kidx + start[r], vals + start[r], bp + q * K * W,
                         kc, p.accumulate, p.bias != nullptr ? p.bias + W * q : nullptr, p.relu,
                         p.C + (c0 + r) * p.ldc + W * q, w);
          }
        }
      }
    };
    const int64_t threads = get_num_threads();
    if (threads <= 1 || M * N * K < 2 * kMinParallelWork || in_parallel_region()) {
      rows(0, M);
      return true;
    }
    const int64_t unit = std::max<int64_t>(8, (M + 4 * threads - 1) / (4 * threads));
    for_each_unit((M + unit - 1) / unit,
                  [&](int64_t u) { rows(u * unit, std::min(M, (u + 1) * unit)); });
    return true;
  }
#endif
  (void)g, (void)p, (void)M, (void)N;
  return false;
}

// A: op(A) [M,K], B: op(B) [K,N], C: [M,N]; the epilogue (bias [N] or null, relu) as
// sgemm_bias_relu.
template <class T>
void gemm(const GemmKernel<T>& g, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
          const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc,
          const T* bias = nullptr, bool relu = false) {
  if (M <= 0 || N <= 0) return;
  if (beta != T(0) && beta != T(1)) {  // general beta: scale once, then accumulate
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] *= beta;
    beta = T(1);
  }
  Problem<T> p{trans_a, trans_b, K, A, lda, B, ldb, beta == T(1), C, ldc};
  p.bias = bias, p.relu = relu;
  if (K <= 0) {
    if (beta == T(0))
      for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, T(0));
    finish_tile(bias, relu, C, ldc, M, N);
    return;
  }
  if (sparse_rows_shape(g, p, M, N) && gemm_sparse_rows(g, p, M, N)) return;
  p.skip = choose_skip(g, p, M, N);
  const int64_t threads = get_num_threads();
  if (threads <= 1 || M * N * K < 2 * kMinParallelWork || in_parallel_region()) {
    gemm_block<T>(g, p, 0, M, 0, N, nullptr);
  } else {
    gemm_parallel(g, p, M, N, threads);
  }
}

}  // namespace

Isa detected_isa() {
  static const Isa isa = detect();
  return isa;
}

Isa active_isa() { return isa_setting().load(std::memory_order_relaxed); }

void force_isa(Isa isa) { isa_setting().store(clamp_isa(isa), std::memory_order_relaxed); }

bool takes_sparse_rows(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A,
                       int64_t lda, const float* B, int64_t ldb) {
  if (M <= 0 || N <= 0 || K <= 0) return false;
  const Problem<float> p{trans_a, trans_b, K, A, lda, B, ldb, false, nullptr, 0};
  const int64_t brs = trans_b ? ldb : 1, bcs = trans_b ? 1 : ldb;  // op(B)(k, j) at j brs + k bcs
  return sparse_rows_shape(active_kernels().f, p, M, N) && all_finite(B, brs, bcs, N, K);
}

void allow_sparse_rows(bool allow) {
  sparse_rows_setting().store(allow, std::memory_order_relaxed);
}

bool sparse_rows_allowed() { return sparse_rows_setting().load(std::memory_order_relaxed); }

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  sgemm_bias_relu(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc, nullptr, false);
}

void dgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const double* A,
           int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  gemm(active_kernels().d, trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

void sgemm_bias_relu(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A,
                     int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                     const float* bias, bool relu) {
  // one output row or column: a matrix-vector product (gemv.cpp), then the epilogue as a pass
  if (sgemv_dispatch(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc)) {
    finish_tile(bias, relu, C, ldc, M, N);
    return;
  }
  gemm(active_kernels().f, trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc, bias, relu);
}

void dgemm_bias_relu(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const double* A,
                     int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc,
                     const double* bias, bool relu) {
  gemm(active_kernels().d, trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc, bias, relu);
}

template <class T>
void gemm_with(const GemmKernel<T>& kernel, bool trans_a, bool trans_b, int64_t M, int64_t N,
               int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C,
               int64_t ldc, const T* bias, bool relu) {
  gemm(kernel, trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc, bias, relu);
}
template void gemm_with<float>(const GemmKernel<float>&, bool, bool, int64_t, int64_t, int64_t,
                               const float*, int64_t, const float*, int64_t, float, float*, int64_t,
                               const float*, bool);
template void gemm_with<double>(const GemmKernel<double>&, bool, bool, int64_t, int64_t, int64_t,
                                const double*, int64_t, const double*, int64_t, double, double*,
                                int64_t, const double*, bool);

}  // namespace ember::kernels
