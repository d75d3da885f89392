// The ember command end to end on a small data set the test makes itself: train, eval, predict,
// baseline, and every bad input giving one line on stderr and exit status 2.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include <ember/ember.hpp>

namespace fs = std::filesystem;
using namespace ember;

namespace {

struct Result {
  int status = -1;
  std::string out, err;
};

// Runs the ember binary with `args`, capturing stdout and stderr.
Result ember_cmd(const std::string& args) {
  const fs::path dir = fs::temp_directory_path() / ("ember_cli_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string out = (dir / "out.txt").string(), err = (dir / "err.txt").string();
  const std::string cmd =
      std::string(EMBER_BINARY_DIR) + "/ember " + args + " >" + out + " 2>" + err + " </dev/null";
  const int rc = std::system(cmd.c_str());
  Result r;
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  auto slurp = [](const std::string& p) {
    std::ifstream is(p);
    std::stringstream ss;
    ss << is.rdbuf();
    return ss.str();
  };
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// Two classes told apart by where the ink is: class 0 lights the top half, class 1 the bottom.
class CliData : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("ember_cli_data_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    Generator gen(5);
    auto make = [&](std::int64_t n, const std::string& prefix) {
      Tensor labels = randint(0, 2, {n}, gen);
      Tensor noise = rand({n, 28, 28}, gen) * 0.3;
      Tensor rows = arange(28).reshape({1, 28, 1});
      Tensor top = (rows < 14).to(f32);
      Tensor lab = labels.reshape({n, 1, 1}).to(f32);
      Tensor img = noise + 0.7 * (lab * (1.0 - top) + (1.0 - lab) * top);
      io::write_idx((img * 255.0).clamp(0, 255).to(u8),
                    (dir_ / (prefix + "-images-idx3-ubyte")).string());
      io::write_idx(labels.to(u8), (dir_ / (prefix + "-labels-idx1-ubyte")).string());
    };
    make(600, "train");
    make(200, "t10k");
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static fs::path dir_;
};
fs::path CliData::dir_;

}  // namespace

TEST(Cli, HelpAndBadOptions) {
  Result help = ember_cmd("--help");
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("chapter"), std::string::npos);
  for (const char* sub :
       {"chapter", "train", "eval", "predict", "baseline", "fetch", "export-png"}) {
    Result r = ember_cmd(std::string(sub) + " --help");
    EXPECT_EQ(r.status, 0) << sub;
    EXPECT_FALSE(r.out.empty()) << sub;
  }
  for (const char* bad : {"", "nonsense", "train --no-such-option", "train --epochs many", "eval",
                          "predict --weights w.safetensors /no/such/file.png"}) {
    Result r = ember_cmd(bad);
    EXPECT_EQ(r.status, 2) << bad << ": " << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << bad << ": " << r.err;
    EXPECT_EQ(r.err.rfind("ember: ", 0), 0u) << r.err;
  }
}

TEST_F(CliData, TrainEvalPredictAndErrors) {
  const std::string data = dir_.string();
  const std::string weights = (dir_ / "linear.safetensors").string();
  Result t = ember_cmd("train --model linear --data " + data +
                       " --epochs 3 --lr 0.5 --bs 64 --json --out " + weights);
  ASSERT_EQ(t.status, 0) << t.err;
  std::istringstream lines(t.out);
  std::string line;
  std::vector<nlohmann::json> rows;
  while (std::getline(lines, line)) rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 4u);  // three epochs and a summary
  EXPECT_EQ(rows[0]["epoch"], 0);
  EXPECT_TRUE(rows[3]["summary"].get<bool>());
  EXPECT_GT(rows[3]["batch_accuracy"].get<double>(), 0.9);  // the classes are easy to tell apart
  EXPECT_TRUE(fs::exists(weights));

  Result e = ember_cmd("eval --weights " + weights + " --model linear --data " + data + " --json");
  ASSERT_EQ(e.status, 0) << e.err;
  const auto ej = nlohmann::json::parse(e.out);
  EXPECT_GT(ej["accuracy"].get<double>(), 0.9);
  EXPECT_EQ(ej["confusion"].size(), 4u);

  // weights that don't fit the model, a missing weights file, an unknown model
  for (const std::string& bad :
       {"eval --weights " + weights + " --model mlp --data " + data,
        "eval --weights /no/such.safetensors --model linear --data " + data,
        "train --model transformer --data " + data, std::string("train --data /no/such/dir")}) {
    Result r = ember_cmd(bad);
    EXPECT_EQ(r.status, 2) << bad;
    EXPECT_EQ(count_lines(r.err), 1) << bad << ": " << r.err;
  }

  // predict a PNG: a bottom-half digit is class 1, named as the data set names it (IDX labels are
  // numbers); the model and class count come from the weights file's metadata
  Tensor img = zeros({28, 28});
  img.slice(0, 14, 28).fill_(0.9);
  const std::string png = (dir_ / "bottom.png").string();
  io::write_png(img, png);
  Result p = ember_cmd("predict --weights " + weights + " --json " + png);
  ASSERT_EQ(p.status, 0) << p.err;
  EXPECT_EQ(nlohmann::json::parse(p.out)["prediction"], "1");
  // flags that contradict the metadata are errors, not silently another model
  for (const std::string& bad : {"predict --weights " + weights + " --model mlp " + png,
                                 "predict --weights " + weights + " --classes 10 " + png,
                                 "eval --weights " + weights + " --model cnn --data " + data}) {
    Result r = ember_cmd(bad);
    EXPECT_EQ(r.status, 2) << bad;
    EXPECT_EQ(count_lines(r.err), 1) << bad << ": " << r.err;
    EXPECT_NE(r.err.find("linear"), std::string::npos) << r.err;  // names what the file holds
  }

  // A folder of PNGs with named classes: predict and eval print the folder names.
  const fs::path folder = dir_ / "folder";
  Generator gen(9);
  for (const char* split : {"train", "valid"}) {
    for (int cls = 0; cls < 2; ++cls) {
      const fs::path sub = folder / split / (cls == 0 ? "top ink" : "bottom ink");
      fs::create_directories(sub);
      for (int i = 0; i < (split[0] == 't' ? 60 : 20); ++i) {
        const Tensor rows = arange(28).reshape({28, 1});
        const Tensor ink = (cls == 0 ? rows < 14 : rows >= 14).to(f32);
        const Tensor im = rand({28, 28}, gen) * 0.3 + ink * 0.7;
        io::write_png(im.clamp(0, 1), (sub / (std::to_string(i) + ".png")).string());
      }
    }
  }
  const std::string fweights = (dir_ / "folder.safetensors").string();
  Result ft = ember_cmd("train --model linear --data '" + folder.string() +
                        "' --epochs 3 --lr 0.5 --bs 16 --out " + fweights);
  ASSERT_EQ(ft.status, 0) << ft.err;
  Result fp = ember_cmd("predict --weights " + fweights + " --json " + png);
  ASSERT_EQ(fp.status, 0) << fp.err;
  EXPECT_EQ(nlohmann::json::parse(fp.out)["prediction"], "bottom ink");
  Result fe = ember_cmd("eval --weights " + fweights + " --data '" + folder.string() + "'");
  ASSERT_EQ(fe.status, 0) << fe.err;
  // the confusion matrix's columns are as wide as the longest name plus a space
  EXPECT_NE(fe.out.find(" bottom ink    top ink\n bottom ink         20"), std::string::npos)
      << fe.out;

  // eval on data with other class names (or another image size) is an error, not accuracy 0
  const fs::path renamed = dir_ / "renamed";
  fs::create_directories(renamed);
  fs::copy(folder, renamed, fs::copy_options::recursive);
  for (const char* split : {"train", "valid"})
    fs::rename(renamed / split / "top ink", renamed / split / "top");
  Result fr = ember_cmd("eval --weights " + fweights + " --data " + renamed.string());
  EXPECT_EQ(fr.status, 2) << fr.out;
  EXPECT_EQ(count_lines(fr.err), 1) << fr.err;
  EXPECT_NE(fr.err.find("top ink"), std::string::npos) << fr.err;

  // metadata that ember did not write: each bad value is one line naming the key, and exit 2
  const auto tensors = io::load_safetensors(fweights);
  const auto meta = io::safetensors_metadata(fweights);
  const std::string bad = (dir_ / "bad.safetensors").string();
  // {key, value, what the message must name}
  const std::vector<std::array<std::string, 3>> bad_values = {
      {"ember.height", "12abc", "ember.height"},
      {"ember.height", "3037000500", "ember.height"},
      {"ember.width", "0", "ember.width"},
      {"ember.input", "jpeg", "ember.input"},
      {"ember.classes", "not json", "ember.classes"},
      {"ember.classes", "[\"one\"]", "ember.classes"},
      {"ember.model", "linear", ""}};  // (a control: the file as written predicts)
  for (const auto& [key, value, named] : bad_values) {
    auto m = meta;
    m[key] = value;
    io::save_safetensors(bad, tensors, m);
    Result r = ember_cmd("predict --weights " + bad + " " + png);
    if (named.empty()) {
      EXPECT_EQ(r.status, 0) << r.err;
      continue;
    }
    EXPECT_EQ(r.status, 2) << key << "=" << value << ": " << r.out;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(named), std::string::npos) << r.err;
  }
  // each side within its bound, but too many pixels: refused before building the model
  auto huge = meta;
  huge["ember.height"] = huge["ember.width"] = "65536";
  io::save_safetensors(bad, tensors, huge);
  Result rh = ember_cmd("predict --weights " + bad + " " + png);
  EXPECT_EQ(rh.status, 2);
  EXPECT_NE(rh.err.find("too large"), std::string::npos) << rh.err;

  // a class folder whose name is not UTF-8 (any bytes are a valid folder name): training
  // finishes and writes its weights, the name stored with U+FFFD for the bad byte
  const fs::path latin1 = dir_ / "latin1";
  fs::copy(folder, latin1, fs::copy_options::recursive);
  for (const char* split : {"train", "valid"})
    fs::rename(latin1 / split / "top ink", latin1 / split / "caf\xe9");
  const std::string lweights = (dir_ / "latin1.safetensors").string();
  Result lt = ember_cmd("train --model linear --data " + latin1.string() +
                        " --epochs 1 --bs 16 --out " + lweights);
  ASSERT_EQ(lt.status, 0) << lt.err;
  EXPECT_NE(io::safetensors_metadata(lweights).at("ember.classes").find("caf\xef\xbf\xbd"),
            std::string::npos);

  Result b = ember_cmd("baseline --data " + data + " --json");
  ASSERT_EQ(b.status, 0) << b.err;
  EXPECT_GT(nlohmann::json::parse(b.out)["accuracy"].get<double>(), 0.9);
}

// The chapter's main job on the real data: every stage reports, and pixel similarity gives the
// chapter's published figures exactly (0.9168 on 3s, 0.9854 on 7s, 0.9511 on average).
TEST(Chapter, QuickRunGivesThePublishedBaselineAndEveryStage) {
  Result r = ember_cmd("chapter --quick --json");
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  std::map<std::string, nlohmann::json> stages;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);
    stages[j["stage"].get<std::string>()] = j;
  }
  for (const char* s : {"pixel_similarity", "quadratic_sgd", "linear_by_hand", "linear_module",
                        "simple_net", "cnn"})
    EXPECT_TRUE(stages.count(s)) << s;
  auto round4 = [](double v) { return std::round(v * 10000) / 10000; };
  const auto& p = stages["pixel_similarity"];
  EXPECT_DOUBLE_EQ(round4(p["accuracy_3"].get<double>()), 0.9168);
  EXPECT_DOUBLE_EQ(round4(p["accuracy_7"].get<double>()), 0.9854);
  EXPECT_DOUBLE_EQ(round4(p["accuracy"].get<double>()), 0.9511);
  // the quadratic's loss falls; the trained models beat the baseline even in a quick run
  const auto losses = stages["quadratic_sgd"]["losses"].get<std::vector<double>>();
  EXPECT_LT(losses.back(), losses.front());
  EXPECT_GT(stages["linear_module"]["accuracy_sgd"].get<double>(), 0.9);
  EXPECT_GT(stages["simple_net"]["accuracy"].get<double>(), 0.9);
}

// --seed makes every stage repeatable.
TEST(Chapter, SameSeedSameNumbers) {
  Result a = ember_cmd("chapter --quick --json --seed 7");
  Result b = ember_cmd("chapter --quick --json --seed 7");
  ASSERT_EQ(a.status, 0) << a.err;
  auto strip_seconds = [](const std::string& out) {
    std::istringstream lines(out);
    std::string line, all;
    while (std::getline(lines, line)) {
      auto j = nlohmann::json::parse(line);
      j.erase("seconds");
      all += j.dump() + "\n";
    }
    return all;
  };
  EXPECT_EQ(strip_seconds(a.out), strip_seconds(b.out));
}
