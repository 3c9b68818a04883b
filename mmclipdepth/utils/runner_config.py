"""Config loading shared by tools/train.py and tools/test.py."""
import os.path as osp
from typing import Optional

from mmengine.config import Config

from .dist import setup_cpu_distributed

__all__ = ['load_runner_config', 'apply_test_set']


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
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    return setup_cpu_distributed(cfg)


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
