#include "chapter_report.hpp"

#include <filesystem>
#include <fstream>

namespace ember_app {

std::string write_chapter_report(const std::string& dir, const ChapterFigures& /*figures*/,
                                 const std::vector<StageResult>& results) {
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/index.html";
  const std::string tmp = path + ".tmp";
  {
    std::ofstream os(tmp);
    os << "<!doctype html><html><head><meta charset=\"utf-8\"><title>ember: MNIST basics</title>"
          "</head><body><h1>MNIST basics, run by ember</h1><table>";
    for (const auto& r : results)
      os << "<tr><td>" << r.name << "</td><td>" << r.summary << "</td><td>" << r.seconds << "</td></tr>";
    os << "</table></body></html>\n";
    if (!os) throw ember::Error("report: cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path);
  return path;
}

}  // namespace ember_app
