#!/usr/bin/python3
"""A second client for the gRPC front: Python's grpcio (Debian python3-grpcio)
with modules protoc generates from our .proto files, as a tritonclient.grpc
user's stack would be. Starts the real clip-server on ephemeral ports and
checks health, metadata, raw and typed FP32 inference, image bytes, two bad
requests, a stream, and SIGTERM.

usage: grpc_python_check.py CLIP_SERVER PROTO_DIR PROTOC GRPC_PYTHON_PLUGIN
Exit 0 on success, 77 (skipped) without grpcio/numpy/Pillow, 1 on failure.
"""
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

try:
    import grpc
    import numpy as np
    from PIL import Image
except ImportError as e:  # not a failure of clip-server
    print(f"skipped: {e}")
    sys.exit(77)

server_bin, proto_dir, protoc, plugin = sys.argv[1:5]
gen = tempfile.mkdtemp(prefix="clipserve-grpc-py-")
protos = [os.path.join(proto_dir, p) for p in ("grpc_service.proto", "model_config.proto")]
subprocess.run([protoc, "-I", proto_dir, f"--python_out={gen}", f"--grpc_out={gen}",
                f"--plugin=protoc-gen-grpc={plugin}", *protos], check=True)
sys.path.insert(0, gen)
import grpc_service_pb2 as pb  # noqa: E402
import grpc_service_pb2_grpc as pb_grpc  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what}")


proc = subprocess.Popen([server_bin, "--api", "kserve", "--host", "127.0.0.1", "--http-port", "0", "--grpc-port", "0",
                         "--metrics-port", "-1", "--model", "test-tiny", "--weights", "random:1", "--threads", "1",
                         "--background-warmup", "off", "--precision", "fp32", "--access-log", "off"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
try:
    line = proc.stdout.readline()
    m = re.search(r" grpc=[^ ]*:(\d+)", line)
    if not m:
        print(f"no grpc port in {line!r}; stderr: {proc.stderr.read()}")
        sys.exit(1)
    channel = grpc.insecure_channel(f"127.0.0.1:{m.group(1)}")
    stub = pb_grpc.GRPCInferenceServiceStub(channel)

    deadline = time.time() + 60
    while not stub.ServerReady(pb.ServerReadyRequest(), timeout=10).ready:
        check(time.time() < deadline, "ready within 60 s")
        if failures:
            sys.exit(1)
        time.sleep(0.01)
    check(stub.ServerLive(pb.ServerLiveRequest(), timeout=10).live, "live")
    meta = stub.ModelMetadata(pb.ModelMetadataRequest(name="openclip_vit_b32"), timeout=10)
    check(list(meta.inputs[0].shape) == [-1, 3, 32, 32], f"tensor input shape {list(meta.inputs[0].shape)}")

    pixels = np.linspace(0, 1, 2 * 3 * 32 * 32, dtype=np.float32).reshape(2, 3, 32, 32)

    def tensor_request(raw):
        req = pb.ModelInferRequest(model_name="openclip_vit_b32", id="py")
        inp = req.inputs.add(name="image", datatype="FP32", shape=list(pixels.shape))
        if raw:
            req.raw_input_contents.append(pixels.astype("<f4").tobytes())
        else:
            inp.contents.fp32_contents.extend(pixels.ravel().tolist())
        return req

    def embeddings(res, rows):
        check(res.outputs[0].name == "embedding" and list(res.outputs[0].shape) == [rows, 32],
              f"output {res.outputs[0].name} {list(res.outputs[0].shape)}")
        e = np.frombuffer(res.raw_output_contents[0], dtype="<f4").reshape(rows, 32)
        check(np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-4), "unit-norm rows")
        return e

    raw = embeddings(stub.ModelInfer(tensor_request(True), timeout=30), 2)
    typed = embeddings(stub.ModelInfer(tensor_request(False), timeout=30), 2)
    check(np.array_equal(raw, typed), "raw and typed FP32 give the same embeddings")

    buf = io.BytesIO()
    Image.fromarray(np.arange(40 * 30 * 3, dtype=np.uint8).reshape(30, 40, 3)).save(buf, format="JPEG")
    jpeg = buf.getvalue()
    req = pb.ModelInferRequest(model_name="openclip_vit_b32_image")
    req.inputs.add(name="image_bytes", datatype="BYTES", shape=[1]).contents.bytes_contents.append(jpeg)
    embeddings(stub.ModelInfer(req, timeout=30), 1)

    for name, req, code in [
        ("unknown model", pb.ModelInferRequest(model_name="nope"), grpc.StatusCode.NOT_FOUND),
        ("wrong datatype", pb.ModelInferRequest(model_name="openclip_vit_b32",
                                                inputs=[pb.ModelInferRequest.InferInputTensor(
                                                    name="image", datatype="FP64", shape=[1, 3, 32, 32])]),
         grpc.StatusCode.INVALID_ARGUMENT),
    ]:
        try:
            stub.ModelInfer(req, timeout=30)
            check(False, f"{name}: accepted")
        except grpc.RpcError as e:
            check(e.code() == code, f"{name}: {e.code()} {e.details()}")

    answers = list(stub.ModelStreamInfer(iter([tensor_request(True)]), timeout=30))
    check(len(answers) == 1 and answers[0].error_message == "", f"stream answers {answers!r:.200}")
    if answers:
        check(np.array_equal(embeddings(answers[0].infer_response, 2), raw), "stream gives the unary embeddings")
    channel.close()
finally:
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = None
    check(code == 0, f"exit code after SIGTERM: {code}")
    shutil.rmtree(gen, ignore_errors=True)

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("grpc python check: all passed")
