// NACOS stand-in for TVM's src/support/bytes_io.h: streams over memory.
#ifndef NACOS_SHIM_SUPPORT_BYTES_IO_H_
#define NACOS_SHIM_SUPPORT_BYTES_IO_H_

#include <tvm/support/io.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace tvm {
namespace support {

// Reads from a buffer the caller keeps alive (std::string, ffi::Bytes, ...).
class BytesInStream : public Stream {
 public:
  using Stream::Read;
  using Stream::Write;
  BytesInStream(const void* data, size_t size) : data_(static_cast<const char*>(data)), size_(size) {}
  template <typename Buffer, typename = decltype(std::declval<const Buffer&>().data()),
            typename = decltype(std::declval<const Buffer&>().size())>
  explicit BytesInStream(const Buffer& buffer) : BytesInStream(buffer.data(), buffer.size()) {}

  size_t Read(void* ptr, size_t size) override {
    size_t n = std::min(size, size_ - pos_);
    if (n) std::memcpy(ptr, data_ + pos_, n);
    pos_ += n;
    return n;
  }
  size_t Write(const void*, size_t) override { return 0; }

 private:
  const char* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Appends to a std::string.
class BytesOutStream : public Stream {
 public:
  using Stream::Read;
  using Stream::Write;
  explicit BytesOutStream(std::string* out) : out_(out) {}
  size_t Read(void*, size_t) override { return 0; }
  size_t Write(const void* ptr, size_t size) override {
    out_->append(static_cast<const char*>(ptr), size);
    return size;
  }

 private:
  std::string* out_;
};

}  // namespace support
}  // namespace tvm

#endif  // NACOS_SHIM_SUPPORT_BYTES_IO_H_
