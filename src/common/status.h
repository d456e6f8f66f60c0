// Status and StatusOr<T>: errors between modules are values.
//
// Codes follow the canonical set (absl / gRPC). Exactly one function per API
// maps a code to an HTTP status (src/server); nothing below the server layer
// knows HTTP.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace clipserve {

enum class StatusCode {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "INVALID_ARGUMENT: message" (or "OK").
  std::string ToString() const;

  // Returns a copy whose message is "prefix: message" (no-op when OK).
  Status WithPrefix(std::string_view prefix) const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgumentError(std::string msg) { return {StatusCode::kInvalidArgument, std::move(msg)}; }
inline Status NotFoundError(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
inline Status InternalError(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }
inline Status UnavailableError(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
inline Status UnimplementedError(std::string msg) { return {StatusCode::kUnimplemented, std::move(msg)}; }
inline Status ResourceExhaustedError(std::string msg) { return {StatusCode::kResourceExhausted, std::move(msg)}; }
inline Status FailedPreconditionError(std::string msg) { return {StatusCode::kFailedPrecondition, std::move(msg)}; }
inline Status DeadlineExceededError(std::string msg) { return {StatusCode::kDeadlineExceeded, std::move(msg)}; }
inline Status OutOfRangeError(std::string msg) { return {StatusCode::kOutOfRange, std::move(msg)}; }
inline Status DataLossError(std::string msg) { return {StatusCode::kDataLoss, std::move(msg)}; }
inline Status CancelledError(std::string msg) { return {StatusCode::kCancelled, std::move(msg)}; }

// Holds either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(const T& value) : v_(value) {}                 // NOLINT(google-explicit-constructor)
  StatusOr(T&& value) : v_(std::move(value)) {}            // NOLINT(google-explicit-constructor)
  StatusOr(Status status) : v_(std::move(status)) {        // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok() && "StatusOr built from an OK status");
    if (std::get<Status>(v_).ok()) v_ = Status(StatusCode::kInternal, "StatusOr built from OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<Status, T> v_;
};

}  // namespace clipserve

#define CLIPSERVE_CONCAT_INNER_(a, b) a##b
#define CLIPSERVE_CONCAT_(a, b) CLIPSERVE_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function when it is not OK.
#define RETURN_IF_ERROR(expr)                              \
  do {                                                     \
    ::clipserve::Status _st = (expr);                      \
    if (!_st.ok()) return _st;                             \
  } while (0)

// ASSIGN_OR_RETURN(auto x, MakeX()); declares x or returns the error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(CLIPSERVE_CONCAT_(_status_or_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(tmp).value()
