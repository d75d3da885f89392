#include "io/file_util.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

#include "ember/core/error.hpp"

namespace ember::io::detail {

std::string temp_name_beside(const std::string& path) {
  static std::atomic<unsigned long> counter{0};
  return path + ".tmp-" + std::to_string(static_cast<long>(::getpid())) + "-" +
         std::to_string(counter.fetch_add(1));
}

void rename_over(const std::string& from, const std::string& to, const char* what) {
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    const int err = errno;
    std::remove(from.c_str());
    throw Error(std::string(what) + ": cannot write " + to + ": " + errno_text(err));
  }
}

std::string errno_text(int err) { return std::system_category().message(err); }

}  // namespace ember::io::detail
