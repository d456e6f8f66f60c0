// ONNX for Triton's onnxruntime backend, built node by node with Debian's
// libonnx protobuf classes.
//
// Opset 14 and only long-standing operators, so Triton releases with older
// ONNX Runtimes load it: layer norm is spelled out (LayerNormalization is
// opset 17) and ReduceMean/ReduceL2 take `axes` as an attribute (an input
// from opset 18). Every Reshape uses 0 ("copy this dimension") for the batch,
// so any batch size runs without shape arithmetic.
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <fstream>
#include <initializer_list>
#include <limits>

#include "export/writers.h"

namespace clipserve::exporter {
namespace {

using model::internal::BlockWeights;
using model::internal::VitWeights;

constexpr int kOpset = 14;

class GraphBuilder {
 public:
  GraphBuilder(onnx::GraphProto* graph, bool fp16) : g_(graph), fp16_(fp16) {}

  // An initializer holding `t` as float32, or in the compute dtype.
  std::string Weight(const std::string& name, const torch::Tensor& t, bool compute_dtype = true) {
    const bool half = compute_dtype && fp16_;
    torch::Tensor c = t.to(half ? torch::kHalf : torch::kFloat).contiguous();
    onnx::TensorProto* p = g_->add_initializer();
    p->set_name(name);
    p->set_data_type(half ? onnx::TensorProto::FLOAT16 : onnx::TensorProto::FLOAT);
    for (std::int64_t d : c.sizes()) p->add_dims(d);
    p->set_raw_data(c.data_ptr(), c.numel() * c.element_size());
    return name;
  }

  std::string Ints(const std::vector<std::int64_t>& values, bool scalar = false) {
    onnx::TensorProto* p = g_->add_initializer();
    const std::string name = Fresh("const");
    p->set_name(name);
    p->set_data_type(onnx::TensorProto::INT64);
    if (!scalar) p->add_dims(static_cast<std::int64_t>(values.size()));
    for (std::int64_t v : values) p->add_int64_data(v);
    return name;
  }

  std::string Scalar(float v, bool compute_dtype = true) {
    return Weight(Fresh("const"), torch::tensor(v), compute_dtype);
  }

  onnx::NodeProto* Node(const std::string& op, std::initializer_list<std::string> inputs) {
    onnx::NodeProto* n = g_->add_node();
    n->set_op_type(op);
    n->set_name(Fresh(op));
    for (const std::string& in : inputs) n->add_input(in);
    n->add_output(Fresh("t"));
    return n;
  }
  std::string Op(const std::string& op, std::initializer_list<std::string> inputs) {
    return Node(op, inputs)->output(0);
  }

  static void Attr(onnx::NodeProto* n, const std::string& name, std::int64_t v) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void Attr(onnx::NodeProto* n, const std::string& name, const std::vector<std::int64_t>& v) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (std::int64_t x : v) a->add_ints(x);
  }

  std::string Cast(const std::string& x, int to) {
    onnx::NodeProto* n = Node("Cast", {x});
    Attr(n, "to", static_cast<std::int64_t>(to));
    return n->output(0);
  }
  std::string Reshape(const std::string& x, const std::vector<std::int64_t>& shape) {
    return Op("Reshape", {x, Ints(shape)});
  }
  std::string Transpose(const std::string& x, const std::vector<std::int64_t>& perm) {
    onnx::NodeProto* n = Node("Transpose", {x});
    Attr(n, "perm", perm);
    return n->output(0);
  }
  std::string Gather(const std::string& x, std::int64_t index, std::int64_t axis) {
    onnx::NodeProto* n = Node("Gather", {x, Ints({index}, /*scalar=*/true)});
    Attr(n, "axis", axis);
    return n->output(0);
  }
  std::string ReduceMean(const std::string& x) {
    onnx::NodeProto* n = Node("ReduceMean", {x});
    Attr(n, "axes", std::vector<std::int64_t>{-1});
    Attr(n, "keepdims", std::int64_t{1});
    return n->output(0);
  }
  // x @ w^T + b for an open_clip Linear weight w [out, in].
  std::string Linear(const std::string& x, const std::string& name, const torch::Tensor& w,
                     const torch::Tensor& b) {
    const std::string y = Op("MatMul", {x, Weight(name + ".weight_t", w.t())});
    return Op("Add", {y, Weight(name + ".bias", b)});
  }
  // Statistics in float32 whatever the compute dtype: fp16 variance of the
  // residual stream can overflow.
  std::string LayerNorm(const std::string& in, const std::string& name, const torch::Tensor& w,
                        const torch::Tensor& b, double eps) {
    const std::string x = fp16_ ? Cast(in, onnx::TensorProto::FLOAT) : in;
    const std::string d = Op("Sub", {x, ReduceMean(x)});
    const std::string var = ReduceMean(Op("Mul", {d, d}));
    const std::string inv = Op("Sqrt", {Op("Add", {var, Scalar(static_cast<float>(eps), false)})});
    std::string y = Op("Div", {d, inv});
    y = Op("Add", {Op("Mul", {y, Weight(name + ".weight", w, false)}), Weight(name + ".bias", b, false)});
    return fp16_ ? Cast(y, onnx::TensorProto::FLOAT16) : y;
  }

  void Tensor(onnx::ValueInfoProto* v, const std::string& name, std::initializer_list<std::int64_t> dims) {
    v->set_name(name);
    onnx::TypeProto_Tensor* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    onnx::TensorShapeProto* shape = t->mutable_shape();
    shape->add_dim()->set_dim_param("batch");
    for (std::int64_t d : dims) shape->add_dim()->set_dim_value(d);
  }

 private:
  std::string Fresh(const std::string& prefix) { return prefix + "_" + std::to_string(counter_++); }

  onnx::GraphProto* g_;
  bool fp16_;
  int counter_ = 0;
};

std::string Block(GraphBuilder& gb, const model::VitConfig& c, const BlockWeights& b, const std::string& x,
                  int layer) {
  const std::int64_t W = c.width, H = c.heads(), D = c.head_width;
  const std::string p = "resblocks." + std::to_string(layer);
  std::string h = gb.LayerNorm(x, p + ".ln_1", b.ln1_w, b.ln1_b, c.ln_eps);
  // [N, T, 3W] -> [3, N, H, T, D]; q rows were pre-scaled by 1/sqrt(D).
  const std::string qkv = gb.Transpose(gb.Reshape(gb.Linear(h, p + ".attn.in_proj", b.in_w, b.in_b), {0, 0, 3, H, D}),
                                       {2, 0, 3, 1, 4});
  const std::string q = gb.Gather(qkv, 0, 0), k = gb.Gather(qkv, 1, 0), v = gb.Gather(qkv, 2, 0);
  onnx::NodeProto* softmax = gb.Node("Softmax", {gb.Op("MatMul", {q, gb.Transpose(k, {0, 1, 3, 2})})});
  GraphBuilder::Attr(softmax, "axis", std::int64_t{-1});
  std::string o = gb.Transpose(gb.Op("MatMul", {softmax->output(0), v}), {0, 2, 1, 3});  // [N, T, H, D]
  o = gb.Linear(gb.Reshape(o, {0, 0, W}), p + ".attn.out_proj", b.out_w, b.out_b);
  const std::string x1 = gb.Op("Add", {x, o});

  h = gb.Linear(gb.LayerNorm(x1, p + ".ln_2", b.ln2_w, b.ln2_b, c.ln_eps), p + ".mlp.c_fc", b.fc_w, b.fc_b);
  if (c.quick_gelu) {
    h = gb.Op("Mul", {h, gb.Op("Sigmoid", {gb.Op("Mul", {h, gb.Scalar(1.702f)})})});
  } else {  // exact GELU: x * (1 + erf(x / sqrt 2)) / 2
    const std::string erf = gb.Op("Erf", {gb.Op("Mul", {h, gb.Scalar(static_cast<float>(M_SQRT1_2))})});
    h = gb.Op("Mul", {gb.Op("Mul", {h, gb.Op("Add", {erf, gb.Scalar(1.0f)})}), gb.Scalar(0.5f)});
  }
  return gb.Op("Add", {x1, gb.Linear(h, p + ".mlp.c_proj", b.proj_w, b.proj_b)});
}

void BuildGraph(const model::VitConfig& c, VitWeights& w, bool fp16, onnx::ModelProto* model) {
  const std::int64_t W = c.width, P = c.patch_size, G = c.grid(), S = c.image_size;
  onnx::GraphProto* graph = model->mutable_graph();
  graph->set_name("openclip_visual");
  GraphBuilder gb(graph, fp16);
  gb.Tensor(graph->add_input(), "image", {3, S, S});

  std::string x = fp16 ? gb.Cast("image", onnx::TensorProto::FLOAT16) : std::string("image");
  // Patchify as the engine does: [N,3,G,P,G,P] -> [N,G,G,3,P,P] -> [N, G*G, 3*P*P].
  x = gb.Reshape(gb.Transpose(gb.Reshape(x, {0, 3, G, P, G, P}), {0, 2, 4, 1, 3, 5}), {0, G * G, 3 * P * P});
  x = gb.Op("Add", {gb.Linear(x, "patch_embed", w.patch_w, w.patch_b), gb.Weight("pos_patch", w.pos_patch)});

  // Class token broadcast to [N, 1, W]: the batch size comes from Shape(image).
  onnx::NodeProto* batch = gb.Node("Gather", {gb.Op("Shape", {"image"}), gb.Ints({0})});
  GraphBuilder::Attr(batch, "axis", std::int64_t{0});
  onnx::NodeProto* cls_shape = gb.Node("Concat", {batch->output(0), gb.Ints({1, W})});
  GraphBuilder::Attr(cls_shape, "axis", std::int64_t{0});
  const std::string cls = gb.Op("Expand", {gb.Weight("cls_pos", w.cls_pos.view({1, 1, W})), cls_shape->output(0)});
  onnx::NodeProto* tokens = gb.Node("Concat", {cls, x});
  GraphBuilder::Attr(tokens, "axis", std::int64_t{1});
  x = gb.LayerNorm(tokens->output(0), "ln_pre", w.ln_pre_w, w.ln_pre_b, c.ln_eps);

  for (torch::Tensor* t : {&w.patch_w, &w.patch_b, &w.pos_patch, &w.cls_pos}) t->reset();
  for (std::size_t l = 0; l < w.blocks.size(); ++l) {
    x = Block(gb, c, w.blocks[l], x, static_cast<int>(l));
    w.blocks[l] = BlockWeights{};  // now held by the protobuf only
  }

  x = gb.LayerNorm(gb.Gather(x, 0, 1), "ln_post", w.ln_post_w, w.ln_post_b, c.ln_eps);
  x = gb.Op("MatMul", {x, gb.Weight("proj", w.proj)});
  if (fp16) x = gb.Cast(x, onnx::TensorProto::FLOAT);
  onnx::NodeProto* norm = gb.Node("ReduceL2", {x});
  GraphBuilder::Attr(norm, "axes", std::vector<std::int64_t>{1});
  GraphBuilder::Attr(norm, "keepdims", std::int64_t{1});
  const std::string denom = gb.Op("Max", {norm->output(0), gb.Scalar(1e-12f, false)});
  onnx::NodeProto* out = gb.Node("Div", {x, denom});
  out->set_output(0, "embedding");
  gb.Tensor(graph->add_output(), "embedding", {c.embed_dim});
}

}  // namespace

Status WriteOnnx(const model::VitConfig& config, VitWeights weights, bool fp16, const std::string& path) {
  onnx::ModelProto model;
  try {
    model.set_ir_version(onnx::IR_VERSION_2020_5_8);  // IR 7: what opset 14 needs, loadable by older runtimes
    model.set_producer_name("clipserve clip-export");
    model.set_producer_version("1");
    model.set_doc_string(config.name + ": image [N,3,S,S] RGB in [0,1] -> embedding [N,E], L2-normalized");
    onnx::OperatorSetIdProto* opset = model.add_opset_import();
    opset->set_domain("");
    opset->set_version(kOpset);
    BuildGraph(config, weights, fp16, &model);
  } catch (const c10::Error& e) {
    return InternalError(std::string("building the ONNX graph failed: ") + e.what_without_backtrace());
  }
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {  // onnx::checker::ValidationError
    return InternalError(std::string("the ONNX graph fails onnx::checker: ") + e.what());
  }
  // Protobuf cannot serialize a message over 2 GiB (ViT-H and larger in
  // fp32); those would need ONNX external data, which this writer does not do.
  if (model.ByteSizeLong() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    return UnimplementedError("the ONNX model exceeds protobuf's 2 GiB limit; try --precision fp16");
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return InternalError("cannot create " + path);
  if (!model.SerializeToOstream(&out) || !out.flush()) return InternalError("writing " + path + " failed");
  return {};
}

Status CheckOnnxFile(const std::string& path) {
  try {
    onnx::checker::check_model(path);
  } catch (const std::exception& e) {
    return InvalidArgumentError(path + " fails onnx::checker: " + e.what());
  }
  return {};
}

}  // namespace clipserve::exporter
