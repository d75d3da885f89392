#pragma once
// Element types and type promotion (as PyTorch and Nx): integer with float gives float,
// the wider float wins, u8 with i64 gives i64.
#include <cstddef>
#include <cstdint>
#include <string>

namespace ember {

enum class DType : std::uint8_t { u8, i64, f32, f64 };

inline constexpr DType u8 = DType::u8;
inline constexpr DType i64 = DType::i64;
inline constexpr DType f32 = DType::f32;
inline constexpr DType f64 = DType::f64;

// Bytes per element.
std::size_t dtype_size(DType t);
// "u8", "i64", "f32", "f64".
const char* dtype_name(DType t);
bool is_floating(DType t);
// The dtype of `a op b` for arithmetic ops.
DType promote_types(DType a, DType b);

// The DType of a C++ element type: dtype_of<float>::value == f32.
template <class T>
struct dtype_of;
template <>
struct dtype_of<std::uint8_t> {
  static constexpr DType value = DType::u8;
};
template <>
struct dtype_of<std::int64_t> {
  static constexpr DType value = DType::i64;
};
template <>
struct dtype_of<float> {
  static constexpr DType value = DType::f32;
};
template <>
struct dtype_of<double> {
  static constexpr DType value = DType::f64;
};

// Calls fn(T{}) with T the C++ type of `t`: dispatch_dtype(t, [&](auto tag) { using T = decltype(tag); });
template <class Fn>
decltype(auto) dispatch_dtype(DType t, Fn&& fn) {
  switch (t) {
    case DType::u8: return fn(std::uint8_t{});
    case DType::i64: return fn(std::int64_t{});
    case DType::f32: return fn(float{});
    case DType::f64: break;
  }
  return fn(double{});
}

}  // namespace ember
