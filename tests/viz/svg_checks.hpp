#pragma once
// Checks shared by the viz tests: SVG well-formedness by our own checker and, when it is
// installed, by xmllint (Debian package libxml2-utils).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "io/test_files.hpp"
#include "viz/xml_check.hpp"

namespace ember::testing {

inline bool xmllint_available() { return std::filesystem::exists("/usr/bin/xmllint"); }

inline ::testing::AssertionResult well_formed(const std::string& xml) {
  const std::string err = xml_wellformed_error(xml);
  if (err.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << err;
}

// xmllint --noout on the text; success when xmllint accepts it.
inline ::testing::AssertionResult xmllint_accepts(const std::string& xml, const std::string& name) {
  TempDir dir;
  const std::string path = dir / (name + ".svg");
  {
    std::ofstream out(path, std::ios::binary);
    out << xml;
  }
  const std::string cmd = "/usr/bin/xmllint --noout '" + path + "' 2>'" + path + ".err'";
  const int rc = std::system(cmd.c_str());
  if (rc == 0) return ::testing::AssertionSuccess();
  std::ifstream err(path + ".err");
  std::string msg((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
  return ::testing::AssertionFailure() << "xmllint rejects " << name << ": " << msg;
}

}  // namespace ember::testing
