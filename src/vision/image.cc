#include "vision/image.h"

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include "base/error.h"

namespace gemma {

ImageFormat DetectImageFormat(const uint8_t* data, size_t size) {
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size >= 8 && std::memcmp(data, kPng, 8) == 0) return ImageFormat::kPng;
  if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) return ImageFormat::kJpeg;
  return ImageFormat::kUnknown;
}

namespace {

void CheckSize(int64_t w, int64_t h, const std::string& name, const ImageDecodeOptions& opt) {
  if (w <= 0 || h <= 0) throw Error(name + ": invalid image size " + std::to_string(w) + "x" + std::to_string(h));
  if (w > opt.max_side || h > opt.max_side || w * h > opt.max_pixels) {
    throw Error(name + ": image too large (" + std::to_string(w) + "x" + std::to_string(h) +
                ", limit " + std::to_string(opt.max_side) + " px per side, " + std::to_string(opt.max_pixels) +
                " pixels)");
  }
}

// ---------------------------------------------------------------- PNG ----
// libpng reports errors by calling our error function, which longjmps back
// into PngDecodeCore. That function owns no C++ objects with destructors:
// everything it fills lives in PngState, owned by the caller.

struct PngState {
  const uint8_t* data = nullptr;
  size_t size = 0;
  size_t pos = 0;
  char message[256] = {0};
  jmp_buf jmp;
  png_structp png = nullptr;
  png_infop info = nullptr;
  // Outputs.
  uint32_t width = 0, height = 0;
  int bit_depth = 0, color_type = 0;
  std::vector<uint8_t>* pixels = nullptr;  // decoded rows, `rowbytes` each
  size_t rowbytes = 0;
  int channels = 0;
  std::vector<png_bytep>* rows = nullptr;
  const ImageDecodeOptions* opt = nullptr;
  bool too_large = false;
  std::vector<uint8_t>* exif = nullptr;
};

void PngError(png_structp png, png_const_charp msg) {
  auto* st = static_cast<PngState*>(png_get_error_ptr(png));
  std::snprintf(st->message, sizeof(st->message), "%s", msg ? msg : "unknown libpng error");
  longjmp(st->jmp, 1);
}

void PngWarning(png_structp, png_const_charp) {}

void PngRead(png_structp png, png_bytep out, size_t n) {
  auto* st = static_cast<PngState*>(png_get_io_ptr(png));
  if (n > st->size - st->pos) png_error(png, "truncated file (unexpected end of data)");
  std::memcpy(out, st->data + st->pos, n);
  st->pos += n;
}

// Returns 0 on success, 1 on a libpng error (message in st->message), 2 when
// the image is too large (width/height set).
int PngDecodeCore(PngState* st) {
  if (setjmp(st->jmp)) return 1;
  png_set_read_fn(st->png, st, PngRead);
  png_set_user_limits(st->png, 0x7fffffff, 0x7fffffff);
  png_set_chunk_malloc_max(st->png, 64u << 20);
  png_read_info(st->png, st->info);
  st->width = png_get_image_width(st->png, st->info);
  st->height = png_get_image_height(st->png, st->info);
  st->bit_depth = png_get_bit_depth(st->png, st->info);
  st->color_type = png_get_color_type(st->png, st->info);
  if (st->width > static_cast<uint32_t>(st->opt->max_side) || st->height > static_cast<uint32_t>(st->opt->max_side) ||
      static_cast<int64_t>(st->width) * st->height > st->opt->max_pixels) {
    st->too_large = true;
    return 2;
  }
#ifdef PNG_eXIf_SUPPORTED
  {
    png_bytep exif = nullptr;
    png_uint_32 n = 0;
    if (st->exif && png_get_eXIf_1(st->png, st->info, &n, &exif) && exif && n > 0) {
      st->exif->assign(exif, exif + n);
    }
  }
#endif
  const bool gray16 = st->bit_depth == 16 && st->color_type == PNG_COLOR_TYPE_GRAY;
  if (st->color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(st->png);
  if (st->color_type == PNG_COLOR_TYPE_GRAY && st->bit_depth < 8) png_set_expand_gray_1_2_4_to_8(st->png);
  // Transparency (tRNS, alpha channels) is dropped, as PIL's convert("RGB").
  png_set_strip_alpha(st->png);
  if (st->bit_depth == 16 && !gray16) png_set_strip_16(st->png);  // high byte, as PIL's ;16B unpackers
  png_set_interlace_handling(st->png);
  png_read_update_info(st->png, st->info);
  st->rowbytes = png_get_rowbytes(st->png, st->info);
  st->channels = png_get_channels(st->png, st->info);
  st->pixels->resize(st->rowbytes * st->height);
  st->rows->resize(st->height);
  for (uint32_t y = 0; y < st->height; ++y) (*st->rows)[y] = st->pixels->data() + st->rowbytes * y;
  png_read_image(st->png, st->rows->data());
  return 0;
}

RgbImage DecodePng(const uint8_t* data, size_t size, const std::string& name, const ImageDecodeOptions& opt,
                   int* orientation) {
  std::vector<uint8_t> pixels;
  std::vector<png_bytep> rows;
  std::vector<uint8_t> exif;
  PngState st;
  st.data = data;
  st.size = size;
  st.pixels = &pixels;
  st.rows = &rows;
  st.opt = &opt;
  st.exif = &exif;
  st.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &st, PngError, PngWarning);
  if (!st.png) throw Error(name + ": cannot initialise libpng");
  st.info = png_create_info_struct(st.png);
  if (!st.info) {
    png_destroy_read_struct(&st.png, nullptr, nullptr);
    throw Error(name + ": cannot initialise libpng");
  }
  int rc;
  try {
    rc = PngDecodeCore(&st);
  } catch (...) {  // std::bad_alloc from the vectors
    png_destroy_read_struct(&st.png, &st.info, nullptr);
    throw;
  }
  png_destroy_read_struct(&st.png, &st.info, nullptr);
  if (rc == 1) throw Error(name + ": corrupt or unsupported PNG: " + st.message);
  if (rc == 2) CheckSize(st.width, st.height, name, opt);

  RgbImage img;
  img.width = static_cast<int>(st.width);
  img.height = static_cast<int>(st.height);
  img.rgb.resize(static_cast<size_t>(img.width) * img.height * 3);
  const bool gray16 = st.bit_depth == 16 && st.color_type == PNG_COLOR_TYPE_GRAY;
  for (int y = 0; y < img.height; ++y) {
    const uint8_t* src = pixels.data() + st.rowbytes * y;
    uint8_t* dst = img.rgb.data() + static_cast<size_t>(y) * img.width * 3;
    if (gray16) {
      for (int x = 0; x < img.width; ++x) {
        const int v = (src[2 * x] << 8) | src[2 * x + 1];  // PNG samples are big-endian
        const uint8_t c = v > 255 ? 255 : static_cast<uint8_t>(v);
        dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = c;
      }
    } else if (st.channels == 1 || st.channels == 2) {
      const int ch = st.channels;
      for (int x = 0; x < img.width; ++x) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = src[x * ch];
    } else if (st.channels == 3 || st.channels == 4) {
      const int ch = st.channels;
      for (int x = 0; x < img.width; ++x) std::memcpy(dst + 3 * x, src + x * ch, 3);
    } else {
      throw Error(name + ": unsupported PNG layout (" + std::to_string(st.channels) + " channels after conversion)");
    }
  }
  if (orientation && !exif.empty()) *orientation = ExifOrientation(exif.data(), exif.size());
  return img;
}

// --------------------------------------------------------------- JPEG ----

struct JpegErr {
  jpeg_error_mgr mgr;
  jmp_buf jmp;
  char message[JMSG_LENGTH_MAX + 64];
};

void JpegErrorExit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErr*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->jmp, 1);
}

void JpegEmitMessage(j_common_ptr cinfo, int level) {
  auto* err = reinterpret_cast<JpegErr*>(cinfo->err);
  // A truncated stream is an error for PIL ("image file is truncated");
  // other corrupt-data warnings are tolerated as PIL does.
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
    std::snprintf(err->message, sizeof(err->message), "truncated file (premature end of JPEG data)");
    longjmp(err->jmp, 1);
  }
  if (level < 0) cinfo->err->num_warnings++;
}

struct JpegState {
  jpeg_decompress_struct cinfo;
  JpegErr err;
  const ImageDecodeOptions* opt = nullptr;
  std::vector<uint8_t>* out = nullptr;  // rows of width * out_components
  std::vector<uint8_t>* exif = nullptr;
  int width = 0, height = 0, components = 0;
  bool cmyk = false, inverted = false;
  bool too_large = false;
};

int JpegDecodeCore(JpegState* st) {
  j_decompress_ptr cinfo = &st->cinfo;
  if (setjmp(st->err.jmp)) return 1;
  jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xffff);
  jpeg_read_header(cinfo, TRUE);
  st->width = static_cast<int>(cinfo->image_width);
  st->height = static_cast<int>(cinfo->image_height);
  if (cinfo->image_width > static_cast<JDIMENSION>(st->opt->max_side) ||
      cinfo->image_height > static_cast<JDIMENSION>(st->opt->max_side) ||
      static_cast<int64_t>(cinfo->image_width) * cinfo->image_height > st->opt->max_pixels) {
    st->too_large = true;
    return 2;
  }
  for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next) {
    if (m->marker == JPEG_APP0 + 1 && m->data_length > 6 && std::memcmp(m->data, "Exif\0\0", 6) == 0) {
      st->exif->assign(m->data + 6, m->data + m->data_length);
      break;
    }
  }
  switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE:
      cinfo->out_color_space = JCS_GRAYSCALE;
      break;
    case JCS_CMYK:
    case JCS_YCCK:
      cinfo->out_color_space = JCS_CMYK;
      st->cmyk = true;
      // PIL decodes every 4-component JPEG with rawmode "CMYK;I" (Adobe's
      // inverted convention), with or without an Adobe marker.
      st->inverted = true;
      break;
    default:
      cinfo->out_color_space = JCS_RGB;
      break;
  }
  jpeg_start_decompress(cinfo);
  st->components = cinfo->output_components;
  const size_t stride = static_cast<size_t>(cinfo->output_width) * cinfo->output_components;
  st->out->resize(stride * cinfo->output_height);
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = st->out->data() + stride * cinfo->output_scanline;
    jpeg_read_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_decompress(cinfo);
  return 0;
}

inline uint8_t Clip8(int v) { return v < 0 ? 0 : v > 255 ? 255 : static_cast<uint8_t>(v); }
inline int MulDiv255(int a, int b) {
  const int tmp = a * b + 128;
  return ((tmp >> 8) + tmp) >> 8;
}

RgbImage DecodeJpeg(const uint8_t* data, size_t size, const std::string& name, const ImageDecodeOptions& opt,
                    int* orientation) {
  std::vector<uint8_t> out;
  std::vector<uint8_t> exif;
  JpegState st;
  st.opt = &opt;
  st.out = &out;
  st.exif = &exif;
  st.cinfo.err = jpeg_std_error(&st.err.mgr);
  st.err.mgr.error_exit = JpegErrorExit;
  st.err.mgr.emit_message = JpegEmitMessage;
  st.err.message[0] = 0;
  jpeg_create_decompress(&st.cinfo);
  st.cinfo.mem->max_memory_to_use = 2048L << 20;
  jpeg_mem_src(&st.cinfo, data, static_cast<unsigned long>(size));
  int rc;
  try {
    rc = JpegDecodeCore(&st);
  } catch (...) {
    jpeg_destroy_decompress(&st.cinfo);
    throw;
  }
  jpeg_destroy_decompress(&st.cinfo);
  if (rc == 1) throw Error(name + ": corrupt or unsupported JPEG: " + st.err.message);
  if (rc == 2) CheckSize(st.width, st.height, name, opt);

  RgbImage img;
  img.width = st.width;
  img.height = st.height;
  const size_t n = static_cast<size_t>(img.width) * img.height;
  img.rgb.resize(n * 3);
  if (st.components == 1) {
    for (size_t i = 0; i < n; ++i) img.rgb[3 * i] = img.rgb[3 * i + 1] = img.rgb[3 * i + 2] = out[i];
  } else if (st.components == 3 && !st.cmyk) {
    std::memcpy(img.rgb.data(), out.data(), n * 3);
  } else if (st.components == 4 && st.cmyk) {
    for (size_t i = 0; i < n; ++i) {
      int c[4];
      for (int j = 0; j < 4; ++j) c[j] = st.inverted ? 255 - out[4 * i + j] : out[4 * i + j];
      const int nk = 255 - c[3];
      for (int j = 0; j < 3; ++j) img.rgb[3 * i + j] = Clip8(nk - MulDiv255(c[j], nk));
    }
  } else {
    throw Error(name + ": unsupported JPEG layout (" + std::to_string(st.components) + " components)");
  }
  if (orientation && !exif.empty()) *orientation = ExifOrientation(exif.data(), exif.size());
  return img;
}

}  // namespace

int ExifOrientation(const uint8_t* p, size_t size) {
  if (size < 8) return 1;
  bool le;
  if (p[0] == 'I' && p[1] == 'I') {
    le = true;
  } else if (p[0] == 'M' && p[1] == 'M') {
    le = false;
  } else {
    return 1;
  }
  auto u16 = [&](size_t o) -> uint32_t {
    return le ? (p[o] | (p[o + 1] << 8)) : ((p[o] << 8) | p[o + 1]);
  };
  auto u32 = [&](size_t o) -> uint32_t {
    return le ? (p[o] | (p[o + 1] << 8) | (p[o + 2] << 16) | (static_cast<uint32_t>(p[o + 3]) << 24))
              : ((static_cast<uint32_t>(p[o]) << 24) | (p[o + 1] << 16) | (p[o + 2] << 8) | p[o + 3]);
  };
  if (u16(2) != 42) return 1;
  const uint32_t ifd = u32(4);
  if (ifd > size || size - ifd < 2) return 1;
  const uint32_t count = u16(ifd);
  for (uint32_t i = 0; i < count; ++i) {
    const size_t e = ifd + 2 + static_cast<size_t>(i) * 12;
    if (e + 12 > size) return 1;
    if (u16(e) == 0x0112) {
      const uint32_t type = u16(e + 2);
      uint32_t v = 0;
      if (type == 3) {
        v = u16(e + 8);
      } else if (type == 4) {
        v = u32(e + 8);
      } else {
        return 1;
      }
      return (v >= 1 && v <= 8) ? static_cast<int>(v) : 1;
    }
  }
  return 1;
}

RgbImage ApplyOrientation(const RgbImage& in, int orientation) {
  if (orientation <= 1 || orientation > 8) return in;
  const int W = in.width, H = in.height;
  const bool swap = orientation >= 5;
  RgbImage out;
  out.width = swap ? H : W;
  out.height = swap ? W : H;
  out.rgb.resize(in.rgb.size());
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      int sx = x, sy = y;
      switch (orientation) {
        case 2: sx = W - 1 - x; sy = y; break;          // FLIP_LEFT_RIGHT
        case 3: sx = W - 1 - x; sy = H - 1 - y; break;  // ROTATE_180
        case 4: sx = x; sy = H - 1 - y; break;          // FLIP_TOP_BOTTOM
        case 5: sx = y; sy = x; break;                  // TRANSPOSE
        case 6: sx = y; sy = H - 1 - x; break;          // ROTATE_270 (clockwise 90)
        case 7: sx = W - 1 - y; sy = H - 1 - x; break;  // TRANSVERSE
        case 8: sx = W - 1 - y; sy = x; break;          // ROTATE_90 (counter-clockwise)
      }
      std::memcpy(&out.rgb[(static_cast<size_t>(y) * out.width + x) * 3], in.pixel(sx, sy), 3);
    }
  }
  return out;
}

RgbImage DecodeImage(const uint8_t* data, size_t size, const std::string& name, const ImageDecodeOptions& options) {
  if (!data || size == 0) throw Error(name + ": empty image data");
  int orientation = 1;
  RgbImage img;
  switch (DetectImageFormat(data, size)) {
    case ImageFormat::kPng:
      img = DecodePng(data, size, name, options, &orientation);
      break;
    case ImageFormat::kJpeg:
      img = DecodeJpeg(data, size, name, options, &orientation);
      break;
    default:
      throw Error(name + ": unsupported image format (only PNG and JPEG are supported)");
  }
  if (options.apply_exif_orientation && orientation != 1) img = ApplyOrientation(img, orientation);
  return img;
}

RgbImage LoadImageFile(const std::string& path, const ImageDecodeOptions& options) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open image file");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) throw Error(path + ": cannot read image file");
  return DecodeImage(bytes.data(), bytes.size(), path, options);
}

}  // namespace gemma
