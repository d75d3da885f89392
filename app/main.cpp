// The ember command: the chapter, training, evaluation and prediction on MNIST, on IDX data sets
// and on folders of PNG images. Bad input gets one line on stderr and exit status 2.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "chapter.hpp"
#include "commands.hpp"
#include "ember/ember.hpp"
#include "models.hpp"
#include "show.hpp"

using namespace ember_app;

int main(int argc, char** argv) {
  CLI::App app{"ember: fast.ai's MNIST basics, natively in C++ (tensors, autograd, training)"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "all commands' options");

  ChapterOptions chapter;
  auto* ch = app.add_subcommand(
      "chapter", "run the whole 'MNIST basics' chapter on real MNIST (the main job)");
  ch->add_option("--seed", chapter.seed, "random seed: every stage is repeatable")
      ->capture_default_str();
  ch->add_flag("--json", chapter.json, "one JSON object per stage instead of the human output");
  ch->add_option("--report", chapter.report_dir,
                 "write DIR/index.html, the chapter with its own numbers and figures");
  ch->add_flag("--quick", chapter.quick, "a tenth of the epochs (a smoke test)");

  TrainOptions train;
  auto* tr = app.add_subcommand("train", "train a model and save its weights (safetensors)");
  tr->add_option("--model", train.model, std::string("model: ") + kModelNames)
      ->capture_default_str();
  tr->add_option("--data", train.data,
                 "mnist-sample, mnist, or a DIR (IDX files or train/<label>/*.png)")
      ->capture_default_str();
  tr->add_option("--epochs", train.epochs,
                 "epochs (default: the model's recipe; 5 for linear, simple_net, mlp)");
  tr->add_option("--lr", train.lr,
                 "learning rate, the peak with one-cycle (default: the recipe's; 0.1 for the "
                 "chapter's models)");
  tr->add_option("--bs", train.bs,
                 "batch size (default: the recipe's; 256 for the chapter's models)");
  tr->add_option(
      "--opt", train.opt,
      "optimizer: sgd, adam, adamw (default: the recipe's; sgd for the chapter's models)");
  tr->add_option("--wd", train.wd,
                 "weight decay: decoupled for adamw, L2 for sgd and adam (default: the recipe's)");
  tr->add_option("--momentum", train.momentum, "SGD momentum")->capture_default_str();
  tr->add_option("--seed", train.seed, "random seed")->capture_default_str();
  tr->add_option("--out", train.out, "save the weights to FILE.safetensors");
  tr->add_option("--history", train.history, "write the epoch table to FILE.csv or FILE.json");
  tr->add_flag(
      "--one-cycle", train.one_cycle,
      "one-cycle learning-rate schedule (fit_one_cycle; the cnn and resnet recipes' default)");
  tr->add_flag("--no-one-cycle", train.no_one_cycle,
               "a constant learning rate even where the recipe uses one-cycle");
  tr->add_option("--augment", train.augment,
                 "random shifts of up to SHIFT pixels and rotations of up to DEGREES, training "
                 "images only (e.g. 2,10; 0,0 for none; default: the recipe's)")
      ->expected(2)
      ->delimiter(',');
  tr->add_flag("--lr-find", train.lr_find,
               "the learning-rate range test (lr_find) with these options instead of training: the "
               "sweep and the suggested lr");
  tr->add_flag("--resize", train.resize, "resize images whose size differs from the first");
  tr->add_flag("--json", train.json, "JSON lines: one per epoch, then a summary");

  EvalOptions ev;
  auto* e = app.add_subcommand("eval", "accuracy, confusion matrix and the most-wrong images");
  e->add_option("--weights", ev.weights, "FILE.safetensors written by ember train")->required();
  e->add_option(
      "--model", ev.model,
      std::string("model: ") + kModelNames + " (default: the one the weights were trained as)");
  e->add_option("--data", ev.data, "mnist-sample, mnist, or a DIR")->capture_default_str();
  e->add_option("--worst", ev.worst, "how many most-wrong images to list")->capture_default_str();
  e->add_flag("--resize", ev.resize, "resize images whose size differs from the first");
  e->add_flag("--json", ev.json, "one JSON object");

  PredictOptions pr;
  auto* p = app.add_subcommand(
      "predict", "the class (digit, 3/7, or folder name) and its probability for each PNG");
  p->add_option("--weights", pr.weights, "FILE.safetensors written by ember train")->required();
  p->add_option(
      "--model", pr.model,
      std::string("model: ") + kModelNames + " (default: the one the weights were trained as)");
  p->add_option(
      "--classes", pr.classes,
      "classes the model was trained on, for weights without ember's metadata: 10 (mnist, "
      "the default) or 2 (3 vs 7)");
  p->add_option("images", pr.images, "IMAGE.png ...")->required()->check(CLI::ExistingFile);
  p->add_flag("--json", pr.json, "one JSON object per image");

  std::string base_data = "mnist-sample";
  bool base_json = false, base_resize = false;
  auto* b =
      app.add_subcommand("baseline", "pixel similarity: nearest mean image, on any labelled data");
  b->add_option("--data", base_data, "mnist-sample, mnist, or a DIR")->capture_default_str();
  b->add_flag("--json", base_json, "one JSON object");
  b->add_flag("--resize", base_resize, "resize images whose size differs from the first");

  std::string fetch_what;
  auto* f = app.add_subcommand(
      "fetch", "download and check a data set (mnist) into $EMBER_DATA or ~/.cache/ember");
  f->add_option("dataset", fetch_what, "mnist")->required();

  std::string export_what, export_dir;
  auto* x = app.add_subcommand("export-png", "write a data set as DIR/{train,valid}/<label>/*.png");
  x->add_option("dataset", export_what, "mnist-sample or mnist")->required();
  x->add_option("dir", export_dir, "output folder")->required();

  ShowOptions show;
  auto* sh = app.add_subcommand("show",
                                "draw a digit in the terminal (or its pixel values with --values)");
  sh->add_option("image", show.image, "IMAGE.png (or use --data and --index)")
      ->check(CLI::ExistingFile);
  sh->add_option("--data", show.data, "mnist-sample, mnist, or a DIR")->capture_default_str();
  sh->add_option("--split", show.split, "train or valid")->capture_default_str();
  sh->add_option("--index", show.index, "which image")->capture_default_str();
  sh->add_flag("--values", show.values,
               "the pixel values as a table shaded by value (rows 4-14, columns 4-21)");
  sh->add_flag("--plain", show.plain, "grey-scale characters, no colour");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& err) {
    return app.exit(err);
  } catch (const CLI::CallForAllHelp& err) {
    return app.exit(err);
  } catch (const CLI::ParseError& err) {
    std::fprintf(stderr, "ember: %s (see ember --help)\n", err.what());
    return 2;
  }

  try {
    if (ch->parsed()) return run_chapter(chapter);
    if (tr->parsed()) return run_train(train);
    if (e->parsed()) return run_eval(ev);
    if (p->parsed()) return run_predict(pr);
    if (b->parsed()) return run_baseline(base_data, base_json, base_resize);
    if (f->parsed()) return run_fetch(fetch_what);
    if (x->parsed()) return run_export_png(export_what, export_dir);
    if (sh->parsed()) return run_show(show);
  } catch (const std::exception& err) {
    std::fflush(stdout);
    std::fprintf(stderr, "ember: %s\n", err.what());
    return 2;
  }
  return 0;
}
