from .. import _guard  # noqa: F401  (first: refuses a shadowed, empty mmclipdepth package)
from ..checkpoint.state import checkpoint_keys, checkpoint_state_dict, holds_clip_weights, set_clip_pretrained_none
from .dist import setup_cpu_distributed
from .runner_config import apply_test_set, build_runner, load_runner_config

__all__ = ['setup_cpu_distributed', 'load_runner_config', 'build_runner', 'apply_test_set', 'checkpoint_keys', 'checkpoint_state_dict',
           'holds_clip_weights', 'set_clip_pretrained_none']
