"""Compatibility shims for the pinned stack (docs/install.md). Imported first by ``mmclipdepth``.

1. ``mmcv.ops`` stand-in: with mmcv-lite (no compiled ``mmcv._ext``) ``import mmseg.models`` fails on
   ``from mmcv.ops import point_sample``. When - and only when - the compiled ops are missing, a stand-in
   ``mmcv.ops`` package is registered whose ``__path__`` is the real ``mmcv/ops`` folder: it exposes the
   pure-torch ``point_sample`` and raises ``ModuleNotFoundError`` for any other (compiled) op, so mmseg's
   ``try: from mmcv.ops import ...`` guards keep working. With full mmcv installed nothing is touched.
2. Safe checkpoint loading: torch >= 2.6 loads with ``weights_only=True``; mmengine checkpoints contain a
   few non-tensor globals (``HistoryBuffer``, numpy arrays and scalars). Exactly those are allow-listed;
   any other pickled global is refused with an error that names the file and the global.
3. CPU distributed: mmengine's PyTorch launcher calls ``torch.cuda.set_device`` unconditionally; it is
   skipped when CUDA is absent so ``torchrun ... --launcher pytorch`` works with the gloo backend.
"""
import functools
import importlib
import importlib.util
import os
import os.path as osp
import pickle
import sys
import types
import warnings
import zipfile

import torch

__all__ = ['MMCV_OPS_STANDIN', 'SAFE_CHECKPOINT_GLOBALS', 'UnsafeCheckpointError', 'CorruptCheckpointError',
           'safe_torch_load', 'checkpoint_source_of']


def _mmcv_has_compiled_ops() -> bool:
    try:
        return importlib.util.find_spec('mmcv._ext') is not None
    except (ImportError, ValueError):
        return False


def _compiled_op_placeholder(name):
    """A callable for a compiled op that mmseg imports without a guard (e.g. ``sigmoid_focal_loss``):
    importing works, calling it raises a clear error."""

    def op(*args, **kwargs):
        raise ModuleNotFoundError(
            f'mmcv.ops.{name} needs the compiled mmcv ops, which mmcv-lite does not ship. '
            'Install full mmcv (mmcv==2.1.0 built for this torch) to use it.')

    op.__name__ = name
    return op


# compiled ops that mmseg 1.2.2 imports at module level without try/except
_UNGUARDED_COMPILED_OPS = ('sigmoid_focal_loss', )


class _OpsStandIn(types.ModuleType):
    """``mmcv.ops`` for mmcv-lite: pure-python ops only, a clear error for compiled ones."""

    def __getattr__(self, name):
        if name.startswith('__') and name.endswith('__'):
            raise AttributeError(name)  # mmengine's inspect.getmodule probes __file__ etc.
        raise ModuleNotFoundError(
            f'mmcv.ops.{name} needs the compiled mmcv ops, which mmcv-lite does not ship. '
            'Install full mmcv (mmcv==2.1.0 built for this torch) to use it.')


def _install_mmcv_ops_standin() -> bool:
    if 'mmcv.ops' in sys.modules:
        return False
    spec = importlib.util.find_spec('mmcv')
    if spec is None or _mmcv_has_compiled_ops():
        return False
    import mmcv
    ops_dir = osp.join(osp.dirname(mmcv.__file__), 'ops')
    mod = _OpsStandIn('mmcv.ops', __doc__)
    mod.__path__ = [ops_dir]
    mod.__package__ = 'mmcv.ops'
    sys.modules['mmcv.ops'] = mod
    mmcv.ops = mod
    # the real, pure-torch implementation (its module imports only torch)
    point_sample_mod = importlib.import_module('mmcv.ops.point_sample')
    mod.point_sample = point_sample_mod.point_sample
    mod.bilinear_grid_sample = point_sample_mod.bilinear_grid_sample
    for name in _UNGUARDED_COMPILED_OPS:
        setattr(mod, name, _compiled_op_placeholder(name))
    return True


MMCV_OPS_STANDIN = _install_mmcv_ops_standin()
if MMCV_OPS_STANDIN:
    # mmcv-lite has no compiled deformable attention; mmcv warns about it on every import of its transformer
    # bricks, though nothing here uses it (a compiled op that is called still raises a clear error)
    warnings.filterwarnings('ignore', message='Fail to import ``MultiScaleDeformableAttention``')
# the configs include mmseg's SegVisualizationHook with draw=False (tools/test.py --show-dir turns it on); mmseg
# warns about that setting every time
warnings.filterwarnings('ignore', message='The draw is False, it means that the hook for visualization')


# --------------------------------------------------------------------------- safe checkpoint loading
def _safe_globals():
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar
    allowed = [HistoryBuffer, np.ndarray, np.dtype, _reconstruct, scalar]
    # numpy >= 1.25 pickles dtypes as instances of these classes
    dtypes_mod = getattr(np, 'dtypes', None)
    if dtypes_mod is not None:
        allowed += [getattr(dtypes_mod, n) for n in dir(dtypes_mod) if n.endswith('DType')]
    return allowed


def _allowed_getattr_pairs():
    """(class, attribute names) that mmengine checkpoints reference through ``getattr``."""
    from mmengine.logging.history_buffer import HistoryBuffer
    from mmengine.optim.scheduler.param_scheduler import OneCycleParamScheduler
    return {
        # HistoryBuffer pickles its statistics methods as getattr(HistoryBuffer, 'mean')
        # (mmengine fills the registry only when the first buffer is created: name the defaults)
        HistoryBuffer: lambda name: name in ('min', 'max', 'current', 'mean')
        or name in HistoryBuffer._statistics_methods,
        # OneCycle schedulers keep their annealing function in state_dict()
        OneCycleParamScheduler: lambda name: name in ('_annealing_cos', '_annealing_linear'),
    }


def _restricted_getattr(obj, name):
    """Stands in for ``builtins.getattr`` while unpickling: only the (class, method) pairs that mmengine
    checkpoints contain resolve; any other use of getattr in a checkpoint is refused."""
    check = _allowed_getattr_pairs().get(obj)
    if check is not None and isinstance(name, str) and check(name):
        return getattr(obj, name)
    raise pickle.UnpicklingError(f'checkpoint uses getattr({obj!r}, {name!r}), which is not allowed')


SAFE_CHECKPOINT_GLOBALS = _safe_globals()
torch.serialization.add_safe_globals(SAFE_CHECKPOINT_GLOBALS
                                     + list(_allowed_getattr_pairs()) + [(_restricted_getattr, 'builtins.getattr')])


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint pickles a global that is not on the allow-list."""


def _unsupported_line(err) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if 'Unsupported' in ln or 'not allowed' in ln]
    return (lines[0].split('. Please use')[0] + '.') if lines else ''


#: tensors of the checkpoints read by ``safe_torch_load`` -> their file (so the model's checkpoint check can name
#: the file a state dict came from); weak references, the last few files only
_TENSOR_SOURCES = {}


def _remember_source(obj, filename) -> None:
    import weakref
    state = obj.get('state_dict', obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict):
        return
    if len(_TENSOR_SOURCES) > 64:
        for key in [k for k, (ref, _) in _TENSOR_SOURCES.items() if ref() is None] or list(_TENSOR_SOURCES)[:32]:
            _TENSOR_SOURCES.pop(key, None)
    for value in list(state.values())[:4]:
        if isinstance(value, torch.Tensor):
            _TENSOR_SOURCES[id(value)] = (weakref.ref(value), str(filename))


def checkpoint_source_of(state: dict):
    """The file a state dict's tensors were read from by ``safe_torch_load``, or None."""
    for value in list(state.values())[:8]:
        entry = _TENSOR_SOURCES.get(id(value))
        if entry is not None and entry[0]() is value:
            return entry[1]
    return None


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file is empty, truncated or not a torch checkpoint."""


def safe_torch_load(filename, map_location=None):
    """``torch.load(weights_only=True)`` with mmengine's globals allowed and a clear refusal otherwise.

    An empty, truncated or foreign file raises :class:`CorruptCheckpointError` naming the file."""
    if isinstance(filename, (str, os.PathLike)) and osp.isfile(filename) and osp.getsize(filename) == 0:
        raise CorruptCheckpointError(f'checkpoint {str(filename)!r} is empty (0 bytes): an interrupted save? '
                                     'Use the previous checkpoint of the run.')
    try:
        obj = torch.load(filename, map_location=map_location, weights_only=True)
        _remember_source(obj, filename)
        return obj
    except (EOFError, zipfile.BadZipFile) as e:
        raise CorruptCheckpointError(f'checkpoint {str(filename)!r} is truncated or not a torch checkpoint '
                                     f'({type(e).__name__}: {e})') from None
    except RuntimeError as e:
        if 'PytorchStreamReader' in str(e) or 'zip archive' in str(e) or 'central directory' in str(e):
            raise CorruptCheckpointError(f'checkpoint {str(filename)!r} is truncated or corrupt '
                                         f'({str(e).splitlines()[0]})') from None
        raise
    except pickle.UnpicklingError as e:
        if 'invalid load key' in str(e) or 'truncated' in str(e):
            raise CorruptCheckpointError(f'checkpoint {str(filename)!r} is not a torch checkpoint or is '
                                         f'truncated ({e})') from None
        raise UnsafeCheckpointError(
            f'Refusing to load checkpoint {filename!r}: it pickles an object outside the allow-list of '
            f'what mmengine checkpoints contain (tensors, HistoryBuffer, numpy arrays/scalars). '
            f'Loading it would allow arbitrary code to run. {_unsupported_line(e)}') from None


def _register_safe_local_loader():
    from mmengine.runner.checkpoint import CheckpointLoader

    @CheckpointLoader.register_scheme(prefixes='', force=True)
    def load_from_local(filename, map_location):
        filename = osp.expanduser(filename)
        if not osp.isfile(filename):
            raise FileNotFoundError(f'checkpoint {filename} can not be found.')
        return safe_torch_load(filename, map_location=map_location)


_register_safe_local_loader()


# --------------------------------------------------------------------------- CPU distributed
def _patch_dist_init():
    import mmengine.dist.utils as dist_utils
    original = dist_utils._init_dist_pytorch
    if getattr(original, '_mmclipdepth_patched', False):
        return

    @functools.wraps(original)
    def _init_dist_pytorch(backend, *args, **kwargs):
        if torch.cuda.is_available():
            return original(backend, *args, **kwargs)
        set_device = torch.cuda.set_device
        torch.cuda.set_device = lambda *a, **k: None  # no CUDA: nothing to select
        try:
            return original(backend, *args, **kwargs)
        finally:
            torch.cuda.set_device = set_device

    _init_dist_pytorch._mmclipdepth_patched = True
    dist_utils._init_dist_pytorch = _init_dist_pytorch


_patch_dist_init()
