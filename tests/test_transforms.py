"""Depth transforms: loading errors, NYU border crop, KB crop, rotation, crop/flip reuse, and the
AdaBins photometric augmentation (docs/fidelity.md "Training")."""
import io
from pathlib import Path

import mmcv
import numpy as np
import pytest
from PIL import Image

import mmclipdepth  # noqa: F401
from mmclipdepth.datasets.transforms import (KBCrop, LoadDepthPNG, LoadImageFromFileStrict,
                                             NYUBorderCrop, RandomDepthRotate,
                                             RandomGammaBrightnessColor)
from mmseg.registry import TRANSFORMS

DATA = Path(__file__).resolve().parent / 'data'
NYU_SCENE = DATA / 'nyu' / 'sync' / 'basement_0001a'
KITTI_RGB = (DATA / 'kitti' / 'raw' / '2011_09_26' / '2011_09_26_drive_0001_sync' / 'image_02' /
             'data' / '0000000005.png')
KITTI_GT = (DATA / 'kitti' / 'data_depth_annotated' / '2011_09_26_drive_0001_sync' /
            'proj_depth' / 'groundtruth' / 'image_02' / '0000000005.png')


def load(img_path, depth_path, scale=1000.0, line=7):
    results = dict(img_path=str(img_path), depth_map_path=str(depth_path), seg_fields=[],
                   split_file='/x/my_split.txt', split_line=line)
    results = LoadImageFromFileStrict()(results)
    return LoadDepthPNG(depth_scale=scale)(results)


def coord_results(h, w):
    """Image and depth whose values encode their pixel coordinates."""
    rows, cols = np.mgrid[0:h, 0:w]
    img = np.stack([rows % 256, cols % 256, (rows // 256) * 16 + cols // 256], -1).astype(np.uint8)
    depth = (rows * 10000 + cols).astype(np.float32)
    return dict(img=img, gt_depth_map=depth, seg_fields=['gt_depth_map'], img_shape=(h, w),
                ori_shape=(h, w), img_path='/x/frame.png', split_file='/x/s.txt', split_line=3)


# ------------------------------------------------------------------------------ crops
def test_nyu_border_crop_exact_box():
    out = NYUBorderCrop()(coord_results(480, 640))
    assert out['img'].shape == (427, 565, 3) and out['gt_depth_map'].shape == (427, 565)
    assert out['img_shape'] == (427, 565)
    # rows 45:472, cols 43:608 (PIL box (43, 45, 608, 472))
    assert out['gt_depth_map'][0, 0] == 45 * 10000 + 43
    assert out['gt_depth_map'][-1, -1] == 471 * 10000 + 607
    assert tuple(out['img'][0, 0]) == (45, 43, 0)
    assert tuple(out['img'][-1, -1]) == (471 % 256, 607 % 256, 1 * 16 + 2)


def test_nyu_border_crop_too_small():
    with pytest.raises(ValueError, match=r"at least 472x608.*120x160.*frame.png.*line 3"):
        NYUBorderCrop()(coord_results(120, 160))


def test_kb_crop_375x1242():
    out = KBCrop()(coord_results(375, 1242))
    assert out['img'].shape[:2] == (352, 1216) and out['gt_depth_map'].shape == (352, 1216)
    # top = 375 - 352 = 23, left = (1242 - 1216) // 2 = 13
    assert out['kb_crop'] == (23, 13)
    assert out['gt_depth_map'][0, 0] == 23 * 10000 + 13
    assert out['gt_depth_map'][-1, -1] == 374 * 10000 + 1228
    assert out['ori_shape'] == (352, 1216) and out['img_shape'] == (352, 1216)


def test_kb_crop_odd_sizes():
    out = KBCrop()(coord_results(376, 1241))  # top 24, left int(25 / 2) = 12
    assert out['kb_crop'] == (24, 12) and out['gt_depth_map'][0, 0] == 24 * 10000 + 12
    with pytest.raises(ValueError, match='KBCrop.*352x1216.*350x1242'):
        KBCrop()(coord_results(350, 1242))


def test_kb_crop_real_kitti_frame():
    res = load(KITTI_RGB, KITTI_GT, scale=256.0)
    raw = np.array(Image.open(KITTI_GT))
    out = KBCrop()(res)
    np.testing.assert_array_equal(out['gt_depth_map'], raw[23:, 13:1229] / np.float32(256))


def test_random_crop_and_flip_move_depth_with_image():
    """mmseg RandomCrop (cat_max_ratio=1: uniform offsets) and RandomFlip act on seg_fields."""
    crop = TRANSFORMS.build(dict(type='RandomCrop', crop_size=(416, 544)))
    flip = TRANSFORMS.build(dict(type='RandomFlip', prob=1.0, direction='horizontal'))
    offsets = set()
    for seed in range(20):
        np.random.seed(seed)
        out = crop(NYUBorderCrop()(coord_results(480, 640)))
        d = out['gt_depth_map']
        assert d.shape == (416, 544) and out['img'].shape == (416, 544, 3)
        r0, c0 = divmod(int(d[0, 0]), 10000)
        assert 45 <= r0 <= 45 + 427 - 416 and 43 <= c0 <= 43 + 565 - 544
        assert tuple(out['img'][0, 0]) == (r0 % 256, c0 % 256, (r0 // 256) * 16 + c0 // 256)
        offsets.add((r0, c0))
        flipped = flip(out)
        assert flipped['flip'] is True
        np.testing.assert_array_equal(flipped['gt_depth_map'], d[:, ::-1])
    assert len(offsets) > 10


# ---------------------------------------------------------------------------- rotation
def test_rotation_never_invents_depth_values(monkeypatch):
    res = load(NYU_SCENE / 'rgb_00050.jpg', NYU_SCENE / 'sync_depth_00050.png')
    allowed = set(np.unique(res['gt_depth_map']).tolist()) | {0.0}
    angles = []
    real_imrotate = mmcv.imrotate

    def spy(img, angle, *args, **kwargs):
        angles.append((angle, kwargs.get('interpolation', 'bilinear'), kwargs.get('border_value')))
        return real_imrotate(img, angle, *args, **kwargs)

    monkeypatch.setattr(mmcv, 'imrotate', spy)
    rot = RandomDepthRotate(degree=2.5)
    for seed in range(6):
        np.random.seed(seed)
        r = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in res.items()}
        r['seg_fields'] = list(res['seg_fields'])
        out = rot(r)
        d = out['gt_depth_map']
        assert d.shape == res['gt_depth_map'].shape and d.dtype == np.float32
        assert set(np.unique(d).tolist()) <= allowed
        assert not np.array_equal(d, res['gt_depth_map'])
    # one (image, depth) pair per call: bilinear image, nearest depth, zero fill, |angle| <= 2.5
    assert len(angles) == 12
    for (a_img, i_img, b_img), (a_d, i_d, b_d) in zip(angles[::2], angles[1::2]):
        assert a_img == a_d and abs(a_img) <= 2.5
        assert (i_img, i_d) == ('bilinear', 'nearest') and (b_img, b_d) == (0, 0)


def test_rotation_pads_depth_with_zero():
    res = coord_results(100, 100)
    res['gt_depth_map'] = np.full((100, 100), 3.5, np.float32)
    np.random.seed(0)
    out = RandomDepthRotate(degree=(10, 10))(res)
    assert set(np.unique(out['gt_depth_map']).tolist()) == {0.0, 3.5}
    assert out['gt_depth_map'][0, 0] == 0  # corner leaves the frame


# ------------------------------------------------------------------- photometric augmentation
def _ref_augment(img_u8, gamma, brightness, colors):
    """AdaBins ``augment_image`` on x = img/255, channel i times colors[i]; returned in 0-255."""
    x = img_u8.astype(np.float64) / 255.0
    y = np.clip((x ** gamma) * brightness * np.asarray(colors)[None, None, :], 0, 1)
    return y * 255.0


@pytest.mark.parametrize('brightness_range', [(0.75, 1.25), (0.9, 1.1)])
def test_augmentation_formula_and_ranges(brightness_range):
    img = np.array(Image.open(NYU_SCENE / 'rgb_00000.jpg'))[::8, ::8, ::-1].copy()
    aug = RandomGammaBrightnessColor(prob=1.0, brightness_range=brightness_range)
    gammas, brights, colours = [], [], []
    for seed in range(300):
        np.random.seed(seed)
        out = aug(dict(img=img.copy()))
        p = out['photometric_aug']
        gammas.append(p['gamma'])
        brights.append(p['brightness'])
        colours.extend(p['color'].tolist())
        assert out['img'].dtype == np.float32
        if seed < 5:
            np.testing.assert_allclose(out['img'], _ref_augment(img, p['gamma'], p['brightness'],
                                                                p['color']), atol=1e-3)
    lo, hi = brightness_range
    assert 0.9 <= min(gammas) and max(gammas) <= 1.1
    assert lo <= min(brights) and max(brights) <= hi
    assert 0.9 <= min(colours) and max(colours) <= 1.1
    # the draws fill the ranges (uniform): extremes within 5 % of the bounds
    assert min(brights) < lo + 0.05 * (hi - lo) and max(brights) > hi - 0.05 * (hi - lo)
    assert min(gammas) < 0.91 and max(gammas) > 1.09


def test_augmentation_clips_and_keeps_range():
    img = np.full((4, 4, 3), 250, np.uint8)
    aug = RandomGammaBrightnessColor(prob=1.0, gamma_range=(1.0, 1.0),
                                     brightness_range=(1.25, 1.25), color_range=(1.1, 1.1))
    out = aug(dict(img=img))
    np.testing.assert_allclose(out['img'], 255.0)  # 250/255 * 1.25 * 1.1 > 1 -> clipped
    img = np.full((4, 4, 3), 100, np.uint8)
    aug = RandomGammaBrightnessColor(prob=1.0, gamma_range=(1.0, 1.0),
                                     brightness_range=(0.75, 0.75), color_range=(0.9, 0.9))
    np.testing.assert_allclose(aug(dict(img=img))['img'], 100 * 0.75 * 0.9, rtol=1e-5)


def test_augmentation_probability_and_passthrough():
    img = (np.arange(48).reshape(4, 4, 3) * 5).astype(np.uint8)
    aug = RandomGammaBrightnessColor(prob=0.5)
    applied = 0
    for seed in range(400):
        np.random.seed(seed)
        out = aug(dict(img=img.copy()))
        if out['photometric_aug'] is None:
            np.testing.assert_allclose(out['img'], img.astype(np.float32), rtol=1e-6)
            assert out['img'].dtype == np.float32
        else:
            applied += 1
    assert 160 < applied < 240
    never = RandomGammaBrightnessColor(prob=0.0)(dict(img=img.copy()))
    assert never['photometric_aug'] is None


@pytest.mark.parametrize('kwargs', [dict(prob=1.5), dict(gamma_range=(1.1, 0.9)),
                                    dict(brightness_range=(0, 1)), dict(color_range=(1,))])
def test_augmentation_bad_args(kwargs):
    with pytest.raises(ValueError):
        RandomGammaBrightnessColor(**kwargs)


# ----------------------------------------------------------------------------- loading errors
def _png16(path, arr):
    Image.fromarray(arr.astype(np.uint16)).save(path)


def _jpeg(path, h=48, w=64):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path, quality=90)


def test_loads_real_pair():
    res = load(NYU_SCENE / 'rgb_00000.jpg', NYU_SCENE / 'sync_depth_00000.png')
    assert res['img'].shape == (480, 640, 3) and res['img'].dtype == np.uint8
    assert res['gt_depth_map'].shape == (480, 640)
    assert res['seg_fields'] == ['gt_depth_map']
    assert res['depth_rescale_factor'] == pytest.approx(1e-3)
    raw = np.array(Image.open(NYU_SCENE / 'sync_depth_00000.png'))
    assert 0.7 < res['gt_depth_map'][raw > 0].min() and res['gt_depth_map'].max() < 10


def test_depth_scale_from_sample():
    results = dict(depth_map_path=str(KITTI_GT), seg_fields=[], depth_scale=256.0)
    out = LoadDepthPNG()(results)
    raw = np.array(Image.open(KITTI_GT))
    np.testing.assert_array_equal(out['gt_depth_map'], raw.astype(np.float32) / 256)
    with pytest.raises(KeyError, match='depth_scale'):
        LoadDepthPNG()(dict(depth_map_path=str(KITTI_GT), seg_fields=[]))


def test_missing_rgb(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"RGB image not found: .*nope.jpg.*"
                                                r"my_split.txt', line 7"):
        load(tmp_path / 'nope.jpg', NYU_SCENE / 'sync_depth_00000.png')


def test_missing_depth(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"depth map not found: .*nope.png.*line 7"):
        load(NYU_SCENE / 'rgb_00000.jpg', tmp_path / 'nope.png')


def test_corrupt_jpeg(tmp_path):
    bad = tmp_path / 'bad.jpg'
    bad.write_bytes(b'this is not an image at all' * 10)
    with pytest.raises(ValueError, match=r"RGB image.*bad.jpg.*line 7.*not an image Pillow can read"):
        load(bad, NYU_SCENE / 'sync_depth_00000.png')


def test_truncated_jpeg(tmp_path):
    data = (NYU_SCENE / 'rgb_00000.jpg').read_bytes()
    bad = tmp_path / 'trunc.jpg'
    bad.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=r"truncated.*trunc.jpg.*line 7"):
        load(bad, NYU_SCENE / 'sync_depth_00000.png')


def test_empty_rgb(tmp_path):
    bad = tmp_path / 'empty.jpg'
    bad.write_bytes(b'')
    with pytest.raises(ValueError, match=r"empty.*empty.jpg"):
        load(bad, NYU_SCENE / 'sync_depth_00000.png')


def test_truncated_depth_png(tmp_path):
    data = (NYU_SCENE / 'sync_depth_00000.png').read_bytes()
    bad = tmp_path / 'trunc.png'
    bad.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=r"depth map is corrupt or truncated.*trunc.png.*line 7"):
        load(NYU_SCENE / 'rgb_00000.jpg', bad)


def test_corrupt_depth_png(tmp_path):
    bad = tmp_path / 'garbage.png'
    bad.write_bytes(b'\x00' * 100)
    with pytest.raises(ValueError, match=r"not a PNG.*garbage.png"):
        load(NYU_SCENE / 'rgb_00000.jpg', bad)


def test_8bit_depth_png(tmp_path):
    rgb = tmp_path / 'rgb.jpg'
    _jpeg(rgb)
    d8 = tmp_path / 'depth8.png'
    Image.fromarray(np.full((48, 64), 30, np.uint8)).save(d8)
    with pytest.raises(ValueError, match=r"8-bit PNG, expected 16-bit.*depth8.png.*line 7"):
        load(rgb, d8)


def test_colour_depth_png(tmp_path):
    rgb = tmp_path / 'rgb.jpg'
    _jpeg(rgb)
    d = tmp_path / 'colour.png'
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(d)
    with pytest.raises(ValueError, match=r"8-bit PNG"):
        load(rgb, d)
    with pytest.raises(ValueError, match=r"RGB, expected single-channel.*colour.png"):
        results = dict(depth_map_path=str(d), seg_fields=[])
        LoadDepthPNG(depth_scale=1000.0, bit_depth=None)(results)


def test_depth_size_mismatch(tmp_path):
    rgb = tmp_path / 'rgb.jpg'
    _jpeg(rgb, 48, 64)
    d = tmp_path / 'depth.png'
    _png16(d, np.full((48, 60), 1000))
    with pytest.raises(ValueError, match=r"depth map is 48x60 but its image is 48x64.*depth.png"
                                         r".*line 7"):
        load(rgb, d)


def test_8bit_roundtrip_bytes_are_detected_from_header():
    buf = io.BytesIO()
    Image.fromarray(np.full((4, 4), 7, np.uint8)).save(buf, format='PNG')
    with pytest.raises(ValueError, match='8-bit'):
        LoadDepthPNG(depth_scale=256.0)._decode(buf.getvalue(), dict(depth_map_path='mem.png'))
