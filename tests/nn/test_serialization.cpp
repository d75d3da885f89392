// Saving and loading modules as safetensors, and the same weights in PyTorch both ways.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "ember/io/safetensors.hpp"
#include "ember/nn/nn.hpp"
#include "io/test_files.hpp"
#include "support/gradcheck.hpp"

using namespace ember;
using ember::testing::allclose;
using ember::testing::expect_error;
using ember::testing::TempDir;

namespace {

std::shared_ptr<nn::Sequential> simple_net(Generator& gen) {
  return nn::make_sequential(
      {nn::make_linear(784, 30, gen), nn::make_relu(), nn::make_linear(30, 1, gen)});
}

}  // namespace

TEST(ModuleSaveLoad, RoundTrip) {
  TempDir dir;
  Generator g1(1), g2(2), gx(3);
  auto a = simple_net(g1);
  auto b = simple_net(g2);
  const Tensor x = rand({8, 784}, gx);
  const std::string path = dir / "model.safetensors";
  a->save(path);
  EXPECT_EQ(io::safetensors_metadata(path).at("format"), "pt");
  EXPECT_FALSE(allclose((*b)(x), (*a)(x)));
  b->load(path);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_TRUE(allclose(b->parameters()[i], a->parameters()[i], 0, 0));
  }
  EXPECT_TRUE(allclose((*b)(x), (*a)(x), 0, 0));
  // only the model's file is left in the folder (no temporary file)
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.str())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST(ModuleSaveLoad, WrongArchitectureOrFile) {
  TempDir dir;
  Generator gen(1);
  auto a = simple_net(gen);
  const std::string path = dir / "model.safetensors";
  a->save(path);
  auto other = nn::make_sequential(
      {nn::make_linear(784, 20, gen), nn::make_relu(), nn::make_linear(20, 1, gen)});
  expect_error([&] { other->load(path); }, {path, "0.weight", "[20, 784]", "[30, 784]"});
  auto deeper = nn::make_sequential({nn::make_linear(784, 30, gen), nn::make_relu(),
                                     nn::make_linear(30, 1, gen), nn::make_sigmoid(),
                                     nn::make_linear(1, 1, gen)});
  expect_error([&] { deeper->load(path); }, {path, "missing", "4.weight"});
  expect_error([&] { a->load(dir / "absent.safetensors"); }, {"absent.safetensors"});
}

// PyTorch reads ember's file into the same torch.nn.Sequential and gets the same outputs; then
// writes its own weights, which ember reads and runs. The Python side parses safetensors itself
// (struct + json + torch.frombuffer), so only python3-torch is needed.
TEST(ModuleSaveLoad, PyTorchInterop) {
  if (std::system("/usr/bin/python3 -c 'import torch' > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "python3-torch is absent (/usr/bin/python3 cannot import torch)";
  }
  TempDir dir;
  const char* script = R"PY(
import json, struct, sys
import torch
d = sys.argv[1]
DT = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "U8": torch.uint8}
NAME = {v: k for k, v in DT.items()}

def load(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = bytearray(raw[8 + n:])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        t = torch.frombuffer(data[b:end], dtype=DT[e["dtype"]])
        out[name] = t.reshape(e["shape"]).clone()
    return out

def save(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().contiguous().numpy().tobytes()
        header[name] = {"dtype": NAME[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)

def net():
    return torch.nn.Sequential(torch.nn.Linear(784, 30), torch.nn.ReLU(), torch.nn.Linear(30, 1))

io = load(d + "/ember_io.safetensors")
m = net()
m.load_state_dict(load(d + "/ember_model.safetensors"))  # strict: names and shapes must match
with torch.no_grad():
    y = m(io["x"])
print("ember -> torch: max abs difference", (y - io["y"]).abs().max().item())
if not torch.allclose(y, io["y"], atol=1e-5, rtol=1e-5):
    sys.exit(1)
torch.manual_seed(0)
m2 = net()
save(d + "/torch_model.safetensors", m2.state_dict())
with torch.no_grad():
    save(d + "/torch_io.safetensors", {"x": io["x"], "y": m2(io["x"])})
)PY";
  { std::ofstream(dir / "interop.py") << script; }
  Generator gen(5), gx(6);
  auto model = simple_net(gen);
  const Tensor x = rand({4, 784}, gx);
  model->save(dir / "ember_model.safetensors");
  io::save_safetensors(dir / "ember_io.safetensors", {{"x", x}, {"y", (*model)(x)}});
  const std::string cmd = "/usr/bin/python3 " + (dir / "interop.py") + " " + dir.str() + " > " +
                          (dir / "log.txt") + " 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream log_in(dir / "log.txt");
  const std::string log((std::istreambuf_iterator<char>(log_in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(rc, 0) << "the Python side failed:\n" << log;

  Generator other(99);
  auto back = simple_net(other);
  back->load(dir / "torch_model.safetensors");
  const auto torch_io = io::load_safetensors(dir / "torch_io.safetensors");
  ASSERT_EQ(torch_io.size(), 2u);
  ASSERT_EQ(torch_io[1].first, "y");
  EXPECT_TRUE(allclose((*back)(torch_io[0].second), torch_io[1].second, 1e-5, 1e-5));
}
