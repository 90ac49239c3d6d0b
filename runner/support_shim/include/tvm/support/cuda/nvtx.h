// NACOS stand-in for tvm/support/cuda/nvtx.h: NVTX ranges mark GPU profiles; a CPU runtime has none.
#ifndef NACOS_SHIM_TVM_SUPPORT_CUDA_NVTX_H_
#define NACOS_SHIM_TVM_SUPPORT_CUDA_NVTX_H_
#include <string>
namespace tvm {
namespace support {
class NVTXScopedRange {
 public:
  explicit NVTXScopedRange(const char*) {}
  explicit NVTXScopedRange(const std::string&) {}
  NVTXScopedRange(const NVTXScopedRange&) = delete;
  NVTXScopedRange& operator=(const NVTXScopedRange&) = delete;
};
}  // namespace support
}  // namespace tvm
#endif  // NACOS_SHIM_TVM_SUPPORT_CUDA_NVTX_H_
