// torch.save's data.pkl: a restricted pickle interpreter (no LibTorch).
#include "model/pickle.h"

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string_view>

namespace clipserve::model {
namespace {

// ---- pickle values --------------------------------------------------------

struct Obj;
using Ref = std::shared_ptr<Obj>;

struct Obj {
  enum Kind { kNone, kBool, kInt, kFloat, kString, kTuple, kList, kDict, kTensor, kGlobal, kOpaque, kMark };
  Kind kind = kNone;
  std::int64_t i = 0;  // bool, int
  double f = 0;
  std::string s;                           // string/bytes, or "module.name" of a global
  std::vector<Ref> items;                  // tuple, list
  std::vector<std::pair<Ref, Ref>> dict;   // insertion-ordered
  PickledTensor tensor;  // kTensor: a storage (offset 0, 1-D) or a view of one
};

struct PickleError {
  std::string message;
};

[[noreturn]] void Fail(std::string message) { throw PickleError{std::move(message)}; }

// Bytes per element of the storage types torch.save writes; 0: unsupported.
std::size_t StorageItemBytes(const std::string& global) {
  static const std::pair<const char*, std::size_t> kTable[] = {
      {"torch.FloatStorage", 4}, {"torch.HalfStorage", 2}, {"torch.BFloat16Storage", 2},
      {"torch.DoubleStorage", 8}, {"torch.LongStorage", 8}, {"torch.IntStorage", 4},
      {"torch.ShortStorage", 2}, {"torch.CharStorage", 1}, {"torch.ByteStorage", 1},
      {"torch.BoolStorage", 1},
  };
  for (const auto& [name, bytes] : kTable) {
    if (global == name) return bytes;
  }
  return 0;
}

std::vector<std::int64_t> IntTuple(const Ref& v, const char* what) {
  if (v->kind != Obj::kTuple && v->kind != Obj::kList) Fail(std::string(what) + " is not a tuple");
  std::vector<std::int64_t> out;
  for (const Ref& item : v->items) {
    if (item->kind != Obj::kInt) Fail(std::string(what) + " holds a non-integer");
    out.push_back(item->i);
  }
  return out;
}

// ---- the interpreter -------------------------------------------------------

class Unpickler {
 public:
  Unpickler(std::span<const char> bytes, const RecordSize& record_size)
      : bytes_(bytes), record_size_(record_size) {}
  // Breaks every reference cycle (a list appended to itself, a dict that
  // holds itself), which shared_ptr alone would leak. Values returned by
  // Run lose their items and entries here: read them before.
  ~Unpickler() {
    for (const Ref& o : made_) {
      o->items.clear();
      o->dict.clear();
    }
  }
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;

  Ref Run() {
    while (true) {
      const auto op = static_cast<std::uint8_t>(Byte());
      if (op == '.') break;  // STOP
      Step(op);
    }
    if (stack_.size() != 1) Fail("malformed pickle: stack has " + std::to_string(stack_.size()) + " items at STOP");
    return stack_.back();
  }

 private:
  static constexpr std::size_t kMaxStack = 1 << 22;

  Ref Make(Obj::Kind kind) {
    auto o = std::make_shared<Obj>();
    o->kind = kind;
    made_.push_back(o);
    return o;
  }

  char Byte() {
    if (pos_ >= bytes_.size()) Fail("pickle data ends unexpectedly");
    return bytes_[pos_++];
  }
  std::uint64_t LittleEndian(std::size_t n) {
    if (bytes_.size() - pos_ < n) Fail("pickle data ends unexpectedly");
    std::uint64_t v = 0;
    for (std::size_t k = 0; k < n; ++k) v |= std::uint64_t(std::uint8_t(bytes_[pos_ + k])) << (8 * k);
    pos_ += n;
    return v;
  }
  std::string Bytes(std::uint64_t n) {
    if (bytes_.size() - pos_ < n) Fail("pickle string runs past the end of the data");
    std::string s(bytes_.data() + pos_, n);
    pos_ += n;
    return s;
  }
  std::string Line() {
    const std::size_t start = pos_;
    while (Byte() != '\n') {
    }
    return std::string(bytes_.data() + start, pos_ - 1 - start);
  }
  void Push(Ref v) {
    if (stack_.size() >= kMaxStack) Fail("pickle stack too deep");
    stack_.push_back(std::move(v));
  }
  Ref Pop() {
    if (stack_.empty()) Fail("malformed pickle: pop from empty stack");
    Ref v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  Ref& Top() {
    if (stack_.empty()) Fail("malformed pickle: empty stack");
    return stack_.back();
  }
  // Items above the last MARK, which is removed.
  std::vector<Ref> PopMark() {
    for (std::size_t k = stack_.size(); k-- > 0;) {
      if (stack_[k]->kind == Obj::kMark) {
        std::vector<Ref> items(stack_.begin() + static_cast<std::ptrdiff_t>(k) + 1, stack_.end());
        stack_.resize(k);
        return items;
      }
    }
    Fail("malformed pickle: no MARK");
  }
  Ref Tuple(std::vector<Ref> items) {
    Ref t = Make(Obj::kTuple);
    t->items = std::move(items);
    return t;
  }
  Ref Int(std::int64_t v) {
    Ref o = Make(Obj::kInt);
    o->i = v;
    return o;
  }
  Ref String(std::string s) {
    Ref o = Make(Obj::kString);
    o->s = std::move(s);
    return o;
  }
  void Memo(std::uint64_t index) {
    if (index > (1u << 22)) Fail("pickle memo index too large");
    if (memo_.size() <= index) memo_.resize(index + 1);
    memo_[index] = Top();
  }
  Ref MemoGet(std::uint64_t index) {
    if (index >= memo_.size() || !memo_[index]) Fail("pickle refers to an unknown memo entry");
    return memo_[index];
  }
  void SetItems(Ref& dict, std::vector<Ref>& items) {
    if (items.size() % 2 != 0) Fail("malformed pickle: odd SETITEMS");
    if (dict->kind == Obj::kOpaque) return;
    if (dict->kind != Obj::kDict) Fail("malformed pickle: SETITEM on a non-dict");
    for (std::size_t k = 0; k < items.size(); k += 2) dict->dict.emplace_back(items[k], items[k + 1]);
  }

  void Step(std::uint8_t op);
  Ref Call(const Ref& callable, const Ref& args);
  Ref LoadStorage(const Ref& pid);

  std::span<const char> bytes_;
  const RecordSize& record_size_;
  std::size_t pos_ = 0;
  std::vector<Ref> stack_;
  std::vector<Ref> memo_;
  std::map<std::string, PickledTensor> storages_;  // by record key
  std::vector<Ref> made_;  // every object, for the destructor
};

void Unpickler::Step(std::uint8_t op) {
  switch (op) {
    case 0x80: Byte(); break;                // PROTO n
    case 0x95: LittleEndian(8); break;       // FRAME size
    case '(': Push(Make(Obj::kMark)); break; // MARK
    case '}': Push(Make(Obj::kDict)); break; // EMPTY_DICT
    case ']': Push(Make(Obj::kList)); break; // EMPTY_LIST
    case ')': Push(Tuple({})); break;        // EMPTY_TUPLE
    case 'N': Push(Make(Obj::kNone)); break;
    case 0x88: case 0x89: {                  // NEWTRUE / NEWFALSE
      Ref b = Make(Obj::kBool);
      b->i = op == 0x88;
      Push(b);
    } break;
    case 't': Push(Tuple(PopMark())); break;
    case 0x85: { Ref a = Pop(); Push(Tuple({a})); } break;
    case 0x86: { Ref b = Pop(), a = Pop(); Push(Tuple({a, b})); } break;
    case 0x87: { Ref c = Pop(), b = Pop(), a = Pop(); Push(Tuple({a, b, c})); } break;
    case 'l': { Ref l = Make(Obj::kList); l->items = PopMark(); Push(l); } break;  // LIST
    case 'd': {                                                                   // DICT
      Ref d = Make(Obj::kDict);
      std::vector<Ref> items = PopMark();
      SetItems(d, items);
      Push(d);
    } break;
    case 'q': Memo(LittleEndian(1)); break;       // BINPUT
    case 'r': Memo(LittleEndian(4)); break;       // LONG_BINPUT
    case 0x94: Memo(memo_.size()); break;         // MEMOIZE
    case 'h': Push(MemoGet(LittleEndian(1))); break;  // BINGET
    case 'j': Push(MemoGet(LittleEndian(4))); break;  // LONG_BINGET
    case 'J': Push(Int(static_cast<std::int32_t>(LittleEndian(4)))); break;  // BININT
    case 'K': Push(Int(static_cast<std::int64_t>(LittleEndian(1)))); break;  // BININT1
    case 'M': Push(Int(static_cast<std::int64_t>(LittleEndian(2)))); break;  // BININT2
    case 0x8a: {                                                             // LONG1
      const std::size_t n = LittleEndian(1);
      if (n > 8) Fail("pickle integer wider than 64 bits");
      std::uint64_t v = LittleEndian(n);
      if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~0ull << (8 * n);  // sign-extend
      Push(Int(static_cast<std::int64_t>(v)));
    } break;
    case 'G': {  // BINFLOAT, big-endian
      std::uint64_t bits = 0;
      for (int k = 0; k < 8; ++k) bits = (bits << 8) | std::uint8_t(Byte());
      Ref f = Make(Obj::kFloat);
      std::memcpy(&f->f, &bits, sizeof bits);
      Push(f);
    } break;
    case 'X': Push(String(Bytes(LittleEndian(4)))); break;     // BINUNICODE
    case 0x8c: Push(String(Bytes(LittleEndian(1)))); break;    // SHORT_BINUNICODE
    case 0x8d: Push(String(Bytes(LittleEndian(8)))); break;    // BINUNICODE8
    case 'U': Push(String(Bytes(LittleEndian(1)))); break;     // SHORT_BINSTRING
    case 'T': Push(String(Bytes(LittleEndian(4)))); break;     // BINSTRING
    case 'C': Push(String(Bytes(LittleEndian(1)))); break;     // SHORT_BINBYTES
    case 'B': Push(String(Bytes(LittleEndian(4)))); break;     // BINBYTES
    case 'c': {                                                // GLOBAL
      Ref g = Make(Obj::kGlobal);
      std::string module = Line();
      g->s = module + "." + Line();
      Push(g);
    } break;
    case 0x93: {  // STACK_GLOBAL
      Ref name = Pop(), module = Pop();
      if (name->kind != Obj::kString || module->kind != Obj::kString) Fail("malformed STACK_GLOBAL");
      Ref g = Make(Obj::kGlobal);
      g->s = module->s + "." + name->s;
      Push(g);
    } break;
    case 'R': { Ref args = Pop(), callable = Pop(); Push(Call(callable, args)); } break;  // REDUCE
    case 0x81: { Ref args = Pop(), cls = Pop(); Push(Call(cls, args)); } break;         // NEWOBJ
    case 'b': Pop(); break;  // BUILD: object state (OrderedDict._metadata, ...) is not needed
    case 's': {              // SETITEM
      Ref value = Pop(), key = Pop();
      std::vector<Ref> items = {key, value};
      SetItems(Top(), items);
    } break;
    case 'u': {  // SETITEMS
      std::vector<Ref> items = PopMark();
      SetItems(Top(), items);
    } break;
    case 'a': {  // APPEND
      Ref v = Pop();
      if (Top()->kind == Obj::kList) Top()->items.push_back(v);
    } break;
    case 'e': {  // APPENDS
      std::vector<Ref> items = PopMark();
      if (Top()->kind == Obj::kList) Top()->items.insert(Top()->items.end(), items.begin(), items.end());
    } break;
    case 'Q': { Ref pid = Pop(); Push(LoadStorage(pid)); } break;  // BINPERSID
    case '0': Pop(); break;                                        // POP
    case '1': PopMark(); break;                                    // POP_MARK
    case '2': Push(Top()); break;                                  // DUP
    default: {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", op);
      Fail(std::string("unsupported pickle opcode ") + hex + " at byte " + std::to_string(pos_ - 1));
    }
  }
}

// Only the functions torch.save emits for tensors are evaluated; any other
// class or function yields an opaque value (nothing is ever executed).
Ref Unpickler::Call(const Ref& callable, const Ref& args) {
  if (callable->kind != Obj::kGlobal) return Make(Obj::kOpaque);
  const std::string& name = callable->s;
  const std::vector<Ref>* a = args->kind == Obj::kTuple ? &args->items : nullptr;
  if (name == "collections.OrderedDict" || name == "builtins.dict") {
    Ref d = Make(Obj::kDict);
    if (a && !a->empty() && (*a)[0]->kind == Obj::kList) {  // OrderedDict([(k, v), ...])
      for (const Ref& pair : (*a)[0]->items) {
        if (pair->kind == Obj::kTuple && pair->items.size() == 2) d->dict.emplace_back(pair->items[0], pair->items[1]);
      }
    }
    return d;
  }
  if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
    if (!a || a->size() < 4 || (*a)[0]->kind != Obj::kTensor || (*a)[1]->kind != Obj::kInt) {
      Fail("malformed " + name + " call");
    }
    const PickledTensor& storage = (*a)[0]->tensor;
    const std::int64_t offset = (*a)[1]->i;
    const std::vector<std::int64_t> size = IntTuple((*a)[2], "tensor size");
    const std::vector<std::int64_t> stride = IntTuple((*a)[3], "tensor stride");
    if (size.size() != stride.size()) Fail("tensor size and stride differ in length");
    // The furthest element must lie inside the storage.
    std::int64_t last = offset;
    bool empty = false, overflow = false;
    for (std::size_t k = 0; k < size.size(); ++k) {
      if (size[k] < 0 || stride[k] < 0) Fail("negative tensor size or stride");
      if (size[k] == 0) {
        empty = true;
      } else {
        // Sizes and strides are any 64-bit values: overflow means "past".
        std::int64_t step = 0;
        if (__builtin_mul_overflow(size[k] - 1, stride[k], &step) || __builtin_add_overflow(last, step, &last)) {
          overflow = true;
        }
      }
    }
    if (offset < 0 || (!empty && (overflow || last >= storage.storage_numel))) {
      Fail("tensor view runs past its storage");
    }
    Ref t = Make(Obj::kTensor);
    t->tensor = storage;  // the same storage, a new view of it
    t->tensor.offset = offset;
    t->tensor.size = size;
    t->tensor.stride = stride;
    return t;
  }
  if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state" ||
      name == "torch.jit._pickle.restore_type_tag") {
    if (!a || a->empty()) Fail("malformed " + name + " call");
    return (*a)[0];
  }
  if (name == "torch._tensor._rebuild_from_type_v2") {  // (func, type, args, state)
    if (!a || a->size() < 3) Fail("malformed " + name + " call");
    return Call((*a)[0], (*a)[2]);
  }
  return Make(Obj::kOpaque);
}

// persistent id ('storage', storage_type, key, location, numel): the bytes
// are the archive record data/<key>.
Ref Unpickler::LoadStorage(const Ref& pid) {
  if (pid->kind != Obj::kTuple || pid->items.size() < 5 || pid->items[0]->kind != Obj::kString ||
      pid->items[0]->s != "storage" || pid->items[1]->kind != Obj::kGlobal ||
      pid->items[2]->kind != Obj::kString || pid->items[4]->kind != Obj::kInt) {
    Fail("unsupported persistent id (not a torch storage)");
  }
  const std::string& type = pid->items[1]->s;
  const std::size_t item_bytes = StorageItemBytes(type);
  if (item_bytes == 0) Fail("unsupported storage type " + type);
  const std::string& key = pid->items[2]->s;
  const std::int64_t numel = pid->items[4]->i;
  Ref t = Make(Obj::kTensor);
  if (auto it = storages_.find(key); it != storages_.end()) {
    t->tensor = it->second;
    return t;
  }
  const std::string record = "data/" + key;
  const std::optional<std::uint64_t> size_bytes = record_size_(record);
  if (!size_bytes) Fail("archive lacks storage record " + record);
  if (numel < 0 || static_cast<std::uint64_t>(numel) > *size_bytes / item_bytes) {
    Fail("storage " + record + " holds " + std::to_string(*size_bytes) + " bytes, fewer than " +
         std::to_string(numel) + " elements of " + type);
  }
  t->tensor.storage_key = key;
  t->tensor.storage_type = type;
  t->tensor.item_bytes = item_bytes;
  t->tensor.storage_numel = numel;
  t->tensor.size = {numel};
  t->tensor.stride = {1};
  storages_.emplace(key, t->tensor);
  return t;
}

const Obj* Lookup(const Obj& dict, std::string_view key) {
  for (const auto& [k, v] : dict.dict) {
    if (k->kind == Obj::kString && k->s == key) return v.get();
  }
  return nullptr;
}

bool HoldsTensors(const Obj& dict) {
  for (const auto& kv : dict.dict) {
    if (kv.second->kind == Obj::kTensor) return true;
  }
  return false;
}

}  // namespace

StatusOr<PickledStateDict> ReadStateDictPickle(std::span<const char> pickle, const RecordSize& record_size) {
  try {
    Unpickler unpickler(pickle, record_size);
    Ref root = unpickler.Run();
    if (root->kind != Obj::kDict) return InvalidArgumentError("the pickled object is not a dict");
    const Obj* state = root.get();
    if (!HoldsTensors(*state)) {
      const Obj* wrapped = Lookup(*state, "state_dict");
      if (wrapped == nullptr || wrapped->kind != Obj::kDict) {
        return InvalidArgumentError("neither a state dict nor a checkpoint with a \"state_dict\" entry");
      }
      state = wrapped;
    }
    PickledStateDict out;
    for (const auto& [k, v] : state->dict) {
      if (k->kind == Obj::kString && v->kind == Obj::kTensor) out.tensors.emplace_back(k->s, v->tensor);
    }
    return out;
  } catch (const PickleError& e) {
    return InvalidArgumentError(e.message);
  }
}

}  // namespace clipserve::model
