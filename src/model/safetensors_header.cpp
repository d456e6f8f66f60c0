// Safetensors header: the JSON and every offset checked before any tensor exists.
#include "model/safetensors_header.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <optional>

namespace clipserve::model {
namespace {

struct DtypeSize {
  const char* name;
  std::size_t item_bytes;
};

// Every dtype the safetensors spec defines.
constexpr DtypeSize kDtypes[] = {
    {"F32", 4},  {"F16", 2},  {"BF16", 2}, {"F64", 8},  {"I64", 8},  {"U64", 8},     {"I32", 4},     {"U32", 4},
    {"I16", 2},  {"U16", 2},  {"I8", 1},   {"U8", 1},   {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
};

const DtypeSize* FindDtype(const std::string& name) {
  for (const DtypeSize& d : kDtypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

std::optional<std::uint64_t> AsUnsigned(const nlohmann::json& v) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return v.get<std::uint64_t>();
  return std::nullopt;
}

StatusOr<SafetensorsEntry> ParseEntry(const std::string& name, const nlohmann::json& v,
                                      std::uint64_t data_bytes) {
  auto bad = [&](const std::string& why) { return InvalidArgumentError("tensor " + name + ": " + why); };
  if (!v.is_object()) return bad("header entry is not an object");
  auto dtype_it = v.find("dtype");
  auto shape_it = v.find("shape");
  auto offsets_it = v.find("data_offsets");
  if (dtype_it == v.end() || !dtype_it->is_string()) return bad("missing or non-string \"dtype\"");
  if (shape_it == v.end() || !shape_it->is_array()) return bad("missing or non-array \"shape\"");
  if (offsets_it == v.end() || !offsets_it->is_array() || offsets_it->size() != 2) {
    return bad("\"data_offsets\" must be [begin, end]");
  }
  SafetensorsEntry e;
  e.name = name;
  const DtypeSize* dtype = FindDtype(dtype_it->get<std::string>());
  if (dtype == nullptr) return bad("unknown dtype " + dtype_it->dump());
  e.dtype = dtype->name;
  e.item_bytes = dtype->item_bytes;
  // numel * item_bytes, refusing anything that could overflow 64 bits.
  std::uint64_t nbytes = dtype->item_bytes;
  for (const auto& dim : *shape_it) {
    std::optional<std::uint64_t> d = AsUnsigned(dim);
    if (!d || *d > (1ull << 40)) return bad("bad shape " + shape_it->dump());
    e.shape.push_back(static_cast<std::int64_t>(*d));
    if (*d != 0 && nbytes > std::numeric_limits<std::uint64_t>::max() / *d) {
      return bad("shape " + shape_it->dump() + " is too large");
    }
    nbytes *= *d;
  }
  std::optional<std::uint64_t> begin = AsUnsigned((*offsets_it)[0]);
  std::optional<std::uint64_t> end = AsUnsigned((*offsets_it)[1]);
  if (!begin || !end || *begin > *end) return bad("bad data_offsets " + offsets_it->dump());
  if (*end > data_bytes) {
    return bad("data_offsets " + offsets_it->dump() + " run past the end of the data (" +
               std::to_string(data_bytes) + " bytes; truncated file?)");
  }
  if (*end - *begin != nbytes) {
    return bad("data_offsets " + offsets_it->dump() + " span " + std::to_string(*end - *begin) +
               " bytes, but dtype and shape need " + std::to_string(nbytes));
  }
  e.begin = *begin;
  e.end = *end;
  return e;
}

}  // namespace

StatusOr<SafetensorsHeader> ParseSafetensorsHeader(std::span<const std::uint8_t> file) {
  const std::uint64_t file_bytes = file.size();
  if (file_bytes < 8) {
    return InvalidArgumentError("too small for a safetensors file (" + std::to_string(file_bytes) + " bytes)");
  }
  std::uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | file[i];
  if (header_bytes > file_bytes - 8) {
    return InvalidArgumentError("header length " + std::to_string(header_bytes) +
                                " exceeds the file size " + std::to_string(file_bytes) +
                                " (not a safetensors file, or truncated)");
  }
  if (header_bytes > kMaxSafetensorsHeaderBytes) {
    return InvalidArgumentError("header length " + std::to_string(header_bytes) + " is implausibly large");
  }
  const char* header = reinterpret_cast<const char*>(file.data() + 8);
  nlohmann::json root = nlohmann::json::parse(header, header + header_bytes, nullptr,
                                              /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) {
    return InvalidArgumentError("header is not a JSON object");
  }
  SafetensorsHeader out;
  out.data_offset = 8 + header_bytes;
  const std::uint64_t data_bytes = file_bytes - out.data_offset;
  for (const auto& [name, value] : root.items()) {
    if (name == "__metadata__") continue;
    ASSIGN_OR_RETURN(SafetensorsEntry e, ParseEntry(name, value, data_bytes));
    out.entries.push_back(std::move(e));
  }
  std::vector<const SafetensorsEntry*> by_offset;
  for (const SafetensorsEntry& e : out.entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const SafetensorsEntry* a, const SafetensorsEntry* b) { return a->begin < b->begin; });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      return InvalidArgumentError("tensors " + by_offset[i - 1]->name + " and " + by_offset[i]->name +
                                  " overlap in the data region");
    }
  }
  return out;
}

}  // namespace clipserve::model
