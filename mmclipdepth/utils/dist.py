"""Distributed launch settings that also work on CPU-only machines (docs/install.md)."""
import torch
from mmengine.config import Config

__all__ = ['setup_cpu_distributed']


def setup_cpu_distributed(cfg: Config) -> Config:
    """Without CUDA, a non-``none`` launcher needs the gloo backend and DDP without device ids."""
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return cfg
    env_cfg = cfg.setdefault('env_cfg', {})
    env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    if 'DistributedDataParallel' in str(wrapper.get('type', '')):  # torch DDP on CPU: no device ids
        wrapper['device_ids'] = None
    # a frozen CLIP tower has no gradient: let DDP tolerate parameters without grads
    wrapper.setdefault('find_unused_parameters', False)
    cfg.model_wrapper_cfg = wrapper
    return cfg
