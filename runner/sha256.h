// SHA-256 (FIPS 180-4) of a file, as lowercase hex.
#pragma once

#include <string>

namespace nacos {

std::string Sha256File(const std::string& path);  // throws std::runtime_error if unreadable

}  // namespace nacos
