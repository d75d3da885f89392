#pragma once
// Shapes and axis lists. A Shape is a list of sizes, outermost first (row-major).
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace ember {

using Shape = std::vector<std::int64_t>;

// Number of elements of a shape (1 for a scalar shape {}).
std::int64_t shape_numel(const Shape& shape);
// "[256, 784]"
std::string shape_str(const Shape& shape);
// Row-major (contiguous) strides, in elements, of a shape.
Shape contiguous_strides(const Shape& shape);
// The shape two shapes broadcast to (NumPy rules); throws Error naming `op` if they don't.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Maps a possibly negative axis into [0, rank); throws Error naming `op` when out of range.
std::int64_t normalize_axis(std::int64_t axis, std::int64_t rank, const char* op);

// A list of axes for reductions: sum(t, 1), sum(t, {-1, -2}), sum(t) (all axes).
struct Axes {
  std::vector<std::int64_t> axes;
  Axes() = default;
  Axes(std::int64_t axis) : axes{axis} {}  // NOLINT: implicit on purpose
  Axes(int axis) : axes{axis} {}           // NOLINT
  Axes(std::initializer_list<std::int64_t> list) : axes(list) {}
  Axes(std::vector<std::int64_t> list) : axes(std::move(list)) {}  // NOLINT
  bool empty() const { return axes.empty(); }
};

}  // namespace ember
