// train, eval, predict, baseline, fetch, export-png: the ember command through the public API.
#include "commands.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "common.hpp"
#include "models.hpp"

namespace ember_app {

using namespace ember;
using json = nlohmann::json;

namespace {

std::int64_t num_classes(const data::DataSplit& d) {
  return std::max<std::int64_t>(2, static_cast<std::int64_t>(d.train.classes.size()));
}

data::DataLoader make_loader(const data::Dataset& ds, std::int64_t bs, bool shuffle, Generator* gen,
                             const ModelSpec& spec) {
  data::DataLoader dl(ds, bs, shuffle, gen);
  if (spec.binary) dl.float_targets();
  return dl;
}

// What `ember train` records in the weights file's metadata, so that eval and predict need no
// flags and predict can name a folder's classes.
struct TrainedAs {
  std::string model;                 // empty: weights without ember's metadata
  std::vector<std::string> classes;  // names in label order (index 1 is binary's positive)
  std::int64_t height = 28, width = 28;
  bool mnist_like = true;  // trained on MNIST: predict makes each PNG look like an MNIST digit
};

// JSON text of v; strings that are not valid UTF-8 (a folder's bytes) get U+FFFD in their place.
std::string utf8_json(const json& v) {
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Made before training starts, so a problem shows up before the work is done.
std::map<std::string, std::string> trained_as_metadata(const std::string& model,
                                                       const data::DataSplit& split) {
  return {{"format", "pt"},  // what PyTorch's own safetensors writer puts there
          {"ember.model", model},
          {"ember.classes", utf8_json(split.train.classes)},
          {"ember.height", std::to_string(split.train.images.size(1))},
          {"ember.width", std::to_string(split.train.images.size(2))},
          {"ember.input", split.image_folder ? "images" : "mnist"}};
}

// A whole decimal number in [1, 65536], else an error naming the file and key.
std::int64_t image_side(const std::map<std::string, std::string>& meta, const char* key,
                        const std::string& path) {
  const std::string& v = meta.at(key);
  std::int64_t n = 0;
  const bool digits =
      !v.empty() && v.size() <= 6 && v.find_first_not_of("0123456789") == std::string::npos;
  if (digits) n = std::stoll(v);
  if (!digits || n < 1 || n > 65536)
    throw Error(path + ": bad ember metadata: " + key + " '" + v + "' (expected 1 to 65536)");
  return n;
}

TrainedAs read_trained_as(const std::string& path) {
  const auto meta = io::safetensors_metadata(path);
  TrainedAs t;
  if (meta.find("ember.model") == meta.end()) return t;
  for (const char* key : {"ember.classes", "ember.height", "ember.width", "ember.input"})
    if (meta.find(key) == meta.end())
      throw Error(path + ": bad ember metadata: ember.model without " + key);
  t.model = meta.at("ember.model");
  try {
    t.classes = json::parse(meta.at("ember.classes")).get<std::vector<std::string>>();
  } catch (const std::exception&) {
    throw Error(path + ": bad ember metadata: ember.classes is not a JSON list of names");
  }
  if (t.classes.size() < 2)
    throw Error(path + ": bad ember metadata: ember.classes names fewer than 2 classes");
  t.height = image_side(meta, "ember.height", path);
  t.width = image_side(meta, "ember.width", path);
  if (t.height * t.width > (std::int64_t{1} << 24))
    throw Error(path + ": bad ember metadata: images of " + std::to_string(t.height) + "x" +
                std::to_string(t.width) + " are too large");
  const std::string& input = meta.at("ember.input");
  if (input != "mnist" && input != "images")
    throw Error(path + ": bad ember metadata: ember.input '" + input +
                "' (expected mnist or images)");
  t.mnist_like = input == "mnist";
  return t;
}

// --model if given (it must agree with the file's metadata), else the metadata's, else simple_net.
std::string model_for(const std::optional<std::string>& given, const TrainedAs& t,
                      const std::string& path) {
  if (given && !t.model.empty() && *given != t.model)
    throw Error("--model " + *given + ": " + path + " holds a " + t.model + " model");
  if (given) return *given;
  return t.model.empty() ? "simple_net" : t.model;
}

std::shared_ptr<optim::Optimizer> make_optimizer(const std::string& name,
                                                 std::vector<Tensor> params, double lr,
                                                 double momentum, double wd) {
  if (name == "sgd") return std::make_shared<optim::SGD>(std::move(params), lr, momentum, wd);
  if (name == "adam")
    return std::make_shared<optim::Adam>(std::move(params), lr, 0.9, 0.999, 1e-8, wd);
  if (name == "adamw")
    return std::make_shared<optim::AdamW>(std::move(params), lr, 0.9, 0.999, 1e-8, wd);
  throw Error("unknown optimizer '" + name + "' (choose from sgd, adam, adamw)");
}

// The lr_find sweep as a short table (about 12 rows, evenly spaced in the sweep) and its
// suggestions, or one JSON object.
void print_lr_find(const Learner::LrFindResult& r, bool as_json) {
  if (as_json) {
    std::cout << json{{"lr_find", true},
                      {"lrs", r.lrs},
                      {"losses", r.losses},
                      {"suggested", r.suggested},
                      {"lr_min", r.lr_min}}
                     .dump()
              << std::endl;
    return;
  }
  std::printf("lr_find: %zu batches\n%12s  %s\n", r.lrs.size(), "lr", "smoothed loss");
  const std::size_t n = r.lrs.size(), step = std::max<std::size_t>(1, n / 12);
  for (std::size_t i = 0; i < n; i += step) std::printf("%12.3g  %.4f\n", r.lrs[i], r.losses[i]);
  if (n > 0 && (n - 1) % step != 0) std::printf("%12.3g  %.4f\n", r.lrs[n - 1], r.losses[n - 1]);
  std::printf("suggested lr (steepest descent): %.3g\nlr_min (minimum / 10): %.3g\n", r.suggested,
              r.lr_min);
}

}  // namespace

// The recipes, found by training on full MNIST (60000 training images, the 10000 test images as
// the validation set) on the 2-core development machine; measured there, with other work running:
//   ember train --model cnn --data mnist       3 epochs: 0.9910, 0.9918 (seed 1) and 0.9911 in
//                                               59, 69 and 60 s wall (38-50 s of CPU time, so
//                                               about 30 s on an idle machine); 2 epochs reach
//                                               only 0.9897-0.9902.
//   ember train --model resnet --data mnist    8 epochs, augmented (shift 2 px, rotation 10 deg):
//                                               0.9954 in 525 s wall (410 s of CPU time) and, in
//                                               an earlier run, 0.9960 in 494 s; the same recipe
//                                               without the third block reached only 0.9937.
Recipe recipe_for(const std::string& model) {
  Recipe r;
  if (model == "cnn") {
    r.opt = "adamw";
    r.lr = 1e-2;
    r.epochs = 3;
    r.bs = 128;
    r.wd = 1e-2;
    r.one_cycle = true;
  } else if (model == "resnet") {
    r = recipe_for("cnn");  // the same optimiser and schedule, longer and augmented
    r.epochs = 8;
    r.shift = 2;
    r.degrees = 10;
  }
  return r;
}

Recipe resolve_recipe(const TrainOptions& o) {
  Recipe r = recipe_for(o.model);
  if (o.opt) r.opt = *o.opt;
  if (o.lr) r.lr = *o.lr;
  if (o.epochs) r.epochs = *o.epochs;
  if (o.bs) r.bs = *o.bs;
  if (o.wd)
    r.wd = *o.wd;
  else if (o.opt && *o.opt != recipe_for(o.model).opt)
    r.wd = 0.0;  // the recipe's wd was for its optimizer
  if (o.one_cycle && o.no_one_cycle)
    throw Error("--one-cycle and --no-one-cycle contradict each other");
  if (o.one_cycle) r.one_cycle = true;
  if (o.no_one_cycle) r.one_cycle = false;
  if (!o.augment.empty()) {
    if (o.augment.size() != 2) throw Error("--augment takes two values: SHIFT,DEGREES");
    if (o.augment[0] < 0 ||
        o.augment[0] != static_cast<double>(static_cast<std::int64_t>(o.augment[0]))) {
      throw Error("--augment: the shift must be a whole number of pixels >= 0");
    }
    if (!(o.augment[1] >= 0)) throw Error("--augment: the rotation must be >= 0 degrees");
    r.shift = static_cast<std::int64_t>(o.augment[0]);
    r.degrees = o.augment[1];
  }
  if (r.epochs < 1) throw Error("--epochs must be at least 1, got " + std::to_string(r.epochs));
  if (r.bs < 1) throw Error("--bs must be at least 1, got " + std::to_string(r.bs));
  if (!(r.lr > 0)) throw Error("--lr must be positive");
  if (!(r.wd >= 0)) throw Error("--wd must be >= 0");
  return r;
}

int run_train(const TrainOptions& o) {
  const Recipe r = resolve_recipe(o);
  const auto start = Clock::now();
  const data::DataSplit split = data::load_dataset(o.data, o.resize);
  Generator gen(o.seed);
  const ModelSpec spec = make_model(o.model, split.train.images.size(1), split.train.images.size(2),
                                    num_classes(split), gen);
  data::ImageDataset train_ds(split.train, spec.layout), valid_ds(split.valid, spec.layout);
  data::DataLoader train_dl = make_loader(train_ds, r.bs, true, &gen, spec);
  data::DataLoader valid_dl =
      make_loader(valid_ds, std::max<std::int64_t>(r.bs, 1000), false, nullptr, spec);
  const bool augment = r.shift > 0 || r.degrees > 0;
  if (augment) {  // the training images only; its own stream, seeded from --seed
    data::AugmentOptions aug;
    aug.max_shift = r.shift;
    aug.max_degrees = r.degrees;
    aug.height = split.train.images.size(1);
    aug.width = split.train.images.size(2);
    train_dl.transform(data::random_affine(aug, o.seed + 1));
  }
  const auto metadata = trained_as_metadata(o.model, split);
  auto opt = make_optimizer(r.opt, spec.model->parameters(), r.lr, o.momentum, r.wd);
  Learner learn(spec.model, train_dl, valid_dl, opt, loss_for(spec),
                {{metric_name(spec), metric_for(spec)}});
  if (o.lr_find) {
    print_lr_find(learn.lr_find(), o.json);
    return 0;
  }
  if (o.json) {
    learn.quiet(true);
    learn.on_epoch_end([&](const EpochStats& s) {
      std::cout << json{{"epoch", s.epoch},           {"train_loss", s.train_loss},
                        {"valid_loss", s.valid_loss}, {metric_name(spec), s.metrics.at(0)},
                        {"seconds", s.seconds},       {"lr", s.lr}}
                       .dump()
                << std::endl;
    });
  } else {
    std::printf(
        "training %s on %s (%lld images, %lld classes) for %d epochs, %s %s lr %g, wd %g, batch "
        "%lld",
        o.model.c_str(), split.name.c_str(), static_cast<long long>(split.train.size()),
        static_cast<long long>(num_classes(split)), r.epochs, r.opt.c_str(),
        r.one_cycle ? "one-cycle max" : "constant", r.lr, r.wd, static_cast<long long>(r.bs));
    if (augment)
      std::printf(", augmented (shift %lld px, rotation %g deg)", static_cast<long long>(r.shift),
                  r.degrees);
    std::printf("\n");
  }
  if (r.one_cycle)
    learn.fit_one_cycle(r.epochs, r.lr);
  else
    learn.fit(r.epochs, r.lr);
  const auto& last = learn.history().back();
  if (!o.out.empty()) io::save_safetensors(o.out, spec.model->state_dict(), metadata);
  if (!o.history.empty()) {
    if (o.history.size() > 5 && o.history.substr(o.history.size() - 5) == ".json")
      learn.write_json(o.history);
    else
      learn.write_csv(o.history);
  }
  const double secs = seconds_since(start);
  if (o.json) {
    std::cout << json{{"summary", true},
                      {"model", o.model},
                      {"data", split.name},
                      {"valid_loss", last.valid_loss},
                      {metric_name(spec), last.metrics.at(0)},
                      {"seconds", secs},
                      {"weights", o.out},
                      {"recipe",
                       {{"opt", r.opt},
                        {"lr", r.lr},
                        {"epochs", r.epochs},
                        {"bs", r.bs},
                        {"wd", r.wd},
                        {"one_cycle", r.one_cycle},
                        {"augment", {r.shift, r.degrees}}}}}
                     .dump()
              << std::endl;
  } else {
    std::printf("final %s %.4f, valid loss %.4f, %.1f s in all%s%s\n", metric_name(spec),
                last.metrics.at(0), last.valid_loss, secs, o.out.empty() ? "" : "; weights in ",
                o.out.c_str());
  }
  return 0;
}

int run_eval(const EvalOptions& o) {
  if (o.weights.empty()) throw Error("--weights FILE is required");
  const TrainedAs t = read_trained_as(o.weights);
  const std::string model = model_for(o.model, t, o.weights);
  // --resize: a folder's images to the size the model was trained on (square sizes)
  const std::int64_t size = o.resize && !t.model.empty() && t.height == t.width ? t.height : 0;
  const data::DataSplit split = data::load_dataset(o.data, o.resize, size);
  if (!t.model.empty()) {  // the data must be what the model was trained to tell apart
    if (t.classes != split.valid.classes) {
      throw Error(o.weights + " was trained on the classes " + utf8_json(t.classes) + ", " +
                  o.data + " has " + utf8_json(split.valid.classes));
    }
    if (split.valid.images.size(1) != t.height || split.valid.images.size(2) != t.width) {
      throw Error(o.weights + " was trained on " + std::to_string(t.height) + "x" +
                  std::to_string(t.width) + " images, " + o.data + " has " +
                  std::to_string(split.valid.images.size(1)) + "x" +
                  std::to_string(split.valid.images.size(2)));
    }
  }
  Generator gen(0);
  const std::int64_t C = num_classes(split);
  const ModelSpec spec =
      make_model(model, split.valid.images.size(1), split.valid.images.size(2), C, gen);
  spec.model->load(o.weights);
  spec.model->eval();
  data::ImageDataset valid_ds(split.valid, spec.layout);
  data::DataLoader dl(valid_ds, 1000);
  NoGradGuard no_grad;
  std::vector<std::int64_t> confusion(static_cast<std::size_t>(C * C), 0);
  struct Wrong {
    std::int64_t index, label, pred;
    double confidence;
  };
  std::vector<Wrong> wrong;
  std::int64_t at = 0, correct = 0;
  for (const auto& b : dl) {
    Tensor out = (*spec.model)(b.x);
    Tensor probs, pred;
    if (spec.binary) {
      Tensor p1 = sigmoid(out.reshape({-1}));
      pred = (p1 > 0.5).to(i64);
      probs = stack({1.0 - p1, p1}, 1);
    } else {
      probs = softmax(out, 1);
      pred = argmax(out, 1);
    }
    const auto pv = pred.to_vector<std::int64_t>();
    const auto lv = b.y.to_vector<std::int64_t>();
    const auto prob = probs.to_vector<float>();
    for (std::size_t i = 0; i < pv.size(); ++i) {
      confusion[static_cast<std::size_t>(lv[i] * C + pv[i])]++;
      if (pv[i] == lv[i])
        ++correct;
      else
        wrong.push_back({at + static_cast<std::int64_t>(i), lv[i], pv[i],
                         prob[i * static_cast<std::size_t>(C) + static_cast<std::size_t>(pv[i])]});
    }
    at += static_cast<std::int64_t>(pv.size());
  }
  std::sort(wrong.begin(), wrong.end(),
            [](const Wrong& a, const Wrong& b) { return a.confidence > b.confidence; });
  const double acc =
      static_cast<double>(correct) / static_cast<double>(std::max<std::int64_t>(at, 1));
  const auto& cls = split.valid.classes;
  if (o.json) {
    json j{{"accuracy", acc}, {"images", at}, {"classes", cls}};
    j["confusion"] = confusion;
    json w = json::array();
    for (std::size_t i = 0; i < wrong.size() && static_cast<int>(i) < o.worst; ++i)
      w.push_back({{"index", wrong[i].index},
                   {"label", cls[static_cast<std::size_t>(wrong[i].label)]},
                   {"prediction", cls[static_cast<std::size_t>(wrong[i].pred)]},
                   {"confidence", wrong[i].confidence}});
    j["most_wrong"] = w;
    std::cout << j.dump() << std::endl;
    return 0;
  }
  std::printf(
      "%s on %s: accuracy %.4f (%lld of %lld)\n\nconfusion matrix (rows: label, columns: "
      "prediction)\n",
      model.c_str(), split.name.c_str(), acc, static_cast<long long>(correct),
      static_cast<long long>(at));
  int width = 6;  // columns wide enough for the longest class name and a space
  for (const auto& c : cls) width = std::max(width, static_cast<int>(c.size()) + 1);
  std::printf("%*s", width, "");
  for (const auto& c : cls) std::printf("%*s", width, c.c_str());
  std::printf("\n");
  for (std::int64_t r = 0; r < C; ++r) {
    std::printf("%*s", width, cls[static_cast<std::size_t>(r)].c_str());
    for (std::int64_t c = 0; c < C; ++c)
      std::printf("%*lld", width,
                  static_cast<long long>(confusion[static_cast<std::size_t>(r * C + c)]));
    std::printf("\n");
  }
  std::printf("\nmost wrong (index, label, prediction, confidence):\n");
  for (std::size_t i = 0; i < wrong.size() && static_cast<int>(i) < o.worst; ++i)
    std::printf("  %6lld  %*s  %*s  %.4f\n", static_cast<long long>(wrong[i].index), width - 1,
                cls[static_cast<std::size_t>(wrong[i].label)].c_str(), width - 1,
                cls[static_cast<std::size_t>(wrong[i].pred)].c_str(), wrong[i].confidence);
  return 0;
}

// Makes any grey image look like an MNIST digit: white ink on black, the ink's bounding box
// scaled to fit 20x20 and centred in 28x28 (as MNIST was made).
Tensor to_mnist_like(const Tensor& grey_u8) {
  Tensor img = data::to_unit_float(grey_u8);
  if (img.mean().item<double>() > 0.5) img = 1.0 - img;  // dark ink on light paper
  if (img.size(0) == 28 && img.size(1) == 28) return img;
  const auto v = img.to_vector<float>();
  const std::int64_t H = img.size(0), W = img.size(1);
  std::int64_t r0 = H, r1 = -1, c0 = W, c1 = -1;
  for (std::int64_t r = 0; r < H; ++r)
    for (std::int64_t c = 0; c < W; ++c)
      if (v[static_cast<std::size_t>(r * W + c)] > 0.1f) {
        r0 = std::min(r0, r);
        r1 = std::max(r1, r);
        c0 = std::min(c0, c);
        c1 = std::max(c1, c);
      }
  if (r1 < 0) return data::to_unit_float(data::resize_area(grey_u8, 28, 28));  // blank
  Tensor crop = img.slice(0, r0, r1 + 1).slice(1, c0, c1 + 1);
  const std::int64_t h = r1 - r0 + 1, w = c1 - c0 + 1;
  const double scale = 20.0 / static_cast<double>(std::max(h, w));
  const std::int64_t nh = std::max<std::int64_t>(1, static_cast<std::int64_t>(h * scale + 0.5));
  const std::int64_t nw = std::max<std::int64_t>(1, static_cast<std::int64_t>(w * scale + 0.5));
  Tensor small =
      data::to_unit_float(data::resize_area((crop * 255.0).clamp(0, 255).to(u8), nh, nw));
  Tensor out = zeros({28, 28});
  out.slice(0, (28 - nh) / 2, (28 - nh) / 2 + nh)
      .slice(1, (28 - nw) / 2, (28 - nw) / 2 + nw)
      .copy_(small);
  return out;
}

int run_predict(const PredictOptions& o) {
  if (o.weights.empty()) throw Error("--weights FILE is required");
  if (o.images.empty()) throw Error("give at least one IMAGE.png");
  const TrainedAs t = read_trained_as(o.weights);
  const std::string model = model_for(o.model, t, o.weights);
  std::vector<std::string> names = t.classes;
  if (names.empty()) {  // weights without metadata: MNIST's digits, or the chapter's 3 vs 7
    const int classes = o.classes.value_or(10);
    if (classes < 2) throw Error("--classes must be at least 2");
    names = classes == 2 ? std::vector<std::string>{"7", "3"} : std::vector<std::string>{};
    for (int k = 0; classes > 2 && k < classes; ++k) names.push_back(std::to_string(k));
  } else if (o.classes && *o.classes != static_cast<int>(names.size())) {
    throw Error("--classes " + std::to_string(*o.classes) + ": " + o.weights + " was trained on " +
                std::to_string(names.size()) + " classes");
  }
  Generator gen(0);
  const ModelSpec spec =
      make_model(model, t.height, t.width, static_cast<std::int64_t>(names.size()), gen);
  spec.model->load(o.weights);
  spec.model->eval();
  NoGradGuard no_grad;
  for (const auto& path : o.images) {
    // as the model's training images were made: MNIST-like digits, or the folder loader's resize
    Tensor grey = io::read_png(path);
    if (!t.mnist_like && (grey.size(0) != t.height || grey.size(1) != t.width))
      grey = data::resize_area(grey, t.height, t.width);
    Tensor img = t.mnist_like ? to_mnist_like(grey) : data::to_unit_float(grey);
    Tensor x = spec.layout == data::Layout::flat ? img.reshape({1, t.height * t.width})
                                                 : img.reshape({1, 1, t.height, t.width});
    Tensor out = (*spec.model)(x);
    std::string label;
    double p;
    if (spec.binary) {  // one logit: class 1 (the chapter's 3) when its probability is > 0.5
      const double p1 = sigmoid(out).item<double>();
      label = names[p1 > 0.5 ? 1 : 0];
      p = p1 > 0.5 ? p1 : 1 - p1;
    } else {
      Tensor probs = softmax(out, 1);
      const auto k = argmax(out, 1).item<std::int64_t>();
      label = names[static_cast<std::size_t>(k)];
      p = probs[0][k].item<double>();
    }
    if (o.json)
      std::cout << json{{"image", path}, {"prediction", label}, {"probability", p}}.dump()
                << std::endl;
    else
      std::printf("%s: %s (%.4f)\n", path.c_str(), label.c_str(), p);
  }
  return 0;
}

int run_baseline(const std::string& data_spec, bool as_json, bool resize) {
  // Pixel similarity for any number of classes: the mean image of each class, then each
  // validation image goes to the nearest mean (mean absolute difference).
  const auto start = Clock::now();
  const data::DataSplit split = data::load_dataset(data_spec, resize);
  const auto& cls = split.train.classes;
  const auto C = static_cast<std::int64_t>(cls.size());
  std::vector<Tensor> means;
  for (std::int64_t c = 0; c < C; ++c) {
    const Tensor images = data::images_with_label(split.train, c);
    if (images.size(0) == 0)
      throw Error("baseline: class '" + cls[static_cast<std::size_t>(c)] +
                  "' has no training images");
    means.push_back(data::to_unit_float(images).mean(0));
  }
  const Tensor ideal = stack(means);  // [C, H, W]
  const Tensor valid = data::to_unit_float(split.valid.images);
  std::vector<Tensor> dists;
  for (std::int64_t c = 0; c < C; ++c) dists.push_back((valid - ideal[c]).abs().mean({-1, -2}));
  const auto pred = argmin(stack(dists, 1), 1).to_vector<std::int64_t>();
  const auto vl = split.valid.labels.to_vector<std::int64_t>();
  std::vector<std::int64_t> right(static_cast<std::size_t>(C), 0),
      count(static_cast<std::size_t>(C), 0);
  for (std::size_t i = 0; i < vl.size(); ++i) {
    count[static_cast<std::size_t>(vl[i])]++;
    if (pred[i] == vl[i]) right[static_cast<std::size_t>(vl[i])]++;
  }
  double sum = 0;
  json per = json::object();
  if (!as_json)
    std::printf("pixel similarity on %s (nearest mean image, %lld classes)\n", split.name.c_str(),
                static_cast<long long>(C));
  for (std::int64_t c = 0; c < C; ++c) {
    const double a = count[static_cast<std::size_t>(c)]
                         ? static_cast<double>(right[static_cast<std::size_t>(c)]) /
                               static_cast<double>(count[static_cast<std::size_t>(c)])
                         : 0.0;
    sum += a;
    per[cls[static_cast<std::size_t>(c)]] = a;
    if (!as_json)
      std::printf("  accuracy on %s: %.4f\n", cls[static_cast<std::size_t>(c)].c_str(), a);
  }
  if (as_json)
    std::cout << json{{"accuracy_per_class", per},
                      {"accuracy", sum / static_cast<double>(C)},
                      {"seconds", seconds_since(start)}}
                     .dump()
              << std::endl;
  else
    std::printf("  average: %.4f\n", sum / static_cast<double>(C));
  return 0;
}

int run_fetch(const std::string& what) {
  if (what != "mnist") throw Error("fetch: unknown data set '" + what + "' (only 'mnist')");
  const std::string dir = data::fetch_mnist(true);
  std::printf("MNIST is in %s\n", dir.c_str());
  return 0;
}

int run_export_png(const std::string& what, const std::string& dir) {
  const data::DataSplit split = data::load_dataset(what);
  data::export_png(split, dir);
  std::printf("wrote %lld training and %lld validation PNGs of %s under %s\n",
              static_cast<long long>(split.train.size()),
              static_cast<long long>(split.valid.size()), split.name.c_str(), dir.c_str());
  return 0;
}

}  // namespace ember_app
