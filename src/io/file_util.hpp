#pragma once
// Small file helpers shared by the io and data sources (private to the library).
#include <string>

namespace ember::io::detail {

// A fresh name beside `path` (same folder, so a rename onto `path` is atomic):
// "<path>.tmp-<pid>-<counter>".
std::string temp_name_beside(const std::string& path);

// Renames `from` onto `to` (replacing it); on failure removes `from` and throws Error naming
// `what` and `to`.
void rename_over(const std::string& from, const std::string& to, const char* what);

// strerror(errno) as a std::string, thread-safe.
std::string errno_text(int err);

}  // namespace ember::io::detail
