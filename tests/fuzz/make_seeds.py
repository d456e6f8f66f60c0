#!/usr/bin/env python3
"""Writes the seed corpora in tests/fuzz/corpus/<target>/ (deterministic).

Every seed is generated here: valid inputs of each format plus edge cases
(truncated, over a limit, malformed). Images are made with Pillow
(Debian's python3-pil) and a small hand-written PNG encoder for the bit
depths and interlacing Pillow does not write. Run it from anywhere:
    /usr/bin/python3 tests/fuzz/make_seeds.py
Reproducers of fixed findings are not written here: they live in the same
folders under names starting with "repro-", and this script leaves them
alone.
"""
import base64
import gzip
import io
import json
import os
import random
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- images -----------------------------------------------------------------

def pil_images():
    from PIL import Image
    rnd = random.Random(7)

    def noise(mode, size):
        im = Image.new("RGB", size)
        im.putdata([(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)) for _ in range(size[0] * size[1])])
        return im.convert(mode)

    def save(im, fmt, **kw):
        b = io.BytesIO()
        im.save(b, fmt, **kw)
        return b.getvalue()

    # JPEG: modes, subsampling, progressive, EXIF orientation, odd sizes.
    write("image_jpeg", "rgb_16x16.jpg", save(noise("RGB", (16, 16)), "JPEG", quality=80))
    write("image_jpeg", "rgb_33x17_444.jpg", save(noise("RGB", (33, 17)), "JPEG", subsampling=0))
    write("image_jpeg", "rgb_40x9_420_progressive.jpg", save(noise("RGB", (40, 9)), "JPEG", progressive=True))
    write("image_jpeg", "gray_24x31.jpg", save(noise("L", (24, 31)), "JPEG"))
    write("image_jpeg", "cmyk_12x12.jpg", save(noise("CMYK", (12, 12)), "JPEG"))
    write("image_jpeg", "rgb_1x1.jpg", save(noise("RGB", (1, 1)), "JPEG"))
    write("image_jpeg", "rgb_64x8_wide.jpg", save(noise("RGB", (64, 8)), "JPEG", quality=30))
    exif = Image.Exif()
    exif[0x0112] = 6
    write("image_jpeg", "rgb_10x20_exif6.jpg", save(noise("RGB", (10, 20)), "JPEG", exif=exif.tobytes()))
    full = save(noise("RGB", (20, 20)), "JPEG")
    write("image_jpeg", "truncated.jpg", full[: len(full) // 2])
    write("image_jpeg", "soi_only.jpg", b"\xff\xd8\xff")
    # SOF0 declaring 13000x13000: must be refused from the header.
    big = bytearray(full)
    i = big.find(b"\xff\xc0")
    if i >= 0:
        struct.pack_into(">HH", big, i + 5, 13000, 13000)
        write("image_jpeg", "declares_13000x13000.jpg", bytes(big))

    # PNG through Pillow: the common modes.
    for mode, size in [("1", (9, 7)), ("L", (16, 5)), ("LA", (7, 7)), ("RGB", (12, 12)),
                       ("RGBA", (5, 11)), ("I;16", (6, 6))]:
        write("image_png", "pil_%s_%dx%d.png" % (mode.replace(";", ""), size[0], size[1]),
              save(noise("L" if mode == "I;16" else mode, size).convert(mode) if mode != "I;16"
                   else noise("L", size).convert("I").convert("I;16"), "PNG"))
    write("image_png", "pil_P_8x8.png", save(noise("RGB", (8, 8)).convert("P", palette=Image.ADAPTIVE, colors=16), "PNG"))
    p = noise("RGB", (6, 6)).convert("P", palette=Image.ADAPTIVE, colors=4)
    write("image_png", "pil_P_transparency.png", save(p, "PNG", transparency=1))

    # WebP: lossy, lossless, alpha, animated.
    write("image_webp", "lossy_16x16.webp", save(noise("RGB", (16, 16)), "WEBP", quality=70))
    write("image_webp", "lossless_9x13.webp", save(noise("RGB", (9, 13)), "WEBP", lossless=True))
    write("image_webp", "lossy_alpha_8x8.webp", save(noise("RGBA", (8, 8)), "WEBP", quality=50))
    write("image_webp", "lossless_alpha_5x7.webp", save(noise("RGBA", (5, 7)), "WEBP", lossless=True))
    write("image_webp", "rgb_1x1.webp", save(noise("RGB", (1, 1)), "WEBP"))
    try:
        frames = [noise("RGB", (8, 8)) for _ in range(2)]
        b = io.BytesIO()
        frames[0].save(b, "WEBP", save_all=True, append_images=frames[1:], duration=50)
        write("image_webp", "animated_2_frames.webp", b.getvalue())
    except Exception:  # Pillow without WebP animation support
        pass
    w = save(noise("RGB", (16, 16)), "WEBP")
    write("image_webp", "truncated.webp", w[: len(w) // 2])
    write("image_webp", "riff_header_only.webp", b"RIFF\x04\x00\x00\x00WEBP")


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width, height, bit_depth, color_type, rows=None, interlace=0, extra=b"", raw_idat=None):
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    bits_per_pixel = channels * bit_depth
    if raw_idat is None:
        rnd = random.Random(width * 131 + height * 7 + bit_depth)
        if interlace:
            # Adam7: each pass is its own row series (passes may be empty).
            raw = b""
            for x0, y0, dx, dy in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]:
                pw = (width - x0 + dx - 1) // dx if width > x0 else 0
                ph = (height - y0 + dy - 1) // dy if height > y0 else 0
                if pw == 0 or ph == 0:
                    continue
                row_bytes = (pw * bits_per_pixel + 7) // 8
                for _ in range(ph):
                    raw += b"\x00" + bytes(rnd.randrange(256) for _ in range(row_bytes))
        else:
            row_bytes = (width * bits_per_pixel + 7) // 8
            raw = b"".join(bytes([rnd.randrange(5)]) + bytes(rnd.randrange(256) for _ in range(row_bytes))
                           for _ in range(height))
        raw_idat = zlib.compress(raw)
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace)
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra
    if color_type == 3 and b"PLTE" not in extra:
        out += png_chunk(b"PLTE", bytes(range(48)))
    return out + png_chunk(b"IDAT", raw_idat) + png_chunk(b"IEND", b"")


def hand_pngs():
    write("image_png", "gray1_13x3.png", png(13, 3, 1, 0))
    write("image_png", "gray2_7x4.png", png(7, 4, 2, 0))
    write("image_png", "gray4_5x5.png", png(5, 5, 4, 0))
    write("image_png", "gray16_4x4.png", png(4, 4, 16, 0))
    write("image_png", "rgb16_3x5.png", png(3, 5, 16, 2))
    write("image_png", "rgba16_4x3.png", png(4, 3, 16, 6))
    write("image_png", "la16_3x3.png", png(3, 3, 16, 4))
    write("image_png", "palette4_6x2_trns.png", png(6, 2, 4, 3, extra=png_chunk(b"PLTE", bytes(range(48))) + png_chunk(b"tRNS", b"\x00\x80")))
    write("image_png", "rgb_trns_4x4.png", png(4, 4, 8, 2, extra=png_chunk(b"tRNS", b"\x00\x01\x00\x02\x00\x03")))
    write("image_png", "interlaced_rgb_9x9.png", png(9, 9, 8, 2, interlace=1))
    write("image_png", "interlaced_gray1_3x10.png", png(3, 10, 1, 0, interlace=1))
    write("image_png", "gamma_srgb_4x4.png", png(4, 4, 8, 2, extra=png_chunk(b"gAMA", struct.pack(">I", 45455)) + png_chunk(b"sRGB", b"\x00")))
    # The bomb: a 62-byte-class PNG declaring 13000x13000 RGBA16.
    write("image_png", "declares_13000x13000_rgba16.png", png(13000, 13000, 16, 6, raw_idat=zlib.compress(b"\x00" * 64)))
    write("image_png", "declares_0x5.png", png(0, 5, 8, 2, raw_idat=zlib.compress(b"")))
    write("image_png", "idat_too_short.png", png(8, 8, 8, 2, raw_idat=zlib.compress(b"\x00" * 10)))
    write("image_png", "bad_crc.png", png(4, 4, 8, 0)[:-5] + b"\x00\x00\x00\x00\x00")
    write("image_png", "signature_only.png", b"\x89PNG\r\n\x1a\n")


# ---- KServe v2 --------------------------------------------------------------

def kserve():
    fp32 = [round(0.1 * i, 3) for i in range(12)]
    req = {"id": "r1", "inputs": [{"name": "image", "shape": [1, 3, 2, 2], "datatype": "FP32", "data": fp32}],
           "outputs": [{"name": "embedding", "parameters": {"binary_data": False}}]}
    write("kserve_json", "fp32_flat.json", json.dumps(req))
    req["inputs"][0]["data"] = [[[fp32[0:2], fp32[2:4]], [fp32[4:6], fp32[6:8]], [fp32[8:10], fp32[10:12]]]]
    write("kserve_json", "fp32_nested.json", json.dumps(req))
    write("kserve_json", "fp32_exponents.json",
          '{"inputs":[{"name":"image","shape":[1,4],"datatype":"FP32","data":[1e-3,-2.5E+2,0,3.4e38]}]}')
    write("kserve_json", "fp32_overflow.json",
          '{"inputs":[{"name":"image","shape":[1,2],"datatype":"FP32","data":[1e39,-1e400]}]}')
    png1 = base64.b64encode(png(2, 2, 8, 2)).decode()
    write("kserve_json", "bytes_base64.json", json.dumps(
        {"inputs": [{"name": "image", "shape": [2], "datatype": "BYTES", "data": [png1, "data:image/png;base64," + png1]}],
         "parameters": {"binary_data_output": True}}))
    write("kserve_json", "bytes_escapes.json",
          '{"inputs":[{"name":"image","shape":[1,1],"datatype":"BYTES","data":["\\u00e9\\ud83d\\ude00\\n\\"x"]}]}')
    write("kserve_json", "shape_mismatch.json", '{"inputs":[{"name":"image","shape":[1,3],"datatype":"FP32","data":[1,2]}]}')
    write("kserve_json", "shape_negative.json", '{"inputs":[{"name":"image","shape":[-1,3],"datatype":"FP32","data":[]}]}')
    write("kserve_json", "shape_huge.json",
          '{"inputs":[{"name":"image","shape":[9223372036854775807,9223372036854775807],"datatype":"FP32","data":[1]}]}')
    write("kserve_json", "int_datatype.json", '{"inputs":[{"name":"x","shape":[2],"datatype":"INT64","data":[1,-2]}]}')
    write("kserve_json", "two_inputs_outputs.json", json.dumps(
        {"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]},
                    {"name": "b", "shape": [0], "datatype": "FP32", "data": []}],
         "outputs": [{"name": "embedding"}, {"name": "other", "parameters": {"binary_data": True}}]}))
    write("kserve_json", "binary_size_without_header.json",
          '{"inputs":[{"name":"image","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":4}}]}')
    write("kserve_json", "empty_object.json", "{}")
    write("kserve_json", "empty.json", "")
    write("kserve_json", "not_object.json", "[1,2,3]")
    write("kserve_json", "deep_nesting.json", '{"inputs":[{"name":"image","shape":[1],"datatype":"FP32","data":' + "[" * 200 + "1" + "]" * 200 + "}]}")
    write("kserve_json", "truncated.json", json.dumps(req)[:40])
    write("kserve_json", "wrong_types.json", '{"id":5,"inputs":{"name":1},"outputs":"x","parameters":[]}')

    def binary(header, payload, header_len=None):
        h = json.dumps(header).encode()
        n = len(h) if header_len is None else header_len
        return str(n).encode() + b"\n" + h + payload

    fp = struct.pack("<12f", *fp32)
    hdr = {"inputs": [{"name": "image", "shape": [1, 3, 2, 2], "datatype": "FP32", "parameters": {"binary_data_size": len(fp)}}],
           "outputs": [{"name": "embedding", "parameters": {"binary_data": True}}]}
    write("kserve_binary", "fp32.bin", binary(hdr, fp))
    imgs = [png(2, 2, 8, 2), b"\xff\xd8\xff", b""]
    elems = b"".join(struct.pack("<I", len(x)) + x for x in imgs)
    hdr2 = {"inputs": [{"name": "image", "shape": [3], "datatype": "BYTES", "parameters": {"binary_data_size": len(elems)}}]}
    write("kserve_binary", "bytes_3_elements.bin", binary(hdr2, elems))
    hdr3 = {"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "parameters": {"binary_data_size": 4}},
                       {"name": "b", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 6}}]}
    write("kserve_binary", "two_binary_inputs.bin", binary(hdr3, struct.pack("<f", 1.5) + struct.pack("<I", 2) + b"hi"))
    write("kserve_binary", "size_past_end.bin", binary(hdr, fp[:20]))
    write("kserve_binary", "trailing_bytes.bin", binary(hdr, fp + b"extra"))
    write("kserve_binary", "header_len_too_big.bin", binary(hdr, fp, header_len=10 ** 6))
    write("kserve_binary", "header_len_zero.bin", binary(hdr, fp, header_len=0))
    write("kserve_binary", "header_len_not_number.bin", b"12a\n{}")
    write("kserve_binary", "header_len_negative.bin", b"-1\n{}")
    write("kserve_binary", "json_only_with_header.bin", binary({"inputs": [{"name": "image", "shape": [1], "datatype": "FP32", "data": [2]}]}, b""))
    write("kserve_binary", "header_splits_json.bin", binary(hdr, fp, header_len=30))

    def elements(*items):
        return b"".join(struct.pack("<I", len(x)) + x for x in items)

    write("kserve_bytes", "one.bin", elements(b"hello"))
    write("kserve_bytes", "three.bin", elements(b"a", b"", png(1, 1, 8, 0)))
    write("kserve_bytes", "empty.bin", b"")
    write("kserve_bytes", "zero_length.bin", elements(b""))
    write("kserve_bytes", "truncated_prefix.bin", b"\x05\x00")
    write("kserve_bytes", "truncated_element.bin", struct.pack("<I", 10) + b"abc")
    write("kserve_bytes", "length_huge.bin", b"\xff\xff\xff\xff" + b"x" * 8)
    write("kserve_bytes", "trailing.bin", elements(b"ab") + b"\x01")


# ---- text parsers -------------------------------------------------------------

def base64_and_data_uri():
    samples = {"empty.txt": "", "f.txt": "Zg==", "fo.txt": "Zm8=", "foo.txt": "Zm9v", "unpadded.txt": "Zm9vYg",
               "bad_padding.txt": "YQ=", "too_much_padding.txt": "YQ===", "after_padding.txt": "YQ==YQ==",
               "whitespace.txt": "Zm9v\r\nYmFy\n Zg = =\t", "bad_char.txt": "Zm9v*mFy", "one_sextet.txt": "Z",
               "url_alphabet.txt": "-_-_", "leftover_bits.txt": "Zh==",
               "binary.txt": base64.b64encode(bytes(range(256))).decode()}
    for name, text in samples.items():
        write("base64", name, text)
    write("base64", "non_ascii.txt", b"Zm9v\xc3\xa9\x00==")
    p = base64.b64encode(png(2, 2, 8, 2)).decode()
    uris = {"png.txt": "data:image/png;base64," + p, "no_type.txt": "data:;base64," + p,
            "upper_type.txt": "DATA:IMAGE/PNG;BASE64," + p, "type_upper.txt": "data:Image/PNG;base64," + p,
            "not_image.txt": "data:text/plain;base64,aGk=", "no_base64.txt": "data:image/png,abc",
            "no_comma.txt": "data:image/png;base64", "params.txt": "data:image/jpeg;name=a.jpg;base64," + p,
            "plain_base64.txt": p, "data_prefix_only.txt": "data:", "short.txt": "data",
            "empty_payload.txt": "data:image/png;base64,", "bad_payload.txt": "data:image/png;base64,**"}
    for name, text in uris.items():
        write("data_uri", name, text)


def multipart():
    part_png = png(2, 2, 8, 2)

    def body(boundary, parts, preamble=b"", close=True):
        out = preamble
        for headers, content in parts:
            out += b"--" + boundary + b"\r\n" + headers + b"\r\n" + content + b"\r\n"
        if close:
            out += b"--" + boundary + b"--\r\n"
        return out

    ct = b"multipart/form-data; boundary=XyZ\n"
    disp = b'Content-Disposition: form-data; name="files"; filename="a.png"\r\nContent-Type: image/png\r\n'
    write("multipart", "two_files.txt", ct + body(b"XyZ", [(disp, part_png), (disp, b"\xff\xd8\xff")]))
    write("multipart", "quoted_boundary.txt", b'multipart/form-data; charset=utf-8; boundary="a b;c"\n' +
          body(b"a b;c", [(b'Content-Disposition: form-data; name=files\r\n', b"x")]))
    write("multipart", "preamble.txt", ct + body(b"XyZ", [(disp, b"data")], preamble=b"preamble text\r\n"))
    write("multipart", "no_headers_part.txt", ct + body(b"XyZ", [(b"", b"bare")]))
    write("multipart", "no_parts.txt", ct + b"--XyZ--\r\n")
    write("multipart", "unclosed.txt", ct + body(b"XyZ", [(disp, b"data")], close=False)[:-2])
    write("multipart", "header_without_colon.txt", ct + body(b"XyZ", [(b"bogus header\r\n", b"x")]))
    write("multipart", "unterminated_headers.txt", ct + b"--XyZ\r\nContent-Type: a")
    write("multipart", "whitespace_after_boundary.txt", ct + b"--XyZ \t\r\n\r\nx\r\n--XyZ--")
    write("multipart", "escaped_name.txt", ct + body(b"XyZ", [(b'Content-Disposition: form-data; name="a\\"b"; filename="c\\\\d"\r\n', b"")]))
    write("multipart", "boundary_too_long.txt", b"multipart/form-data; boundary=" + b"b" * 71 + b"\n--")
    write("multipart", "no_boundary.txt", b"multipart/form-data\n")
    write("multipart", "other_type.txt", b"application/json; boundary=x\n{}")
    write("multipart", "empty_boundary.txt", b'multipart/form-data; boundary=""\n')


def content_coding():
    text = b"hello, compressed world\n" * 20
    write("content_coding", "gzip.bin", b"gzip\n" + gzip.compress(text, mtime=0))
    write("content_coding", "x_gzip.bin", b" X-GZIP \n" + gzip.compress(b"a", mtime=0))
    write("content_coding", "deflate_zlib.bin", b"deflate\n" + zlib.compress(text))
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    write("content_coding", "deflate_raw.bin", b"deflate\n" + raw.compress(text) + raw.flush())
    write("content_coding", "identity.bin", b"identity\n" + text)
    write("content_coding", "empty_coding.bin", b"\nplain body")
    write("content_coding", "identity_over_limit.bin", b"identity\n" + b"x" * 5000)
    write("content_coding", "gzip_bomb_1mb.bin", b"gzip\n" + gzip.compress(b"\0" * (1 << 20), mtime=0))
    write("content_coding", "gzip_exactly_limit.bin", b"gzip\n" + gzip.compress(b"\0" * 4096, mtime=0))
    write("content_coding", "gzip_limit_plus_one.bin", b"gzip\n" + gzip.compress(b"\0" * 4097, mtime=0))
    g = gzip.compress(text, mtime=0)
    write("content_coding", "gzip_truncated.bin", b"gzip\n" + g[: len(g) // 2])
    write("content_coding", "gzip_trailing.bin", b"gzip\n" + g + b"junk")
    write("content_coding", "gzip_two_members.bin", b"gzip\n" + g + g)
    write("content_coding", "gzip_bad_crc.bin", b"gzip\n" + g[:-8] + b"\0\0\0\0" + g[-4:])
    write("content_coding", "deflate_garbage.bin", b"deflate\n\x78\x9c\xff\xff\xff")
    write("content_coding", "deflate_empty.bin", b"deflate\n")
    write("content_coding", "unsupported.bin", b"br\nxyz")
    write("content_coding", "list.bin", b"gzip, deflate\nxyz")


def router():
    paths = ["/health", "/model-info", "/embed/base64", "/v2", "/v2/health/live", "/v2/models/openclip_vit_b32",
             "/v2/models/openclip_vit_b32/versions/1/infer", "/v2/models/a%20b/config", "/v2/models/a%2Fb/infer",
             "/v2/models/x/infer?timeout=1", "/v2//models", "/", "", "*", "http://h/v2", "/%", "/%4", "/%G1", "/%00",
             "/a/b/c/d/e/f/g/h/i/j", "/v2/models/" + "m" * 65, "/v2/models/%e2%82%ac/ready", "/v2/models/x/",
             "/embed/base64/", "/%2e%2e/%2e%2e/etc/passwd", "/v2/models/{}/infer"]
    for i, p in enumerate(paths):
        write("router", "path_%02d.txt" % i, p)


def pbtxt():
    base = '''name: "openclip_vit_b32"
platform: "pytorch_libtorch"
max_batch_size: 32
input [
  {
    name: "image"
    data_type: TYPE_FP32
    format: FORMAT_NCHW
    dims: [ 3, 224, 224 ]
  }
]
output [
  {
    name: "embedding"
    data_type: TYPE_FP32
    dims: [ 512 ]
  }
]
dynamic_batching {
  preferred_batch_size: [ 4, 8, 16, 32 ]
  max_queue_delay_microseconds: 10000
}
instance_group [
  {
    count: 1
    kind: KIND_GPU
    gpus: [ 0 ]
  }
]
'''
    write("pbtxt", "full.pbtxt", base)
    write("pbtxt", "minimal.pbtxt", 'name: "m"\nmax_batch_size: 0\n')
    write("pbtxt", "queue_policy.pbtxt", '''name: "m" backend: "onnxruntime" max_batch_size: 8
input [ { name: "extra", data_type: TYPE_FP32, dims: [ 2 ], reshape: { shape: [ 1, 2 ] } } ]
dynamic_batching {
  preferred_batch_size: 2
  preferred_batch_size: 4
  max_queue_delay_microseconds: 2500
  preserve_ordering: true
  default_queue_policy {
    timeout_action: REJECT
    default_timeout_microseconds: 100000
    allow_timeout_override: true
    max_queue_size: 64
  }
}
instance_group [ { count: 2 kind: KIND_CPU }, { count: 1, kind: KIND_CPU } ]
version_policy: { latest: { num_versions: 2 } }
''')
    write("pbtxt", "skipped_fields.pbtxt", '''name: "m"
# a comment
optimization { execution_accelerators { gpu_execution_accelerator : [ { name : "tensorrt" } ] } }
parameters: { key: "k" value: { string_value: "v\\n\\"q\\"" } }
model_warmup [ { name: "w", batch_size: 1 } ]
version_policy: { specific: { versions: [ 1, 3 ] } }
''')
    write("pbtxt", "delay_action.pbtxt", 'name: "m" max_batch_size: 4 dynamic_batching { default_queue_policy { timeout_action: DELAY } }\n')
    write("pbtxt", "errors_unterminated.pbtxt", 'name: "m\n')
    write("pbtxt", "errors_unbalanced.pbtxt", 'dynamic_batching { max_queue_delay_microseconds: 1\n')
    write("pbtxt", "errors_bad_number.pbtxt", 'max_batch_size: 99999999999999999999\n')
    write("pbtxt", "errors_negative.pbtxt", 'max_batch_size: -4 instance_group [ { count: -1 } ]\n')
    write("pbtxt", "errors_type.pbtxt", 'name: 5 max_batch_size: "x"\n')
    write("pbtxt", "numbers.pbtxt", 'max_batch_size: 0x10 dynamic_batching { max_queue_delay_microseconds: 1e3 preferred_batch_size: [ ] }\n')
    write("pbtxt", "escapes.pbtxt", 'name: "\\101\\x42\\t\\\'\\?" platform: \'single\'\n')
    write("pbtxt", "empty.pbtxt", "")


def prometheus():
    text = '''# HELP nv_inference_request_success Number of successful inference requests, all batch sizes
# TYPE nv_inference_request_success counter
nv_inference_request_success{model="openclip_vit_b32",version="1"} 120
nv_inference_request_failure{model="openclip_vit_b32",version="1"} 2
nv_inference_count{model="openclip_vit_b32",version="1"} 480
nv_inference_exec_count{model="openclip_vit_b32",version="1"} 30
nv_inference_request_duration_us{model="openclip_vit_b32",version="1"} 1.5e6
nv_inference_queue_duration_us{model="openclip_vit_b32",version="1"} 2000
nv_inference_compute_input_duration_us{model="openclip_vit_b32",version="1"} 300
nv_inference_compute_infer_duration_us{model="openclip_vit_b32",version="1"} 1.2e6
nv_inference_compute_output_duration_us{model="openclip_vit_b32",version="1"} 100
'''
    write("prometheus", "triton.txt", text)
    write("prometheus", "two_versions_gpu_uuid.txt",
          'nv_inference_count{gpu_uuid="GPU-1",model="openclip_vit_b32",version="1"} 3\n'
          'nv_inference_count{model="openclip_vit_b32",version="2",gpu_uuid="GPU-2"} 4 1700000000000\n')
    write("prometheus", "escapes.txt", 'm{a="x\\"y",b="back\\\\slash",c="new\\nline"} 1\n')
    write("prometheus", "special_values.txt", "a +Inf\nb -Inf\nc NaN\nd 1e-300\ne -0\nf 0x10\n")
    write("prometheus", "histogram.txt", '''# TYPE clip_request_duration_seconds histogram
clip_request_duration_seconds_bucket{le="0.005"} 1
clip_request_duration_seconds_bucket{le="+Inf"} 2
clip_request_duration_seconds_sum 0.01
clip_request_duration_seconds_count 2
''')
    write("prometheus", "malformed.txt", 'no_value\n{model="x"} 1\nm{a="unterminated} 1\nm{a=b} 1\nm 1 2 3\nm{,} 1\n\n# just a comment\nm{a="x",} 5\n')
    write("prometheus", "crlf.txt", "a 1\r\nb{x=\"y\"} 2\r\n")
    write("prometheus", "no_trailing_newline.txt", "nv_inference_count{model=\"openclip_vit_b32\"} 7")
    write("prometheus", "empty.txt", "")


def safetensors():
    def st(header, data):
        h = json.dumps(header).encode()
        return struct.pack("<Q", len(h)) + h + data

    write("safetensors_header", "one_f32.safetensors", st({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}, bytes(16)))
    write("safetensors_header", "dtypes.safetensors", st({
        "__metadata__": {"format": "pt"},
        "a": {"dtype": "F16", "shape": [3], "data_offsets": [0, 6]},
        "b": {"dtype": "BF16", "shape": [1], "data_offsets": [6, 8]},
        "c": {"dtype": "I64", "shape": [1], "data_offsets": [8, 16]},
        "d": {"dtype": "BOOL", "shape": [], "data_offsets": [16, 17]},
        "e": {"dtype": "F8_E4M3", "shape": [0, 5], "data_offsets": [17, 17]}}, bytes(17)))
    write("safetensors_header", "unaligned.safetensors", st({"w": {"dtype": "F32", "shape": [1], "data_offsets": [1, 5]}}, bytes(5)))
    write("safetensors_header", "overlap.safetensors", st({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                                          "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8)))
    write("safetensors_header", "past_end.safetensors", st({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, bytes(8)))
    write("safetensors_header", "size_mismatch.safetensors", st({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(8)))
    write("safetensors_header", "huge_shape.safetensors", st({"w": {"dtype": "F64", "shape": [1099511627776, 1099511627776], "data_offsets": [0, 8]}}, bytes(8)))
    write("safetensors_header", "negative.safetensors", st({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [-4, 0]}}, b""))
    write("safetensors_header", "unknown_dtype.safetensors", st({"w": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 1]}}, bytes(1)))
    write("safetensors_header", "not_object.safetensors", st([1, 2], b""))
    write("safetensors_header", "entry_types.safetensors", st({"w": {"dtype": 4, "shape": "x", "data_offsets": [0]}}, b""))
    write("safetensors_header", "header_len_too_big.safetensors", struct.pack("<Q", 1 << 40) + b"{}")
    write("safetensors_header", "short.safetensors", b"\x02\x00\x00")
    write("safetensors_header", "empty_header.safetensors", struct.pack("<Q", 2) + b"{}")


def torch_pickle():
    import collections
    import pickle
    import sys
    sys.path.insert(0, os.path.join(HERE, "..", "model"))
    import write_torch_save as ts  # fake torch modules + torch.save's pickler

    class View(ts.FakeTensor):
        def __init__(self, storage, offset, shape, stride):
            self.storage, self.offset, self.shape, self.stride = storage, offset, shape, stride

        def __reduce_ex__(self, protocol):
            return (ts._rebuild_tensor_v2, (self.storage, self.offset, tuple(self.shape), tuple(self.stride),
                                            False, collections.OrderedDict()))

    def dump(obj, protocol=2):
        buf = io.BytesIO()
        ts.TorchPickler(buf, protocol=protocol).dump(obj)
        return buf.getvalue()

    def state(*items):
        d = collections.OrderedDict(items)
        d._metadata = collections.OrderedDict([("", {"version": 1})])
        return d

    f = ts.FakeStorage(ts.storage_classes["FloatStorage"], "0", 16)
    h = ts.FakeStorage(ts.storage_classes["HalfStorage"], "1", 8)
    long_ = ts.FakeStorage(ts.storage_classes["LongStorage"], "2", 4)
    plain = state(("visual.proj", ts.FakeTensor(f, [4, 4])), ("visual.ln_post.weight", ts.FakeTensor(h, [8])))
    write("torch_pickle", "state_dict_p2.pkl", dump(plain))
    write("torch_pickle", "state_dict_p4.pkl", dump(plain, protocol=4))
    write("torch_pickle", "checkpoint_wrapped.pkl", dump({"epoch": 32, "name": "test", "lr": 0.5, "state_dict": plain}))
    write("torch_pickle", "shared_storage_views.pkl",
          dump(state(("a", View(f, 0, [2, 2], [2, 1])), ("b", View(f, 4, [3], [4])), ("c", View(f, 15, [0], [1])))))
    write("torch_pickle", "unsupported_dtype.pkl", dump(state(("steps", ts.FakeTensor(long_, [4])), ("w", ts.FakeTensor(f, [16])))))
    write("torch_pickle", "missing_record.pkl",
          dump(state(("w", ts.FakeTensor(ts.FakeStorage(ts.storage_classes["FloatStorage"], "missing0", 1), [1])))))
    write("torch_pickle", "storage_too_small.pkl",
          dump(state(("w", ts.FakeTensor(ts.FakeStorage(ts.storage_classes["FloatStorage"], "3", 17), [17])))))
    write("torch_pickle", "view_past_storage.pkl", dump(state(("w", View(f, 10, [4], [2])))))
    write("torch_pickle", "not_a_dict.pkl", pickle.dumps([1, 2, 3], protocol=2))
    write("torch_pickle", "dict_without_tensors.pkl", pickle.dumps({"epoch": 3, "best": 1.5, "tags": ("a", None, True)}, protocol=2))
    write("torch_pickle", "unicode_bytes_long.pkl",
          pickle.dumps({"k\u00e9": b"\x00\x01", "n": 1 << 40, "neg": -(1 << 33), "f": 2.5, "l": [1, [2]]}, protocol=2))
    # Hand-written: an unknown global is inert (os.system is never called).
    write("torch_pickle", "opaque_global.pkl", b"\x80\x02}X\x01\x00\x00\x00wcos\nsystem\nX\x04\x00\x00\x00echo\x85Rs.")
    write("torch_pickle", "bad_opcode.pkl", b"\x80\x02\xff.")
    write("torch_pickle", "unknown_memo.pkl", b"\x80\x02h\x05.")
    write("torch_pickle", "empty_stack.pkl", b"\x80\x020.")
    write("torch_pickle", "no_stop.pkl", b"\x80\x02}")


def main():
    pil_images()
    hand_pngs()
    kserve()
    base64_and_data_uri()
    multipart()
    content_coding()
    router()
    pbtxt()
    prometheus()
    safetensors()
    torch_pickle()


if __name__ == "__main__":
    main()
