"""mmclipdepth: monocular depth estimation with frozen vision-language models (OpenMMLab plugin).

Importing the package registers every component in mmseg's registries (``mmseg.registry``).
"""
from . import _compat  # noqa: F401  (must come first: the mmcv.ops stand-in)
from . import checkpoint  # noqa: F401,E402  (checkpoint reader, atomic file backend, SafeCheckpointHook)
from . import datasets, engine, evaluation, models, visualization  # noqa: F401,E402

__version__ = '0.5.0'
