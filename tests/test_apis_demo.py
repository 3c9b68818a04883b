"""Inference API (init_depth_model / inference_depth) and demo/image_demo.py on the bundled real samples."""
import glob
import importlib.util
import os.path as osp
import subprocess
import sys
import warnings

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import DATA, REPO
from mmclipdepth.apis import backproject_depth, inference_depth, init_depth_model, write_ply
from tiny_configs import dump_tiny_config, tiny_config

NYU_CFG = 'clipdepth/nyu_baseline_learned7.py'
KITTI_CFG = 'clipdepth/kitti_baseline_learned7.py'
NYU_DIR = osp.join(DATA, 'nyu', 'sync', 'basement_0001a')
NYU_IMG = osp.join(NYU_DIR, 'rgb_00000.jpg')
KITTI_IMG = osp.join(DATA, 'kitti', 'raw', '2011_09_26', '2011_09_26_drive_0001_sync', 'image_02', 'data',
                     '0000000005.png')


def _demo():
    spec = importlib.util.spec_from_file_location('image_demo', osp.join(REPO, 'demo', 'image_demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_ply(path):
    """Independent PLY reader (binary little-endian or ASCII) -> structured vertex array."""
    data = open(path, 'rb').read()
    end = data.index(b'end_header\n') + len(b'end_header\n')
    header = data[:end].decode('ascii').splitlines()
    count = int(next(line for line in header if line.startswith('element vertex')).split()[-1])
    types = {'float': '<f4', 'uchar': 'u1'}
    dtype = np.dtype([(name, types[t]) for _, t, name in
                      (line.split() for line in header if line.startswith('property'))])
    if 'format binary_little_endian 1.0' in header:
        assert len(data) - end == count * dtype.itemsize
        return np.frombuffer(data[end:], dtype=dtype, count=count)
    assert 'format ascii 1.0' in header
    rows = [line.split() for line in data[end:].decode('ascii').splitlines() if line.strip()]
    assert len(rows) == count
    out = np.zeros(count, dtype=dtype)
    for i, name in enumerate(dtype.names):
        out[name] = [float(r[i]) for r in rows]
    return out


def bin_centres_linear(n, lo, hi):
    return lo + (np.arange(n) + 0.5) * (hi - lo) / n


@pytest.fixture(scope='module')
def nyu(tmp_path_factory):
    """A tiny-CLIP NYU learned-7 config file, a checkpoint of one random model, and that model."""
    folder = tmp_path_factory.mktemp('nyu_model')
    cfg_path = dump_tiny_config(NYU_CFG, folder)
    # fixed seed: some random tiny CLIPs give an all-zero layer4 vector at a position, whose L2
    # normalisation is NaN (clamped to min_depth by the head)
    torch.manual_seed(0)
    with pytest.raises(ValueError, match=r'(?s)1 learnable parameter.*no checkpoint was given'):
        init_depth_model(cfg_path)  # refused without a checkpoint
    with pytest.warns(UserWarning, match='RANDOM initial values'):
        model = init_depth_model(cfg_path, allow_untrained=True)
    # "trained" tokens: far enough apart that the depth varies over the image
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        vecs = model.decode_head.text_encoder.depth_vecs
        vecs.copy_(torch.randn(vecs.shape, generator=generator))
    ckpt = osp.join(str(folder), 'tiny_learned7.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    return cfg_path, ckpt, model


def test_inference_nyu_full_frame_in_metres(nyu):
    _, _, model = nyu
    depth = inference_depth(model, NYU_IMG)
    assert isinstance(depth, np.ndarray) and depth.dtype == np.float32
    assert depth.shape == (480, 640)  # NYU test pipeline: the full frame, no crop
    centres = bin_centres_linear(7, 1e-3, 10.0)  # depth = softmax-weighted mean of the bin centres
    assert depth.min() >= centres[0] - 1e-4 and depth.max() <= centres[-1] + 1e-4
    assert np.ptp(depth) > 0.1


def test_checkpoint_is_loaded_and_arrays_match_paths(nyu):
    cfg_path, ckpt, model = nyu
    reloaded = init_depth_model(cfg_path, ckpt)  # fresh random CLIP + tokens, then the checkpoint
    expected = inference_depth(model, NYU_IMG)
    np.testing.assert_allclose(inference_depth(reloaded, NYU_IMG), expected, atol=1e-5)
    bgr = cv2.imread(NYU_IMG)
    out = inference_depth(reloaded, [bgr, NYU_IMG], batch_size=2)
    assert isinstance(out, list) and len(out) == 2
    np.testing.assert_allclose(out[0], expected, atol=1e-4)
    np.testing.assert_allclose(out[1], expected, atol=1e-5)


def test_flip_tta_follows_config(nyu):
    _, _, model = nyu
    assert model.test_cfg.mode == 'whole_flip'
    bgr = cv2.imread(NYU_IMG)
    depth = inference_depth(model, bgr)
    mirrored = inference_depth(model, bgr[:, ::-1].copy())
    # averaging image and mirror makes the prediction mirror-equivariant (a random CNN alone is not)
    np.testing.assert_allclose(mirrored, depth[:, ::-1], atol=1e-5)
    model.test_cfg.mode = 'whole'
    try:
        plain = inference_depth(model, bgr)
        plain_mirrored = inference_depth(model, bgr[:, ::-1].copy())
    finally:
        model.test_cfg.mode = 'whole_flip'
    assert np.abs(plain_mirrored - plain[:, ::-1]).max() > 1e-3
    np.testing.assert_allclose((plain + plain_mirrored[:, ::-1]) / 2, depth, atol=1e-4)


def test_kitti_kb_crop_applies_to_raw_images():
    torch.manual_seed(0)
    model = init_depth_model(tiny_config(KITTI_CFG), allow_untrained=True)
    sample = inference_depth(model, KITTI_IMG, return_samples=True)
    assert tuple(sample.metainfo['kb_crop']) == (375 - 352, (1242 - 1216) // 2)
    depth = sample.pred_depth_map.data[0].numpy()
    assert depth.shape == (352, 1216)
    raw = cv2.imread(KITTI_IMG)
    assert raw.shape[:2] == (375, 1242)
    # the same crop done by hand (rows 23:375, cols 13:1229) gives the same prediction (crop is a no-op)
    np.testing.assert_allclose(inference_depth(model, raw[23:375, 13:1229].copy()), depth, atol=1e-5)
    with pytest.raises(ValueError, match='KBCrop needs an image of at least 352x1216'):
        inference_depth(model, raw[:300].copy())


def test_errors_name_the_file(nyu, tmp_path):
    cfg_path, ckpt, model = nyu
    with pytest.raises(FileNotFoundError, match='missing_ckpt.pth'):
        init_depth_model(cfg_path, str(tmp_path / 'missing_ckpt.pth'))
    with pytest.raises(FileNotFoundError, match='no_such_config.py'):
        init_depth_model(str(tmp_path / 'no_such_config.py'))
    cfg20 = tiny_config(NYU_CFG)
    cfg20.model.decode_head.text_encoder.depth_tokens = 'learned-20'
    with pytest.raises(ValueError, match=r'depth_vecs: checkpoint \(7, 32\) vs model \(20, 32\)'):
        init_depth_model(cfg20, ckpt)
    with pytest.raises(FileNotFoundError, match='nothere.jpg'):
        inference_depth(model, str(tmp_path / 'nothere.jpg'))
    bad = tmp_path / 'broken.png'
    bad.write_bytes(b'this is not a PNG')
    with pytest.raises(ValueError, match='broken.png'):
        inference_depth(model, str(bad))
    demo = _demo()
    with pytest.raises(ValueError, match='broken.png'):
        demo.main([cfg_path, ckpt, str(bad), '--out-dir', str(tmp_path / 'out')])
    with pytest.raises(FileNotFoundError, match='gone.pth'):
        demo.main([cfg_path, str(tmp_path / 'gone.pth'), NYU_IMG, '--out-dir', str(tmp_path / 'out')])


def test_demo_writes_all_outputs(nyu, tmp_path):
    cfg_path, ckpt, model = nyu
    out = tmp_path / 'demo'
    fx, fy, cx, cy = 518.8579, 519.4696, 325.5824, 253.7362  # NYU's Kinect intrinsics
    pattern = osp.join(NYU_DIR, 'rgb_*.jpg')
    summary = _demo().main([cfg_path, ckpt, pattern, '--out-dir', str(out), '--colorbar', '--intrinsics',
                            str(fx), str(fy), str(cx), str(cy)])
    assert len(summary) == len(glob.glob(pattern)) == 3
    for stem in ('rgb_00000', 'rgb_00050', 'rgb_00100'):
        for suffix in ('_depth.png', '_depth_mm.png', '_depth.npy', '.ply'):
            assert (out / (stem + suffix)).is_file(), stem + suffix

    expected = inference_depth(model, NYU_IMG)
    depth = np.load(out / 'rgb_00000_depth.npy')
    assert depth.dtype == np.float32
    np.testing.assert_allclose(depth, expected, atol=1e-5)
    png = cv2.imread(str(out / 'rgb_00000_depth_mm.png'), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and png.shape == (480, 640)
    assert np.abs(png / 1000.0 - expected).max() <= 1e-3  # millimetres, within 1 mm
    color = cv2.imread(str(out / 'rgb_00000_depth.png'))
    assert color.shape[0] >= 480 and color.shape[1] > 640  # depth image + colour bar
    assert len(np.unique(color[:480, :640].reshape(-1, 3), axis=0)) > 50

    verts = read_ply(str(out / 'rgb_00000.ply'))
    valid = np.isfinite(depth) & (depth > 0)
    assert len(verts) == valid.sum() == 480 * 640
    rgb = np.asarray(Image.open(NYU_IMG).convert('RGB'))
    rows, cols = np.nonzero(valid)
    for k in (0, 1234, 150000, len(verts) - 1):
        v, u = rows[k], cols[k]
        z = depth[v, u]
        assert verts['z'][k] == pytest.approx(z, rel=1e-6)
        assert verts['x'][k] == pytest.approx((u - cx) * z / fx, rel=1e-5, abs=1e-6)
        assert verts['y'][k] == pytest.approx((v - cy) * z / fy, rel=1e-5, abs=1e-6)
        assert (verts['red'][k], verts['green'][k], verts['blue'][k]) == tuple(rgb[v, u])


def test_demo_kitti_focal_shifts_principal_point_by_kb_crop(tmp_path):
    cfg_path = dump_tiny_config(KITTI_CFG, tmp_path)
    out = tmp_path / 'kitti'
    focal = 721.5377
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        _demo().main([cfg_path, KITTI_IMG, '--out-dir', str(out), '--focal', str(focal), '--png-scale', '256',
                      '--allow-untrained'])
    depth = np.load(out / '0000000005_depth.npy')
    assert depth.shape == (352, 1216)
    png = cv2.imread(str(out / '0000000005_depth_x256.png'), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and np.abs(png / 256.0 - depth).max() <= 0.5 / 256 + 1e-6
    verts = read_ply(str(out / '0000000005.ply'))
    assert len(verts) == 352 * 1216
    raw = np.asarray(Image.open(KITTI_IMG).convert('RGB'))
    cx, cy = (1242 - 1) / 2, (375 - 1) / 2  # principal point of the raw frame
    for k in (0, 5000, 352 * 1216 - 1):
        v, u = divmod(k, 1216)  # row-major over the 352x1216 crop
        z = depth[v, u]
        assert verts['x'][k] == pytest.approx((u + 13 - cx) * z / focal, rel=1e-4, abs=1e-5)
        assert verts['y'][k] == pytest.approx((v + 23 - cy) * z / focal, rel=1e-4, abs=1e-5)
        assert (verts['red'][k], verts['green'][k], verts['blue'][k]) == tuple(raw[v + 23, u + 13])


def test_point_cloud_skips_invalid_pixels(tmp_path):
    depth = np.array([[1.0, 0.0, 2.0], [np.nan, 4.0, np.inf]], dtype=np.float32)
    points, flat = backproject_depth(depth, (2.0, 4.0, 1.0, 0.5))
    assert flat.tolist() == [0, 2, 4]
    expected = [[(0 - 1.0) * 1 / 2, (0 - 0.5) * 1 / 4, 1.0], [(2 - 1.0) * 2 / 2, (0 - 0.5) * 2 / 4, 2.0],
                [(1 - 1.0) * 4 / 2, (1 - 0.5) * 4 / 4, 4.0]]
    np.testing.assert_allclose(points, expected)
    colors = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype=np.uint8)
    write_ply(str(tmp_path / 'a.ply'), points, colors, binary=False)
    write_ply(str(tmp_path / 'b.ply'), points, colors, binary=True)
    for name in ('a.ply', 'b.ply'):
        verts = read_ply(str(tmp_path / name))
        np.testing.assert_allclose(np.stack([verts['x'], verts['y'], verts['z']], 1), expected, atol=1e-6)
        assert verts['blue'].tolist() == [3, 6, 9]


def test_zero_shot_config_needs_no_checkpoint(tmp_path):
    cfg_path = dump_tiny_config('clipdepth/nyu_depthclip_zeroshot.py', tmp_path)
    torch.manual_seed(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        summary = _demo().main([cfg_path, NYU_IMG, '--out-dir', str(tmp_path / 'zs')])
    assert not [w for w in caught if 'no checkpoint given' in str(w.message)]
    depth = np.load(tmp_path / 'zs' / 'rgb_00000_depth.npy')
    assert depth.shape == (480, 640) and len(summary) == 1
    # DepthCLIP's fixed bins: the prediction lies within [1.0, 3.0] m
    assert depth.min() >= 1.0 - 1e-4 and depth.max() <= 3.0 + 1e-4


def test_demo_refusal_names_its_own_flag(tmp_path):
    """A learned config without a checkpoint: image_demo's refusal names the CLI flag (``--allow-untrained``), not
    the Python keyword it passes on."""
    cfg_path = dump_tiny_config('clipdepth/nyu_baseline_learned7.py', tmp_path)
    r = subprocess.run([sys.executable, 'demo/image_demo.py', cfg_path, NYU_IMG, '--out-dir', str(tmp_path / 'o')],
                       capture_output=True, text=True, timeout=300, cwd=REPO)
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith('error: init_depth_model:') and 'or --allow-untrained to evaluate' in last
    assert 'allow_untrained=True' not in last
