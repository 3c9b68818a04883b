"""The one place a checkpoint file is read (the only ``torch.load`` of the package).

Before anything is unpickled or inflated the file is checked as a zip archive: torch writes its records
*stored* (uncompressed), so a compressed record, a record that declares more bytes than the file holds, or a
total above :data:`MAX_CHECKPOINT_BYTES` is refused without inflating anything (a 1 MB zip can declare a GiB
of zeros). Then ``torch.load(weights_only=True)`` runs with mmengine's few non-tensor globals allow-listed
(``HistoryBuffer``, numpy arrays and scalars); any other pickled global is refused, naming the file and the
global. A file that is not a checkpoint at all (random bytes, raw tensor data, a plain zip) is reported as
corrupt, not as malicious. A checkpoint that carries an identity (:mod:`.identity`) has its tensor digests
verified and its trained tensors checked for NaN / inf here, so every reader - the model loaders, the
converters - sees the same checks.
"""
import os
import os.path as osp
import pickle
import zipfile

import torch

__all__ = ['UnsafeCheckpointError', 'CorruptCheckpointError', 'OversizeCheckpointError', 'SAFE_CHECKPOINT_GLOBALS',
           'MAX_CHECKPOINT_BYTES', 'SOURCE_KEY', 'safe_torch_load', 'checkpoint_source_of', 'check_archive']

#: the largest total of bytes a checkpoint's records may declare (env ``MMCLIPDEPTH_MAX_CHECKPOINT_BYTES``);
#: a full ViT-L/14 CLIP checkpoint is ~1.7 GB
MAX_CHECKPOINT_BYTES = int(os.environ.get('MMCLIPDEPTH_MAX_CHECKPOINT_BYTES', 16 * 2**30))


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint pickles a global that is not on the allow-list."""


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file is empty, truncated, altered or not a torch checkpoint."""


class OversizeCheckpointError(CorruptCheckpointError):
    """A checkpoint's records are compressed or declare more bytes than allowed."""


# --------------------------------------------------------------------------- allow-list
def _safe_globals():
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar
    allowed = [HistoryBuffer, np.ndarray, np.dtype, _reconstruct, scalar]
    dtypes_mod = getattr(np, 'dtypes', None)  # numpy >= 1.25 pickles dtypes as instances of these classes
    if dtypes_mod is not None:
        allowed += [getattr(dtypes_mod, n) for n in dir(dtypes_mod) if n.endswith('DType')]
    return allowed


def _allowed_getattr_pairs():
    """(class, attribute names) that mmengine checkpoints reference through ``getattr``."""
    from mmengine.logging.history_buffer import HistoryBuffer
    from mmengine.optim.scheduler.param_scheduler import OneCycleParamScheduler
    return {
        # HistoryBuffer pickles its statistics methods as getattr(HistoryBuffer, 'mean')
        HistoryBuffer: lambda name: name in ('min', 'max', 'current', 'mean')
        or name in HistoryBuffer._statistics_methods,
        # OneCycle schedulers keep their annealing function in state_dict()
        OneCycleParamScheduler: lambda name: name in ('_annealing_cos', '_annealing_linear'),
    }


def _restricted_getattr(obj, name):
    """Stands in for ``builtins.getattr`` while unpickling: only the (class, method) pairs that mmengine
    checkpoints contain resolve."""
    check = _allowed_getattr_pairs().get(obj)
    if check is not None and isinstance(name, str) and check(name):
        return getattr(obj, name)
    raise pickle.UnpicklingError(f'checkpoint uses getattr({obj!r}, {name!r}), which is not allowed')


SAFE_CHECKPOINT_GLOBALS = _safe_globals()
torch.serialization.add_safe_globals(SAFE_CHECKPOINT_GLOBALS + list(_allowed_getattr_pairs())
                                     + [(_restricted_getattr, 'builtins.getattr')])


def _unsupported_line(err) -> str:
    lines = [ln.strip() for ln in str(err).splitlines()
             if any(k in ln.lower() for k in ('unsupported', 'not allowed', 'is blocked'))]
    return (lines[0].split('. Please use')[0] + '.') if lines else ''


# --------------------------------------------------------------------------- file names for messages
#: the entry of a state dict's ``_metadata['']`` that names the file it was read from
SOURCE_KEY = 'mmclipdepth_checkpoint_file'


def _record_source(obj, filename: str):
    """Write ``filename`` into the state dict's own ``_metadata`` (root entry ``''``): torch's
    ``Module.load_state_dict``, mmengine's ``_load_checkpoint_to_model`` and ``load_state_dict`` keep that
    attribute and hand its root entry to the top module's load-state-dict pre-hooks as ``local_metadata``,
    so the model's check (:mod:`.guard`) names the file without any global state. A plain ``dict`` state
    (it cannot carry the attribute) becomes an ``OrderedDict``. Returns ``obj`` (the new state dict where
    ``obj`` was a bare plain dict)."""
    from collections import OrderedDict
    wrapped = isinstance(obj, dict) and isinstance(obj.get('state_dict'), dict)
    state = obj['state_dict'] if wrapped else obj
    if not isinstance(state, dict) or not any(isinstance(v, torch.Tensor) for v in state.values()):
        return obj
    if not isinstance(state, OrderedDict):
        state = OrderedDict(state)
        if wrapped:
            obj['state_dict'] = state
        else:
            obj = state
    metadata = getattr(state, '_metadata', None)
    if not isinstance(metadata, dict):
        metadata = state._metadata = OrderedDict()
    root = metadata.get('')
    metadata[''] = dict(root if isinstance(root, dict) else {}, **{SOURCE_KEY: str(filename)})
    return obj


def checkpoint_source_of(state: dict, local_metadata: dict = None):
    """The file a state dict was read from by :func:`safe_torch_load` (recorded in its ``_metadata``, or in
    the ``local_metadata`` a load-state-dict pre-hook receives), or None."""
    for entry in (local_metadata, (getattr(state, '_metadata', None) or {}).get('')):
        if isinstance(entry, dict) and entry.get(SOURCE_KEY):
            return entry[SOURCE_KEY]
    return None


# --------------------------------------------------------------------------- the archive, before inflating
def check_archive(filename: str, limit: int = None) -> None:
    """Refuse, before anything is inflated, a checkpoint whose zip records are compressed, declare more bytes
    than the file holds or more than ``limit`` in total; refuse a zip that is not a torch checkpoint and a file
    that is neither a zip nor a legacy (pickle) torch file."""
    limit = MAX_CHECKPOINT_BYTES if limit is None else limit
    size = osp.getsize(filename)
    if size == 0:
        raise CorruptCheckpointError(f'checkpoint {filename!r} is empty (0 bytes): an interrupted save? '
                                     'Use the previous checkpoint of the run.')
    if not zipfile.is_zipfile(filename):
        with open(filename, 'rb') as f:
            head = f.read(2)
        if head[:1] != b'\x80':  # a legacy torch file starts with a pickle protocol header
            raise CorruptCheckpointError(
                f'checkpoint {filename!r} is corrupt or not a torch checkpoint: it is neither a torch zip archive '
                'nor a legacy torch file (random bytes, raw tensor data, a truncated download?). Nothing was '
                'loaded; it is not reported as malicious, just unreadable.')
        return
    try:
        with zipfile.ZipFile(filename) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as e:
        raise CorruptCheckpointError(f'checkpoint {filename!r} is a damaged zip archive ({e})') from None
    compressed = [i.filename for i in infos if i.compress_type != zipfile.ZIP_STORED]
    if compressed:
        raise OversizeCheckpointError(
            f'checkpoint {filename!r} has compressed zip record(s) {compressed[:3]}: torch writes its records '
            'stored (uncompressed), so this file was made elsewhere; refused before inflating anything (a small '
            'compressed file can expand to many GB). Re-save it with torch.save.')
    total = sum(i.file_size for i in infos)
    big = [i.filename for i in infos if i.file_size > size]
    if big:
        raise OversizeCheckpointError(
            f'checkpoint {filename!r}: zip record(s) {big[:3]} declare more bytes than the whole file holds '
            f'({size} bytes): the archive is damaged or forged; refused before reading it.')
    if total > limit:
        raise OversizeCheckpointError(
            f'checkpoint {filename!r} declares {total} bytes of records, above the limit of {limit} bytes '
            '(set MMCLIPDEPTH_MAX_CHECKPOINT_BYTES to raise it); refused before reading it.')
    if not any(i.filename == 'data.pkl' or i.filename.endswith('/data.pkl') for i in infos):
        raise CorruptCheckpointError(
            f'checkpoint {filename!r} is a zip archive but not a torch checkpoint (it has no data.pkl record; '
            f'its records: {[i.filename for i in infos[:4]]}).')


def safe_torch_load(filename, map_location=None, verify: bool = True, mmap: bool = False):
    """Read a checkpoint file: archive checks, ``torch.load(weights_only=True)`` with the allow-list, then
    (``verify``) the identity's tensor digests and finiteness (:func:`.identity.verify_tensors`). The state
    dict comes back with ``filename`` in its ``_metadata`` (:func:`checkpoint_source_of`), which the model's
    check uses to name the file."""
    filename = os.fspath(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename!r} does not exist')
    check_archive(filename)
    try:
        obj = torch.load(filename, map_location=map_location, weights_only=True, mmap=mmap or None)
    except (EOFError, zipfile.BadZipFile) as e:
        raise CorruptCheckpointError(f'checkpoint {filename!r} is truncated or not a torch checkpoint '
                                     f'({type(e).__name__}: {e})') from None
    except RuntimeError as e:
        raise CorruptCheckpointError(f'checkpoint {filename!r} is truncated or corrupt '
                                     f'({str(e).splitlines()[0]})') from None
    except pickle.UnpicklingError as e:
        text = str(e)
        low = text.lower()
        if any(k in low for k in ('unsupported global', 'not allowed', 'unsupported operand', 'is blocked')):
            raise UnsafeCheckpointError(
                f'Refusing to load checkpoint {filename!r}: it pickles an object outside the allow-list of '
                f'what mmengine checkpoints contain (tensors, HistoryBuffer, numpy arrays/scalars). '
                f'Loading it would allow arbitrary code to run. {_unsupported_line(e)}') from None
        raise CorruptCheckpointError(f'checkpoint {filename!r} is corrupt or not a torch checkpoint '
                                     f'({text.splitlines()[0] if text else type(e).__name__})') from None
    if verify:
        from .identity import verify_tensors
        verify_tensors(obj, filename)
    return _record_source(obj, filename)


def register_local_loader():
    """Make mmengine's local checkpoint scheme (``load_from``, ``--resume``, ``tools/test.py``) read through
    :func:`safe_torch_load`."""
    from mmengine.runner.checkpoint import CheckpointLoader

    @CheckpointLoader.register_scheme(prefixes='', force=True)
    def load_from_local(filename, map_location):
        if not str(filename).strip():
            raise FileNotFoundError(
                'checkpoint name is empty: the work dir\'s "last_checkpoint" file is empty (a run killed while '
                'writing it, or written by hand). Put the path of a checkpoint of the run in it, or start '
                'without --resume.')
        filename = osp.expanduser(filename)
        if not osp.isfile(filename):
            raise FileNotFoundError(f'checkpoint {filename} can not be found.')
        return safe_torch_load(filename, map_location=map_location)
