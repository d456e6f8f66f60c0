// Safetensors: own header parser + mmap; tensors are views into the mapping.
#include "model/safetensors.h"
#include "model/safetensors_header.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <span>

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

// The dtypes the weight readers load; the header parser knows every other.
std::optional<torch::ScalarType> LoadableDtype(const std::string& name) {
  if (name == "F32") return torch::kFloat32;
  if (name == "F16") return torch::kFloat16;
  if (name == "BF16") return torch::kBFloat16;
  return std::nullopt;
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

  ASSIGN_OR_RETURN(SafetensorsHeader header, ParseSafetensorsHeader(std::span<const std::uint8_t>(base, file_bytes)));
  const std::uint64_t data_offset = header.data_offset;

  RawTensors out;
  for (const SafetensorsEntry& e : header.entries) {
    const std::optional<torch::ScalarType> dtype = LoadableDtype(e.dtype);
    if (!dtype) {
      out.unsupported_dtypes.emplace(e.name, e.dtype);
      continue;
    }
    const auto options = torch::TensorOptions().dtype(*dtype);
    std::uint8_t* data = const_cast<std::uint8_t*>(base + data_offset + e.begin);
    if (reinterpret_cast<std::uintptr_t>(data) % e.item_bytes != 0) {
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
