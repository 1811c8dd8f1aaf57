#include "io/npy.h"

#include <fstream>
#include <sstream>

#include "base/error.h"

namespace gemma {

void WriteNpyF32(const std::string& path, const float* data, const std::vector<int64_t>& shape) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  int64_t n = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    dict += std::to_string(shape[i]);
    if (shape.size() == 1 || i + 1 < shape.size()) dict += ",";
    if (i + 1 < shape.size()) dict += " ";
    n *= shape[i];
  }
  dict += "), }";
  // Version 1.0: magic(6) + version(2) + u16 len; total header multiple of 64.
  size_t total = 10 + dict.size() + 1;
  const size_t pad = (64 - total % 64) % 64;
  dict.append(pad, ' ');
  dict.push_back('\n');
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error(path + ": cannot open for writing");
  out.write("\x93NUMPY\x01\x00", 8);
  const uint16_t hl = static_cast<uint16_t>(dict.size());
  out.write(reinterpret_cast<const char*>(&hl), 2);
  out.write(dict.data(), static_cast<std::streamsize>(dict.size()));
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(n * sizeof(float)));
  if (!out) throw Error(path + ": write failed");
}

std::vector<float> ReadNpyF32(const std::string& path, std::vector<int64_t>* shape) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  char magic[8];
  in.read(magic, 8);
  if (!in || std::string(magic, 6) != "\x93NUMPY") throw Error(path + ": not a .npy file");
  uint32_t hl = 0;
  if (magic[6] == 1) {
    uint16_t h16;
    in.read(reinterpret_cast<char*>(&h16), 2);
    hl = h16;
  } else {
    in.read(reinterpret_cast<char*>(&hl), 4);
  }
  std::string dict(hl, '\0');
  in.read(dict.data(), hl);
  if (!in) throw Error(path + ": truncated header");
  if (dict.find("'<f4'") == std::string::npos || dict.find("'fortran_order': False") == std::string::npos)
    throw Error(path + ": only little-endian float32 C-order arrays are supported");
  const size_t a = dict.find('(');
  const size_t b = dict.find(')');
  if (a == std::string::npos || b == std::string::npos || b < a) throw Error(path + ": bad shape");
  shape->clear();
  std::stringstream ss(dict.substr(a + 1, b - a - 1));
  std::string item;
  int64_t n = 1;
  while (std::getline(ss, item, ',')) {
    if (item.find_first_not_of(' ') == std::string::npos) continue;
    shape->push_back(std::stoll(item));
    n *= shape->back();
  }
  std::vector<float> out(static_cast<size_t>(n));
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(n * sizeof(float)));
  if (!in) throw Error(path + ": truncated data");
  return out;
}

}  // namespace gemma
