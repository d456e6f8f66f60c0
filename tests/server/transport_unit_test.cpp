// Unit tests of the transport's pure parts: the segment router and path
// decoding, the multipart parser, and content decoding with its limit.
#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

#include "server/content_coding.h"
#include "server/multipart.h"
#include "server/router.h"

namespace clipserve::server {
namespace {

std::vector<std::string> Segs(std::string_view target) {
  auto d = DecodePath(target);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? d->segments : std::vector<std::string>{};
}

TEST(RouterTest, LiteralAndParameterSegmentsFirstMatchWins) {
  Router r;
  ASSERT_TRUE(r.Add("GET", "/v2/models/stats", 0).ok());
  ASSERT_TRUE(r.Add("GET", "/v2/models/{}", 1).ok());
  ASSERT_TRUE(r.Add("GET", "/v2/models/{}/versions/{}", 2).ok());
  ASSERT_TRUE(r.Add("POST", "/v2/models/{}/infer", 3).ok());

  auto m = r.Match("GET", Segs("/v2/models/stats"));
  EXPECT_EQ(m.kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(m.route_index, 0);
  m = r.Match("GET", Segs("/v2/models/clip"));
  EXPECT_EQ(m.route_index, 1);
  EXPECT_EQ(m.params, std::vector<std::string>({"clip"}));
  m = r.Match("GET", Segs("/v2/models/clip/versions/7"));
  EXPECT_EQ(m.route_index, 2);
  EXPECT_EQ(m.params, std::vector<std::string>({"clip", "7"}));
  m = r.Match("POST", Segs("/v2/models/a%20b/infer?x=1"));
  EXPECT_EQ(m.route_index, 3);
  EXPECT_EQ(m.params, std::vector<std::string>({"a b"}));

  EXPECT_EQ(r.Match("GET", Segs("/v2/models/clip/infer")).kind, RouteMatch::Kind::kMethodNotAllowed);
  EXPECT_EQ(r.Match("GET", Segs("/v2/models")).kind, RouteMatch::Kind::kNotFound);
  EXPECT_EQ(r.Match("GET", Segs("/v2/models/")).kind, RouteMatch::Kind::kNotFound);  // empty parameter
  EXPECT_EQ(r.Match("GET", Segs("/v2/models/clip/")).kind, RouteMatch::Kind::kNotFound);
}

TEST(RouterTest, BadPatternsAreRefused) {
  Router r;
  EXPECT_FALSE(r.Add("GET", "v2", 0).ok());
  EXPECT_FALSE(r.Add("GET", "/v2//x", 0).ok());
  EXPECT_FALSE(r.Add("GET", "", 0).ok());
}

TEST(DecodePathTest, DecodesOnceAndKeepsEscapedSlashInItsSegment) {
  auto d = DecodePath("/a%2Fb/%2541?q=%ZZ");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->segments, std::vector<std::string>({"a/b", "%41"}));  // "%25" -> "%", not decoded again
  EXPECT_EQ(d->path, "/a/b/%41");
  d = DecodePath("/nope%FF");
  ASSERT_TRUE(d.ok());  // any byte is allowed; error bodies replace invalid UTF-8
  EXPECT_EQ(d->segments[0], std::string("nope\xFF"));
}

TEST(DecodePathTest, BadEscapesNulAndNonPathsAreInvalid) {
  for (const char* t : {"/a%", "/a%4", "/a%G1", "/a%00", "*", "http://x/y", ""}) {
    auto d = DecodePath(t);
    EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument) << t;
  }
  // A raw NUL, not only "%00" (found by tests/fuzz/router_fuzz.cpp).
  EXPECT_EQ(DecodePath(std::string_view("/v2/a\0b", 7)).status().code(), StatusCode::kInvalidArgument);
}

TEST(DecodePathTest, LongSegmentsAndManySegmentsAreOutOfRange) {
  PathLimits limits;
  limits.max_segment_bytes = 16;
  limits.max_segments = 4;
  EXPECT_TRUE(DecodePath("/v2/models/" + std::string(16, 'm'), limits).ok());
  auto d = DecodePath("/v2/models/" + std::string(17, 'm'), limits);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kOutOfRange);
  // Escapes count as the byte they decode to, and are caught as they grow.
  std::string escaped = "/";
  for (int i = 0; i < 17; ++i) escaped += "%41";
  EXPECT_EQ(DecodePath(escaped, limits).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(DecodePath("/a/b/c/d/e", limits).status().code(), StatusCode::kOutOfRange);
}

TEST(MultipartTest, BoundaryFromContentType) {
  EXPECT_EQ(*MultipartBoundary("multipart/form-data; boundary=abc"), "abc");
  EXPECT_EQ(*MultipartBoundary("Multipart/Form-Data;boundary=\"a b;c\""), "a b;c");
  EXPECT_FALSE(MultipartBoundary("multipart/form-data").ok());
  EXPECT_FALSE(MultipartBoundary("multipart/form-data; boundary=").ok());
  EXPECT_FALSE(MultipartBoundary("multipart/form-data; boundary=" + std::string(71, 'x')).ok());
  EXPECT_FALSE(MultipartBoundary("application/json").ok());
}

TEST(MultipartTest, PartsAreViewsOfTheBodyInOrder) {
  const std::string body =
      "preamble\r\n--XyZ\r\n"
      "Content-Disposition: form-data; name=\"files\"; filename=\"a.jpg\"\r\n"
      "Content-Type: image/jpeg\r\n\r\n"
      "\xff\xd8 bytes with \r\n-- inside\r\n"
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=files; filename=\"b.png\"\r\n\r\n"
      "PNG\r\n"
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"other\"\r\n\r\n"
      "\r\n"
      "--XyZ--\r\nepilogue";
  auto parts = ParseMultipart(body, "XyZ");
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  ASSERT_EQ(parts->size(), 3u);
  EXPECT_EQ((*parts)[0].name, "files");
  EXPECT_EQ((*parts)[0].filename, "a.jpg");
  EXPECT_EQ((*parts)[0].content_type, "image/jpeg");
  EXPECT_EQ((*parts)[0].content, "\xff\xd8 bytes with \r\n-- inside");
  EXPECT_EQ((*parts)[1].filename, "b.png");
  EXPECT_EQ((*parts)[1].content, "PNG");
  EXPECT_EQ((*parts)[2].name, "other");
  EXPECT_EQ((*parts)[2].content, "");
  // Views, not copies.
  EXPECT_GE((*parts)[1].content.data(), body.data());
  EXPECT_LT((*parts)[1].content.data(), body.data() + body.size());
}

TEST(MultipartTest, MalformedBodiesAreInvalid) {
  const std::string head = "--b\r\nContent-Disposition: form-data; name=\"files\"\r\n\r\n";
  EXPECT_FALSE(ParseMultipart("no boundary at all", "b").ok());
  EXPECT_FALSE(ParseMultipart(head + "content never closed", "b").ok());
  EXPECT_FALSE(ParseMultipart("--b\r\nContent-Disposition: form-data; name=\"x\"", "b").ok());  // headers not ended
  EXPECT_FALSE(ParseMultipart("--b\r\nno colon here\r\n\r\nx\r\n--b--", "b").ok());
  std::string many;
  for (int i = 0; i < 5; ++i) many += head + "x\r\n";
  many += "--b--";
  EXPECT_TRUE(ParseMultipart(many, "b", 5).ok());
  EXPECT_FALSE(ParseMultipart(many, "b", 4).ok());
}

std::string Compress(const std::string& data, int window_bits) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, window_bits, 9, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, data.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

TEST(ContentCodingTest, ParsesKnownCodings) {
  EXPECT_EQ(*ParseContentCoding(""), ContentCoding::kIdentity);
  EXPECT_EQ(*ParseContentCoding(" GZIP "), ContentCoding::kGzip);
  EXPECT_EQ(*ParseContentCoding("deflate"), ContentCoding::kDeflate);
  EXPECT_EQ(ParseContentCoding("br").status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(ParseContentCoding("gzip, gzip").status().code(), StatusCode::kUnimplemented);
}

TEST(ContentCodingTest, RoundTripsGzipZlibAndRawDeflate) {
  const std::string data = std::string(100000, 'a') + "tail";
  std::string out;
  ASSERT_TRUE(DecodeContent(ContentCoding::kGzip, Compress(data, 16 + MAX_WBITS), 1 << 20, out).ok());
  EXPECT_EQ(out, data);
  ASSERT_TRUE(DecodeContent(ContentCoding::kDeflate, Compress(data, MAX_WBITS), 1 << 20, out).ok());
  EXPECT_EQ(out, data);
  ASSERT_TRUE(DecodeContent(ContentCoding::kDeflate, Compress(data, -MAX_WBITS), 1 << 20, out).ok());
  EXPECT_EQ(out, data);
  // Exactly at the limit is accepted.
  ASSERT_TRUE(DecodeContent(ContentCoding::kGzip, Compress(data, 16 + MAX_WBITS), data.size(), out).ok());
}

TEST(ContentCodingTest, BombStopsAtTheLimitWithoutDecodingTheRest) {
  const std::string bomb = Compress(std::string(64u << 20, '\0'), 16 + MAX_WBITS);  // 64 MiB -> ~64 KB
  ASSERT_LT(bomb.size(), 100000u);
  std::string out;
  Status st = DecodeContent(ContentCoding::kGzip, bomb, 1 << 20, out);
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(out.capacity(), std::string().capacity());  // released on failure
  EXPECT_EQ(DecodeContent(ContentCoding::kGzip, Compress("x", 16 + MAX_WBITS), 0, out).code(),
            StatusCode::kResourceExhausted);
}

TEST(ContentCodingTest, CorruptTruncatedAndTrailingBytesAreInvalid) {
  const std::string good = Compress(std::string(5000, 'z'), 16 + MAX_WBITS);
  std::string out;
  EXPECT_EQ(DecodeContent(ContentCoding::kGzip, "not gzip at all", 1 << 20, out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeContent(ContentCoding::kGzip, good.substr(0, good.size() / 2), 1 << 20, out).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeContent(ContentCoding::kGzip, good + "junk", 1 << 20, out).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace clipserve::server
