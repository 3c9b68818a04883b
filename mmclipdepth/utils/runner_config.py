"""Config loading shared by tools/train.py and tools/test.py."""
import os.path as osp
from typing import Optional

from mmengine.config import Config

from .dist import setup_cpu_distributed

__all__ = ['load_runner_config', 'build_runner', 'apply_test_set', 'check_top_level_keys', 'RUNNER_KEYS']

#: the top-level keys mmengine's ``Runner.from_cfg`` (and mmseg's tools) read; a key it does not read is ignored
RUNNER_KEYS = ('model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg', 'val_cfg',
               'test_cfg', 'auto_scale_lr', 'optim_wrapper', 'param_scheduler', 'val_evaluator', 'test_evaluator',
               'default_hooks', 'custom_hooks', 'data_preprocessor', 'load_from', 'resume', 'launcher', 'env_cfg',
               'log_processor', 'log_level', 'visualizer', 'default_scope', 'randomness', 'experiment_name',
               'custom_imports', 'runner_type', 'tta_model', 'tta_pipeline', 'vis_backends', 'zero_shot')
#: helper variables the project's configs define at top level (read by other keys, not by the Runner)
CONFIG_HELPER_KEYS = ('clip', 'crop_size', 'data_prefix', 'data_root', 'dataset_type', 'depth_scale', 'lr',
                      'max_depth', 'max_epochs', 'max_iters', 'meta_keys', 'min_depth', 'paper_tables',
                      'test_pipeline', 'train_pipeline', 'train_scene_types', 'zero_shot_meta_keys',
                      'zero_shot_pipeline', 'norm_cfg', 'img_scale', 'num_classes', 'variant_configs')


def check_top_level_keys(cfg: Config, source: str) -> None:
    """Refuse a top-level key that is a near miss of a key the Runner reads (``trian_cfg``): the Runner would
    ignore it without a word and run with the old setting. Other unknown names pass - mm configs define
    helper variables at top level (``crop_size``, ``lr``) - and so do names starting with ``_``."""
    import difflib
    for key in cfg.keys():
        if key.startswith('_') or key in RUNNER_KEYS or key in CONFIG_HELPER_KEYS:
            continue
        near = difflib.get_close_matches(key, RUNNER_KEYS, n=1, cutoff=0.8)
        if near:
            raise KeyError(f'{source}: unknown top-level config key {key!r} (did you mean {near[0]!r}?). The '
                           f'Runner reads {near[0]!r} and would ignore {key!r}, running with the old setting.')


def load_runner_config(config: str, cfg_options: Optional[dict] = None, launcher: str = 'none',
                       work_dir: Optional[str] = None, test_set: Optional[str] = None) -> Config:
    """Config file + ``--cfg-options`` + launcher + work dir (default ``work_dirs/<config name>``), with the
    CPU-distributed settings applied when CUDA is absent."""
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file {config} does not exist')
    cfg = Config.fromfile(config)
    if test_set is not None:  # before --cfg-options, which may then set e.g. its data_root
        apply_test_set(cfg, test_set)
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    check_top_level_keys(cfg, config)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    return setup_cpu_distributed(cfg)


def build_runner(cfg: Config):
    """The runner of ``cfg`` as mmseg's ``tools/train.py`` builds it: ``RUNNERS.build`` when the config names a
    ``runner_type`` (the package's configs: ``DepthRunner``), else mmengine's ``Runner.from_cfg``."""
    if 'runner_type' in cfg:
        from mmseg.registry import RUNNERS
        return RUNNERS.build(cfg)
    from mmengine.runner import Runner
    return Runner.from_cfg(cfg)


def apply_test_set(cfg: Config, test_set: str) -> Config:
    """Replace the test set of ``cfg`` by a dataset file's (``configs/_base_/datasets/zero_shot/*.py``): its
    ``test_dataloader``, ``test_evaluator`` and ``zero_shot`` description; the model is untouched."""
    if not osp.isfile(test_set):
        raise FileNotFoundError(f'test set config {test_set} does not exist')
    spec = Config.fromfile(test_set)
    if 'test_dataloader' not in spec or 'test_evaluator' not in spec:
        raise KeyError(f'{test_set} defines no test_dataloader / test_evaluator')
    cfg.test_dataloader = spec.test_dataloader
    cfg.test_evaluator = spec.test_evaluator
    cfg.test_cfg = cfg.get('test_cfg') or dict(type='TestLoop')
    if 'zero_shot' in spec:
        cfg.zero_shot = spec.zero_shot
    return cfg
