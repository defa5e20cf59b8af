// Golden file parser (golden_reader.h): line-based, checks the header keys, the
// epilogue set of the op, every tensor's name and count, and the final `end`.
#include "golden_reader.h"

#include <cerrno>
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

namespace xsep_test {
namespace {

constexpr int64_t kMaxCount = int64_t{1} << 28;  // no golden is anywhere near this

std::vector<std::string> tokens_of(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string t; in >> t;) out.push_back(t);
  return out;
}

bool parse_int(const std::string& s, int64_t* v) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const long long r = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return false;
  *v = r;
  return true;
}

bool parse_number(const std::string& s, double* v) {
  if (s.empty()) return false;
  char* end = nullptr;
  const double r = std::strtod(s.c_str(), &end);
  if (*end != '\0' || !std::isfinite(r)) return false;
  *v = r;
  return true;
}

bool float_exact(double v) {
  return std::fabs(v) <= FLT_MAX && static_cast<double>(static_cast<float>(v)) == v;
}

bool product(const int64_t* dims, int count, int64_t* out) {
  int64_t p = 1;
  for (int i = 0; i < count; ++i) {
    if (__builtin_mul_overflow(p, dims[i], &p) || p > kMaxCount) return false;
  }
  *out = p;
  return true;
}

class Parser {
 public:
  Parser(const std::string& path, GoldenCase* out, std::string* error)
      : path_(path), c_(out), error_(error) {}

  bool run() {
    std::ifstream in(path_, std::ios::binary);
    if (!in) return fail("cannot open the file");
    std::stringstream buf;
    buf << in.rdbuf();
    const std::string text = buf.str();
    if (text.empty() || text.back() != '\n') return fail("the file does not end with a newline");
    for (size_t pos = 0; pos < text.size();) {
      const size_t nl = text.find('\n', pos);
      lines_.push_back(text.substr(pos, nl - pos));
      pos = nl + 1;
    }
    if (lines_[0] != "xsep-golden 1") return fail("first line is not 'xsep-golden 1'");
    line_ = 1;
    return header() && expected_tensors() && tensors();
  }

 private:
  bool fail(const std::string& what) {
    *error_ = path_ + ":" + std::to_string(line_ + 1) + ": " + what;
    return false;
  }

  // Header lines up to the first `tensor` line.
  bool header() {
    std::set<std::string> seen;
    for (; line_ < lines_.size(); ++line_) {
      const std::vector<std::string> t = tokens_of(lines_[line_]);
      if (t.empty()) return fail("empty line in the header");
      const std::string& key = t[0];
      if (key == "tensor" || key == "end") break;
      if (key == "epilogue") {
        if (!epilogue(t)) return false;
        continue;
      }
      if (!seen.insert(key).second) return fail("header key '" + key + "' given twice");
      if (!header_line(t)) return false;
    }
    for (const char* key : {"op", "dtype", "layout", "shape", "out_shape", "k", "stride", "pad"}) {
      if (!seen.count(key)) return fail(std::string("header key '") + key + "' is missing");
    }
    return true;
  }

  bool header_line(const std::vector<std::string>& t) {
    const std::string& key = t[0];
    const auto one_of = [&](std::string* field, std::set<std::string> allowed) {
      if (t.size() != 2 || !allowed.count(t[1])) return fail("bad '" + key + "' line");
      *field = t[1];
      return true;
    };
    const auto int_in = [&](int* field, int64_t lo, int64_t hi) {
      int64_t v = 0;
      if (t.size() != 2 || !parse_int(t[1], &v) || v < lo || v > hi) {
        return fail("bad '" + key + "' line (an integer in " + std::to_string(lo) + ".." +
                    std::to_string(hi) + " expected)");
      }
      *field = static_cast<int>(v);
      return true;
    };
    const auto dims = [&](int64_t* field) {
      if (t.size() != 5) return fail("'" + key + "' needs 4 dimensions");
      for (int i = 0; i < 4; ++i) {
        if (!parse_int(t[i + 1], &field[i]) || field[i] < 1) return fail("bad dimension in '" + key + "'");
      }
      return true;
    };
    if (key == "op") {
      return one_of(&c_->op, {"dwconv2x2", "dwconv1xk", "dwconvkx1", "dwconvkxk", "xsepconv"});
    }
    if (key == "dtype") return one_of(&c_->dtype, {"f32", "f16"});
    if (key == "layout") return one_of(&c_->layout, {"nchw", "nhwc"});
    if (key == "shape") return dims(c_->shape);
    if (key == "out_shape") return dims(c_->out_shape);
    if (key == "k") return int_in(&c_->k, 1, 1 << 16);
    if (key == "stride") return int_in(&c_->stride, 1, 2);
    if (key == "pad") return int_in(&c_->pad, 0, 4);
    return fail("unknown header key '" + key + "'");
  }

  bool epilogue(const std::vector<std::string>& t) {
    int64_t act = 0, has_scale = 0, has_bias = 0;
    if (t.size() != 5 || !parse_int(t[2], &act) || !parse_int(t[3], &has_scale) ||
        !parse_int(t[4], &has_bias) || act < 0 || act > 3 || has_scale < 0 || has_scale > 1 ||
        has_bias < 0 || has_bias > 1) {
      return fail("bad 'epilogue' line (epilogue NAME ACT(0..3) HAS_SCALE(0/1) HAS_BIAS(0/1))");
    }
    if (c_->epilogues.count(t[1])) return fail("epilogue '" + t[1] + "' given twice");
    c_->epilogues[t[1]].act = static_cast<int>(act);
    if (has_scale) want_[t[1] + ".scale"] = -1;  // count filled in by expected_tensors()
    if (has_bias) want_[t[1] + ".bias"] = -1;
    return true;
  }

  // The tensors the header implies, with their counts.
  bool expected_tensors() {
    const int64_t ch = c_->shape[1], k = c_->k;
    if (c_->out_shape[0] != c_->shape[0] || c_->out_shape[1] != ch) {
      return fail("out_shape N, C differ from shape N, C");
    }
    std::set<std::string> eps;
    if (c_->op == "xsepconv") {
      eps = {"ep2x2", "ep1xk", "epkx1"};
      want_["w2x2"] = ch * 4;
      want_["w1xk"] = want_["wkx1"] = ch * k;
    } else {
      eps = {"ep"};
      if (c_->op == "dwconv2x2" && (k != 2 || c_->stride != 1)) return fail("dwconv2x2 needs k 2, stride 1");
      want_["w"] = c_->op == "dwconv2x2" ? ch * 4 : c_->op == "dwconvkxk" ? ch * k * k : ch * k;
    }
    std::set<std::string> got;
    for (const auto& [name, ep] : c_->epilogues) got.insert(name);
    if (got != eps) return fail("the epilogue lines do not match op " + c_->op);
    for (auto& [name, count] : want_) {
      if (count < 0) count = ch;  // scale / bias
    }
    if (!product(c_->shape, 4, &want_["x"]) || !product(c_->out_shape, 4, &want_["y"])) {
      return fail("shape too large");
    }
    return true;
  }

  // `tensor NAME COUNT` blocks, then `end` as the last line.
  bool tensors() {
    while (line_ < lines_.size()) {
      const std::vector<std::string> t = tokens_of(lines_[line_]);
      if (lines_[line_] == "end") {
        if (line_ + 1 != lines_.size()) {
          ++line_;
          return fail("content after 'end'");
        }
        return all_present();
      }
      int64_t count = 0;
      if (t.size() != 3 || t[0] != "tensor" || !parse_int(t[2], &count)) {
        return fail("expected 'tensor NAME COUNT' or 'end'");
      }
      const auto it = want_.find(t[1]);
      if (it == want_.end()) return fail("unexpected tensor '" + t[1] + "'");
      if (c_->tensors.count(t[1])) return fail("tensor '" + t[1] + "' given twice");
      if (count != it->second) {
        return fail("tensor '" + t[1] + "' has count " + t[2] + ", the header implies " +
                    std::to_string(it->second));
      }
      ++line_;
      if (!numbers(t[1], count)) return false;
    }
    return fail("missing 'end'");
  }

  bool numbers(const std::string& name, int64_t count) {
    std::vector<double>& v = c_->tensors[name];
    v.reserve(static_cast<size_t>(count));
    while (static_cast<int64_t>(v.size()) < count) {
      if (line_ >= lines_.size()) return fail("file ends inside tensor '" + name + "'");
      for (const std::string& tok : tokens_of(lines_[line_])) {
        double d = 0;
        if (!parse_number(tok, &d)) {
          return fail("tensor '" + name + "': '" + tok + "' is not a finite number (" +
                      std::to_string(v.size()) + " of " + std::to_string(count) + " read)");
        }
        if (static_cast<int64_t>(v.size()) == count) {
          return fail("tensor '" + name + "' has more than " + std::to_string(count) + " numbers");
        }
        if (name != "y" && !float_exact(d)) {
          return fail("tensor '" + name + "': " + tok + " is not float32-representable");
        }
        v.push_back(d);
      }
      ++line_;
    }
    return true;
  }

  bool all_present() {
    for (const auto& [name, count] : want_) {
      if (!c_->tensors.count(name)) return fail("tensor '" + name + "' is missing");
    }
    const auto to_float = [&](const std::string& tensor, std::vector<float>* out) {
      const auto it = c_->tensors.find(tensor);
      if (it != c_->tensors.end()) out->assign(it->second.begin(), it->second.end());
    };
    for (auto& [name, ep] : c_->epilogues) {
      to_float(name + ".scale", &ep.scale);
      to_float(name + ".bias", &ep.bias);
    }
    return true;
  }

  const std::string path_;
  GoldenCase* c_;
  std::string* error_;
  std::vector<std::string> lines_;
  size_t line_ = 0;
  std::map<std::string, int64_t> want_;  // tensor name -> count
};

}  // namespace

bool read_golden(const std::string& path, GoldenCase* out, std::string* error) {
  GoldenCase c;
  const size_t slash = path.find_last_of('/');
  c.name = path.substr(slash == std::string::npos ? 0 : slash + 1);
  if (c.name.size() > 4 && c.name.compare(c.name.size() - 4, 4, ".txt") == 0) {
    c.name.resize(c.name.size() - 4);
  }
  std::string err;
  if (!Parser(path, &c, &err).run()) {
    if (error) *error = err;
    return false;
  }
  *out = std::move(c);
  return true;
}

std::vector<std::string> read_index(const std::string& dir) {
  std::vector<std::string> names;
  std::ifstream in(dir + "/index.txt");
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) names.push_back(line);
  }
  return names;
}

}  // namespace xsep_test
