// Minimal reader/writer for NumPy .npy files (format versions 1-3), C-order, little-endian,
// numeric dtypes only. The format: magic "\x93NUMPY", major, minor, header length (2 bytes for
// v1, 4 for v2/v3), then a Python dict literal {'descr': '<f4', 'fortran_order': False,
// 'shape': (1, 3), } padded with spaces to a multiple of 64 bytes, then the raw data.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nacos {

struct NpyArray {
  std::string descr;            // e.g. "<f4"
  std::vector<int64_t> shape;
  std::vector<char> data;       // raw bytes, C order

  int64_t size() const;         // number of elements
  int item_bytes() const;       // bytes per element
  std::string dtype() const;    // TVM / NumPy name: float32, int64, ...
  double at(int64_t i) const;   // element i converted to double
};

// Throws std::runtime_error with a message naming the file.
NpyArray ReadNpy(const std::string& path);
void WriteNpy(const std::string& path, const NpyArray& array);

// "float32" -> "<f4" and back; empty string if unsupported.
std::string DescrForDtype(const std::string& dtype);
std::string DtypeForDescr(const std::string& descr);

std::string ShapeString(const std::vector<int64_t>& shape);  // "(1, 3, 32, 32)"

}  // namespace nacos
