from .. import _guard  # noqa: F401  (first: refuses a shadowed, empty mmclipdepth package)
from .metrics import *  # noqa: F401,F403
