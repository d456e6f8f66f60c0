"""Writes a torch.save-format zip archive without torch installed.

Mirrors torch/serialization.py's _save: pickle protocol 2, tensors reduced
to torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
requires_grad, backward_hooks) with the storage as persistent id
('storage', torch.<Type>Storage, key, 'cpu', numel), the state dict an
OrderedDict carrying a _metadata attribute (so its pickle has a BUILD), and
records archive/{data.pkl, byteorder, data/<key>, version}.

usage: write_torch_save.py MANIFEST.json OUT.bin
manifest: {"wrap": bool, "prefix": str,
           "tensors": [{"name", "storage": "FloatStorage", "shape": [..],
                        "numel", "file"}]}
"""
import collections
import json
import pickle
import sys
import types
import zipfile

torch_mod = types.ModuleType("torch")
utils_mod = types.ModuleType("torch._utils")
sys.modules["torch"] = torch_mod
sys.modules["torch._utils"] = utils_mod


def _rebuild_tensor_v2(*args):
    raise RuntimeError("never called when writing")


_rebuild_tensor_v2.__module__ = "torch._utils"
utils_mod._rebuild_tensor_v2 = _rebuild_tensor_v2

storage_classes = {}
for name in ("FloatStorage", "HalfStorage", "BFloat16Storage", "LongStorage"):
    cls = type(name, (), {"__module__": "torch"})
    setattr(torch_mod, name, cls)
    storage_classes[name] = cls


class FakeStorage:
    def __init__(self, cls, key, numel):
        self.cls, self.key, self.numel = cls, key, numel


class FakeTensor:
    def __init__(self, storage, shape):
        self.storage, self.shape = storage, shape

    def __reduce_ex__(self, protocol):
        stride, acc = [], 1
        for dim in reversed(self.shape):
            stride.insert(0, acc)
            acc *= dim
        return (_rebuild_tensor_v2,
                (self.storage, 0, tuple(self.shape), tuple(stride), False,
                 collections.OrderedDict()))


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return ("storage", obj.cls, obj.key, "cpu", obj.numel)
        return None


def main():
    manifest = json.load(open(sys.argv[1]))
    state = collections.OrderedDict()
    state._metadata = collections.OrderedDict([("", {"version": 1})])
    blobs = {}
    for i, t in enumerate(manifest["tensors"]):
        key = str(i)
        storage = FakeStorage(storage_classes[t["storage"]], key, t["numel"])
        state[manifest["prefix"] + t["name"]] = FakeTensor(storage, t["shape"])
        blobs[key] = open(t["file"], "rb").read()
    obj = {"epoch": 32, "name": "test", "state_dict": state} if manifest["wrap"] else state
    import io
    buf = io.BytesIO()
    TorchPickler(buf, protocol=2).dump(obj)
    with zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        z.writestr("archive/byteorder", "little")
        for key, blob in blobs.items():
            z.writestr("archive/data/" + key, blob)
        z.writestr("archive/version", "3\n")


if __name__ == "__main__":  # tests/fuzz/make_seeds.py imports the fakes
    main()
