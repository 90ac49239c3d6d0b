// NACOS stand-in for TVM's src/support/base64.h: streams that encode / decode base64 (RFC 4648)
// over another stream. The runtime uses them for a tensor's JSON form.
#ifndef NACOS_SHIM_SUPPORT_BASE64_H_
#define NACOS_SHIM_SUPPORT_BASE64_H_

#include <tvm/support/io.h>

#include <cstdint>
#include <string>

namespace tvm {
namespace support {

class Base64OutStream : public Stream {
 public:
  using Stream::Read;
  using Stream::Write;
  explicit Base64OutStream(Stream* out) : out_(out) {}
  size_t Read(void*, size_t) override { return 0; }
  size_t Write(const void* ptr, size_t size) override {
    const unsigned char* p = static_cast<const unsigned char*>(ptr);
    for (size_t i = 0; i < size; ++i) {
      group_[held_++] = p[i];
      if (held_ == 3) Emit();
    }
    return size;
  }
  // Encode what is held back (with '=' padding) and flush.
  void Finish() {
    if (held_) Emit();
  }

 private:
  void Emit() {
    static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint32_t v = (uint32_t(group_[0]) << 16) | (held_ > 1 ? uint32_t(group_[1]) << 8 : 0) |
                 (held_ > 2 ? uint32_t(group_[2]) : 0);
    char text[4] = {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63],
                    held_ > 1 ? kAlphabet[(v >> 6) & 63] : '=', held_ > 2 ? kAlphabet[v & 63] : '='};
    out_->Write(static_cast<const void*>(text), 4);
    held_ = 0;
  }
  Stream* out_;
  unsigned char group_[3] = {0, 0, 0};
  int held_ = 0;
};

class Base64InStream : public Stream {
 public:
  using Stream::Read;
  using Stream::Write;
  explicit Base64InStream(Stream* in) : in_(in) {}
  // Kept for the callers' protocol: skip leading whitespace before the first group.
  void InitPosition() {}
  size_t Write(const void*, size_t) override { return 0; }
  size_t Read(void* ptr, size_t size) override {
    unsigned char* out = static_cast<unsigned char*>(ptr);
    size_t n = 0;
    while (n < size) {
      if (pos_ == avail_ && !Refill()) break;
      out[n++] = decoded_[pos_++];
    }
    return n;
  }

 private:
  static int Value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  }
  bool Refill() {
    char text[4];
    int got = 0;
    while (got < 4) {
      char c;
      if (in_->Read(static_cast<void*>(&c), 1) != 1) return false;
      if (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '"') continue;
      text[got++] = c;
    }
    uint32_t v = 0;
    int pad = 0;
    for (char c : text) {
      int d = c == '=' ? (++pad, 0) : Value(c);
      if (d < 0) return false;
      v = (v << 6) | uint32_t(d);
    }
    decoded_[0] = (v >> 16) & 0xff;
    decoded_[1] = (v >> 8) & 0xff;
    decoded_[2] = v & 0xff;
    pos_ = 0;
    avail_ = 3 - pad;
    return avail_ > 0;
  }
  Stream* in_;
  unsigned char decoded_[3] = {0, 0, 0};
  int pos_ = 0, avail_ = 0;
};

}  // namespace support
}  // namespace tvm

#endif  // NACOS_SHIM_SUPPORT_BASE64_H_
