// A small JSON reader (RFC 8259 values; \uXXXX escapes become UTF-8) for the artifact manifest,
// and string escaping for the JSON the runner prints.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace nacos {

class Json {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  static Json Parse(const std::string& text);  // throws std::runtime_error

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  // Typed access; `what` names the field in the error message.
  double number(const std::string& what) const;
  const std::string& string(const std::string& what) const;
  const std::vector<Json>& array(const std::string& what) const;
  bool has(const std::string& key) const;
  const Json& at(const std::string& key) const;  // throws if absent or not an object

 private:
  friend class JsonParser;
  Type type_ = Type::kNull;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<Json> array_;
  std::map<std::string, Json> object_;
};

std::string JsonEscape(const std::string& s);  // with the surrounding quotes

}  // namespace nacos
