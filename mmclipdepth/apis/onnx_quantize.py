"""int8 static quantisation of an exported depth model (onnxruntime), calibrated on the user's images.

``quantize_int8('model.onnx', images)`` writes ``model.int8.onnx`` and its sidecar: weights int8 per output
channel, activations uint8 with ranges from running the fp32 model on ``images`` (each through the model's own
inference pipeline and normalisation, as ``OnnxDepthModel`` runs them), QDQ format. The quantised model is run
on the same images against the fp32 one and the largest relative depth difference is stored in the sidecar
(``quantization.max_rel_diff_vs_fp32``): a measurement on the calibration images, not a bound for others.

Not offered by ``tools/deployment/export_onnx.py``: on the project's 2-core AVX2 CPU the int8 RN50 graph ran at
0.90x the speed of fp32 onnxruntime at 480x640 (below the 1.3x it had to reach; docs/performance.md). It stays
for ``tools/analysis/benchmark_backends.py --int8``, to repeat that measurement on another CPU.
"""
import json
import os
import os.path as osp
import tempfile
from typing import Optional, Sequence

import numpy as np

__all__ = ['quantize_int8', 'int8_path']


def int8_path(onnx_path: str) -> str:
    """``model.onnx`` -> ``model.int8.onnx``."""
    return osp.splitext(onnx_path)[0] + '.int8.onnx'


def quantize_int8(onnx_path: str, images: Sequence[str], out: Optional[str] = None,
                  method: str = 'minmax', per_channel: bool = True) -> dict:
    """Quantise the exported ``onnx_path`` (with its sidecar) to ``out`` (default ``int8_path``).

    Args:
        images: calibration image files (at least one); a static-shape model takes those of its input size
            after the inference pipeline, others are refused with their names.
        method: onnxruntime's calibration: ``minmax``, ``entropy`` or ``percentile``.

    Returns the int8 model's sidecar (the fp32 one plus ``quantization``).
    """
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    from .onnx_depth_model import OnnxDepthModel, _sha256, normalised_input, sidecar_path
    methods = dict(minmax=CalibrationMethod.MinMax, entropy=CalibrationMethod.Entropy,
                   percentile=CalibrationMethod.Percentile)
    if method not in methods:
        raise ValueError(f'calibration method {method!r}: expected one of {sorted(methods)}')
    if not images:
        raise ValueError('int8 quantisation needs at least one calibration image')
    missing = [i for i in images if not osp.isfile(i)]
    if missing:
        raise FileNotFoundError(f'calibration image file(s) {missing} do not exist')
    fp32 = OnnxDepthModel(onnx_path)
    size = fp32.meta['input'].get('size')
    inputs, wrong = [], []
    for path in images:
        x = normalised_input(fp32, path).numpy()
        if size is not None and list(x.shape[-2:]) != list(size):
            wrong.append(f'{path} ({x.shape[-2]}x{x.shape[-1]})')
        inputs.append(x)
    if wrong:
        raise ValueError(f'{onnx_path} takes {size[0]}x{size[1]} inputs (after the inference pipeline); calibration '
                         f'image(s) of another size: {wrong}')

    class _Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(inputs)

        def get_next(self):
            x = next(self._it, None)
            return None if x is None else {'image': x}

    out = out or int8_path(onnx_path)
    with tempfile.TemporaryDirectory() as tmp:
        import onnx
        # the exporter may keep the weights in ``model.onnx.data`` beside it: one self-contained file first
        pre = osp.join(tmp, 'fp32.onnx')
        onnx.save(onnx.load(onnx_path, load_external_data=True), pre)
        quantize_static(pre, out, _Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                        calibrate_method=methods[method])
    meta = dict(fp32.meta, graph_sha256=_sha256(out))  # the sidecar describes the int8 graph
    with open(sidecar_path(out), 'w', encoding='utf-8') as f:
        json.dump(meta, f, indent=1)  # the int8 session below needs it
    try:
        int8 = OnnxDepthModel(out)
        worst = 0.0
        for x in inputs:
            a = fp32.run(x)
            b = int8.run(x)
            worst = max(worst, float(np.abs(b - a).max() / max(float(np.abs(a).max()), 1e-12)))
    except Exception:
        for path in (out, sidecar_path(out)):
            if osp.exists(path):
                os.remove(path)
        raise
    meta['quantization'] = dict(
        scheme='onnxruntime quantize_static, QDQ, weights int8 per-channel, activations uint8',
        calibration=method, calibration_images=[osp.abspath(i) for i in images], fp32_model=osp.abspath(onnx_path),
        max_rel_diff_vs_fp32=worst)
    meta['parity'] = dict(meta.get('parity', {}), note='the parity of the fp32 model this one was quantised from')
    with open(sidecar_path(out), 'w', encoding='utf-8') as f:
        json.dump(meta, f, indent=1)
    return meta
