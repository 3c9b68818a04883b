"""The evaluation protocol stamped beside every number the project writes (metrics.json, tables, benchmarks).

Numbers of depth papers differ by protocol choices that are rarely written down: which split, crop, depth
range and its comparison, prediction clamping, scale alignment, per-image or per-pixel averaging, test-time
augmentation, input size. :func:`protocol_stamp` reads them from the config that produced the numbers (never
from defaults guessed later) and adds the split file's and checkpoint's sha256 and the package versions.
:func:`protocol_key` is the part two numbers must share to sit in one table column.
"""
import hashlib
import os.path as osp
from typing import Optional

__all__ = ['file_sha256', 'protocol_stamp', 'write_metrics_json', 'protocol_key', 'PROTOCOL_KEY_FIELDS',
           'describe_protocol']

#: stamp fields that must agree for two numbers to be comparable (tools/analysis/paper_table.py)
PROTOCOL_KEY_FIELDS = ('dataset', 'split_file_sha256', 'crop', 'min_depth', 'max_depth', 'max_comparison',
                       'min_pred', 'clamp_prediction', 'alignment', 'averaging', 'tta', 'input_size')


def file_sha256(path: Optional[str], chunk: int = 1 << 20) -> Optional[str]:
    """Hex sha256 of a file (None for None)."""
    if path is None:
        return None
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            h.update(block)
    return h.hexdigest()


def _get(obj, key, default=None):
    if obj is None:
        return default
    try:
        return obj.get(key, default)
    except AttributeError:
        return getattr(obj, key, default)


def _depth_metrics(evaluator) -> list:
    """The DepthEvalMetric dicts of a test evaluator (a dict or a list of dicts)."""
    items = evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]
    found = []
    for item in items:
        if _get(item, 'type') == 'DepthEvalMetric':
            found.append(item)
        elif isinstance(_get(item, 'metrics'), (list, tuple)):  # mmengine's Evaluator(metrics=[...])
            found += _depth_metrics(_get(item, 'metrics'))
    return found


def _input_size(pipeline) -> str:
    for t in pipeline or []:
        kind = _get(t, 'type', '')
        if kind in ('Resize', 'RandomResize', 'KeepRatioResize', 'ResizeToMultiple'):
            scale = _get(t, 'scale', _get(t, 'size'))
            return f'{kind}({list(scale) if isinstance(scale, (list, tuple)) else scale})'
        if kind in ('ImageOnlyCrop', 'CenterCrop', 'NYUBorderCrop'):
            return f'{kind}({_get(t, "box", _get(t, "crop_size"))})'
    return 'native (no resize in the test pipeline)'


def _versions() -> dict:
    out = {}
    for name in ('torch', 'mmengine', 'mmseg', 'mmcv', 'open_clip', 'numpy'):
        try:
            mod = __import__(name)
            out[name] = getattr(mod, '__version__', 'unknown')
        except Exception:  # noqa: BLE001 - a missing optional package is recorded as such
            out[name] = None
    import mmclipdepth
    out['mmclipdepth'] = getattr(mmclipdepth, '__version__', 'unknown')
    return out


def _fingerprint(model_cfg) -> dict:
    """``config_fingerprint``: :func:`mmclipdepth.checkpoint.identity.model_fingerprint` of the model config (the
    same fingerprint a checkpoint carries and is checked against at load), and ``config_fingerprint_sha256``: the
    sha256 of its canonical JSON (sorted keys), short enough to compare by eye."""
    if model_cfg is None:
        return dict(config_fingerprint=None, config_fingerprint_sha256=None)
    import json
    from mmclipdepth.checkpoint.identity import model_fingerprint
    fp = model_fingerprint(model_cfg)
    text = json.dumps(fp, sort_keys=True, separators=(',', ':'), default=repr)
    return dict(config_fingerprint=fp, config_fingerprint_sha256=hashlib.sha256(text.encode()).hexdigest())


def protocol_stamp(cfg, checkpoint: Optional[str] = None, dataloader_key: str = 'test_dataloader',
                   evaluator_key: str = 'test_evaluator') -> dict:
    """The protocol of the numbers ``cfg``'s test loop produces (a plain, JSON-serialisable dict).

    Fields: ``dataset`` (type), ``data_root``, ``split_file`` (resolved) and ``split_file_sha256``, ``crop``,
    ``min_depth`` / ``max_depth`` and ``max_comparison`` (``'<='`` BTS/AdaBins/Auty, ``'<'`` DepthCLIP) with
    ``min_pred``, ``clamp_prediction`` (DepthEvalMetric always clamps to [min, max]), ``alignment`` (scaling
    mode), ``averaging`` (``'image-wise'``: metrics per image, then the mean over images), ``tta`` (the test
    mode, e.g. ``whole_flip``), ``input_size``, ``checkpoint`` and ``checkpoint_sha256``,
    ``config_fingerprint`` (the model config's :func:`mmclipdepth.checkpoint.identity.model_fingerprint`, the one
    a checkpoint carries) with its ``config_fingerprint_sha256``, package ``versions``.
    """
    loader = _get(cfg, dataloader_key) or {}
    ds = _get(loader, 'dataset') or {}
    while _get(ds, 'dataset') is not None and _get(ds, 'split_file') is None:  # wrappers (ConcatDataset...)
        ds = _get(ds, 'dataset')
    split_file = _get(ds, 'split_file')
    resolved = None
    if split_file is not None or _get(ds, 'split') is not None:
        try:
            from mmclipdepth.datasets.base_depth_dataset import resolve_split_file
            if split_file is None:
                from mmseg.registry import DATASETS
                cls = DATASETS.get(_get(ds, 'type'))
                split_file = getattr(cls, 'SPLITS', {}).get(_get(ds, 'split'), (None,))[0]
            if split_file is not None:
                resolved = resolve_split_file(split_file, _get(ds, 'data_root'))
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            resolved = None
    metrics = _depth_metrics(_get(cfg, evaluator_key))
    metric = metrics[0] if metrics else {}
    alignments = [_get(m, 'alignment', 'metric') for m in metrics]
    if len(metrics) > 1:  # one metric per scaling mode (zero-shot sets): 'prefix=alignment, ...'
        alignment = ', '.join(f"{_get(m, 'prefix') or ''}={a}" for m, a in zip(metrics, alignments))
    else:
        alignment = alignments[0] if alignments else None
    test_cfg = _get(_get(cfg, 'model'), 'test_cfg') or {}
    max_inclusive = bool(_get(metric, 'max_inclusive', True))
    return dict(
        dataset=_get(ds, 'type'),
        data_root=_get(ds, 'data_root'),
        split=_get(ds, 'split'),
        split_file=resolved or split_file,
        split_file_sha256=file_sha256(resolved) if resolved else None,
        metric=_get(metric, 'type'),
        crop=_get(metric, 'crop', 'eigen') if metric else None,
        min_depth=float(_get(metric, 'min_depth', 1e-3)) if metric else None,
        max_depth=float(_get(metric, 'max_depth', 10.0)) if metric else None,
        max_comparison='<=' if max_inclusive else '<',
        min_pred=_get(metric, 'min_pred'),
        clamp_prediction='[min_depth, max_depth], NaN -> min_depth' if metric else None,
        alignment=alignment,
        averaging='image-wise' if metric else None,
        tta=_get(test_cfg, 'mode', 'whole'),
        input_size=_input_size(_get(ds, 'pipeline')),
        checkpoint=osp.abspath(checkpoint) if checkpoint else None,
        checkpoint_sha256=file_sha256(checkpoint) if checkpoint else None,
        **_fingerprint(_get(cfg, 'model')),
        versions=_versions())


def protocol_key(stamp: Optional[dict]) -> Optional[tuple]:
    """The fields of a stamp that decide comparability (``None`` for a number without a stamp)."""
    if not stamp:
        return None
    return tuple((k, stamp.get(k)) for k in PROTOCOL_KEY_FIELDS)


def describe_protocol(stamp: Optional[dict]) -> str:
    """One line for under a table."""
    if not stamp:
        return 'protocol: not recorded'
    split = osp.basename(stamp['split_file']) if stamp.get('split_file') else stamp.get('split')
    digest = (stamp.get('split_file_sha256') or '')[:12]
    return (f"protocol: {stamp.get('dataset')} {split} (sha256 {digest or '-'}), crop {stamp.get('crop')}, "
            f"{stamp.get('min_depth')} < gt {stamp.get('max_comparison')} {stamp.get('max_depth')} m, "
            f"min_pred {stamp.get('min_pred')}, clamp {stamp.get('clamp_prediction')}, "
            f"alignment {stamp.get('alignment')}, {stamp.get('averaging')} mean, TTA {stamp.get('tta')}, "
            f"input {stamp.get('input_size')}")


def write_metrics_json(path: str, metrics: dict, stamp: dict) -> str:
    """Write ``{metric: value, ..., "protocol": stamp}`` (the flat metric keys stay where readers expect them)."""
    import json
    import os
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    record = {k: (float(v) if hasattr(v, '__float__') and not isinstance(v, (int, bool)) else v)
              for k, v in dict(metrics).items()}
    record['protocol'] = stamp
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(record, f, indent=2)
    return path
