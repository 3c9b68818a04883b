"""mmengine's ``Runner`` for this package's configs (``runner_type = 'DepthRunner'`` in
``configs/_base_/default_runtime.py``): mmseg's ``tools/train.py`` and ours build it through ``RUNNERS``."""
import copy

from mmengine.runner import Runner
from mmseg.registry import RUNNERS

from ...utils.dist import setup_cpu_distributed
from .mmengine_fixes import cuda_device_selection_skipped, format_once

__all__ = ['DepthRunner']


@RUNNERS.register_module()
class DepthRunner(Runner):
    """mmengine's ``Runner`` (same arguments) with the fixes of :mod:`.mmengine_fixes`, applied here only:

    - distributed launch without CUDA (``--launcher pytorch`` under torchrun on CPU): ``from_cfg`` selects the
      gloo backend and DDP without device ids (:func:`mmclipdepth.utils.setup_cpu_distributed`), and
      ``setup_env`` runs mmengine's with ``torch.cuda.set_device`` skipped (mmengine 0.10.7's
      ``_init_dist_pytorch`` calls it unconditionally);
    - the config text is formatted by yapf once, not at each of the Runner's five reads of
      ``Config.pretty_text`` (``self.cfg`` is a ``FormatOnceConfig``).
    """

    def __init__(self, *args, cfg=None, **kwargs):
        super().__init__(*args, cfg=format_once(cfg), **kwargs)

    @classmethod
    def from_cfg(cls, cfg) -> 'DepthRunner':
        cfg = setup_cpu_distributed(copy.deepcopy(cfg))
        return super().from_cfg(cfg)

    def setup_env(self, env_cfg) -> None:
        with cuda_device_selection_skipped():
            super().setup_env(env_cfg)
