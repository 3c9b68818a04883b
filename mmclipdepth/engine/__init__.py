from .. import _guard  # noqa: F401  (first: refuses a shadowed, empty mmclipdepth package)
from .hooks import *  # noqa: F401,F403
from .model_wrappers import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .runner import *  # noqa: F401,F403
from .schedulers import *  # noqa: F401,F403
