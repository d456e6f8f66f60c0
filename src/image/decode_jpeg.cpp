// JPEG decoding with libjpeg-turbo's libjpeg API, producing the mode Pillow
// opens: "L" for grayscale, "CMYK" (inverted, as Pillow's "CMYK;I" raw
// mode) for 4-component files, "RGB" otherwise. Accurate integer IDCT and
// fancy upsampling: the library defaults, which Pillow also uses, so pixels
// are identical. The libjpeg API (rather than TurboJPEG) lets us tell a
// truncated file apart from one that only lacks its EOI marker (see below).
#include <algorithm>
#include <csetjmp>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>

// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>
#include <jerror.h>

#include "image/image_internal.h"

namespace clipserve::image::internal {
namespace {

struct ErrorManager {
  jpeg_error_mgr pub;  // first member: libjpeg casts cinfo->err to this
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool data_ran_out = false;  // a "premature end of file" warning was issued before the last scanline
  bool finishing = false;     // all scanlines read; jpeg_finish_decompress running
};

void OnError(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

void OnMessage(j_common_ptr cinfo, int msg_level) {
  // Warnings (msg_level -1) are recoverable and Pillow ignores them, except
  // running out of data: libjpeg then pads the image with gray, whereas
  // Pillow's decoder asks for more input and fails ("image file is
  // truncated"). We record it and refuse the image if it happened before
  // every scanline was decoded.
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  if (msg_level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF && !err->finishing) err->data_ran_out = true;
}

struct DecompressGuard {
  jpeg_decompress_struct* cinfo;
  ~DecompressGuard() { jpeg_destroy_decompress(cinfo); }
};

// Everything between setjmp and a possible longjmp lives in this function,
// which has only trivially destructible locals (longjmp skips destructors).
// Returns false with err->message set on a libjpeg error; *stage tells
// where it failed. `on_header` runs once the header is read (returns false
// to stop without a libjpeg error); `alloc` runs after
// jpeg_start_decompress and returns the output buffer.
template <typename OnHeader, typename Alloc>
bool Decode(jpeg_decompress_struct* cinfo, ErrorManager* err, const std::uint8_t* data, size_t size,
            OnHeader&& on_header, Alloc&& alloc, int* stage, int* rows_done) {
  if (setjmp(err->jump)) return false;
  *stage = 0;
  jpeg_mem_src(cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(cinfo, TRUE);
  *stage = 1;
  if (!on_header(cinfo)) return true;
  jpeg_start_decompress(cinfo);
  std::uint8_t* out = alloc(cinfo);
  const size_t stride = static_cast<size_t>(cinfo->output_width) * static_cast<size_t>(cinfo->output_components);
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = out + static_cast<size_t>(cinfo->output_scanline) * stride;
    jpeg_read_scanlines(cinfo, &row, 1);
    *rows_done = static_cast<int>(cinfo->output_scanline);
  }
  // Like Pillow: read up to EOI, so a fatal error in what follows the image
  // data (a broken marker) refuses the file; running out of data here (a
  // missing EOI) is only a warning from the memory source, and accepted.
  *stage = 3;
  err->finishing = true;
  jpeg_finish_decompress(cinfo);
  return true;
}

// Columns to decode when the resize reads only part of each row (a wide
// image downscaled and center-cropped): libjpeg-turbo's jpeg_crop_scanline
// skips the IDCT, upsampling and color conversion of the other iMCU
// columns. Pixels away from the cropped region's edges are computed exactly
// as in a full decode, but those at its edges are not (fancy upsampling
// treats them as image borders: the Pillow oracle test fails without the
// margin), so a margin keeps the columns we use well inside. Only for
// single-scan (sequential) files, where the library's partial decoding is
// simplest and best tested. Returns false to decode everything.
bool CropColumns(const jpeg_decompress_struct& ci, const PreprocessOptions& options, JDIMENSION* xoffset,
                 JDIMENSION* width) {
  constexpr int kMarginPixels = 32;
  if (ci.progressive_mode || options.apply_exif_orientation || options.image_size <= 0) return false;
  const int w = static_cast<int>(ci.image_width), h = static_cast<int>(ci.image_height);
  const Window win = ResizeWindow(w, h, options.image_size);
  if (win.out_width >= w) return false;
  int first = 0, last = 0;
  SourceColumns(w, win.out_width, win.x0, win.width, &first, &last);
  first = std::max(0, first - kMarginPixels);
  last = std::min(w, last + kMarginPixels);
  if (static_cast<double>(last - first) > 0.8 * w) return false;  // not worth it
  *xoffset = static_cast<JDIMENSION>(first);
  *width = static_cast<JDIMENSION>(last - first);
  return true;
}

}  // namespace

StatusOr<Decoded> DecodeJpeg(std::span<const std::uint8_t> bytes, const PreprocessOptions& options) {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  std::memset(&cinfo, 0, sizeof cinfo);
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = OnError;
  err.pub.emit_message = OnMessage;
  err.message[0] = '\0';
  jpeg_create_decompress(&cinfo);
  DecompressGuard guard{&cinfo};

  Decoded d;
  Status header_status;
  auto on_header = [&](j_decompress_ptr ci) -> bool {
    header_status = CheckDimensions(ci->image_width, ci->image_height, options, "JPEG");
    if (!header_status.ok()) return false;
    switch (ci->num_components) {
      case 1:
        d.mode = Mode::kL;
        ci->out_color_space = JCS_GRAYSCALE;
        break;
      case 3:
        d.mode = Mode::kRGB;
        ci->out_color_space = JCS_RGB;
        break;
      case 4:
        d.mode = Mode::kCMYK;
        ci->out_color_space = JCS_CMYK;  // YCCK is converted to CMYK by libjpeg
        break;
      default:
        header_status = InvalidArgumentError("JPEG: unsupported number of components (" +
                                             std::to_string(ci->num_components) + ")");
        return false;
    }
    d.width = static_cast<int>(ci->image_width);
    d.height = static_cast<int>(ci->image_height);
    header_status = CheckDecodeBytes(std::uint64_t(ci->image_width) * ci->image_height * std::uint64_t(ci->num_components),
                                     std::to_string(ci->image_width) + "x" + std::to_string(ci->image_height) + " with " +
                                         std::to_string(ci->num_components) + " components",
                                     options, "JPEG");
    return header_status.ok();
  };
  auto alloc = [&](j_decompress_ptr ci) -> std::uint8_t* {
    JDIMENSION xoffset = 0, crop_width = 0;
    if (CropColumns(*ci, options, &xoffset, &crop_width)) {
      jpeg_crop_scanline(ci, &xoffset, &crop_width);  // widens to iMCU boundaries
      d.col0 = static_cast<int>(xoffset);
      d.stored_width = static_cast<int>(ci->output_width);
    }
    const int stored = d.stored_width != 0 ? d.stored_width : d.width;
    d.pixels.resize(static_cast<size_t>(stored) * static_cast<size_t>(d.height) *
                    static_cast<size_t>(ChannelCount(d.mode)));
    return d.pixels.data();
  };
  int stage = 0, rows_done = 0;
  const bool ok = Decode(&cinfo, &err, bytes.data(), bytes.size(), on_header, alloc, &stage, &rows_done);
  if (!ok) {
    if (stage == 0) return InvalidArgumentError(std::string("JPEG: corrupt header: ") + err.message);
    if (stage == 3) return InvalidArgumentError(std::string("JPEG: corrupt data after the image: ") + err.message);
    return InvalidArgumentError(std::string("JPEG: corrupt data: ") + err.message);
  }
  if (!header_status.ok()) return header_status;
  if (err.data_ran_out) {
    return InvalidArgumentError("JPEG: truncated file (data ends after " + std::to_string(rows_done) + " of " +
                                std::to_string(d.height) + " rows)");
  }
  if (d.mode == Mode::kCMYK) {
    // Pillow reads 4-component JPEGs with raw mode "CMYK;I" (Adobe
    // convention: stored inverted).
    for (auto& v : d.pixels) v = static_cast<std::uint8_t>(255 - v);
  }
  if (options.apply_exif_orientation) d.exif_orientation = ReadJpegExifOrientation(bytes);
  return d;
}

// Minimal EXIF reader: finds APP1 "Exif\0\0", walks IFD0 for tag 0x0112.
int ReadJpegExifOrientation(std::span<const std::uint8_t> b) {
  size_t pos = 2;
  while (pos + 4 <= b.size()) {
    if (b[pos] != 0xFF) return 1;
    const std::uint8_t marker = b[pos + 1];
    if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {
      pos += 2;
      continue;
    }
    if (marker == 0xDA || marker == 0xD9) return 1;  // start of scan: no EXIF before it
    const size_t len = (static_cast<size_t>(b[pos + 2]) << 8) | b[pos + 3];
    if (len < 2 || pos + 2 + len > b.size()) return 1;
    const std::uint8_t* seg = b.data() + pos + 4;
    const size_t seg_len = len - 2;
    if (marker == 0xE1 && seg_len >= 14 && std::memcmp(seg, "Exif\0\0", 6) == 0) {
      const std::uint8_t* t = seg + 6;
      const size_t n = seg_len - 6;
      const bool le = t[0] == 'I' && t[1] == 'I';
      if (!le && !(t[0] == 'M' && t[1] == 'M')) return 1;
      auto u16 = [&](size_t o) -> unsigned {
        return le ? (t[o] | (t[o + 1] << 8)) : ((t[o] << 8) | t[o + 1]);
      };
      auto u32 = [&](size_t o) -> size_t {
        return le ? (size_t{t[o]} | (size_t{t[o + 1]} << 8) | (size_t{t[o + 2]} << 16) | (size_t{t[o + 3]} << 24))
                  : ((size_t{t[o]} << 24) | (size_t{t[o + 1]} << 16) | (size_t{t[o + 2]} << 8) | size_t{t[o + 3]});
      };
      const size_t ifd = u32(4);
      if (ifd + 2 > n) return 1;
      const unsigned count = u16(ifd);
      for (unsigned i = 0; i < count; ++i) {
        const size_t e = ifd + 2 + size_t{i} * 12;
        if (e + 12 > n) return 1;
        if (u16(e) == 0x0112) {
          const unsigned v = u16(e + 8);
          return (v >= 1 && v <= 8) ? static_cast<int>(v) : 1;
        }
      }
      return 1;
    }
    pos += 2 + len;
  }
  return 1;
}

}  // namespace clipserve::image::internal
