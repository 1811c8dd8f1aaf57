#include "vision/preprocess.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "io/safetensors.h"

namespace gemma {

namespace {

using json = nlohmann::json;

// ----------------------------------------------------------- filters ----
// Pillow's resampling filters (libImaging/Resample.c semantics).

double BoxFilter(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }
double BilinearFilter(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}
double HammingFilter(double x) {
  if (x < 0.0) x = -x;
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x = x * M_PI;
  return std::sin(x) / x * (0.54f + 0.46f * std::cos(x));  // 0.54f/0.46f: float constants as in Pillow
}
double BicubicFilter(double x) {
  const double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}
double Sinc(double x) {
  if (x == 0.0) return 1.0;
  x = x * M_PI;
  return std::sin(x) / x;
}
double LanczosFilter(double x) { return (-3.0 <= x && x < 3.0) ? Sinc(x) * Sinc(x / 3) : 0.0; }

struct Filter {
  double (*fn)(double);
  double support;
};

Filter GetFilter(Resample r) {
  switch (r) {
    case Resample::kBox: return {BoxFilter, 0.5};
    case Resample::kBilinear: return {BilinearFilter, 1.0};
    case Resample::kHamming: return {HammingFilter, 1.0};
    case Resample::kBicubic: return {BicubicFilter, 2.0};
    case Resample::kLanczos: return {LanczosFilter, 3.0};
    default: break;
  }
  throw Error("image resize: unsupported resample filter " + std::to_string(static_cast<int>(r)) +
              " (nearest is not implemented)");
}

constexpr int kPrecisionBits = 32 - 8 - 2;

// Fixed-point coefficients of one axis: for output o, `count[o]` taps starting
// at input `first[o]`, coefficients k[o * ksize + i].
struct AxisCoeffs {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> k;
};

AxisCoeffs ComputeCoeffs(int in_size, int out_size, const Filter& f) {
  AxisCoeffs c;
  const double scale = static_cast<double>(in_size) / out_size;
  double filterscale = scale;
  if (filterscale < 1.0) filterscale = 1.0;
  const double support = f.support * filterscale;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.k.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> w(c.ksize);
  const double ss = 1.0 / filterscale;
  for (int o = 0; o < out_size; ++o) {
    const double center = (o + 0.5) * scale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    const int n = std::min(xmax - xmin, c.ksize);
    double sum = 0.0;
    for (int x = 0; x < n; ++x) {
      w[x] = f.fn((x + xmin - center + 0.5) * ss);
      sum += w[x];
    }
    for (int x = 0; x < n; ++x) {
      if (sum != 0.0) w[x] /= sum;
      const double v = w[x] * (1 << kPrecisionBits);
      c.k[static_cast<size_t>(o) * c.ksize + x] = static_cast<int32_t>(v < 0 ? v - 0.5 : v + 0.5);
    }
    c.first[o] = xmin;
    c.count[o] = std::max(n, 0);
  }
  return c;
}

inline uint8_t ClipFixed(int32_t acc) {
  const int32_t v = acc >> kPrecisionBits;  // arithmetic shift, as Pillow's clip8 lookup
  return v < 0 ? 0 : v > 255 ? 255 : static_cast<uint8_t>(v);
}

}  // namespace

RgbImage ResizeImage(const RgbImage& in, int out_w, int out_h, Resample resample) {
  if (out_w <= 0 || out_h <= 0) throw Error("image resize: invalid output size");
  if (in.width <= 0 || in.height <= 0 || in.rgb.size() != static_cast<size_t>(in.width) * in.height * 3) {
    throw Error("image resize: invalid input image");
  }
  if (in.width == out_w && in.height == out_h) return in;
  const Filter f = GetFilter(resample);
  const bool need_h = in.width != out_w;
  const bool need_v = in.height != out_h;
  const AxisCoeffs ch = ComputeCoeffs(in.width, out_w, f);
  const AxisCoeffs cv = ComputeCoeffs(in.height, out_h, f);

  // Horizontal pass over the source rows that the vertical pass reads.
  const int row0 = cv.first[0];
  const int row1 = cv.first[out_h - 1] + cv.count[out_h - 1];
  RgbImage tmp;
  const RgbImage* src = &in;
  int row_offset = 0;  // row r of `src` is source row r + row_offset... of the original
  if (need_h) {
    tmp.width = out_w;
    tmp.height = row1 - row0;
    tmp.rgb.resize(static_cast<size_t>(tmp.width) * tmp.height * 3);
    for (int y = 0; y < tmp.height; ++y) {
      const uint8_t* srow = in.rgb.data() + static_cast<size_t>(y + row0) * in.width * 3;
      uint8_t* drow = tmp.rgb.data() + static_cast<size_t>(y) * out_w * 3;
      for (int o = 0; o < out_w; ++o) {
        const int32_t* k = &ch.k[static_cast<size_t>(o) * ch.ksize];
        const uint8_t* s = srow + static_cast<size_t>(ch.first[o]) * 3;
        int32_t a0 = 1 << (kPrecisionBits - 1), a1 = a0, a2 = a0;
        for (int x = 0; x < ch.count[o]; ++x) {
          a0 += s[3 * x] * k[x];
          a1 += s[3 * x + 1] * k[x];
          a2 += s[3 * x + 2] * k[x];
        }
        drow[3 * o] = ClipFixed(a0);
        drow[3 * o + 1] = ClipFixed(a1);
        drow[3 * o + 2] = ClipFixed(a2);
      }
    }
    src = &tmp;
    row_offset = row0;
  }
  if (!need_v) return need_h ? tmp : in;

  RgbImage out;
  out.width = out_w;
  out.height = out_h;
  out.rgb.resize(static_cast<size_t>(out_w) * out_h * 3);
  const size_t stride = static_cast<size_t>(src->width) * 3;
  for (int o = 0; o < out_h; ++o) {
    const int32_t* k = &cv.k[static_cast<size_t>(o) * cv.ksize];
    const uint8_t* base = src->rgb.data() + static_cast<size_t>(cv.first[o] - row_offset) * stride;
    uint8_t* drow = out.rgb.data() + static_cast<size_t>(o) * out_w * 3;
    for (size_t i = 0; i < stride; ++i) {
      int32_t a = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < cv.count[o]; ++y) a += base[y * stride + i] * k[y];
      drow[i] = ClipFixed(a);
    }
  }
  return out;
}

std::vector<float> PreprocessImage(const RgbImage& img, const ImageProcessorConfig& cfg) {
  RgbImage resized;
  const RgbImage* src = &img;
  if (cfg.do_resize && (img.width != cfg.width || img.height != cfg.height)) {
    resized = ResizeImage(img, cfg.width, cfg.height, cfg.resample);
    src = &resized;
  }
  if (src->width != cfg.width || src->height != cfg.height) {
    throw Error("image preprocessing: image is " + std::to_string(src->width) + "x" + std::to_string(src->height) +
                " but the vision tower needs " + std::to_string(cfg.width) + "x" + std::to_string(cfg.height) +
                " and resizing is disabled");
  }
  const size_t plane = static_cast<size_t>(cfg.width) * cfg.height;
  std::vector<float> out(3 * plane);
  for (size_t p = 0; p < plane; ++p) {
    for (int c = 0; c < 3; ++c) {
      float x = src->rgb[p * 3 + c];
      if (cfg.do_rescale) x = static_cast<float>(static_cast<double>(src->rgb[p * 3 + c]) * cfg.rescale_factor);
      if (cfg.do_normalize) x = (x - cfg.mean[c]) / cfg.std[c];
      out[c * plane + p] = x;
    }
  }
  return out;
}

std::vector<RgbImage> PanAndScanCrops(const RgbImage& img, const ImageProcessorConfig& cfg) {
  const int w = img.width, h = img.height;
  if (w <= 0 || h <= 0) return {};
  const int min_crop = cfg.pan_and_scan_min_crop_size, max_crops = cfg.pan_and_scan_max_num_crops;
  int nw = 1, nh = 1;
  auto count = [&](int long_side, int short_side) {
    int n = static_cast<int>(std::floor(static_cast<double>(long_side) / short_side + 0.5));
    if (min_crop > 0) n = std::min(static_cast<int>(std::floor(static_cast<double>(long_side) / min_crop)), n);
    n = std::max(2, n);
    return std::min(max_crops, n);
  };
  if (w >= h) {
    if (static_cast<double>(w) / h < cfg.pan_and_scan_min_ratio_to_activate) return {};
    nw = count(w, h);
  } else {
    if (static_cast<double>(h) / w < cfg.pan_and_scan_min_ratio_to_activate) return {};
    nh = count(h, w);
  }
  if (nw <= 0 || nh <= 0) return {};
  const int cw = (w + nw - 1) / nw, ch = (h + nh - 1) / nh;
  if (std::min(cw, ch) < min_crop) return {};
  std::vector<RgbImage> crops;
  for (int i = 0; i < nh; ++i) {
    for (int j = 0; j < nw; ++j) {
      const int y0 = i * ch, x0 = j * cw;
      const int y1 = std::min(h, y0 + ch), x1 = std::min(w, x0 + cw);
      if (y1 <= y0 || x1 <= x0) continue;
      RgbImage c;
      c.width = x1 - x0;
      c.height = y1 - y0;
      c.rgb.resize(static_cast<size_t>(c.width) * c.height * 3);
      for (int y = y0; y < y1; ++y) {
        std::memcpy(&c.rgb[static_cast<size_t>(y - y0) * c.width * 3], img.pixel(x0, y), static_cast<size_t>(c.width) * 3);
      }
      crops.push_back(std::move(c));
    }
  }
  return crops;
}

std::vector<std::vector<float>> LoadAndPreprocessImage(const std::string& path, const ImageProcessorConfig& cfg) {
  const RgbImage img = LoadImageFile(path);
  std::vector<std::vector<float>> out;
  out.push_back(PreprocessImage(img, cfg));
  if (cfg.do_pan_and_scan) {
    for (const RgbImage& crop : PanAndScanCrops(img, cfg)) out.push_back(PreprocessImage(crop, cfg));
  }
  return out;
}

ImageProcessorConfig ParseImageProcessorConfig(const std::string& text, const std::string& source, int image_size) {
  ImageProcessorConfig cfg;
  cfg.height = cfg.width = image_size;
  json j;
  try {
    j = json::parse(text);
  } catch (const std::exception& e) {
    throw Error(source + ": invalid JSON: " + e.what());
  }
  if (!j.is_object()) throw Error(source + ": expected a JSON object");
  try {
    auto get_bool = [&](const char* key, bool* v) {
      if (j.contains(key) && !j[key].is_null()) *v = j[key].get<bool>();
    };
    get_bool("do_resize", &cfg.do_resize);
    get_bool("do_rescale", &cfg.do_rescale);
    get_bool("do_normalize", &cfg.do_normalize);
    get_bool("do_pan_and_scan", &cfg.do_pan_and_scan);
    if (j.contains("pan_and_scan_min_crop_size") && !j["pan_and_scan_min_crop_size"].is_null()) {
      cfg.pan_and_scan_min_crop_size = j["pan_and_scan_min_crop_size"].get<int>();
    }
    if (j.contains("pan_and_scan_max_num_crops") && !j["pan_and_scan_max_num_crops"].is_null()) {
      cfg.pan_and_scan_max_num_crops = j["pan_and_scan_max_num_crops"].get<int>();
    }
    if (j.contains("pan_and_scan_min_ratio_to_activate") && !j["pan_and_scan_min_ratio_to_activate"].is_null()) {
      cfg.pan_and_scan_min_ratio_to_activate = j["pan_and_scan_min_ratio_to_activate"].get<double>();
    }
    if (j.contains("rescale_factor") && !j["rescale_factor"].is_null()) {
      cfg.rescale_factor = j["rescale_factor"].get<double>();
    }
    if (j.contains("resample") && !j["resample"].is_null()) {
      const int r = j["resample"].get<int>();
      if (r < 1 || r > 5) throw Error(source + ": unsupported resample " + std::to_string(r));
      cfg.resample = static_cast<Resample>(r);
    }
    auto get_triplet = [&](const char* key, float* v) {
      if (!j.contains(key) || j[key].is_null()) return;
      const json& a = j[key];
      if (a.is_number()) {
        v[0] = v[1] = v[2] = a.get<float>();
      } else if (a.is_array() && a.size() == 3) {
        for (int c = 0; c < 3; ++c) v[c] = a[c].get<float>();
      } else {
        throw Error(source + ": " + key + " must be a number or a list of 3 numbers");
      }
    };
    get_triplet("image_mean", cfg.mean);
    get_triplet("image_std", cfg.std);
    if (j.contains("size") && j["size"].is_object()) {
      const json& s = j["size"];
      int h = image_size, w = image_size;
      if (s.contains("height") && !s["height"].is_null()) h = s["height"].get<int>();
      if (s.contains("width") && !s["width"].is_null()) w = s["width"].get<int>();
      if (h != image_size || w != image_size) {
        throw Error(source + ": size " + std::to_string(h) + "x" + std::to_string(w) +
                    " does not match the vision tower image_size " + std::to_string(image_size));
      }
    }
  } catch (const json::exception& e) {
    throw Error(source + ": " + e.what());
  }
  for (int c = 0; c < 3; ++c) {
    if (!(cfg.std[c] != 0.0f) || !std::isfinite(cfg.std[c])) throw Error(source + ": image_std must be non-zero");
  }
  return cfg;
}

ImageProcessorConfig LoadImageProcessorConfig(const std::string& model_dir, int image_size) {
  const std::string path = model_dir + "/preprocessor_config.json";
  std::ifstream f(path);
  if (!f) {
    ImageProcessorConfig cfg;
    cfg.height = cfg.width = image_size;
    return cfg;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return ParseImageProcessorConfig(ss.str(), path, image_size);
}

std::vector<std::vector<float>> LoadPixelValues(const std::string& path, int image_size,
                                                const std::string& tensor_name) {
  auto file = SafeTensorsFile::Open(path);
  const TensorView* t = file->Find(tensor_name);
  if (!t) throw Error(path + ": missing tensor " + tensor_name);
  if (t->dtype != DType::kF32 && t->dtype != DType::kBF16 && t->dtype != DType::kF16 && t->dtype != DType::kF64) {
    throw Error(path + ": tensor " + tensor_name + " has dtype " + DTypeName(t->dtype) + ", expected a float type");
  }
  const auto& s = t->shape;
  int64_t n = 0;
  if (s.size() == 3) {
    n = 1;
  } else if (s.size() == 4) {
    n = s[0];
  } else {
    throw Error(path + ": tensor " + tensor_name + " has shape " + t->ShapeString() +
                ", expected [3, S, S] or [N, 3, S, S]");
  }
  const size_t off = s.size() - 3;
  if (s[off] != 3 || s[off + 1] != image_size || s[off + 2] != image_size) {
    throw Error(path + ": tensor " + tensor_name + " has shape " + t->ShapeString() + ", expected [3, " +
                std::to_string(image_size) + ", " + std::to_string(image_size) + "] (vision image_size)");
  }
  if (n <= 0) throw Error(path + ": tensor " + tensor_name + " holds no image");
  std::vector<float> all = ToFloatVector(*t);
  const size_t per = static_cast<size_t>(3) * image_size * image_size;
  std::vector<std::vector<float>> out;
  for (int64_t i = 0; i < n; ++i) {
    out.emplace_back(all.begin() + i * per, all.begin() + (i + 1) * per);
    for (float v : out.back()) {
      if (!std::isfinite(v)) throw Error(path + ": tensor " + tensor_name + " contains non-finite values");
    }
  }
  return out;
}

}  // namespace gemma
