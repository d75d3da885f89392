#pragma once
// ember::Error: every misuse of the library throws this, with a one-line message naming the op
// and the shapes, file or option involved.
#include <stdexcept>
#include <string>

namespace ember {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace ember
