// A minimal protobuf text-format reader: text -> a tree of fields, with line
// and column for every field and value. Internal to the batching layer
// (triton_config.cpp maps the tree onto TritonModelConfig).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace clipserve::batching::pbtxt {

struct Position {
  int line = 0;  // 1-based
  int column = 0;
};

struct Scalar {
  enum class Kind { kString, kNumber, kIdentifier };
  Kind kind = Kind::kIdentifier;
  std::string text;  // strings unescaped; numbers and identifiers as written
  Position pos;
};

struct Field;
struct Message {
  std::vector<Field> fields;  // in file order; a list `f: [a, b]` becomes two fields `f`
};

struct Field {
  std::string name;
  Position pos;
  bool is_message = false;
  Scalar scalar;    // when !is_message
  Message message;  // when is_message
};

// Parses a whole text-format document. Errors: InvalidArgument
// "<file_name>:LINE:COL: message".
StatusOr<Message> Parse(std::string_view text, std::string_view file_name);

}  // namespace clipserve::batching::pbtxt
