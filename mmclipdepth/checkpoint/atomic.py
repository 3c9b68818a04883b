"""mmengine's local file backend with atomic writes (registered as ``'atomic_local'``)."""
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Union

from mmengine.fileio import register_backend
from mmengine.fileio.backends import LocalBackend

__all__ = ['AtomicLocalBackend', 'atomic_write']


def atomic_write(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to a temporary file in the target's folder, flush and fsync it, then ``os.replace`` it
    onto ``filepath``: a reader (or a run killed mid-write) sees the old file or the complete new one, never a
    half-written one. A failed write (disk full, ...) removes the temporary file, leaves any previous
    ``filepath`` untouched and raises ``OSError`` naming ``filepath``."""
    filepath = os.fspath(filepath)
    folder = osp.dirname(osp.abspath(filepath))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.' + osp.basename(filepath) + '.', suffix='.tmp', dir=folder)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the permissions open() would
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except OSError as e:
        try:
            os.remove(tmp)
        except OSError:
            pass
        previous = ' (the previous file is untouched)' if osp.exists(filepath) else ''
        raise OSError(e.errno, f'could not write {filepath!r}: {e.strerror or e}{previous}') from e
    try:  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@register_backend('atomic_local', force=True)
class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` whose ``put`` / ``put_text`` are atomic (:func:`atomic_write`). Use it for checkpoints
    with ``backend_args=dict(backend='atomic_local')`` (``SafeCheckpointHook`` does by default)."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        atomic_write(obj.encode(encoding), filepath)
