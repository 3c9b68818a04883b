"""Compatibility shims for the pinned stack (docs/install.md). Imported first by ``mmclipdepth``.

1. ``mmcv.ops`` stand-in: with mmcv-lite (no compiled ``mmcv._ext``) ``import mmseg.models`` fails on
   ``from mmcv.ops import point_sample`` (mmsegmentation 1.2.2: ``mmseg/models/utils/point_sample.py``,
   ``mmseg/utils/mask_classification.py``, ``mmseg/models/decode_heads/san_head.py`` import it unguarded, and
   ``mmseg/models/losses/focal_loss.py`` imports ``sigmoid_focal_loss``). When - and only when - the compiled
   ops are missing, a stand-in ``mmcv.ops`` package is registered whose ``__path__`` is the real ``mmcv/ops``
   folder: it exposes the pure-torch ``point_sample`` and raises ``ModuleNotFoundError`` for any other
   (compiled) op, so mmseg's ``try: from mmcv.ops import ...`` guards keep working. With full mmcv installed
   nothing is touched.
2. The mmcv version check: mmsegmentation 1.2.2 asserts ``2.0.0rc4 <= mmcv < 2.2.0`` in ``mmseg/__init__.py``
   with a message that does not say what to install (``pip install mmcv-lite`` brings 2.2.0); said here,
   before mmseg is imported.

Both must run before ``mmseg`` is imported, so they run when ``mmclipdepth`` is imported; nothing else is patched
here. The fixes for mmengine behaviour (CPU distributed init, config text formatted once) are applied by the
package's runner where they are needed (``mmclipdepth/engine/runner/mmengine_fixes.py``).
"""
import importlib
import importlib.util
import os.path as osp
import sys
import types
import warnings

__all__ = ['MMCV_OPS_STANDIN']


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


def _check_mmcv_version():
    """mmsegmentation 1.x asserts ``2.0.0rc4 <= mmcv < 2.2.0`` at import with a message that does not say what to
    install; ``pip install mmcv-lite`` brings 2.2.0 today. Say it here, before mmseg is imported."""
    from importlib import metadata
    for dist in ('mmcv', 'mmcv-lite'):
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
        from mmengine.utils import digit_version
        try:
            mmseg_version = metadata.version('mmsegmentation')
        except metadata.PackageNotFoundError:
            return
        if digit_version(mmseg_version) < digit_version('1.3.0') and not (
                digit_version('2.0.0rc4') <= digit_version(version) < digit_version('2.2.0')):
            raise ImportError(
                f'mmclipdepth: {dist}=={version} is installed, but mmsegmentation=={mmseg_version} accepts only '
                f'2.0.0rc4 <= mmcv < 2.2.0. Install the supported one: pip install "mmcv-lite==2.1.0" '
                f'(or full mmcv 2.1.0 built for your torch); see docs/install.md.')
        return


_check_mmcv_version()


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


def __getattr__(name):
    """The checkpoint names that used to live here now live in :mod:`mmclipdepth.checkpoint`."""
    if name in ('SAFE_CHECKPOINT_GLOBALS', 'UnsafeCheckpointError', 'CorruptCheckpointError', 'safe_torch_load',
                'checkpoint_source_of'):
        from .checkpoint import reader
        return getattr(reader, name)
    raise AttributeError(name)
