#include "npy.h"

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace nacos {
namespace {

struct DtypeInfo {
  const char* descr;
  const char* name;
  int bytes;
};

const DtypeInfo kDtypes[] = {
    {"<f4", "float32", 4}, {"<f8", "float64", 8}, {"<i4", "int32", 4}, {"<i8", "int64", 8},
    {"|i1", "int8", 1},    {"|u1", "uint8", 1},   {"<i2", "int16", 2}, {"|b1", "bool", 1},
};

const DtypeInfo* Find(const std::string& descr) {
  for (const auto& d : kDtypes)
    if (descr == d.descr) return &d;
  return nullptr;
}

[[noreturn]] void Fail(const std::string& path, const std::string& why) {
  throw std::runtime_error("'" + path + "' is not a readable .npy file: " + why);
}

// Value of key 'name' in the header dict, as the raw text up to the next top-level comma.
std::string HeaderField(const std::string& header, const std::string& name, const std::string& path) {
  const std::string key = "'" + name + "'";
  size_t pos = header.find(key);
  if (pos == std::string::npos) Fail(path, "header has no " + key);
  pos = header.find(':', pos + key.size());
  if (pos == std::string::npos) Fail(path, "malformed header");
  ++pos;
  while (pos < header.size() && header[pos] == ' ') ++pos;
  size_t end = pos;
  int depth = 0;
  for (; end < header.size(); ++end) {
    char c = header[end];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if ((c == ',' || c == '}') && depth == 0) break;
  }
  return header.substr(pos, end - pos);
}

}  // namespace

int64_t NpyArray::size() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int NpyArray::item_bytes() const {
  const DtypeInfo* d = Find(descr);
  return d ? d->bytes : 0;
}

std::string NpyArray::dtype() const { return DtypeForDescr(descr); }

double NpyArray::at(int64_t i) const {
  const char* p = data.data() + i * item_bytes();
  if (descr == "<f4") { float v; std::memcpy(&v, p, 4); return v; }
  if (descr == "<f8") { double v; std::memcpy(&v, p, 8); return v; }
  if (descr == "<i4") { int32_t v; std::memcpy(&v, p, 4); return v; }
  if (descr == "<i8") { int64_t v; std::memcpy(&v, p, 8); return static_cast<double>(v); }
  if (descr == "<i2") { int16_t v; std::memcpy(&v, p, 2); return v; }
  if (descr == "|i1") return static_cast<int8_t>(*p);
  return static_cast<uint8_t>(*p);  // |u1, |b1
}

std::string DescrForDtype(const std::string& dtype) {
  for (const auto& d : kDtypes)
    if (dtype == d.name) return d.descr;
  return "";
}

std::string DtypeForDescr(const std::string& descr) {
  const DtypeInfo* d = Find(descr);
  return d ? d->name : "";
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  if (shape.size() == 1) os << ",";
  os << ")";
  return os.str();
}

NpyArray ReadNpy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open '" + path + "'");
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) Fail(path, "bad magic");
  const int major = static_cast<unsigned char>(magic[6]);
  uint32_t header_len = 0;
  if (major == 1) {
    unsigned char b[2];
    if (!in.read(reinterpret_cast<char*>(b), 2)) Fail(path, "truncated header");
    header_len = b[0] | (b[1] << 8);
  } else if (major == 2 || major == 3) {
    unsigned char b[4];
    if (!in.read(reinterpret_cast<char*>(b), 4)) Fail(path, "truncated header");
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
  } else {
    Fail(path, "unknown format version " + std::to_string(major));
  }
  if (header_len > (1u << 20)) Fail(path, "header too long");
  std::string header(header_len, '\0');
  if (!in.read(&header[0], header_len)) Fail(path, "truncated header");

  NpyArray arr;
  std::string descr = HeaderField(header, "descr", path);
  if (descr.size() < 2 || (descr.front() != '\'' && descr.front() != '"')) Fail(path, "bad descr");
  arr.descr = descr.substr(1, descr.size() - 2);
  if (arr.descr == "=f4") arr.descr = "<f4";  // native order on little-endian hosts
  if (!Find(arr.descr)) Fail(path, "unsupported dtype '" + arr.descr + "'");
  if (HeaderField(header, "fortran_order", path) != "False") Fail(path, "Fortran order is not supported");

  std::string shape = HeaderField(header, "shape", path);
  if (shape.empty() || shape.front() != '(' || shape.back() != ')') Fail(path, "bad shape");
  std::string body = shape.substr(1, shape.size() - 2);
  std::stringstream ss(body);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t a = item.find_first_not_of(" ");
    if (a == std::string::npos) continue;
    try {
      size_t used = 0;
      long long v = std::stoll(item.substr(a), &used);
      if (v < 0) Fail(path, "negative dimension");
      arr.shape.push_back(v);
    } catch (const std::logic_error&) {
      Fail(path, "bad shape '" + shape + "'");
    }
  }
  const int64_t nbytes = arr.size() * arr.item_bytes();
  arr.data.resize(nbytes);
  if (nbytes && !in.read(arr.data.data(), nbytes)) Fail(path, "truncated data");
  if (in.peek() != std::char_traits<char>::eof()) Fail(path, "trailing bytes after the data");
  return arr;
}

void WriteNpy(const std::string& path, const NpyArray& arr) {
  std::string header = "{'descr': '" + arr.descr + "', 'fortran_order': False, 'shape': " +
                       ShapeString(arr.shape) + ", }";
  // magic(6) + version(2) + length(2) + header + '\n' must be a multiple of 64.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::ofstream out(path, std::ios::binary);
  if (!out) throw std::runtime_error("cannot write '" + path + "'");
  out.write("\x93NUMPY\x01\x00", 8);
  const unsigned char len[2] = {static_cast<unsigned char>(header.size() & 0xff),
                                static_cast<unsigned char>(header.size() >> 8)};
  out.write(reinterpret_cast<const char*>(len), 2);
  out.write(header.data(), header.size());
  out.write(arr.data.data(), arr.data.size());
  if (!out) throw std::runtime_error("cannot write '" + path + "'");
}

}  // namespace nacos
