"""ONNX export of a trained depth model, and an onnxruntime backend with the ``inference_depth`` contract.

At inference the text side of a CLIP-prompt model is constant: DepthCLIP / Auty et al. become the CLIP image
trunk, a fixed similarity with the baked bin-prompt features, a softmax and a weighted sum; CLIP2Depth the
trunk, a FiLM with the baked mirror conditioning and its decoder. ``export_onnx`` writes that image-to-depth
graph (the config's test-time flip averaging included when asked) with the text features as constants, plus
a JSON sidecar; ``OnnxDepthModel`` runs it with the config's own inference pipeline, normalisation and
post-processing, so ``inference_depth`` and every output writer take it in place of the PyTorch model.
"""
import contextlib
import hashlib
import json
import os.path as osp
import re
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config, ConfigDict
from torch import Tensor, nn

from ..models.segmentors.clip_depth_estimator import CLIPDepthEstimator
from ..models.utils.depth_postprocess import postprocess_depth
from .inference import _IMAGE_LOADERS, _prepare, build_inference_pipeline, inference_depth

__all__ = ['export_onnx', 'export_llm_mde_image_tokens', 'OnnxDepthModel', 'sidecar_path', 'ExportError']

#: version 2: the sidecar is JSON data only (no config text), tied to its graph by ``graph_sha256``
FORMAT = 'mmclipdepth-onnx/2'
#: a type name in the sidecar's pipeline / preprocessor: a bare registry name (no scope, no module path)
_TYPE_NAME = re.compile(r'^[A-Za-z][A-Za-z0-9_]*$')


class ExportError(RuntimeError):
    """The model cannot be exported as asked (its kind, its test mode, or a failed parity check)."""


def sidecar_path(onnx_path: str) -> str:
    """``model.onnx`` -> ``model.json``: the description written beside an exported model."""
    return osp.splitext(onnx_path)[0] + '.json'


class _ConstantText(nn.Module):
    """Stands in for a text encoder during export: its features, computed once, as a constant."""

    def __init__(self, features: Tensor):
        super().__init__()
        self.register_buffer('features', features.detach().clone())

    def forward(self) -> Tensor:
        return self.features


@contextlib.contextmanager
def _constant_text(model: nn.Module):
    from ..models.text_encoders.cached_text_encoder import CachedTextEncoder
    swapped = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, CachedTextEncoder):
                with torch.no_grad():
                    feats = child()
                setattr(parent, name, _ConstantText(feats))
                swapped.append((parent, name, child))
    try:
        yield len(swapped)
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)


class _ImageToDepth(nn.Module):
    """Normalised image (N, 3, H, W) -> depth in metres (N, 1, H, W), clamped: the estimator's ``whole`` /
    ``whole_flip`` inference (``BaseDepthEstimator.head_depth``; flip: the image and its mirror averaged at the
    head's resolution by ``flip_average``, traced into the graph)."""

    def __init__(self, model: nn.Module, flip: bool):
        super().__init__()
        self.model = model
        self.flip = flip

    def forward(self, x: Tensor) -> Tensor:
        m = self.model
        feats = m.extract_feat(torch.cat([x, x.flip(dims=(3, ))]) if self.flip else x)
        return m.head_depth(m.decode_head, feats, [dict(img_shape=x.shape[-2:])], self.flip)


def normalised_input(model: nn.Module, image) -> Tensor:
    """One image through the model's inference pipeline and data preprocessor: the (1, 3, H, W) tensor the
    exported graph takes."""
    data = _prepare(model, image, 0)
    return model.data_preprocessor(dict(inputs=[data['inputs']], data_samples=[data['data_samples']]),
                                   False)['inputs']


def _sha256(path: Optional[str]) -> Optional[str]:
    if not path:
        return None
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def _plain(value, where: str):
    """A config value as plain JSON data (dicts with str keys, lists, str, numbers, bools, None); anything else
    (a function, a class, a module) is an ``ExportError`` naming ``where``."""
    if isinstance(value, dict):
        return {str(k): _plain(v, f'{where}.{k}') for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f'{where}[{i}]') for i, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ExportError(f'{where} = {value!r} is not plain data: the ONNX sidecar holds JSON values only')


def _runtime_description(model: nn.Module) -> dict:
    """What ``OnnxDepthModel`` rebuilds, as data: the default scope, the data preprocessor and the inference
    pipeline (``build_inference_pipeline``), each a JSON value."""
    cfg = model.cfg
    return dict(default_scope=str(cfg.get('default_scope', 'mmseg')),
                data_preprocessor=_plain(cfg.model.data_preprocessor.to_dict() if hasattr(
                    cfg.model.data_preprocessor, 'to_dict') else dict(cfg.model.data_preprocessor),
                    'model.data_preprocessor'),
                inference_pipeline=_plain(build_inference_pipeline(cfg), 'test pipeline'))


def _check_types(node, where: str, side: str):
    """Every ``type`` in the sidecar's data is a bare registry name (a registered class is looked up, no module
    is imported and nothing is executed)."""
    if isinstance(node, dict):
        t = node.get('type')
        if 'type' in node and not (isinstance(t, str) and _TYPE_NAME.match(t)):
            raise ValueError(f'{side}: {where}.type = {t!r} is not a bare transform / module name: refused')
        for k, v in node.items():
            _check_types(v, f'{where}.{k}', side)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _check_types(v, f'{where}[{i}]', side)


def _check_kinds(pipeline: list, pre: dict, side: str):
    """What the sidecar may build: its ``data_preprocessor`` is a registered data preprocessor (a subclass of
    mmengine's ``BaseDataPreprocessor``, not any model, which could read weight files or download at build time);
    every transform of ``inference_pipeline`` (nested ones included) is a registered transform, the first one
    the image loader and no other a loader (a loader reads the file a result names); no ``backend_args`` other
    than the local disk (a backend may fetch from the network)."""
    from mmengine.model import BaseDataPreprocessor
    from mmseg.registry import MODELS, TRANSFORMS
    cls = MODELS.get(pre.get('type'))
    if not (isinstance(cls, type) and issubclass(cls, BaseDataPreprocessor)):
        raise ValueError(f'{side}: data_preprocessor.type = {pre.get("type")!r} is not a registered data '
                         'preprocessor: refused')
    if pipeline[0].get('type') not in _IMAGE_LOADERS:
        raise ValueError(f'{side}: inference_pipeline[0].type = {pipeline[0].get("type")!r}; the pipeline starts '
                         f'with one of {_IMAGE_LOADERS}')

    def visit(node, where, top):
        if isinstance(node, dict):
            if 'backend_args' in node and node['backend_args'] not in (None, {}, {'backend': 'local'}):
                raise ValueError(f'{side}: {where}.backend_args = {node["backend_args"]!r}: only the local disk '
                                 'is read')
            if 'type' in node:
                t = node['type']
                if TRANSFORMS.get(t) is None:
                    raise ValueError(f'{side}: {where}.type = {t!r} is not a registered transform: refused')
                if not top and (t.startswith('Load') or t in _IMAGE_LOADERS):
                    raise ValueError(f'{side}: {where}.type = {t!r}: only the first transform loads a file')
            for k, v in node.items():
                visit(v, f'{where}.{k}', False)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                visit(v, f'{where}[{i}]', False)

    for i, t in enumerate(pipeline):
        visit(t, f'inference_pipeline[{i}]', i == 0)


#: why LLM-MDE is not one graph, and what of it is (``export_llm_mde_image_tokens``)
LLM_MDE_STAYS = (
    'LLM-MDE cannot be exported as one image-to-depth graph: its adaptive prompt is written as text from each '
    "image's statistics (and a coarse-depth pass through the language model) at run time, then tokenised, so the "
    'prompt writer, the tokenizer, the language model with LoRA and the adaptation head stay in Python. What '
    'is exported (tools/deployment/export_onnx.py, automatically for LLM-MDE configs) is the image side: the '
    'LoRA ViT and the cross-modal reprogramming onto the frozen word embeddings, image -> reprogrammed tokens.')


class _ImageTokens(nn.Module):
    """LLM-MDE's image side: normalised image -> reprogrammed tokens (N, L, d) (``LLMDepthEstimator._reprogrammed``)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model._reprogrammed(x)


def export_llm_mde_image_tokens(model: nn.Module, out: str, images: Sequence[str], rtol: float = 1e-4,
                                checkpoint: Optional[str] = None, opset: int = 18) -> dict:
    """Export what of LLM-MDE is a fixed graph (``LLM_MDE_STAYS``) and check it with onnxruntime against
    PyTorch on ``images``; the sidecar says what stays in Python. Returns the sidecar's content."""
    import os
    import onnxruntime as ort
    if type(model).__name__ != 'LLMDepthEstimator':
        raise ExportError(f'export_llm_mde_image_tokens takes an LLMDepthEstimator, got {type(model).__name__}')
    model.eval()
    wrapper = _ImageTokens(model).eval()
    x = normalised_input(model, images[0])
    with torch.no_grad():
        try:
            torch.onnx.export(wrapper, (x, ), out, dynamo=True, opset_version=opset, input_names=['image'],
                              output_names=['tokens'], verbose=False, optimize=True)
        except Exception as e:  # noqa: BLE001
            raise ExportError(f'torch.onnx.export failed for the LLM-MDE image side: {type(e).__name__}: '
                              f'{str(e)[:500]}') from e
        session = ort.InferenceSession(out, providers=['CPUExecutionProvider'])
        worst, checked = 0.0, []
        for path in images:
            xi = normalised_input(model, path)
            if tuple(xi.shape) != tuple(x.shape):
                continue
            a = wrapper(xi).numpy()
            b = session.run(['tokens'], {'image': xi.numpy()})[0]
            diff = float(np.abs(a - b).max() / max(float(np.abs(a).max()), 1e-12))
            worst = max(worst, diff)
            checked.append(dict(image=osp.basename(str(path)), max_rel_diff=diff))
    if not worst <= rtol:
        os.remove(out)
        raise ExportError(f'onnxruntime and PyTorch differ by {worst:.3g} relative (allowed {rtol:g}): removed')
    pre = model.cfg.model.data_preprocessor
    meta = dict(format=FORMAT + '+llm_mde_image_tokens', part='image_tokens',
                input=dict(name='image', layout='NCHW float32, RGB, normalised: (pixel - mean) / std',
                           mean=list(pre.get('mean', [0, 0, 0])), std=list(pre.get('std', [1, 1, 1])),
                           bgr_to_rgb=bool(pre.get('bgr_to_rgb', False)), size=[int(x.shape[-2]), int(x.shape[-1])]),
                output=dict(name='tokens', layout='N x L x d float32: the reprogrammed image tokens the language '
                            'model reads after the prompt', shape=list(wrapper(x).shape)),
                stays_in_python=LLM_MDE_STAYS, graph_sha256=_sha256(out),
                config=osp.basename(str(getattr(model.cfg, 'filename', '') or '')) or None,
                checkpoint=osp.basename(checkpoint) if checkpoint else None, checkpoint_sha256=_sha256(checkpoint),
                parity=dict(max_rel_diff=worst, rtol=rtol, images=checked), opset=opset)
    with open(sidecar_path(out), 'w', encoding='utf-8') as f:
        json.dump(meta, f, indent=1)
    return meta


def _check_exportable(model: nn.Module, flip_tta: Optional[bool]) -> bool:
    if type(model).__name__ == 'LLMDepthEstimator':
        raise ExportError(LLM_MDE_STAYS)
    if not isinstance(model, CLIPDepthEstimator) or type(model).__name__ == 'MultiVariantDepthEstimator':
        raise ExportError(f'export_onnx takes a CLIPDepthEstimator (CLIP-prompt or mirror configs), got '
                          f'{type(model).__name__}; split a sweep checkpoint first '
                          '(tools/model_converters/split_variants.py)')
    mode = model.test_cfg.get('mode', 'whole') if model.test_cfg else 'whole'
    if mode not in ('whole', 'whole_flip'):
        raise ExportError(f"test_cfg.mode={mode!r}: only whole-image inference ('whole', 'whole_flip') is exported; "
                          'the sliding-window loop stays in Python')
    return mode == 'whole_flip' if flip_tta is None else bool(flip_tta)


def export_onnx(model: nn.Module, out: str, images: Sequence[str], dynamic_shape: bool = False,
                flip_tta: Optional[bool] = None, checkpoint: Optional[str] = None, config_path: Optional[str] = None,
                rtol: float = 1e-4, opset: int = 18) -> dict:
    """Export ``model`` (from ``init_depth_model``) to ``out`` and check it with onnxruntime.

    Args:
        images: image files run through both backends (the bundled samples in the tools); the first one's
            size after the inference pipeline is the model's input size unless ``dynamic_shape``.
        dynamic_shape: batch, height and width as dynamic axes (else fixed to that size, batch 1).
        flip_tta: average the mirrored image (default: the config's ``test_cfg.mode == 'whole_flip'``).
        rtol: the largest relative depth difference allowed against the PyTorch model (max |a-b| / |b|
            over all pixels of all images); above it ``ExportError`` (and the files are removed).

    Writes ``out`` and its sidecar ``sidecar_path(out)``, JSON data only (input rule, normalisation, depth range,
    flip, the data preprocessor and inference pipeline as plain values, the graph's and the checkpoint's
    SHA-256, the measured parity); returns the sidecar's content.
    """
    import os
    flip = _check_exportable(model, flip_tta)
    if not images:
        raise ExportError('export_onnx needs at least one image to check the exported model on')
    x = normalised_input(model, images[0])
    model.eval()
    wrapper = _ImageToDepth(model, flip).eval()
    with torch.no_grad(), _constant_text(model) as n_text:
        reference = wrapper(x)
        kwargs = {}
        if dynamic_shape:
            dim = torch.export.Dim
            kwargs['dynamic_shapes'] = ({0: dim('batch', min=1, max=64), 2: dim('height', min=32, max=4096),
                                         3: dim('width', min=32, max=4096)}, )
        try:
            torch.onnx.export(wrapper, (x, ), out, dynamo=True, opset_version=opset, input_names=['image'],
                              output_names=['depth'], verbose=False, optimize=True, **kwargs)
        except Exception as e:  # noqa: BLE001 - the exporter's errors are long: say what failed, keep the cause
            raise ExportError(f'torch.onnx.export failed for {type(model.backbone).__name__} + '
                              f'{type(model.decode_head).__name__}'
                              f'{" with dynamic shapes (try without --dynamic-shape)" if dynamic_shape else ""}: '
                              f'{type(e).__name__}: {str(e)[:500]}') from e
    cfg = model.cfg
    pre = cfg.model.data_preprocessor
    meta = dict(
        format=FORMAT,
        input=dict(name='image', layout='NCHW float32, RGB, normalised: (pixel - mean) / std',
                   mean=list(pre.get('mean', [0, 0, 0])), std=list(pre.get('std', [1, 1, 1])),
                   bgr_to_rgb=bool(pre.get('bgr_to_rgb', False)),
                   size=None if dynamic_shape else [int(x.shape[-2]), int(x.shape[-1])],
                   dynamic=bool(dynamic_shape), multiple_of=int(pre.get('size_divisor') or 1),
                   min_size=model.min_input_size),
        output=dict(name='depth', layout='N x 1 x H x W float32, metres, at the input size',
                    min_depth=float(model.decode_head.min_depth), max_depth=float(model.decode_head.max_depth)),
        flip_tta=flip, align_corners=bool(model.decode_head.align_corners), text_constants=n_text,
        model=f'{type(model.backbone).__name__} + {type(model.decode_head).__name__}',
        config=osp.basename(str(config_path or getattr(cfg, 'filename', '') or '')) or None,
        checkpoint=osp.basename(checkpoint) if checkpoint else None, checkpoint_sha256=_sha256(checkpoint),
        graph_sha256=_sha256(out), opset=opset, **_runtime_description(model))
    with open(sidecar_path(out), 'w', encoding='utf-8') as f:
        json.dump(meta, f, indent=1)
    if model.test_cfg is None:
        from mmengine.config import ConfigDict
        model.test_cfg = ConfigDict()
    mode_before = model.test_cfg.get('mode', 'whole')
    model.test_cfg['mode'] = 'whole_flip' if flip else 'whole'  # the PyTorch side with the exported flip setting
    try:
        runtime = OnnxDepthModel(out)
        got = runtime.run(x.numpy())
        worst = float(np.abs(got - reference.numpy()).max() / max(float(reference.abs().max()), 1e-12))
        per_image = []
        for path in images:
            if not dynamic_shape and list(normalised_input(model, path).shape[-2:]) != meta['input']['size']:
                continue  # a static model takes one size
            a = inference_depth(model, path)
            b = inference_depth(runtime, path)
            per_image.append(dict(image=osp.basename(str(path)),
                                  max_rel_diff=float(np.abs(b - a).max() / max(float(np.abs(a).max()), 1e-12))))
        worst = max([worst] + [r['max_rel_diff'] for r in per_image])
        meta['parity'] = dict(max_rel_diff=worst, rtol=rtol, images=per_image,
                              reference='the PyTorch model (mmclipdepth.apis.inference_depth)')
        if not worst <= rtol:
            raise ExportError(f'onnxruntime and PyTorch differ by {worst:.3g} relative (allowed {rtol:g}) on '
                              f'{[r["image"] for r in per_image]}: the export is wrong, files removed')
    except Exception:
        for path in (out, sidecar_path(out)):
            if osp.exists(path):
                os.remove(path)
        raise
    finally:
        model.test_cfg['mode'] = mode_before
    with open(sidecar_path(out), 'w', encoding='utf-8') as f:
        json.dump(meta, f, indent=1)
    return meta


class OnnxDepthModel:
    """An exported model run by onnxruntime, usable wherever ``init_depth_model``'s model is:
    ``inference_depth(OnnxDepthModel('model.onnx'), 'kitchen.jpg')``.

    Reads the sidecar with ``json`` alone (refusing a file that is not one, an old sidecar with config text, and
    a sidecar whose ``graph_sha256`` is not this graph's), builds the inference pipeline and data preprocessor
    from its plain values (bare registered type names only; nothing is executed), runs the graph on the normalised input and post-processes
    with the estimators' own ``postprocess_depth`` (padding removed, resized to the image's ``ori_shape``, crop
    boxes pasted). A static-shape model refuses inputs of another size with the size it takes.
    """

    def __init__(self, onnx_path: str, providers: Optional[Sequence[str]] = None, threads: Optional[int] = None):
        import onnxruntime as ort
        from mmengine.registry import init_default_scope
        from mmseg.registry import MODELS
        if not osp.isfile(onnx_path):
            raise FileNotFoundError(f'ONNX model {onnx_path!r} does not exist')
        side = sidecar_path(onnx_path)
        if not osp.isfile(side):
            raise FileNotFoundError(f'{onnx_path!r} has no description {side!r} beside it (written by '
                                    'tools/deployment/export_onnx.py): the input size and normalisation are unknown')
        with open(side, encoding='utf-8') as f:
            try:
                meta = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f'{side}: not JSON ({e})') from None
        if not isinstance(meta, dict):
            raise ValueError(f'{side}: expected a JSON object, got {type(meta).__name__}')
        if meta.get('part') == 'image_tokens':
            raise ValueError(f'{onnx_path} is the image side of an LLM-MDE model, not an image-to-depth graph: '
                             f'{meta.get("stays_in_python", "")}')
        if 'config_text' in meta or meta.get('format') == 'mmclipdepth-onnx/1':
            raise ValueError(f'{side}: an old sidecar (format mmclipdepth-onnx/1) that carries the config as Python '
                             'text, which is never executed; re-export the model with '
                             'tools/deployment/export_onnx.py (the new sidecar is data only)')
        if meta.get('format') != FORMAT:
            raise ValueError(f'{side}: format {meta.get("format")!r}, expected {FORMAT!r}')
        missing = [k for k in ('graph_sha256', 'data_preprocessor', 'inference_pipeline', 'input', 'align_corners')
                   if k not in meta]
        if missing:
            raise ValueError(f'{side}: missing {missing}; re-export with tools/deployment/export_onnx.py')
        digest = _sha256(onnx_path)
        if digest != meta['graph_sha256']:
            raise ValueError(f'{side} describes another graph: its graph_sha256 {str(meta["graph_sha256"])[:16]}... '
                             f'!= {onnx_path} {digest[:16]}...; use the sidecar written with this model (or '
                             're-export)')
        pipeline, pre = meta['inference_pipeline'], meta['data_preprocessor']
        if not (isinstance(pipeline, list) and pipeline and all(isinstance(t, dict) for t in pipeline)
                and isinstance(pre, dict)):
            raise ValueError(f'{side}: inference_pipeline must be a list of dicts and data_preprocessor a dict')
        _check_types(pipeline, 'inference_pipeline', side)
        _check_types(pre, 'data_preprocessor', side)
        scope = meta.get('default_scope', 'mmseg')
        if not (isinstance(scope, str) and _TYPE_NAME.match(scope)):
            raise ValueError(f'{side}: default_scope {scope!r} is not a scope name')
        self.meta = meta
        self.onnx_path = onnx_path
        init_default_scope(scope)
        _check_kinds(pipeline, pre, side)
        self.cfg = Config(dict(default_scope=scope))  # data only: nothing from the sidecar is executed
        self.data_preprocessor = MODELS.build(ConfigDict(pre))
        self.inference_pipeline_cfg = [dict(t) for t in pipeline]
        self._inference_pipelines = {}
        #: the smallest image side the graph takes (its image trunk's), as ``BaseDepthEstimator.min_input_size``
        self.min_input_size = int(meta['input'].get('min_size', 1))
        self.align_corners = bool(meta['align_corners'])
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        self.session = ort.InferenceSession(onnx_path, sess_options=options,
                                            providers=list(providers or ['CPUExecutionProvider']))

    def run(self, inputs: np.ndarray) -> np.ndarray:
        """The graph on a normalised (N, 3, H, W) float32 array -> (N, 1, H, W) depth."""
        size = self.meta['input'].get('size')
        if size is not None and (inputs.shape[0] != 1 or list(inputs.shape[-2:]) != list(size)):
            raise ValueError(f'{self.onnx_path} was exported for one {size[0]}x{size[1]} image (after the '
                             f'inference pipeline); got a batch of shape {tuple(inputs.shape)}. Export with '
                             '--dynamic-shape for other sizes.')
        return self.session.run(['depth'], {'image': np.ascontiguousarray(inputs, dtype=np.float32)})[0]

    def test_step(self, data: dict):
        batch = self.data_preprocessor(data, False)
        samples = batch['data_samples']
        if self.meta['input'].get('size') is not None and len(samples) > 1:  # one image per run
            return [s for d in ({'inputs': [i], 'data_samples': [s]} for i, s in
                                zip(data['inputs'], data['data_samples'])) for s in self.test_step(d)]
        depth = torch.from_numpy(self.run(batch['inputs'].numpy()))
        return postprocess_depth(depth, samples, self.align_corners)

    def eval(self):
        return self
