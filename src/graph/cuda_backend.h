// The CUDA backend: a lowered program (program.h) with its memory planned and
// its constants uploaded once at load; run() uploads the inputs, replays the
// forward pass (a CUDA graph on a GPU) and downloads the outputs.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "program.h"

namespace xsep::graph {

class CudaBackend {
 public:
  CudaBackend(const Graph& g, Program program);
  ~CudaBackend();
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  // inputs / outputs: host float32, row-major in the ONNX shapes.
  void run(const std::vector<const float*>& inputs, const std::vector<float*>& outputs);
  // The forward pass alone, iters times; ms[i] = wall time of pass i.
  void time(int iters, double* ms);
  std::string summary() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xsep::graph
