"""ONNX export, checked against PyTorch in onnxruntime before it counts."""
from __future__ import annotations

import json
import os
import tempfile
from typing import Optional

import numpy as np
import torch

from adapters import ModelAdapter
from train_jobs import onnx_predict
from train_jobs.state import JobFolder
from visiontrain.errors import VisiontrainError

__all__ = ["ExportError", "export_native", "export_onnx_checked"]


class ExportError(VisiontrainError, RuntimeError):
    pass


def export_onnx_checked(adapter: ModelAdapter, model: torch.nn.Module, sample: torch.Tensor,
                        job: JobFolder, about: Optional[dict] = None, atol: float = 1e-3,
                        rtol: float = 1e-3) -> dict:
    """Export to ``export/model.onnx`` in the job folder, after onnxruntime agrees with PyTorch, with
    ``export/predict.py`` beside it (:mod:`train_jobs.onnx_predict`).
    ``about`` (the task, the class names, what the model is fed as ``preprocessing``, an anomaly
    threshold) goes into export.json and into the ONNX file's metadata, each value as JSON."""
    import onnxruntime as ort

    model = model.eval().float()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.onnx")
        adapter.export_onnx(model, sample, path)
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        check = torch.cat([sample, sample.flip(0)])  # another batch size than the one exported with
        got = session.run(None, {session.get_inputs()[0].name: check.numpy()})[0]
        with torch.no_grad():
            want = model(check)
        want = want[0] if isinstance(want, (tuple, list)) else want
        want = want.numpy()
        err = np.abs(got - want)
        diff = float(err.max())
        if got.shape != want.shape or not np.isfinite(err).all() or (err > atol + rtol * np.abs(want)).any():
            raise ExportError(f"ONNX output differs from PyTorch by up to {diff:.2e} (allowed {atol:.0e} + "
                              f"{rtol:.0e} x |value|); export not kept")
        opset = _opset(path, about)
        for name in sorted(os.listdir(d)):
            job.store.upload_file(job.key(f"export/{name}"), os.path.join(d, name))
        job.store.upload_file(job.key("export/predict.py"), onnx_predict.__file__)  # runs it with onnxruntime alone
    info = {"format": "onnx", "file": job.uri("export/model.onnx"), "max_abs_diff": diff, "rtol": rtol, "atol": atol,
            "checked_batch": list(check.shape), "input": "float32 RGB in [0, 1], NCHW",
            "opset": opset, **(about or {})}
    job.store.write_json(job.key("export/export.json"), info)
    return info


def _opset(path: str, about: Optional[dict]) -> int | None:
    """The file's opset; ``about`` is added to its metadata (what the exporter wrote there stays: an
    Ultralytics export keeps its own ``task`` and ``names``, which ``YOLO('model.onnx')`` reads)."""
    import onnx

    model = onnx.load(path, load_external_data=False)
    if about:
        props = {p.key: p.value for p in model.metadata_props}
        onnx.helper.set_model_props(model, {**{k: json.dumps(v, ensure_ascii=False) for k, v in about.items()}, **props})
        onnx.save(model, path)
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def export_native(adapter: ModelAdapter, net: torch.nn.Module, class_names: list[str], job: JobFolder) -> str:
    """The trained network as its own library saves it, in ``export/<source>/`` (with ``LOAD.txt``:
    the call that loads it), so it loads there without the platform."""
    with tempfile.TemporaryDirectory() as d:
        how = adapter.save_native(net.eval().float(), d, class_names)
        for name in sorted(os.listdir(d)):
            job.store.upload_file(job.key(f"export/{adapter.name}/{name}"), os.path.join(d, name))
    job.store.write_text(job.key(f"export/{adapter.name}/LOAD.txt"), how + "\n")
    return f"export/{adapter.name}/"
