// NACOS stand-in for TVM's src/support/utils.h: what the CPU runtime uses of it.
#ifndef NACOS_SHIM_SUPPORT_UTILS_H_
#define NACOS_SHIM_SUPPORT_UTILS_H_

#include <string>

namespace tvm {
namespace support {

// A non-empty string of decimal digits.
inline bool IsNumber(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace support
}  // namespace tvm

#endif  // NACOS_SHIM_SUPPORT_UTILS_H_
