"""Sweep configs: several existing single-variant configs trained as one ``MultiVariantDepthEstimator`` run."""
import copy
import os.path as osp
from typing import Dict, List

from mmengine.config import Config

__all__ = ['sweep_from_configs', 'SHARED_KEYS', 'VARIANT_KEYS']

#: settings every variant of a sweep must share (one trunk, one data stream, one loop)
SHARED_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg', 'val_cfg', 'test_cfg',
               'randomness', 'env_cfg')
#: what each variant keeps of its own config
VARIANT_KEYS = ('model.decode_head', 'optim_wrapper', 'param_scheduler', 'val_evaluator', 'test_evaluator')
_SHARED_MODEL_KEYS = ('data_preprocessor', 'clip', 'backbone', 'neck', 'train_cfg', 'test_cfg')


def _plain(value):
    return value.to_dict() if hasattr(value, 'to_dict') else copy.deepcopy(value)


def _diff(a, b, path: str) -> List[str]:
    """Paths where two plain config values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            out += _diff(a.get(key, '<absent>'), b.get(key, '<absent>'), f'{path}.{key}')
        return out
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += _diff(x, y, f'{path}[{i}]')
        return out
    return [] if a == b else [f'{path}: {a!r} vs {b!r}']


def _variant_evaluator(evaluator, name: str, source: str):
    from ..models.segmentors.multi_variant_depth_estimator import variant_pred_key
    metrics = evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]
    out = []
    for metric in metrics:
        metric = dict(_plain(metric))
        if metric.get('type') not in ('DepthEvalMetric', ):
            raise ValueError(f'{source}: a sweep evaluates each variant with DepthEvalMetric, got the metric '
                             f'{metric.get("type")!r}; evaluate that one on a single-variant checkpoint '
                             '(tools/model_converters/split_variants.py)')
        metric.update(pred_key=variant_pred_key(name), prefix=name)
        if metric.get('output_dir'):
            metric['output_dir'] = osp.join(metric['output_dir'], name)
        out.append(metric)
    return out


def sweep_from_configs(config_dir: str, *configs: str, primary: str = None) -> Dict[str, object]:
    """Read single-variant configs (``<config_dir>/<name>.py``) and return the settings of one run training
    all of them: ``model`` (a ``MultiVariantDepthEstimator`` whose ``decode_heads`` are the configs' own
    heads, named by config), ``optim_wrapper`` and ``param_scheduler`` (each variant's own, keyed by name),
    ``val_evaluator`` / ``test_evaluator`` (each variant's metrics under the prefix ``<name>/``),
    ``model_wrapper_cfg`` (for N processes) and ``variant_configs`` (name -> file, read by the tools).

    Everything else (``SHARED_KEYS`` and the model's backbone, preprocessor and test mode) must be the same
    in every config, since one trunk pass and one data stream feed all variants; a difference is an error
    naming the config and the setting. A sweep config inherits the first variant's config for those and
    sets these keys: ``globals().update(sweep_from_configs('{{ fileDirname }}/..', 'nyu_a', 'nyu_b'))``.
    """
    if len(configs) < 1:
        raise ValueError('sweep_from_configs needs at least one config name')
    if len(set(configs)) != len(configs):
        raise ValueError(f'a config is listed twice in the sweep: {list(configs)}')
    loaded = {}
    for name in configs:
        path = osp.join(config_dir, name if name.endswith('.py') else name + '.py')
        if not osp.isfile(path):
            raise FileNotFoundError(f'sweep variant {name!r}: no config file {path}')
        key = osp.splitext(osp.basename(name))[0]
        loaded[key] = (osp.abspath(path), Config.fromfile(path))
    first_name, (first_path, first) = next(iter(loaded.items()))
    heads, wrappers, schedulers, val_eval, test_eval = {}, {}, {}, [], []
    for name, (path, cfg) in loaded.items():
        model = cfg.get('model', {})
        if model.get('type') not in ('CLIPDepthEstimator', ):
            raise ValueError(f'{path}: a sweep variant must be a CLIPDepthEstimator config, got model.type '
                             f'{model.get("type")!r}')
        differences = []
        for key in SHARED_KEYS:
            differences += _diff(_plain(first.get(key)), _plain(cfg.get(key)), key)
        for key in _SHARED_MODEL_KEYS:
            differences += _diff(_plain(first.model.get(key)), _plain(model.get(key)), f'model.{key}')
        if differences:
            raise ValueError(
                f'sweep variant {path} differs from {first_path} in settings the variants share (one trunk, one '
                f'data stream): {"; ".join(differences[:5])}{" ..." if len(differences) > 5 else ""}')
        heads[name] = _plain(model.decode_head)
        wrappers[name] = _plain(cfg.optim_wrapper)
        schedulers[name] = _plain(cfg.get('param_scheduler', []))
        val_eval += _variant_evaluator(cfg.val_evaluator, name, path)
        test_eval += _variant_evaluator(cfg.test_evaluator, name, path)
    if primary is not None and primary not in heads:
        raise ValueError(f'primary={primary!r} is not one of the variants {list(heads)}')
    model = {k: _plain(v) for k, v in first.model.items() if k != 'decode_head'}
    model.update(_delete_=True, type='MultiVariantDepthEstimator', decode_heads=heads,
                 primary=primary or first_name)
    return dict(
        model=model,
        optim_wrapper=dict(_delete_=True, constructor='MultiVariantOptimWrapperConstructor', variants=wrappers),
        param_scheduler=dict(_delete_=True, **schedulers),
        val_evaluator=val_eval,
        test_evaluator=test_eval,
        # scope-qualified: mmengine's Runner looks the wrapper type up in its root registry
        model_wrapper_cfg=dict(type='mmseg.MultiVariantDataParallel'),
        variant_configs={name: path for name, (path, _) in loaded.items()},
    )
