// NACOS stand-in for tvm/support/io.h (not shipped in the apache-tvm wheel): a binary stream with
// typed reads and writes. See runner/support_shim/README.md.
#ifndef NACOS_SHIM_TVM_SUPPORT_IO_H_
#define NACOS_SHIM_TVM_SUPPORT_IO_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <tvm/ffi/container/array.h>
#include <tvm/ffi/string.h>

namespace tvm {
namespace support {

class Stream;

// Serializer<T>::Write(Stream*, const T&) / Read(Stream*, T*): the binary form of a T. The
// runtime's headers specialise it for their own types (VMFuncInfo, FunctionInfo).
template <typename T, typename Enable = void>
struct Serializer;

class Stream {
 public:
  virtual ~Stream() = default;
  // Raw bytes: the number actually read / written.
  virtual size_t Read(void* ptr, size_t size) = 0;
  virtual size_t Write(const void* ptr, size_t size) = 0;

  template <typename T>
  void Write(const T& value) {
    Serializer<T>::Write(this, value);
  }
  template <typename T>
  bool Read(T* out) {
    return Serializer<T>::Read(this, out);
  }
  template <typename T>
  void WriteArray(const T* data, size_t count) {
    for (size_t i = 0; i < count; ++i) Write(data[i]);
  }
  template <typename T>
  bool ReadArray(T* data, size_t count) {
    for (size_t i = 0; i < count; ++i)
      if (!Read(data + i)) return false;
    return true;
  }
};

template <typename T, typename = void>
struct HasSaveLoad : std::false_type {};
template <typename T>
struct HasSaveLoad<T, std::void_t<decltype(std::declval<const T&>().Save(static_cast<Stream*>(nullptr))),
                                  decltype(std::declval<T&>().Load(static_cast<Stream*>(nullptr)))>>
    : std::true_type {};

// Values with Save/Load members: through them.
template <typename T>
struct Serializer<T, std::enable_if_t<HasSaveLoad<T>::value>> {
  static constexpr bool enabled = true;
  static void Write(Stream* s, const T& v) { v.Save(s); }
  static bool Read(Stream* s, T* v) { return v->Load(s); }
};

// Trivially copyable values (numbers, enums, DLDataType, DLDevice): their bytes (little-endian
// targets only, as TVM itself on the boards NACOS knows).
template <typename T>
struct Serializer<T, std::enable_if_t<std::is_trivially_copyable<T>::value && !HasSaveLoad<T>::value>> {
  static constexpr bool enabled = true;
  static void Write(Stream* s, const T& v) { s->Write(static_cast<const void*>(&v), sizeof(T)); }
  static bool Read(Stream* s, T* v) { return s->Read(static_cast<void*>(v), sizeof(T)) == sizeof(T); }
};

// std::string: uint64 length, then the characters.
template <>
struct Serializer<std::string> {
  static constexpr bool enabled = true;
  static void Write(Stream* s, const std::string& v) {
    uint64_t n = v.size();
    s->Write(static_cast<const void*>(&n), sizeof(n));
    if (n) s->Write(static_cast<const void*>(v.data()), n);
  }
  static bool Read(Stream* s, std::string* v) {
    uint64_t n = 0;
    if (s->Read(static_cast<void*>(&n), sizeof(n)) != sizeof(n)) return false;
    v->resize(n);
    return n == 0 || s->Read(static_cast<void*>(&(*v)[0]), n) == n;
  }
};

// std::vector: uint64 length, then the items (one block when trivially copyable).
template <typename T, typename A>
struct Serializer<std::vector<T, A>> {
  static constexpr bool enabled = true;
  static void Write(Stream* s, const std::vector<T, A>& v) {
    uint64_t n = v.size();
    s->Write(static_cast<const void*>(&n), sizeof(n));
    if constexpr (std::is_trivially_copyable<T>::value && !HasSaveLoad<T>::value) {
      if (n) s->Write(static_cast<const void*>(v.data()), n * sizeof(T));
    } else {
      for (const T& item : v) Serializer<T>::Write(s, item);
    }
  }
  static bool Read(Stream* s, std::vector<T, A>* v) {
    uint64_t n = 0;
    if (s->Read(static_cast<void*>(&n), sizeof(n)) != sizeof(n)) return false;
    v->resize(n);
    if constexpr (std::is_trivially_copyable<T>::value && !HasSaveLoad<T>::value) {
      return n == 0 || s->Read(static_cast<void*>(v->data()), n * sizeof(T)) == n * sizeof(T);
    } else {
      for (auto& item : *v)
        if (!Serializer<T>::Read(s, &item)) return false;
      return true;
    }
  }
};

// std::pair: first, then second.
template <typename A, typename B>
struct Serializer<std::pair<A, B>, std::enable_if_t<!std::is_trivially_copyable<std::pair<A, B>>::value>> {
  static constexpr bool enabled = true;
  static void Write(Stream* s, const std::pair<A, B>& v) {
    Serializer<A>::Write(s, v.first);
    Serializer<B>::Write(s, v.second);
  }
  static bool Read(Stream* s, std::pair<A, B>* v) {
    return Serializer<A>::Read(s, &v->first) && Serializer<B>::Read(s, &v->second);
  }
};

// Maps: as a vector of (key, value) pairs.
template <typename M>
struct MapSerializer {
  using Pair = std::pair<typename M::key_type, typename M::mapped_type>;
  static constexpr bool enabled = true;
  static void Write(Stream* s, const M& m) {
    std::vector<Pair> items(m.begin(), m.end());
    Serializer<std::vector<Pair>>::Write(s, items);
  }
  static bool Read(Stream* s, M* m) {
    std::vector<Pair> items;
    if (!Serializer<std::vector<Pair>>::Read(s, &items)) return false;
    m->clear();
    m->insert(items.begin(), items.end());
    return true;
  }
};
template <typename K, typename V, typename C, typename A>
struct Serializer<std::map<K, V, C, A>> : MapSerializer<std::map<K, V, C, A>> {};
template <typename K, typename V, typename H, typename E, typename A>
struct Serializer<std::unordered_map<K, V, H, E, A>> : MapSerializer<std::unordered_map<K, V, H, E, A>> {};

// ffi::String: as std::string.
template <>
struct Serializer<ffi::String> {
  static constexpr bool enabled = true;
  static void Write(Stream* s, const ffi::String& v) {
    uint64_t n = v.size();
    s->Write(static_cast<const void*>(&n), sizeof(n));
    if (n) s->Write(static_cast<const void*>(v.data()), n);
  }
  static bool Read(Stream* s, ffi::String* v) {
    std::string text;
    if (!Serializer<std::string>::Read(s, &text)) return false;
    *v = ffi::String(std::move(text));
    return true;
  }
};

// ffi::Array<T>: as std::vector<T>.
template <typename T>
struct Serializer<ffi::Array<T>> {
  static constexpr bool enabled = true;
  static void Write(Stream* s, const ffi::Array<T>& v) {
    std::vector<T> items(v.begin(), v.end());
    Serializer<std::vector<T>>::Write(s, items);
  }
  static bool Read(Stream* s, ffi::Array<T>* v) {
    std::vector<T> items;
    if (!Serializer<std::vector<T>>::Read(s, &items)) return false;
    *v = ffi::Array<T>(items.begin(), items.end());
    return true;
  }
};

}  // namespace support
}  // namespace tvm

#endif  // NACOS_SHIM_TVM_SUPPORT_IO_H_
