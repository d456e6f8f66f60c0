// Safetensors: own header parser + mmap; tensors are views into the mapping.
#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

namespace clipserve::model {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; big-endian hosts need byte swapping");

// A read-only view of a whole file, unmapped when the last owner goes.
class Mapping {
 public:
  Mapping(void* data, std::size_t size_bytes) : data_(data), size_bytes_(size_bytes) {}
  ~Mapping() {
    if (data_ != nullptr) munmap(data_, size_bytes_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  const std::uint8_t* bytes() const { return static_cast<const std::uint8_t*>(data_); }

  // Drops the pages lying entirely inside [offset, offset + size_bytes) from
  // memory. Called when the only tensor over those bytes dies: a consumer
  // that repacks weights (and frees the originals) then does not pay for
  // both copies in RSS. Tensors never overlap, so no one else uses them.
  void Release(std::size_t offset, std::size_t size_bytes) const {
    static const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const std::size_t first = (offset + page - 1) / page * page;
    const std::size_t last = (offset + size_bytes) / page * page;
    if (last > first) madvise(static_cast<std::uint8_t*>(data_) + first, last - first, MADV_DONTNEED);
  }

 private:
  void* data_;
  std::size_t size_bytes_;
};

struct DtypeInfo {
  const char* name;
  std::size_t item_bytes;
  std::optional<torch::ScalarType> loadable;  // dtypes the weight readers accept
};

// Every dtype the safetensors spec defines; only three are weight dtypes here.
constexpr DtypeInfo kDtypes[] = {
    {"F32", 4, torch::kFloat32}, {"F16", 2, torch::kFloat16}, {"BF16", 2, torch::kBFloat16},
    {"F64", 8, std::nullopt},    {"I64", 8, std::nullopt},    {"U64", 8, std::nullopt},
    {"I32", 4, std::nullopt},    {"U32", 4, std::nullopt},    {"I16", 2, std::nullopt},
    {"U16", 2, std::nullopt},    {"I8", 1, std::nullopt},     {"U8", 1, std::nullopt},
    {"BOOL", 1, std::nullopt},   {"F8_E4M3", 1, std::nullopt}, {"F8_E5M2", 1, std::nullopt},
};

const DtypeInfo* FindDtype(const std::string& name) {
  for (const DtypeInfo& d : kDtypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

struct Entry {
  std::string name;
  const DtypeInfo* dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin;
  std::uint64_t end;
};

std::optional<std::uint64_t> AsUnsigned(const nlohmann::json& v) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return v.get<std::uint64_t>();
  return std::nullopt;
}

StatusOr<Entry> ParseEntry(const std::string& name, const nlohmann::json& v,
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
  Entry e;
  e.name = name;
  e.dtype = FindDtype(dtype_it->get<std::string>());
  if (e.dtype == nullptr) return bad("unknown dtype " + dtype_it->dump());
  // numel * item_bytes, refusing anything that could overflow 64 bits.
  std::uint64_t nbytes = e.dtype->item_bytes;
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

struct FileCloser {
  int fd;
  ~FileCloser() {
    if (fd >= 0) close(fd);
  }
};

StatusOr<RawTensors> ReadImpl(const std::string& path) {
  FileCloser file{open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) return NotFoundError("cannot open: " + std::string(std::strerror(errno)));
  struct stat st {};
  if (fstat(file.fd, &st) != 0) return InternalError("fstat failed: " + std::string(std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) return InvalidArgumentError("not a regular file");
  const auto file_bytes = static_cast<std::uint64_t>(st.st_size);
  if (file_bytes < 8) return InvalidArgumentError("too small for a safetensors file (" +
                                                  std::to_string(file_bytes) + " bytes)");

  void* addr = mmap(nullptr, file_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, file.fd, 0);
  if (addr == MAP_FAILED) return InternalError("mmap failed: " + std::string(std::strerror(errno)));
  // Private + writable: copy-on-write, so a consumer that writes into a
  // weight can never touch the file, and the pages stay shared until then.
  auto mapping = std::make_shared<Mapping>(addr, file_bytes);
  const std::uint8_t* base = mapping->bytes();

  std::uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | base[i];
  if (header_bytes > file_bytes - 8) {
    return InvalidArgumentError("header length " + std::to_string(header_bytes) +
                                " exceeds the file size " + std::to_string(file_bytes) +
                                " (not a safetensors file, or truncated)");
  }
  if (header_bytes > kMaxSafetensorsHeaderBytes) {
    return InvalidArgumentError("header length " + std::to_string(header_bytes) +
                                " is implausibly large");
  }
  const char* header = reinterpret_cast<const char*>(base + 8);
  nlohmann::json root = nlohmann::json::parse(header, header + header_bytes, nullptr,
                                              /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) {
    return InvalidArgumentError("header is not a JSON object");
  }
  const std::uint64_t data_offset = 8 + header_bytes;
  const std::uint64_t data_bytes = file_bytes - data_offset;

  std::vector<Entry> entries;
  for (const auto& [name, value] : root.items()) {
    if (name == "__metadata__") continue;
    ASSIGN_OR_RETURN(Entry e, ParseEntry(name, value, data_bytes));
    entries.push_back(std::move(e));
  }
  std::vector<const Entry*> by_offset;
  for (const Entry& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      return InvalidArgumentError("tensors " + by_offset[i - 1]->name + " and " +
                                  by_offset[i]->name + " overlap in the data region");
    }
  }

  RawTensors out;
  for (const Entry& e : entries) {
    if (!e.dtype->loadable) {
      out.unsupported_dtypes.emplace(e.name, e.dtype->name);
      continue;
    }
    const auto options = torch::TensorOptions().dtype(*e.dtype->loadable);
    std::uint8_t* data = const_cast<std::uint8_t*>(base + data_offset + e.begin);
    if (reinterpret_cast<std::uintptr_t>(data) % e.dtype->item_bytes != 0) {
      torch::Tensor copy = torch::empty(e.shape, options);
      if (e.end > e.begin) std::memcpy(copy.data_ptr(), data, e.end - e.begin);
      out.tensors.emplace(e.name, std::move(copy));
      continue;
    }
    const std::size_t offset = data_offset + e.begin, size_bytes = e.end - e.begin;
    out.tensors.emplace(e.name, torch::from_blob(data, e.shape,
                                                 [mapping, offset, size_bytes](void*) {
                                                   mapping->Release(offset, size_bytes);
                                                 },
                                                 options));
  }
  return out;
}

}  // namespace

StatusOr<RawTensors> ReadSafetensors(const std::string& path) {
  StatusOr<RawTensors> r = ReadImpl(path);
  if (!r.ok()) return r.status().WithPrefix("safetensors file " + path);
  return r;
}

}  // namespace clipserve::model
