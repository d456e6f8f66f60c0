#include "server/kserve_codec.h"

#include <simdjson.h>

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <memory>

#include "common/json_string.h"

namespace clipserve::server::kserve {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

std::string JsonParseError(simdjson::error_code code) {
  return std::string("failed to parse the request JSON buffer: ") + simdjson::error_message(code);
}

// Triton accepts JSON tensor data nested to any depth or flat; both flatten
// row-major. Counts elements for any type; stores FP32 and BYTES.
Status FlattenData(element e, InputTensor& t, bool want_fp32, bool want_bytes, int depth) {
  if (depth > 64) return InvalidArgumentError("tensor data for input '" + t.name + "' is nested too deeply");
  switch (e.type()) {
    case element_type::ARRAY: {
      simdjson::dom::array array;
      if (e.get_array().get(array)) return InvalidArgumentError("unable to parse 'data' of input '" + t.name + "'");
      for (element child : array) RETURN_IF_ERROR(FlattenData(child, t, want_fp32, want_bytes, depth + 1));
      return Status::Ok();
    }
    case element_type::DOUBLE:
    case element_type::INT64:
    case element_type::UINT64: {
      ++t.json_elements;
      if (want_fp32) {
        double v = 0;
        if (e.type() == element_type::DOUBLE) v = e.get_double().value_unsafe();
        else if (e.type() == element_type::INT64) v = static_cast<double>(e.get_int64().value_unsafe());
        else v = static_cast<double>(e.get_uint64().value_unsafe());
        t.fp32.push_back(static_cast<float>(v));
      } else if (want_bytes) {
        return InvalidArgumentError("unable to parse 'data': expected string elements for BYTES input '" + t.name + "'");
      }
      return Status::Ok();
    }
    case element_type::STRING: {
      ++t.json_elements;
      if (want_bytes) {
        std::string_view s = e.get_string().value_unsafe();
        t.bytes.emplace_back(s);
      } else if (want_fp32) {
        return InvalidArgumentError("unable to parse 'data': expected number elements for FP32 input '" + t.name + "'");
      }
      return Status::Ok();
    }
    case element_type::BOOL:
      ++t.json_elements;
      if (want_fp32 || want_bytes) {
        return InvalidArgumentError("unable to parse 'data': unexpected boolean in data of input '" + t.name + "'");
      }
      return Status::Ok();
    default:
      return InvalidArgumentError("unable to parse 'data': unexpected value in data of input '" + t.name + "'");
  }
}

// Reads an int64 parameter that may be sent as any JSON integer.
StatusOr<std::int64_t> IntParam(element v, std::string_view what) {
  if (v.type() == element_type::INT64) return v.get_int64().value_unsafe();
  if (v.type() == element_type::UINT64) {
    const auto u = v.get_uint64().value_unsafe();
    if (u > static_cast<std::uint64_t>(INT64_MAX)) return InvalidArgumentError(std::string(what) + " is out of range");
    return static_cast<std::int64_t>(u);
  }
  return InvalidArgumentError("unable to parse '" + std::string(what) + "': expected an integer");
}

}  // namespace

std::uint64_t ElementCount(std::span<const std::int64_t> shape) {
  std::uint64_t n = 1;
  for (auto d : shape) {
    if (d < 0) return 0;
    n *= static_cast<std::uint64_t>(d);
  }
  return n;
}

std::string ShapeString(std::span<const std::int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

StatusOr<std::uint64_t> ParseHeaderLength(std::string_view value, std::uint64_t body_bytes) {
  std::uint64_t n = 0;
  const auto* end = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(value.data(), end, n);
  if (ec != std::errc() || ptr != end || value.empty()) {
    return InvalidArgumentError("Unable to parse Inference-Header-Content-Length: '" + std::string(value) +
                                "' is not a non-negative integer");
  }
  if (n > body_bytes) {
    return InvalidArgumentError("Inference-Header-Content-Length " + std::to_string(n) +
                                " exceeds the request body size " + std::to_string(body_bytes));
  }
  return n;
}

StatusOr<InferRequest> ParseInferRequest(std::string_view body, std::optional<std::uint64_t> json_header_bytes) {
  const std::uint64_t header_len = json_header_bytes.value_or(body.size());
  if (header_len > body.size()) {
    return InvalidArgumentError("Inference-Header-Content-Length exceeds the request body size");
  }
  const std::string_view json = body.substr(0, header_len);
  if (json.empty()) return InvalidArgumentError(JsonParseError(simdjson::EMPTY));

  // Large JSON-tensor bodies get their own parser so no worker keeps a
  // multi-megabyte buffer alive; small headers reuse a per-thread one.
  thread_local simdjson::dom::parser small_parser;
  std::unique_ptr<simdjson::dom::parser> big_parser;
  simdjson::dom::parser* parser = &small_parser;
  if (json.size() > (1u << 20)) {
    big_parser = std::make_unique<simdjson::dom::parser>();
    parser = big_parser.get();
  }
  element root;
  if (auto err = parser->parse(json.data(), json.size()).get(root); err) {
    return InvalidArgumentError(JsonParseError(err));
  }
  object obj;
  if (root.get_object().get(obj)) return InvalidArgumentError("failed to parse the request JSON buffer: expected a JSON object");

  InferRequest req;
  if (element id; !obj["id"].get(id)) {
    std::string_view s;
    if (id.get_string().get(s)) return InvalidArgumentError("unable to parse 'id': expected a string");
    req.id = std::string(s);
  }
  if (element params; !obj["parameters"].get(params)) {
    object p;
    if (params.get_object().get(p)) return InvalidArgumentError("unable to parse 'parameters': expected an object");
    if (element b; !p["binary_data_output"].get(b)) {
      bool v = false;
      if (b.get_bool().get(v)) return InvalidArgumentError("unable to parse 'binary_data_output': expected a boolean");
      req.binary_data_output = v;
    }
  }

  element inputs_el;
  if (obj["inputs"].get(inputs_el)) return InvalidArgumentError("missing 'inputs' in the inference request");
  simdjson::dom::array inputs;
  if (inputs_el.get_array().get(inputs)) return InvalidArgumentError("unable to parse 'inputs': expected an array");

  std::uint64_t binary_offset = header_len;
  for (element in_el : inputs) {
    object in;
    if (in_el.get_object().get(in)) return InvalidArgumentError("unable to parse 'inputs': expected objects");
    InputTensor t;
    std::string_view s;
    if (in["name"].get_string().get(s)) return InvalidArgumentError("input must have a string 'name'");
    t.name = std::string(s);
    if (in["datatype"].get_string().get(s)) {
      return InvalidArgumentError("input '" + t.name + "' must have a string 'datatype'");
    }
    t.datatype = std::string(s);
    simdjson::dom::array shape;
    if (in["shape"].get_array().get(shape)) {
      return InvalidArgumentError("input '" + t.name + "' must have an integer array 'shape'");
    }
    for (element d : shape) {
      auto dim = IntParam(d, "shape");
      if (!dim.ok()) return InvalidArgumentError("unable to parse 'shape' of input '" + t.name + "': expected integers");
      t.shape.push_back(*dim);
    }

    std::optional<std::int64_t> binary_size;
    if (element params; !in["parameters"].get(params)) {
      object p;
      if (params.get_object().get(p)) return InvalidArgumentError("unable to parse 'parameters' of input '" + t.name + "'");
      if (element b; !p["binary_data_size"].get(b)) {
        ASSIGN_OR_RETURN(auto n, IntParam(b, "binary_data_size"));
        if (n < 0) return InvalidArgumentError("binary_data_size of input '" + t.name + "' must be non-negative");
        binary_size = n;
      }
    }

    element data;
    const bool has_data = !in["data"].get(data);
    if (binary_size) {
      if (!json_header_bytes) {
        return InvalidArgumentError("input '" + t.name +
                                    "' has binary_data_size but the request has no Inference-Header-Content-Length header");
      }
      if (has_data) {
        return InvalidArgumentError("input '" + t.name + "' has both 'data' and binary_data_size");
      }
      const auto size = static_cast<std::uint64_t>(*binary_size);
      if (binary_offset + size > body.size()) {
        return InvalidArgumentError("unexpected end of binary data for input '" + t.name + "': binary_data_size " +
                                    std::to_string(size) + " but only " + std::to_string(body.size() - binary_offset) +
                                    " bytes remain in the body");
      }
      t.binary = true;
      t.raw = body.substr(binary_offset, size);
      binary_offset += size;
    } else {
      if (!has_data) return InvalidArgumentError("input '" + t.name + "' has neither 'data' nor binary_data_size");
      RETURN_IF_ERROR(FlattenData(data, t, t.datatype == "FP32", t.datatype == "BYTES", 0));
    }
    req.inputs.push_back(std::move(t));
  }
  if (binary_offset != body.size()) {
    return InvalidArgumentError("unexpected additional input data: " + std::to_string(body.size() - binary_offset) +
                                " bytes after the last binary input");
  }

  if (element outs_el; !obj["outputs"].get(outs_el)) {
    simdjson::dom::array outs;
    if (outs_el.get_array().get(outs)) return InvalidArgumentError("unable to parse 'outputs': expected an array");
    for (element o_el : outs) {
      object o;
      if (o_el.get_object().get(o)) return InvalidArgumentError("unable to parse 'outputs': expected objects");
      RequestedOutput out;
      std::string_view s;
      if (o["name"].get_string().get(s)) return InvalidArgumentError("output must have a string 'name'");
      out.name = std::string(s);
      if (element params; !o["parameters"].get(params)) {
        object p;
        if (params.get_object().get(p)) return InvalidArgumentError("unable to parse 'parameters' of output '" + out.name + "'");
        if (element b; !p["binary_data"].get(b)) {
          bool v = false;
          if (b.get_bool().get(v)) return InvalidArgumentError("unable to parse 'binary_data' of output '" + out.name + "'");
          out.binary = v;
        }
        if (element c; !p["classification"].get(c)) {
          return InvalidArgumentError("output '" + out.name + "': the classification extension is not supported");
        }
      }
      req.outputs.push_back(std::move(out));
    }
  }
  return req;
}

StatusOr<std::vector<std::string_view>> SplitBinaryBytes(std::string_view raw, std::string_view input_name) {
  std::vector<std::string_view> elements;
  size_t pos = 0;
  while (pos < raw.size()) {
    if (raw.size() - pos < 4) {
      return InvalidArgumentError("incomplete length prefix for an element of BYTES input '" + std::string(input_name) + "'");
    }
    const auto* p = reinterpret_cast<const unsigned char*>(raw.data() + pos);
    const std::uint32_t len = std::uint32_t(p[0]) | (std::uint32_t(p[1]) << 8) | (std::uint32_t(p[2]) << 16) |
                              (std::uint32_t(p[3]) << 24);
    pos += 4;
    if (len > raw.size() - pos) {
      return InvalidArgumentError("element " + std::to_string(elements.size()) + " of BYTES input '" +
                                  std::string(input_name) + "' claims " + std::to_string(len) + " bytes but only " +
                                  std::to_string(raw.size() - pos) + " remain");
    }
    elements.push_back(raw.substr(pos, len));
    pos += len;
  }
  return elements;
}

void AppendJsonFloats(std::string& out, std::span<const float> values) {
  out.reserve(out.size() + values.size() * 14 + 2);
  out += '[';
  char buf[32];
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    const float v = values[i];
    if (!std::isfinite(v)) {
      out += "null";
      continue;
    }
    auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, ec == std::errc() ? ptr : buf);
  }
  out += ']';
}

EncodedResponse EncodeInferResponse(std::string_view model_name, std::string_view model_version,
                                    const std::optional<std::string>& id, std::span<const OutputTensor> outputs,
                                    bool append_binary) {
  EncodedResponse r;
  std::string& s = r.body;
  s += "{";
  if (id) {
    s += "\"id\":";
    AppendJsonQuoted(s, *id);
    s += ",";
  }
  s += "\"model_name\":";
  AppendJsonQuoted(s, model_name);
  s += ",\"model_version\":";
  AppendJsonQuoted(s, model_version);
  s += ",\"outputs\":[";
  bool any_binary = false;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const auto& o = outputs[i];
    if (i) s += ",";
    s += "{\"name\":";
    AppendJsonQuoted(s, o.name);
    s += ",\"datatype\":";
    AppendJsonQuoted(s, o.datatype);
    s += ",\"shape\":" + ShapeString(o.shape);
    if (o.binary) {
      any_binary = true;
      s += ",\"parameters\":{\"binary_data_size\":" + std::to_string(o.data.size_bytes()) + "}}";
    } else {
      s += ",\"data\":";
      AppendJsonFloats(s, o.data);
      s += "}";
    }
  }
  s += "]}";
  if (any_binary) {
    r.json_header_bytes = s.size();
    if (!append_binary) return r;
    for (const auto& o : outputs) {
      if (!o.binary) continue;
      // The wire format is little-endian; so is every host we build for.
      static_assert(std::endian::native == std::endian::little);
      s.append(reinterpret_cast<const char*>(o.data.data()), o.data.size_bytes());
    }
  }
  return r;
}

}  // namespace clipserve::server::kserve
