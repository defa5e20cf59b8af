// The CUDA backend (cuda_backend.h): memory planning, constant upload, step
// dispatch to the kernels (C API operators and graph kernels), and on a GPU
// the forward pass captured once into a CUDA graph and replayed.
#include "cuda_backend.h"

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <array>
#include <chrono>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string>

#include "memory_plan.h"

namespace xsep::graph {
namespace {

namespace gk = kernels::graph;

[[noreturn]] void device_error(const std::string& what, cudaError_t e) {
  // Reported here; clear the runtime's pending copy so the caller's next
  // cudaGetLastError() is not blamed on us (a sticky error stays anyway).
  (void)cudaGetLastError();
  throw GraphError(e == cudaErrorMemoryAllocation ? XSEP_STATUS_OUT_OF_MEMORY : XSEP_STATUS_DEVICE_ERROR,
                   what + ": " + cudaGetErrorString(e));
}
void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) device_error(what, e);
}
void check_status(xsep_status s, const std::string& step) {
  if (s != XSEP_STATUS_SUCCESS)
    throw GraphError(s, "step '" + step + "': " + std::string(xsep_last_error()));
}
void check_launch(int e, const std::string& step) {
  if (e != 0) device_error("step '" + step + "': kernel launch failed", static_cast<cudaError_t>(e));
}

#if !defined(XSEP_EMU)
// A graph belongs to the device that was current when it was loaded: its
// stream, activation arena and weights live there. Every entry point (load,
// run, time, destroy) makes that device current for the call and gives the
// caller's back afterwards. It also puts this thread in the Relaxed stream
// capture mode for the call: load and destroy allocate and free device memory
// and run copies from pageable host memory, which CUDA refuses (invalidating
// the capture) while any thread has a cudaStreamCaptureModeGlobal capture open,
// as PyTorch's torch.cuda.graph does around the caller's own work.
// Throws when the device cannot be made current, unless `quiet` (a destructor's
// best effort); device < 0 (not known yet: no GPU) does nothing.
class DeviceScope {
 public:
  explicit DeviceScope(int device, bool quiet = false) {
    if (device < 0) return;
    if (cudaGetDevice(&caller_) != cudaSuccess) {
      (void)cudaGetLastError();  // not left pending for the caller's next check
      caller_ = -1;
    }
    if (caller_ != device && cudaSetDevice(device) != cudaSuccess) {
      const cudaError_t e = cudaGetLastError();
      if (quiet) return;
      throw GraphError(XSEP_STATUS_DEVICE_ERROR, "cannot make CUDA device " + std::to_string(device) +
                                                     " (the graph's, current when it was loaded) current: " +
                                                     cudaGetErrorString(e));
    }
    switched_ = caller_ >= 0 && caller_ != device;
    active_ = true;
    cudaThreadExchangeStreamCaptureMode(&mode_);
  }
  ~DeviceScope() {
    if (active_) cudaThreadExchangeStreamCaptureMode(&mode_);
    if (switched_) cudaSetDevice(caller_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int caller_ = -1;
  bool active_ = false, switched_ = false;
  cudaStreamCaptureMode mode_ = cudaStreamCaptureModeRelaxed;
};
#else
// The emulated device is one synchronous device without stream capture.
struct DeviceScope {
  explicit DeviceScope(int, bool = false) {}
};
#endif

// A step's host constants, uploaded in ConstSlot order; the device pointers
// kept per step are indexed by ConstSlot too. A slot added to the enum and not
// to the switch is a -Wswitch warning and a logic_error at load.
enum ConstSlot {
  kW, kW1xK, kWKx1, kEpS, kEpB, kEp1xKS, kEp1xKB, kEpKx1S, kEpKx1B, kBias, kGa, kGb, kGc,
  kSw1, kSb1, kSw2, kSb2, kEa, kEb, kEc, kConstSlots
};
const std::vector<float>& step_constant(const Step& s, ConstSlot k) {
  switch (k) {
    case kW: return s.w;
    case kW1xK: return s.w1xk;
    case kWKx1: return s.wkx1;
    case kEpS: return s.ep.scale;
    case kEpB: return s.ep.bias;
    case kEp1xKS: return s.ep1xk.scale;
    case kEp1xKB: return s.ep1xk.bias;
    case kEpKx1S: return s.epkx1.scale;
    case kEpKx1B: return s.epkx1.bias;
    case kBias: return s.bias;
    case kGa: return s.gemm_a_const;
    case kGb: return s.gemm_b_const;
    case kGc: return s.gemm_c_const;
    case kSw1: return s.se_w1;
    case kSb1: return s.se_b1;
    case kSw2: return s.se_w2;
    case kSb2: return s.se_b2;
    case kEa: return s.elt_a_const;
    case kEb: return s.elt_b_const;
    case kEc: return s.elt_c_const;
    case kConstSlots: break;
  }
  throw std::logic_error("step_constant: no member for slot " + std::to_string(static_cast<int>(k)));
}
std::array<const std::vector<float>*, kConstSlots> step_constants(const Step& s) {
  std::array<const std::vector<float>*, kConstSlots> all{};
  for (int k = 0; k < kConstSlots; ++k) all[k] = &step_constant(s, static_cast<ConstSlot>(k));
  return all;
}

}  // namespace

struct CudaBackend::Impl {
  Graph g;
  Program p;
  int64_t esz = 4;  // bytes per activation element
  unsigned char* arena = nullptr;
  float* consts = nullptr;
  std::vector<int64_t> value_offset;  // bytes into arena per value (-1: none)
  // Per step: device pointers of its constants, in the order they were packed.
  std::vector<std::vector<const float*>> step_consts;
  cudaStream_t stream = nullptr;
  int device = -1;   // current at load (-1 until known); see DeviceScope
  bool ran = false;  // inputs uploaded by a run
#if !defined(XSEP_EMU)
  cudaGraphExec_t exec = nullptr;
#endif

  // Releases whatever was acquired, also when the constructor threw midway,
  // on the graph's device.
  ~Impl() {
    DeviceScope on(device, /*quiet=*/true);
#if !defined(XSEP_EMU)
    if (exec) cudaGraphExecDestroy(exec);
    if (stream) cudaStreamDestroy(stream);
#endif
    if (arena) cudaFree(arena);
    if (consts) cudaFree(consts);
  }

  void* ptr(int v) const { return arena + value_offset[p.storage_root(v)]; }
  bool f16() const { return p.dtype == XSEP_DTYPE_F16; }

  void plan() {
    const size_t nv = g.values.size();
    const std::vector<Lifetime> lt = value_lifetimes(g, p, esz);
    int64_t bytes = 0;
    std::vector<int64_t> off = plan_offsets(lt, 256, &bytes);
    value_offset.assign(nv, -1);
    for (size_t v = 0; v < nv; ++v)
      if (lt[v].bytes) value_offset[v] = off[v];
    check(cudaMalloc(reinterpret_cast<void**>(&arena), static_cast<size_t>(std::max<int64_t>(bytes, 256))),
          "allocating the activation arena");
    arena_bytes = static_cast<size_t>(bytes);
  }
  size_t arena_bytes = 0;

  // Every step's constants in one upload; pointers kept per step.
  void upload_constants() {
    std::vector<float> host;
    std::vector<std::vector<int64_t>> at(p.steps.size());
    auto pack = [&](size_t step, const std::vector<float>& v) {
      while (host.size() % 16) host.push_back(0.f);  // 64-byte aligned
      at[step].push_back(v.empty() ? -1 : static_cast<int64_t>(host.size()));
      host.insert(host.end(), v.begin(), v.end());
    };
    for (size_t i = 0; i < p.steps.size(); ++i) {
      const Step& s = p.steps[i];
      for (const std::vector<float>* v : step_constants(s)) pack(i, *v);
    }
    if (host.empty()) host.push_back(0.f);
    check(cudaMalloc(reinterpret_cast<void**>(&consts), host.size() * 4), "allocating the weights");
    // On the backend's stream and waited for: a plain cudaMemcpy from pageable
    // memory may return before the copy lands, and the forward pass runs on a
    // non-blocking stream that would not wait for it.
    check(cudaMemcpyAsync(consts, host.data(), host.size() * 4, cudaMemcpyHostToDevice, stream),
          "uploading the weights");
    check(cudaStreamSynchronize(stream), "uploading the weights");
    step_consts.resize(p.steps.size());
    for (size_t i = 0; i < p.steps.size(); ++i)
      for (int64_t o : at[i]) step_consts[i].push_back(o < 0 ? nullptr : consts + o);
  }


  xsep_tensor_desc desc(int v) const {
    const auto& s = g.value(v).shape;
    return xsep_tensor_desc{s[0], s[1], s[2], s[3], p.dtype,
                            p.storage[v].nhwc ? XSEP_LAYOUT_NHWC : XSEP_LAYOUT_NCHW};
  }

  // An operand of a graph kernel: value v's storage (activation dtype), or the
  // step's constant in `slot` (float32) when v < 0; `off` elements in.
  gk::Operand operand(const std::vector<const float*>& c, int v, int slot, int64_t off = 0) const {
    if (v >= 0) return gk::Operand{static_cast<unsigned char*>(ptr(v)) + off * esz, f16()};
    return gk::Operand{c[slot] ? c[slot] + off : nullptr, false};
  }

  void exec_step(size_t i) {
    const Step& s = p.steps[i];
    const auto& c = step_consts[i];
    auto ep = [&](int sl, int bl, xsep_activation act) { return xsep_epilogue{c[sl], c[bl], act}; };
    gk::Operand act_operand;
    switch (s.kind) {
      case StepKind::kDwConv: {
        const int x = s.inputs[0];
        const xsep_tensor_desc d = desc(x);
        const xsep_epilogue e = ep(kEpS, kEpB, s.ep.act);
        xsep_status st = XSEP_STATUS_SUCCESS;
        switch (s.dw_op) {
          case DwOp::k2x2: st = xsep_dwconv2x2(&d, ptr(x), c[kW], s.pad, &e, ptr(s.output), stream); break;
          case DwOp::k1xK: st = xsep_dwconv1xk(&d, ptr(x), c[kW], s.k, s.stride, &e, ptr(s.output), stream); break;
          case DwOp::kKx1: st = xsep_dwconvkx1(&d, ptr(x), c[kW], s.k, s.stride, &e, ptr(s.output), stream); break;
          case DwOp::kKxK: st = xsep_dwconvkxk(&d, ptr(x), c[kW], s.k, s.stride, &e, ptr(s.output), stream); break;
        }
        return check_status(st, s.label);
      }
      case StepKind::kXSepConv: {
        const int x = s.inputs[0];
        const xsep_tensor_desc d = desc(x);
        const xsep_xsepconv_params prm{s.k, s.stride, s.pad, c[kW], c[kW1xK], c[kWKx1],
                                       ep(kEpS, kEpB, s.ep.act), ep(kEp1xKS, kEp1xKB, s.ep1xk.act),
                                       ep(kEpKx1S, kEpKx1B, s.epkx1.act)};
        return check_status(xsep_xsepconv(&d, ptr(x), &prm, ptr(s.output), stream), s.label);
      }
      case StepKind::kConv: {
        gk::ConvArgs a = s.conv;
        a.x = gk::Operand{ptr(s.inputs[0]), f16()};
        a.weights = c[kW];
        a.bias = c[kBias];
        a.y = ptr(s.output);
        a.y_f16 = f16();
        return check_launch(gk::conv2d(a, stream), s.label);
      }
      case StepKind::kGemm: {
        gk::GemmArgs a = s.gemm;
        a.a = operand(c, s.gemm_a, kGa);
        a.b = operand(c, s.gemm_b, kGb);
        a.c = s.gemm_c >= 0 || c[kGc] ? operand(c, s.gemm_c, kGc) : gk::Operand{};
        if (s.gemm_kscale >= 0) a.kscale = gk::Operand{ptr(s.gemm_kscale), f16()};
        a.bias = a.bias_axis ? c[kBias] : nullptr;
        if (!a.bias) a.bias_axis = 0;
        a.y = ptr(s.output);
        a.y_f16 = f16();
        return check_launch(gk::gemm(a, stream), s.label);
      }
      case StepKind::kGap: {
        gk::GapArgs a = s.gap;
        a.x = gk::Operand{ptr(s.inputs[0]), f16()};
        a.y = ptr(s.output);
        a.y_f16 = f16();
        return check_launch(gk::global_avg_pool(a, stream), s.label);
      }
      case StepKind::kSeFc: {
        gk::SeArgs a = s.se;
        a.g = gk::Operand{ptr(s.inputs[0]), f16()};
        a.w1 = c[kSw1], a.b1 = c[kSb1], a.w2 = c[kSw2], a.b2 = c[kSb2];
        a.s = ptr(s.output);
        a.s_f16 = f16();
        return check_launch(gk::se_fc(a, stream), s.label);
      }
      case StepKind::kElt: {
        gk::EltArgs a = s.elt;
        a.a = operand(c, s.elt_a, kEa, s.elt_a_offset);
        a.b = operand(c, s.elt_b, kEb);
        a.c = operand(c, -1, kEc);  // null unless kMulAdd
        a.y = static_cast<unsigned char*>(ptr(s.output)) + s.elt_y_offset * esz;
        a.y_f16 = f16();
        return check_launch(gk::elementwise(a, stream), s.label);
      }
    }
  }

  void forward() {
    for (size_t i = 0; i < p.steps.size(); ++i) exec_step(i);
  }

  // Host float32 NCHW <-> device storage (dtype, layout). Copies are ordered on
  // the backend's stream (non-blocking: plain cudaMemcpy on the legacy stream
  // would not order against it); from pageable memory cudaMemcpyAsync stages
  // the data before returning, so the host vectors may go out of scope.
  void upload_input(int v, const float* src) {
    const Value& val = g.value(v);
    const int64_t n = val.numel();
    std::vector<float> ordered(src, src + n);
    if (p.storage[v].nhwc) {
      const auto& s = val.shape;
      for (int64_t b = 0; b < s[0]; ++b)
        for (int64_t ch = 0; ch < s[1]; ++ch)
          for (int64_t hw = 0; hw < s[2] * s[3]; ++hw)
            ordered[(b * s[2] * s[3] + hw) * s[1] + ch] = src[(b * s[1] + ch) * s[2] * s[3] + hw];
    }
    if (f16()) {
      std::vector<__half> h(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) h[i] = __float2half_rn(ordered[i]);
      check(cudaMemcpyAsync(ptr(v), h.data(), h.size() * 2, cudaMemcpyHostToDevice, stream), "uploading an input");
    } else {
      check(cudaMemcpyAsync(ptr(v), ordered.data(), ordered.size() * 4, cudaMemcpyHostToDevice, stream),
            "uploading an input");
    }
  }
  void download_output(int v, float* dst) {
    const Value& val = g.value(v);
    const int64_t n = val.numel();
    std::vector<float> stored(static_cast<size_t>(n));
    if (f16()) {
      std::vector<__half> h(static_cast<size_t>(n));
      check(cudaMemcpyAsync(h.data(), ptr(v), h.size() * 2, cudaMemcpyDeviceToHost, stream), "downloading an output");
      check(cudaStreamSynchronize(stream), "downloading an output");
      for (int64_t i = 0; i < n; ++i) stored[i] = __half2float(h[i]);
    } else {
      check(cudaMemcpyAsync(stored.data(), ptr(v), stored.size() * 4, cudaMemcpyDeviceToHost, stream),
            "downloading an output");
      check(cudaStreamSynchronize(stream), "downloading an output");
    }
    if (p.storage[v].nhwc) {
      const auto& s = val.shape;
      for (int64_t b = 0; b < s[0]; ++b)
        for (int64_t ch = 0; ch < s[1]; ++ch)
          for (int64_t hw = 0; hw < s[2] * s[3]; ++hw)
            dst[(b * s[1] + ch) * s[2] * s[3] + hw] = stored[(b * s[2] * s[3] + hw) * s[1] + ch];
    } else {
      std::memcpy(dst, stored.data(), stored.size() * 4);
    }
  }

  // One forward pass: a CUDA graph captured on first use on a GPU; the steps
  // directly on the emulated device.
  void launch_forward() {
#if defined(XSEP_EMU)
    forward();
#else
    // Nothing to run (a network of views only, such as Identity or Reshape):
    // no empty CUDA graph to capture, instantiate and launch.
    if (p.steps.empty()) return;
    if (!exec) {
      check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed), "starting graph capture");
      try {
        forward();
      } catch (...) {
        cudaGraph_t discard = nullptr;
        cudaStreamEndCapture(stream, &discard);
        if (discard) cudaGraphDestroy(discard);
        throw;
      }
      cudaGraph_t graph = nullptr;
      check(cudaStreamEndCapture(stream, &graph), "ending graph capture");
      const cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
      cudaGraphDestroy(graph);
      if (e != cudaSuccess) exec = nullptr;  // capture again next time
      check(e, "instantiating the CUDA graph");
    }
    check(cudaGraphLaunch(exec, stream), "launching the CUDA graph");
#endif
    check(cudaStreamSynchronize(stream), "running the forward pass");
  }
};

CudaBackend::CudaBackend(const Graph& g, Program program) : impl_(new Impl) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    (void)cudaGetLastError();
    throw GraphError(XSEP_STATUS_NO_DEVICE, "the cuda backend needs a CUDA device; none is usable "
                                            "(use --backend reference, or an XSEP_DEVICE=emu build)");
  }
  check(cudaGetDevice(&impl_->device), "querying the current device");
  DeviceScope on(impl_->device);
  impl_->g = g;
  impl_->p = std::move(program);
  impl_->esz = impl_->p.dtype == XSEP_DTYPE_F16 ? 2 : 4;
#if !defined(XSEP_EMU)
  check(cudaStreamCreateWithFlags(&impl_->stream, cudaStreamNonBlocking), "creating a stream");
#endif
  impl_->plan();
  impl_->upload_constants();
}

CudaBackend::~CudaBackend() = default;

void CudaBackend::run(const std::vector<const float*>& inputs, const std::vector<float*>& outputs) {
  DeviceScope on(impl_->device);
  for (size_t i = 0; i < impl_->g.inputs.size(); ++i) impl_->upload_input(impl_->g.inputs[i], inputs[i]);
  impl_->launch_forward();
  impl_->ran = true;
  for (size_t i = 0; i < impl_->g.outputs.size(); ++i) impl_->download_output(impl_->g.outputs[i], outputs[i]);
}

void CudaBackend::time(int iters, double* ms) {
  if (!impl_->ran) invalid("call xsep_graph_run once before timing (the inputs come from that run)");
  DeviceScope on(impl_->device);
  for (int i = 0; i < iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    impl_->launch_forward();
    ms[i] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
}

std::string CudaBackend::summary() const {
  std::ostringstream os;
  double macs = 0;
  size_t params = 0;
  const Program& p = impl_->p;
  for (size_t i = 0; i < p.steps.size(); ++i) {
    const Step& s = p.steps[i];
    macs += s.macs;
    for (const std::vector<float>* v : step_constants(s)) params += v->size();
    const auto& ys = impl_->g.value(s.output).shape;
    std::string shape;
    for (size_t d = 0; d < ys.size(); ++d) {
      if (d) shape += 'x';
      shape += std::to_string(ys[d]);
    }
    char line[512];
    std::snprintf(line, sizeof line, "  %3zu  %-72s -> %-16s %9.2f MMAC\n", i, s.label.c_str(), shape.c_str(),
                  s.macs / 1e6);
    os << line;
  }
  char tail[256];
  std::snprintf(tail, sizeof tail,
                "%zu launches after fusion, %zu parameters (BatchNorm folded), %.2f GMAC per batch, "
                "activation arena %.2f MB\n",
                p.steps.size(), params, macs / 1e9, static_cast<double>(impl_->arena_bytes) / 1e6);
  return os.str() + tail;
}

}  // namespace xsep::graph
