"""tools/dataset_converters/nyu_labeled_mat.py on a tiny synthetic release written with h5py in the official
structure (MATLAB v7.3 stores arrays transposed: images (N, 3, W, H), depths (N, W, H))."""
import os.path as osp
import subprocess
import sys

import h5py
import numpy as np
import scipy.io
from PIL import Image

from conftest import REPO

TOOL = osp.join(REPO, 'tools', 'dataset_converters', 'nyu_labeled_mat.py')
H, W, N = 12, 16, 4
SCENES = ['kitchen', 'bedroom', 'kitchen', 'office']


def _write_release(folder, depths_key='depths', transpose_depths=True):
    rng = np.random.default_rng(0)
    rgb = np.zeros((N, H, W, 3), np.uint8)  # what a user sees: (H, W, 3)
    for i in range(N):  # left half dark, right half bright, top rows red: orientation shows
        rgb[i, :, W // 2:] = 200
        rgb[i, :H // 2, :, 0] = 250
        rgb[i, :, :, 2] = 20 * i
    depth = rng.uniform(0.5, 9.5, (N, H, W)).astype(np.float32)  # metres
    depth[:, 0, 0] = 1.2345  # an exact mm value: 1234.5 mm -> 1234 or 1235 after rounding
    mat = osp.join(folder, 'labeled.mat')
    with h5py.File(mat, 'w') as f:
        f['images'] = rgb.transpose(0, 3, 2, 1)  # (N, 3, W, H)
        f[depths_key] = depth.transpose(0, 2, 1) if transpose_depths else depth  # (N, W, H); else (N, H, W)
        refs = f.create_group('#refs#')
        ref_arr = np.empty((1, N), dtype=h5py.ref_dtype)
        for i, s in enumerate(SCENES):
            refs[f's{i}'] = np.array([[ord(c)] for c in s], np.uint16)  # MATLAB char: (len, 1) uint16
            ref_arr[0, i] = refs[f's{i}'].ref
        f.create_dataset('sceneTypes', data=ref_arr, dtype=h5py.ref_dtype)
    splits = osp.join(folder, 'splits.mat')
    scipy.io.savemat(splits, dict(testNdxs=np.array([[2], [4]]), trainNdxs=np.array([[1], [3]])))
    return mat, splits, rgb, depth


def test_converter_writes_the_test_split_in_metres_and_orientation(tmp_path):
    mat, splits, rgb, depth = _write_release(tmp_path)
    root = tmp_path / 'nyu'
    r = subprocess.run([sys.executable, TOOL, mat, splits, str(root)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert 'test: 2 images' in r.stdout
    # testNdxs 2 and 4 (1-based) -> files 00001 (bedroom) and 00003 (office), as the shipped split file names them
    for i, scene in ((1, 'bedroom'), (3, 'office')):
        folder = root / 'official_splits' / 'test' / scene
        png = np.asarray(Image.open(folder / f'sync_depth_{i:05d}.png'))
        assert png.dtype == np.uint16 and png.shape == (H, W)
        # millimetres, rounded: |png/1000 - depth| <= 0.5 mm (+ float32 rounding of depth, << 1e-6 m)
        assert np.abs(png / 1000.0 - depth[i]).max() <= 0.5e-3 + 1e-6
        img = np.asarray(Image.open(folder / f'rgb_{i:05d}.jpg').convert('RGB')).astype(int)
        assert img.shape == (H, W, 3)
        # JPEG is lossy: compare with a tolerance far below the 200-level pattern steps
        assert np.abs(img - rgb[i].astype(int)).mean() < 12
        assert img[-1, -1].sum() > img[-1, 0].sum() + 300  # bright right half (not transposed/flipped)
        assert img[0, 0, 0] > img[-1, 0, 0] + 150  # red top rows
    assert not (root / 'official_splits' / 'test' / 'kitchen').exists()  # 1 and 3 are train


def test_converter_names_the_missing_key(tmp_path):
    mat, splits, _, _ = _write_release(tmp_path, depths_key='rawDepth')
    r = subprocess.run([sys.executable, TOOL, mat, splits, str(tmp_path / 'out')], capture_output=True, text=True)
    assert r.returncode == 2
    assert "labeled.mat: no key 'depths'" in r.stderr


def test_converter_writes_nothing_outside_its_root_and_reads_only_this_file(tmp_path):
    """docs/security.md: a scene type names a folder, so '../..' in a crafted release is refused before anything
    is written; data stored in another file (external storage) is refused."""
    mat, splits, _, _ = _write_release(tmp_path)
    with h5py.File(mat, 'r+') as f:
        del f['#refs#/s1']
        f['#refs#/s1'] = np.array([[ord(c)] for c in '../../escaped'], np.uint16)
        refs = np.asarray(f['sceneTypes'])
        refs[0, 1] = f['#refs#/s1'].ref
        f['sceneTypes'][...] = refs
    root = tmp_path / 'deep' / 'nyu'
    r = subprocess.run([sys.executable, TOOL, mat, splits, str(root)], capture_output=True, text=True)
    assert r.returncode == 2 and "sceneTypes[1] = '../../escaped' is not a scene name" in r.stderr, r.stderr
    assert not (tmp_path / 'deep' / 'escaped').exists() and not root.exists()
    mat, splits, _, _ = _write_release(tmp_path)
    secret = tmp_path / 'secret.bin'
    secret.write_bytes(bytes(range(256)) * 64)
    with h5py.File(mat, 'r+') as f:
        shape = f['depths'].shape
        del f['depths']
        f.create_dataset('depths', shape, np.float32, external=[(str(secret), 0, 4 * int(np.prod(shape)))])
    r = subprocess.run([sys.executable, TOOL, mat, splits, str(tmp_path / 'out2')], capture_output=True, text=True)
    assert r.returncode == 2 and "'depths' is not a plain dataset stored in this file" in r.stderr, r.stderr


def test_converter_names_a_wrong_shape(tmp_path):
    """depths written as (N, H, W) (not MATLAB's transposed layout) against images (N, 3, W, H): refused, naming
    the file, the shape found and the one expected."""
    mat, splits, _, _ = _write_release(tmp_path, transpose_depths=False)
    r = subprocess.run([sys.executable, TOOL, mat, splits, str(tmp_path / 'out')], capture_output=True, text=True)
    assert r.returncode == 2
    assert f'labeled.mat: depths has shape ({N}, {H}, {W}), expected (N, W, H) = ({N}, {W}, {H})' in r.stderr, r.stderr
    assert not (tmp_path / 'out' / 'official_splits').exists()
