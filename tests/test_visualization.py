"""DepthLocalVisualizer / depth_panels: GT and prediction in one colormap and range, invalid GT grey, error panel."""
import numpy as np
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmclipdepth.apis import colorize_depth
from mmclipdepth.visualization import DepthLocalVisualizer, depth_panels


def test_same_depth_same_colour_and_invalid_gt_grey():
    gt = np.array([[1.0, 2.0, 4.0, 0.0]] * 3)
    pred = np.array([[1.0, 2.0, 4.0, 3.0]] * 3)
    img = np.zeros((3, 4, 3), np.uint8)
    out = depth_panels(img, pred, gt)
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
    assert out.shape[0] == 8 and out.shape[1] > 4 * 10
