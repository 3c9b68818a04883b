"""DepthLocalVisualizer / depth_panels: GT and prediction in one colormap and range, invalid GT grey, error panel."""
import numpy as np
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmclipdepth.apis import colorize_depth
from mmclipdepth.visualization import DepthLocalVisualizer, depth_panels, title_band_height


def test_same_depth_same_colour_and_invalid_gt_grey():
    gt = np.array([[1.0, 2.0, 4.0, 0.0]] * 3)
    pred = np.array([[1.0, 2.0, 4.0, 3.0]] * 3)
    img = np.zeros((3, 4, 3), np.uint8)
    out = depth_panels(img, pred, gt, titles=False)
    g, p = out[:, 4:8], out[:, 8:12]
    assert np.array_equal(g[:, :3], p[:, :3])  # one colormap, one range (the GT's: 1..4 m)
    assert (g[:, 3] == 128).all()  # no measurement: neutral grey
    assert np.array_equal(p[:, :3], colorize_depth(pred, 1.0, 4.0)[:, :3])
    assert out.shape[0] >= 3 and out.shape[1] > 4 * 4  # image, GT, prediction, error + two colour bars


def test_visualizer_writes_panels(tmp_path):
    vis = DepthLocalVisualizer(vis_backends=[dict(type='LocalVisBackend')], save_dir=str(tmp_path), name='v')
    s = SegDataSample()
    s.pred_depth_map = PixelData(data=torch.full((1, 8, 10), 2.0))
    s.gt_depth_map = PixelData(data=torch.full((1, 8, 10), 2.5))
    vis.add_datasample('frame', np.zeros((8, 10, 3), np.uint8), s, out_file=str(tmp_path / 'a.png'))
    import cv2
    out = cv2.imread(str(tmp_path / 'a.png'))
    assert out.shape[0] == 8 + title_band_height(8) and out.shape[1] > 4 * 10


def test_panels_carry_titles_over_the_unchanged_strip():
    """The title band sits above the panels (which are exactly the untitled strip), has ink over each titled
    panel (image, ground truth, prediction, abs rel error) and none over the colour bars."""
    rng = np.random.default_rng(0)
    h, w = 120, 160
    gt = rng.uniform(1, 5, (h, w))
    pred = gt * rng.uniform(0.9, 1.1, (h, w))
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    plain = depth_panels(img, pred, gt, titles=False)
    titled = depth_panels(img, pred, gt)
    band = title_band_height(h)
    assert titled.shape == (plain.shape[0] + band, plain.shape[1], 3)
    assert np.array_equal(titled[band:], plain)
    ink = (titled[:band] < 128).any(axis=(0, 2))  # columns with dark text pixels
    bar_w = (plain.shape[1] - 4 * w) // 2
    starts = [0, w, 2 * w, 3 * w + bar_w]  # image, GT, prediction, error (a colour bar after prediction)
    for x in starts:
        assert ink[x:x + w].any()
    assert not ink[3 * w:3 * w + bar_w].any() and not ink[4 * w + bar_w:].any()
