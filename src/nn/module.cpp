// nn::Module: registration, recursive traversal (named parameters, buffers, state_dict),
// train/eval, and loading values into a module.
#include "ember/nn/module.hpp"

#include <set>
#include <sstream>

#include "ember/core/graph.hpp"
#include "ember/io/safetensors.hpp"

namespace ember::nn {

void Module::check_new_name(const std::string& name, const char* what) const {
  if (name.empty() || name.find('.') != std::string::npos) {
    throw Error(std::string(what) + ": name \"" + name + "\" must be non-empty and hold no '.'");
  }
  auto taken = [&](const auto& list) {
    for (const auto& [n, v] : list)
      if (n == name) return true;
    return false;
  };
  if (taken(params_) || taken(buffers_) || taken(children_)) {
    throw Error(std::string(what) + ": name \"" + name + "\" is already used in this " +
                type_name());
  }
}

Tensor Module::register_parameter(const std::string& name, Tensor t) {
  check_new_name(name, "register_parameter");
  if (!t.defined()) throw Error("register_parameter: \"" + name + "\" is undefined");
  if (!is_floating(t.dtype())) {
    throw Error("register_parameter: \"" + name + "\" must be f32 or f64, got " +
                dtype_name(t.dtype()));
  }
  if (!t.is_leaf()) t = t.detach();
  t.requires_grad_(true);
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  check_new_name(name, "register_buffer");
  if (!t.defined()) throw Error("register_buffer: \"" + name + "\" is undefined");
  buffers_.emplace_back(name, t);
  return t;
}

void Module::collect(const std::string& prefix, bool params, bool buffers,
                     NamedTensors& out) const {
  if (params)
    for (const auto& [n, t] : params_) out.emplace_back(prefix + n, t);
  if (buffers)
    for (const auto& [n, t] : buffers_) out.emplace_back(prefix + n, t);
  for (const auto& [n, m] : children_) m->collect(prefix + n + ".", params, buffers, out);
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", true, false, out);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, true, out);
  return out;
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect("", true, true, out);
  return out;
}

void Module::load_state_dict(const NamedTensors& state, bool strict) {
  std::map<std::string, Tensor> by_name;
  for (const auto& [n, t] : state) {
    if (!by_name.emplace(n, t).second) {
      throw Error("load_state_dict: tensor \"" + n + "\" is given twice");
    }
  }
  load_state_dict(by_name, strict);
}

void Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
  const NamedTensors mine = state_dict();
  // Check everything first, so that a failure changes nothing.
  std::vector<std::string> missing;
  std::set<std::string> known;
  for (const auto& [n, t] : mine) {
    known.insert(n);
    auto it = state.find(n);
    if (it == state.end()) {
      missing.push_back(n + " " + shape_str(t.shape()));
      continue;
    }
    if (!it->second.defined()) throw Error("load_state_dict: tensor \"" + n + "\" is undefined");
    if (it->second.shape() != t.shape()) {
      throw Error("load_state_dict: size mismatch for \"" + n + "\": the model has " +
                  shape_str(t.shape()) + ", the state has " + shape_str(it->second.shape()));
    }
  }
  if (strict) {
    std::vector<std::string> unexpected;
    for (const auto& [n, t] : state)
      if (!known.count(n)) unexpected.push_back(n + " " + shape_str(t.shape()));
    auto join = [](const std::vector<std::string>& v) {
      std::string s;
      for (std::size_t i = 0; i < v.size() && i < 5; ++i) s += (i ? ", " : "") + v[i];
      if (v.size() > 5) s += ", ... (" + std::to_string(v.size()) + " in all)";
      return s;
    };
    if (!missing.empty() || !unexpected.empty()) {
      std::string msg = "load_state_dict: the state does not fit this " + type_name() + ":";
      if (!missing.empty()) msg += " missing " + join(missing) + ";";
      if (!unexpected.empty()) msg += " unexpected " + join(unexpected) + ";";
      msg.pop_back();
      throw Error(msg);
    }
  }
  NoGradGuard no_grad;
  for (auto& [n, t] : mine) {
    auto it = state.find(n);
    if (it == state.end()) continue;
    Tensor dst = t;
    dst.copy_(it->second.detach());
  }
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, m] : children_) m->train(on);
}

void Module::zero_grad() {
  for (auto& [n, t] : params_) t.zero_grad();
  for (auto& [n, m] : children_) m->zero_grad();
}

std::string Module::repr() const {
  if (children_.empty()) return type_name() + "()";
  std::ostringstream os;
  os << type_name() << "(\n";
  for (const auto& [n, m] : children_) {
    // indent the child's own lines by two spaces
    std::string child = m->repr();
    std::string indented;
    for (char c : child) {
      indented += c;
      if (c == '\n') indented += "  ";
    }
    os << "  (" << n << "): " << indented << "\n";
  }
  os << ")";
  return os.str();
}

void Module::save(const std::string& path) const {
  // {"format": "pt"}: the metadata PyTorch's own safetensors writer puts there
  io::save_safetensors(path, state_dict(), {{"format", "pt"}});
}

void Module::load(const std::string& path) {
  const auto tensors = io::load_safetensors(path);
  try {
    load_state_dict(tensors, true);
  } catch (const Error& e) {
    throw Error("load: " + path + ": " + e.what());
  }
}

}  // namespace ember::nn
