"""The official NYU Depth v2 labelled release -> the 654-image test split in the layout the NYU configs read.

    python tools/dataset_converters/nyu_labeled_mat.py nyu_depth_v2_labeled.mat splits.mat data/nyu \
        [--split test|train|both]

Inputs (Silberman et al., ECCV 2012, cs.nyu.edu/~silberman/datasets/nyu_depth_v2.html):

- ``nyu_depth_v2_labeled.mat``: MATLAB v7.3 (HDF5), read with h5py. MATLAB stores arrays column-major, so
  HDF5 shows them transposed: ``images`` (N, 3, W, H) uint8, ``depths`` (N, W, H) float32 metres (the
  in-painted depth), ``sceneTypes`` (1, N) references to char arrays (``kitchen``, ...).
- ``splits.mat``: MATLAB v5 (scipy.io), ``testNdxs`` (654) and ``trainNdxs`` (795), 1-based indices.

Output, as BTS's ``extract_official_train_test_set_from_mat.py`` lays it out and as
``configs/_base_/datasets/nyu.py`` (``split='test'``) and ``mmclipdepth/datasets/splits/
nyudepthv2_test_files_with_gt.txt`` expect it::

    ROOT/official_splits/test/<sceneType>/rgb_XXXXX.jpg         # XXXXX = 1-based index - 1
    ROOT/official_splits/test/<sceneType>/sync_depth_XXXXX.png  # uint16 millimetres (depth x 1000, rounded)

(``--split train``: ``official_splits/train/``, the 795 images of ``split='official_train'``.) The full
480x640 frame is written; the evaluation crop is the metric's (``DepthEvalMetric(crop='eigen')``).
"""
import argparse
import os
import os.path as osp
import re
import sys

import numpy as np

SPLIT_KEYS = dict(test='testNdxs', train='trainNdxs')


class ConversionError(ValueError):
    """A malformed input file (the message names the file and the key)."""


def read_split_indices(splits_mat: str) -> dict:
    """{'test': 0-based indices, 'train': ...} from ``splits.mat`` (1-based ``testNdxs`` / ``trainNdxs``)."""
    if not osp.isfile(splits_mat):
        raise FileNotFoundError(f'splits file {splits_mat!r} does not exist')
    import scipy.io
    try:
        mat = scipy.io.loadmat(splits_mat)
    except (ValueError, NotImplementedError, OSError) as e:
        raise ConversionError(f'{splits_mat}: not a MATLAB v5 splits.mat ({e})') from None
    out = {}
    for split, key in SPLIT_KEYS.items():
        if key not in mat:
            raise ConversionError(f'{splits_mat}: no key {key!r} (expected testNdxs and trainNdxs, found '
                                  f'{sorted(k for k in mat if not k.startswith("__"))})')
        idx = np.asarray(mat[key]).reshape(-1).astype(np.int64)
        if idx.size and idx.min() < 1:
            raise ConversionError(f'{splits_mat}: {key} must hold 1-based indices (>= 1), found {idx.min()}')
        out[split] = idx - 1
    return out


#: the release's frames are 640x480; a file from elsewhere may declare any size (read one frame at a time)
MAX_FRAME_PIXELS = 16_000_000
#: a scene type becomes a folder name: NYU's are lower-case words joined by '_' (``living_room``)
SCENE_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$')


def _stored(f, key: str, path: str):
    """``f[key]`` when it is a dataset stored in this file: external / soft links, external raw storage and
    virtual datasets (data read from other files, e.g. ``/etc/passwd``) are refused (docs/security.md)."""
    import h5py
    link = f.get(key, getlink=True)
    if not isinstance(link, h5py.HardLink):
        raise ConversionError(f'{path}: {key!r} is a {type(link).__name__} (to another file or object), not a '
                              'dataset stored in this file: refused')
    ds = f[key]
    if not isinstance(ds, h5py.Dataset) or ds.is_virtual or ds.external:
        raise ConversionError(f'{path}: {key!r} is not a plain dataset stored in this file (a group, a virtual '
                              'dataset or external storage): refused')
    return ds


def _scene_types(f, path: str, n: int) -> list:
    import h5py
    if 'sceneTypes' not in f:
        raise ConversionError(f'{path}: no key \'sceneTypes\'')
    refs = np.asarray(_stored(f, 'sceneTypes', path)).reshape(-1)
    if refs.size != n:
        raise ConversionError(f'{path}: sceneTypes holds {refs.size} entries, images {n}')
    names = []
    for i, ref in enumerate(refs):
        target = f[ref]
        if not isinstance(target, h5py.Dataset) or target.size > 64 or target.is_virtual or target.external:
            raise ConversionError(f'{path}: sceneTypes[{i}] is not a short MATLAB char array stored in this file')
        chars = np.asarray(target).reshape(-1)
        name = ''.join(chr(int(c)) if 0 < int(c) < 0x110000 else '?' for c in chars)
        if not SCENE_NAME.match(name):  # it names a folder under the output root: never '..' or a path
            raise ConversionError(f'{path}: sceneTypes[{i}] = {name!r} is not a scene name (letters, digits, '
                                  "'_' or '-'); it would name a folder outside the output root: refused")
        names.append(name)
    return names


def convert(labeled_mat: str, splits_mat: str, root: str, splits=('test',)) -> dict:
    """Write the chosen splits under ``root/official_splits/``; return ``{split: number of images}``."""
    import h5py
    from PIL import Image
    indices = read_split_indices(splits_mat)
    if not osp.isfile(labeled_mat):
        raise FileNotFoundError(f'labelled release {labeled_mat!r} does not exist')
    try:
        f = h5py.File(labeled_mat, 'r')
    except OSError as e:
        raise ConversionError(f'{labeled_mat}: not a MATLAB v7.3 (HDF5) file ({e})') from None
    written = {}
    with f:
        for key in ('images', 'depths'):
            if key not in f:
                raise ConversionError(f'{labeled_mat}: no key {key!r} (expected images, depths, sceneTypes)')
        images, depths = _stored(f, 'images', labeled_mat), _stored(f, 'depths', labeled_mat)
        if images.ndim != 4 or images.shape[1] != 3:
            raise ConversionError(f'{labeled_mat}: images has shape {images.shape}, expected (N, 3, W, H)')
        n, _, w, h = images.shape
        if w * h > MAX_FRAME_PIXELS:
            raise ConversionError(f'{labeled_mat}: images declares frames of {w}x{h} px, above {MAX_FRAME_PIXELS} '
                                  '(the release has 640x480): not read')
        if depths.shape != (n, w, h):
            raise ConversionError(f'{labeled_mat}: depths has shape {depths.shape}, expected (N, W, H) = '
                                  f'{(n, w, h)} to match images')
        scenes = _scene_types(f, labeled_mat, n)
        for split in splits:
            idx = indices[split]
            if idx.size and idx.max() >= n:
                raise ConversionError(f'{splits_mat}: {SPLIT_KEYS[split]} names image {idx.max() + 1} but '
                                      f'{labeled_mat} holds {n}')
            out_root = osp.join(root, 'official_splits', split)
            for i in idx:
                folder = osp.join(out_root, scenes[i])
                os.makedirs(folder, exist_ok=True)
                rgb = np.ascontiguousarray(np.asarray(images[i]).transpose(2, 1, 0))  # (3, W, H) -> (H, W, 3)
                depth = np.asarray(depths[i], dtype=np.float64).T  # (W, H) -> (H, W), metres
                if not np.isfinite(depth).all() or depth.min() < 0 or depth.max() * 1000 > 65535:
                    raise ConversionError(f'{labeled_mat}: depths[{i}] is not metres in [0, 65.535] '
                                          f'(min {depth.min()}, max {depth.max()})')
                Image.fromarray(rgb).save(osp.join(folder, f'rgb_{i:05d}.jpg'), quality=95)
                Image.fromarray(np.round(depth * 1000.0).astype(np.uint16)).save(
                    osp.join(folder, f'sync_depth_{i:05d}.png'))
            written[split] = int(idx.size)
    return written


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('labeled_mat', help='nyu_depth_v2_labeled.mat (MATLAB v7.3)')
    p.add_argument('splits_mat', help='splits.mat (testNdxs, trainNdxs)')
    p.add_argument('root', help='dataset root (data/nyu): writes root/official_splits/<split>/')
    p.add_argument('--split', choices=['test', 'train', 'both'], default='test')
    args = p.parse_args(argv)
    splits = ('test', 'train') if args.split == 'both' else (args.split,)
    try:
        written = convert(args.labeled_mat, args.splits_mat, args.root, splits)
    except (FileNotFoundError, ConversionError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    for split, n in written.items():
        print(f'{split}: {n} images -> {osp.join(args.root, "official_splits", split)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
