#include "batching/pbtxt.h"

#include <cctype>

namespace clipserve::batching::pbtxt {
namespace {

struct Token {
  enum class Kind { kEnd, kIdentifier, kString, kNumber, kPunct };
  Kind kind = Kind::kEnd;
  std::string text;
  Position pos;
};

class Parser {
 public:
  Parser(std::string_view text, std::string_view file_name) : text_(text), file_(file_name) {}

  StatusOr<Message> ParseDocument() {
    RETURN_IF_ERROR(Advance());
    Message root;
    RETURN_IF_ERROR(ParseFields(&root, /*closing=*/'\0'));
    return root;
  }

 private:
  Status Error(Position pos, const std::string& message) const {
    return InvalidArgumentError(std::string(file_) + ":" + std::to_string(pos.line) + ":" +
                                std::to_string(pos.column) + ": " + message);
  }

  char Peek(std::size_t ahead = 0) const {
    return i_ + ahead < text_.size() ? text_[i_ + ahead] : '\0';
  }
  void Bump() {
    if (text_[i_] == '\n') {
      ++line_;
      col_ = 1;
    } else {
      ++col_;
    }
    ++i_;
  }

  void SkipSpaceAndComments() {
    while (i_ < text_.size()) {
      char c = Peek();
      if (c == '#') {
        while (i_ < text_.size() && Peek() != '\n') Bump();
      } else if (std::isspace(static_cast<unsigned char>(c))) {
        Bump();
      } else {
        break;
      }
    }
  }

  // Reads the next token into tok_.
  Status Advance() {
    SkipSpaceAndComments();
    tok_ = Token{};
    tok_.pos = {line_, col_};
    if (i_ >= text_.size()) return Status::Ok();
    char c = Peek();
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      tok_.kind = Token::Kind::kIdentifier;
      while (std::isalnum(static_cast<unsigned char>(Peek())) || Peek() == '_' || Peek() == '.') {
        tok_.text += Peek();
        Bump();
      }
      return Status::Ok();
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+' ||
        (c == '.' && std::isdigit(static_cast<unsigned char>(Peek(1))))) {
      tok_.kind = Token::Kind::kNumber;
      tok_.text += c;
      Bump();
      while (std::isalnum(static_cast<unsigned char>(Peek())) || Peek() == '.' ||
             ((Peek() == '-' || Peek() == '+') && (tok_.text.back() == 'e' || tok_.text.back() == 'E'))) {
        tok_.text += Peek();
        Bump();
      }
      if (tok_.text == "-" || tok_.text == "+") return Error(tok_.pos, "expected a number after '" + tok_.text + "'");
      return Status::Ok();
    }
    if (c == '"' || c == '\'') return ReadString(c);
    if (c == '{' || c == '}' || c == '[' || c == ']' || c == ':' || c == ',' || c == ';' ||
        c == '<' || c == '>') {
      tok_.kind = Token::Kind::kPunct;
      tok_.text = std::string(1, c);
      Bump();
      return Status::Ok();
    }
    return Error(tok_.pos, std::string("unexpected character '") + c + "'");
  }

  Status ReadString(char quote) {
    tok_.kind = Token::Kind::kString;
    Bump();
    while (true) {
      if (i_ >= text_.size() || Peek() == '\n') return Error(tok_.pos, "unterminated string");
      char c = Peek();
      Bump();
      if (c == quote) break;
      if (c != '\\') {
        tok_.text += c;
        continue;
      }
      if (i_ >= text_.size()) return Error(tok_.pos, "unterminated string");
      char e = Peek();
      Bump();
      switch (e) {
        case 'n': tok_.text += '\n'; break;
        case 't': tok_.text += '\t'; break;
        case 'r': tok_.text += '\r'; break;
        case '\\': tok_.text += '\\'; break;
        case '"': tok_.text += '"'; break;
        case '\'': tok_.text += '\''; break;
        default: return Error({line_, col_ - 1}, std::string("unsupported escape '\\") + e + "'");
      }
    }
    // Adjacent string literals concatenate, as in protobuf text format.
    SkipSpaceAndComments();
    if (Peek() == '"' || Peek() == '\'') {
      Token first = tok_;
      RETURN_IF_ERROR(ReadString(Peek()));
      first.text += tok_.text;
      tok_ = first;
    }
    return Status::Ok();
  }

  bool IsPunct(char c) const { return tok_.kind == Token::Kind::kPunct && tok_.text[0] == c; }

  std::string Describe() const {
    switch (tok_.kind) {
      case Token::Kind::kEnd: return "end of file";
      case Token::Kind::kString: return "string \"" + tok_.text + "\"";
      default: return "'" + tok_.text + "'";
    }
  }

  Status ParseFields(Message* msg, char closing) {
    while (true) {
      if (tok_.kind == Token::Kind::kEnd) {
        if (closing == '\0') return Status::Ok();
        return Error(tok_.pos, std::string("expected '") + closing + "' before end of file");
      }
      if (closing != '\0' && IsPunct(closing)) {
        RETURN_IF_ERROR(Advance());
        return Status::Ok();
      }
      if (tok_.kind != Token::Kind::kIdentifier) {
        return Error(tok_.pos, "expected a field name, got " + Describe());
      }
      Field field;
      field.name = tok_.text;
      field.pos = tok_.pos;
      RETURN_IF_ERROR(Advance());
      bool had_colon = false;
      if (IsPunct(':')) {
        had_colon = true;
        RETURN_IF_ERROR(Advance());
      }
      if (IsPunct('[')) {
        RETURN_IF_ERROR(Advance());
        while (!IsPunct(']')) {
          Field element;
          element.name = field.name;
          element.pos = tok_.pos;
          RETURN_IF_ERROR(ParseValue(&element));
          msg->fields.push_back(std::move(element));
          if (IsPunct(',')) {
            RETURN_IF_ERROR(Advance());
          } else if (!IsPunct(']')) {
            return Error(tok_.pos, "expected ',' or ']' in the list '" + field.name + "', got " + Describe());
          }
        }
        RETURN_IF_ERROR(Advance());
      } else {
        if (!had_colon && !IsPunct('{') && !IsPunct('<')) {
          return Error(tok_.pos, "expected ':' or '{' after '" + field.name + "', got " + Describe());
        }
        RETURN_IF_ERROR(ParseValue(&field));
        msg->fields.push_back(std::move(field));
      }
      if (IsPunct(',') || IsPunct(';')) RETURN_IF_ERROR(Advance());
    }
  }

  Status ParseValue(Field* field) {
    if (IsPunct('{') || IsPunct('<')) {
      char closing = IsPunct('{') ? '}' : '>';
      field->is_message = true;
      RETURN_IF_ERROR(Advance());
      return ParseFields(&field->message, closing);
    }
    switch (tok_.kind) {
      case Token::Kind::kString: field->scalar.kind = Scalar::Kind::kString; break;
      case Token::Kind::kNumber: field->scalar.kind = Scalar::Kind::kNumber; break;
      case Token::Kind::kIdentifier: field->scalar.kind = Scalar::Kind::kIdentifier; break;
      default: return Error(tok_.pos, "expected a value for '" + field->name + "', got " + Describe());
    }
    field->scalar.text = tok_.text;
    field->scalar.pos = tok_.pos;
    return Advance();
  }

  std::string_view text_;
  std::string_view file_;
  std::size_t i_ = 0;
  int line_ = 1;
  int col_ = 1;
  Token tok_;
};

}  // namespace

StatusOr<Message> Parse(std::string_view text, std::string_view file_name) {
  return Parser(text, file_name).ParseDocument();
}

}  // namespace clipserve::batching::pbtxt
