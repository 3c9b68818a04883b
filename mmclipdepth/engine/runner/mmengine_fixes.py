"""Two fixes for mmengine 0.10.x behaviour, applied by :class:`.DepthRunner` where it is needed (nothing is
patched at import: a process that only imports ``mmclipdepth`` runs mmengine as released).

- :func:`cuda_device_selection_skipped`: ``mmengine/dist/utils.py::_init_dist_pytorch`` (mmengine 0.10.7) calls
  ``torch.cuda.set_device(local_rank)`` unconditionally in its default branch, so ``--launcher pytorch`` (torchrun)
  fails on a machine without CUDA even with the gloo backend. ``DepthRunner.setup_env`` runs mmengine's
  ``Runner.setup_env`` (which calls ``init_dist``) inside it.
- :class:`FormatOnceConfig`: ``mmengine/config/config.py::Config.pretty_text`` (mmengine 0.10.7) runs yapf's
  ``FormatCode`` over the whole config on every access, and a training Runner reads it five times
  (``Runner.__init__`` via ``visualizer.add_config``, ``Runner._log_env``, ``Runner.dump_config``,
  ``RuntimeInfoHook.before_run``, ``Runner.save_checkpoint``): ~2 s each for the 14-variant sweep config on a
  laptop CPU. The runner's config is a ``FormatOnceConfig``, which keeps the text mmengine formatted for the
  last unformatted text it saw: the same text, formatted once.
"""
import contextlib
import copy

import torch
from mmengine.config import Config

__all__ = ['cuda_device_selection_skipped', 'FormatOnceConfig', 'format_once']


@contextlib.contextmanager
def cuda_device_selection_skipped():
    """Without CUDA, ``torch.cuda.set_device`` does nothing inside the block (there is no device to select);
    with CUDA nothing changes. The function is restored on exit."""
    if torch.cuda.is_available():
        yield
        return
    set_device = torch.cuda.set_device
    torch.cuda.set_device = lambda *args, **kwargs: None
    try:
        yield
    finally:
        torch.cuda.set_device = set_device


class FormatOnceConfig(Config):
    """mmengine's ``Config`` whose ``pretty_text`` runs yapf once per distinct config text.

    The text before formatting (``pretty_text`` with ``format_python_code=False``, cheap) is the cache key; on a
    miss mmengine's own ``pretty_text`` makes the text, so the result is always exactly mmengine's."""

    @property
    def pretty_text(self) -> str:
        if not self._format_python_code:
            return super().pretty_text
        plain = copy.copy(self)  # shares the values; only the flag differs
        super(Config, plain).__setattr__('_format_python_code', False)
        unformatted = Config.pretty_text.fget(plain)
        cached = self.__dict__.get('_formatted_text')
        if cached is not None and cached[0] == unformatted:
            return cached[1]
        text = super().pretty_text
        super(Config, self).__setattr__('_formatted_text', (unformatted, text))
        return text


def format_once(cfg):
    """``cfg`` (a ``Config`` or a dict) as a :class:`FormatOnceConfig` sharing its values; None stays None."""
    if cfg is None or isinstance(cfg, FormatOnceConfig):
        return cfg
    if isinstance(cfg, Config):
        other = FormatOnceConfig.__new__(FormatOnceConfig)
        other.__dict__.update(cfg.__dict__)
        other.__dict__.pop('_formatted_text', None)
        return other
    if isinstance(cfg, dict):
        return FormatOnceConfig(cfg)
    return cfg
