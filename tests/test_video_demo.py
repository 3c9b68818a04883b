"""demo/video_demo.py on a short clip made from the bundled NYU frames, and the flicker figure."""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import DATA, REPO
from mmclipdepth.evaluation.metrics.flicker_metric import FlickerMetric, pair_flicker, summarise_flicker, to_grey
from tiny_configs import dump_tiny_config

FRAMES = [osp.join(DATA, 'nyu', 'sync', 'basement_0001a', f'rgb_{i:05d}.jpg') for i in (0, 50, 100)]
VIDEO_DEMO = osp.join(REPO, 'demo', 'video_demo.py')


@pytest.fixture(scope='module')
def zero_shot(tmp_path_factory):
    return dump_tiny_config('clipdepth/nyu_depthclip_zeroshot.py', tmp_path_factory.mktemp('zs'))


def _run(*args):
    return subprocess.run([sys.executable, VIDEO_DEMO, *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd=REPO)


def _decode(path):
    cap = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    return frames


def test_video_in_video_out_with_flicker(tmp_path, zero_shot):
    clip = str(tmp_path / 'clip.mp4')
    writer = cv2.VideoWriter(clip, cv2.VideoWriter_fourcc(*'mp4v'), 5.0, (640, 480))
    for f in FRAMES:
        writer.write(cv2.imread(f))
    writer.release()
    out = tmp_path / 'out'
    run = _run(zero_shot, clip, '--out-dir', out, '--batch-size', 2, '--save-npy', '--save-png16')
    assert run.returncode == 0, run.stderr[-3000:]
    assert 'flicker' in run.stdout and 'frames/s' in run.stdout
    frames = _decode(str(out / 'clip_depth.mp4'))  # playable: decoded again
    assert len(frames) == 3 and frames[0].shape == (480, 1280 + 96, 3)  # RGB | depth | the colour scale
    # the scale's bar (8-22 px into the 96 px strip, 5-95 % of the height): far (top) is magma_r's end,
    # near (bottom) its start; 40 grey levels of tolerance for the lossy mp4v codec
    from matplotlib import colormaps
    far, near = (np.array(colormaps['magma_r'](v)[:3]) * 255 for v in (1.0, 0.0))
    bar = frames[0][:, 1280 + 15, ::-1].astype(float)  # BGR -> RGB
    assert np.abs(bar[int(0.06 * 480)] - far).max() < 40 and np.abs(bar[int(0.94 * 480)] - near).max() < 40
    figure = cv2.imread(str(out / 'clip_flicker.png'))
    assert figure is not None and figure.shape == (320, 640, 3)
    report = json.load(open(out / 'clip_flicker.json'))
    assert report['frames'] == 3 and report['fps'] == pytest.approx(5.0) and report['pairs'] <= 2
    assert report['colour_range']['mode'] == 'percentile'
    depths = [np.load(out / 'frames' / f'clip_{t:06d}_depth.npy') for t in range(3)]
    png = cv2.imread(str(out / 'frames' / 'clip_000001_depth_mm.png'), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and np.abs(png / 1000.0 - depths[1]).max() <= 0.0005 + 1e-6
    # the flicker, recomputed here from the saved depths and the decoded input frames (percentile range
    # recomputed too)
    inputs = _decode(clip)
    pairs = [pair_flicker(depths[t - 1], depths[t], to_grey(inputs[t - 1]), to_grey(inputs[t]), 2.0)
             for t in (1, 2)]
    assert report['flicker'] == pytest.approx(summarise_flicker(pairs)['flicker'], rel=1e-9, abs=1e-12)
    lo, hi = np.percentile(np.concatenate([d.ravel() for d in depths]), [2, 98])
    assert report['colour_range']['vmin'] == pytest.approx(lo) and report['colour_range']['vmax'] == pytest.approx(hi)


def test_a_still_clip_has_zero_flicker_and_a_fixed_range(tmp_path, zero_shot):
    folder = tmp_path / 'still'
    folder.mkdir()
    for t in range(3):
        shutil.copy(FRAMES[0], folder / f'{t:03d}.jpg')
    run = _run(zero_shot, folder, '--out-dir', tmp_path / 'o', '--range', 'fixed')
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.load(open(tmp_path / 'o' / 'still_flicker.json'))
    assert report['flicker'] == 0.0 and report['static_fraction'] == 1.0 and report['pairs'] == 2
    assert (report['colour_range']['vmin'], report['colour_range']['vmax']) == (1e-3, 10.0)  # the model's range
    assert report['fps'] == 10.0 and len(_decode(str(tmp_path / 'o' / 'still_depth.mp4'))) == 3


def test_bad_inputs_are_named(tmp_path, zero_shot):
    fake = tmp_path / 'fake.mp4'
    fake.write_text('not a video')
    run = _run(zero_shot, fake, '--out-dir', tmp_path / 'o')
    assert run.returncode == 1 and 'fake.mp4' in run.stderr and 'Traceback' not in run.stderr
    empty = tmp_path / 'empty'
    empty.mkdir()
    run = _run(zero_shot, empty, '--out-dir', tmp_path / 'o')
    assert run.returncode == 1 and 'holds no frames' in run.stderr
    mixed = tmp_path / 'mixed'
    mixed.mkdir()
    shutil.copy(FRAMES[0], mixed / '0.jpg')
    cv2.imwrite(str(mixed / '1.jpg'), cv2.imread(FRAMES[1])[:200, :300])
    run = _run(zero_shot, mixed, '--out-dir', tmp_path / 'o')
    assert run.returncode == 1 and 'frame 1 is 300x200' in run.stderr
    tiny = tmp_path / 'tiny'
    tiny.mkdir()
    cv2.imwrite(str(tiny / '0.png'), np.zeros((16, 16, 3), np.uint8))
    run = _run(zero_shot, tiny, '--out-dir', tmp_path / 'o')
    assert run.returncode == 1 and 'at least 32x32' in run.stderr


def test_odd_frame_size_is_padded_for_the_writer(tmp_path, zero_shot):
    folder = tmp_path / 'odd'
    folder.mkdir()
    for t, f in enumerate(FRAMES[:2]):
        cv2.imwrite(str(folder / f'{t}.png'), cv2.imread(f)[:479, :639])
    run = _run(zero_shot, folder, '--out-dir', tmp_path / 'o')
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.load(open(tmp_path / 'o' / 'odd_flicker.json'))
    assert report['padded_to_even'] and report['size'] == [479, 639]
    assert _decode(str(tmp_path / 'o' / 'odd_depth.mp4'))[0].shape == (480, 1278 + 96, 3)


def test_pair_flicker_by_hand():
    d0 = np.ones((4, 4), np.float32)
    d1 = np.full((4, 4), 1.25, np.float32)
    d1[0, 0] = 2.0  # on a pixel whose colour changes: not counted
    g0 = np.zeros((4, 4), np.float32)
    g1 = g0.copy()
    g1[0, 0] = 50
    out = pair_flicker(d0, d1, g0, g1, colour_tol=2.0)
    assert out['flicker'] == pytest.approx(0.25 / 1.25) and out['static_fraction'] == pytest.approx(15 / 16)
    assert pair_flicker(d0, d1, g0, g0 + 100, colour_tol=2.0) is None
    summary = summarise_flicker([out, None, dict(flicker=0.1, static_fraction=0.5)])
    assert summary['flicker'] == pytest.approx((0.2 + 0.1) / 2) and summary['pairs_without_static_pixels'] == 1


def test_flicker_metric_on_frame_pairs():
    import torch
    metric = FlickerMetric(colour_tol=2.0)
    img = torch.zeros(3, 4, 4, dtype=torch.uint8)
    samples = [dict(pred_depth_map=dict(data=torch.full((1, 4, 4), v)), pair_id=7, pair_frame=k, img_path=f'{k}')
               for k, v in ((0, 2.0), (1, 2.5))]
    metric.process(dict(inputs=[img, img]), samples)
    assert metric.compute_metrics(metric.results)['flicker'] == pytest.approx(0.5 / 2.5)
    with pytest.raises(KeyError, match='frame pairs'):
        metric.process(dict(inputs=[img]), [dict(pred_depth_map=dict(data=torch.ones(1, 4, 4)))])
