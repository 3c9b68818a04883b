"""Zero-shot test sets: each loads from a fixture tree in its release's layout and encoding with the known depth
in metres; wrong layouts get clear errors; the scaling modes; tools/test.py --test-set and zero_shot_eval.py."""
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from mmengine.config import Config
from mmseg.registry import DATASETS

from conftest import REPO
from helpers.zero_shot_fixtures import NAMES, make
from mmclipdepth.evaluation.metrics.depth_eval_metric import DepthEvalMetric, align_prediction
from tiny_configs import dump_tiny_config

ZS = osp.join(REPO, 'configs', '_base_', 'datasets', 'zero_shot')


def _dataset(name, data_root):
    cfg = Config.fromfile(osp.join(ZS, name + '.py'))
    ds = dict(cfg.test_dataloader.dataset.to_dict(), data_root=data_root)
    return DATASETS.build(ds), cfg


@pytest.mark.parametrize('name', NAMES)
def test_each_release_layout_loads_its_known_depth(tmp_path, name):
    data_root, expected = make(name, str(tmp_path))
    dataset, cfg = _dataset(name, data_root)
    assert len(dataset) == 2
    for i in range(2):
        info = dataset.get_data_info(i)
        item = dataset[i]
        depth = item['data_samples'].gt_depth_map.data[0].numpy()
        want = expected[info['img_path']]
        if cfg.zero_shot.name == 'vkitti2':  # KB crop: bottom 352 rows, centred 1216 columns
            want = want[375 - 352:, (1242 - 1216) // 2:(1242 - 1216) // 2 + 1216]
        assert depth.shape == want.shape
        # float32 division of the stored integers (or of float16 distances by the ray length): rounding only
        np.testing.assert_allclose(depth, want, rtol=2e-6, atol=0)
        assert (depth == 0).sum() == (want == 0).sum()


def test_focal_lengths_come_from_the_release(tmp_path):
    root, _ = make('sunrgbd', str(tmp_path / 's'))
    assert _dataset('sunrgbd', root)[0].get_data_info(0)['focal'] == pytest.approx(518.857901)
    root, _ = make('vkitti2', str(tmp_path / 'v'))
    assert _dataset('vkitti2', root)[0].get_data_info(1)['focal'] == pytest.approx(725.0087)
    root, _ = make('ibims', str(tmp_path / 'i'))
    assert _dataset('ibims', root)[0].get_data_info(0)['focal'] == pytest.approx(559.6)


def test_wrong_layouts_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data_root .*nowhere.* does not exist"):
        _dataset('ddad', str(tmp_path / 'nowhere'))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match=r"no image matches .*outleft.*release layout"):
        _dataset('diml_outdoor', str(tmp_path / 'empty'))
    root, expected = make('diode_indoor', str(tmp_path / 'd'))
    mask = next(iter(expected))[:-4] + '_depth_mask.npy'
    import os
    os.remove(mask)
    with pytest.raises(FileNotFoundError, match=r'valid mask .*_depth_mask.npy.* does not exist'):
        _dataset('diode_indoor', root)
    root, expected = make('diml_indoor', str(tmp_path / 'm'))
    depth_file = next(iter(expected)).replace('/color/', '/depth_filled/').replace('_c.png', '_depth_filled.png')
    import cv2
    cv2.imwrite(depth_file, np.zeros((480, 640), np.uint8))  # an 8-bit visualisation instead of the 16-bit map
    dataset, _ = _dataset('diml_indoor', root)
    with pytest.raises(ValueError, match=r'uint8 .*16-bit PNG'):
        dataset[0]


def test_scaling_modes_by_hand():
    rng = np.random.default_rng(0)
    gt = rng.uniform(1, 9, 500)
    p = 0.5 * gt  # right up to a scale
    assert np.allclose(align_prediction(p, gt, 'median'), gt)
    assert np.allclose(align_prediction(2.0 * gt + 0.3, gt, 'lsq_depth'), gt)
    disp = 1.0 / gt
    assert np.allclose(align_prediction(1.0 / (3.0 * disp + 0.05), gt, 'lsq_disparity'), gt)
    assert align_prediction(p, gt, 'metric') is p
    m = DepthEvalMetric(crop='none', min_depth=1e-3, max_depth=10, alignment='median')
    g = rng.uniform(1, 9, (40, 50)).astype(np.float32)
    assert m.evaluate_image(0.25 * g, g)['abs_rel'] == pytest.approx(0, abs=1e-6)
    raw = DepthEvalMetric(crop='none', min_depth=1e-3, max_depth=10)
    assert raw.evaluate_image(0.25 * g, g)['abs_rel'] == pytest.approx(0.75, rel=1e-6)
    with pytest.raises(ValueError, match='alignment'):
        DepthEvalMetric(alignment='sideways')


def test_focal_rescaling_multiplies_by_the_focal_ratio():
    g = np.full((40, 50), 4.0, np.float32)
    m = DepthEvalMetric(crop='none', min_depth=1e-3, max_depth=10, focal_rescale=500.0)
    # trained at focal 500, tested at 1000: the same scene looks twice as close -> prediction x 2
    assert m.evaluate_image(np.full((40, 50), 2.0, np.float32), g, focal=1000.0)['abs_rel'] == pytest.approx(0)
    with pytest.raises(ValueError, match='focal'):
        m.evaluate_image(g, g, focal=None)


def test_eigen_box_crop_is_zoedepths_fixed_box_clipped():
    from mmclipdepth.evaluation.metrics.depth_eval_metric import eval_crop_box
    assert eval_crop_box('eigen_box', 480, 640) == (45, 471, 41, 601)
    assert eval_crop_box('eigen_box', 427, 561) == (45, 427, 41, 561)
    assert eval_crop_box('eigen_box', 768, 1024) == (45, 471, 41, 601)


@pytest.fixture(scope='module')
def trees(tmp_path_factory):
    root = tmp_path_factory.mktemp('zs')
    return {n: make(n, str(root / n))[0] for n in NAMES}


@pytest.fixture(scope='module')
def tiny_zero_shot(tmp_path_factory):
    return dump_tiny_config('clipdepth/nyu_depthclip_zeroshot.py', tmp_path_factory.mktemp('zs_model'))


@pytest.mark.parametrize('name', NAMES)
def test_tools_test_runs_each_set(tmp_path, trees, tiny_zero_shot, name):
    run = subprocess.run([sys.executable, osp.join(REPO, 'tools/test.py'), tiny_zero_shot, '--test-set',
                          osp.join(ZS, name + '.py'), '--work-dir', str(tmp_path), '--cfg-options',
                          f'test_dataloader.dataset.data_root={trees[name]}', 'test_dataloader.num_workers=0'],
                         capture_output=True, text=True, timeout=600, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    for scaling in ('metric', 'median', 'lsq_depth', 'lsq_disparity'):
        assert f'{scaling}/abs_rel' in run.stdout + run.stderr


def test_zero_shot_eval_writes_one_table(tmp_path, trees, tiny_zero_shot):
    roots = [f'{n}={trees[n]}' for n in ('ibims', 'vkitti2')]
    out = str(tmp_path / 'table.md')
    run = subprocess.run([sys.executable, osp.join(REPO, 'tools/analysis/zero_shot_eval.py'), tiny_zero_shot,
                          '--datasets', 'ibims', 'vkitti2', 'ddad', '--data-root', *roots,
                          f'ddad={tmp_path / "no_ddad_here"}', '--work-dir', str(tmp_path / 'w'), '--out', out,
                          '--cfg-options', 'test_dataloader.num_workers=0'],
                         capture_output=True, text=True, timeout=900, cwd=REPO)
    assert run.returncode == 1, run.stderr[-3000:]  # ddad is missing: named, and the exit status says so
    assert 'missing dataset(s), not evaluated: ddad' in run.stderr
    text = open(out).read()
    rows = [r for r in text.splitlines() if r.startswith('| ibims') or r.startswith('| vkitti2')]
    assert len(rows) == 8  # 2 datasets x 4 scaling modes
    assert '| ddad |' in text and 'missing' in text
    assert 'docs/zero_shot.md' in text and 'docs/zero_shot.md' in run.stderr  # where to get the missing set
    data = json.load(open(str(tmp_path / 'table.json')))
    ibims = next(r for r in data if r['name'] == 'ibims')['metrics']
    assert ibims['images'] == 2
    for s in ('metric', 'median', 'lsq_depth', 'lsq_disparity'):
        assert np.isfinite(ibims[f'{s}/abs_rel']) and 0 <= ibims[f'{s}/d1'] <= 1
    assert ibims['median/abs_rel'] != ibims['metric/abs_rel']  # the scaling modes are not the same numbers
    # the protocol stamped beside the numbers is the set's (configs/_base_/datasets/zero_shot/ibims.py)
    from mmengine.config import Config
    spec = Config.fromfile(osp.join(REPO, 'configs/_base_/datasets/zero_shot/ibims.py')).zero_shot
    stamp = ibims['protocol']
    assert (stamp['crop'], stamp['min_depth'], stamp['max_depth']) == (spec.crop, spec.min_depth, spec.max_depth)
    assert stamp['data_root'] == str(trees['ibims']) and stamp['averaging'] == 'image-wise'
    assert stamp['alignment'] == 'metric=metric, median=median, lsq_depth=lsq_depth, lsq_disparity=lsq_disparity'
    assert 'protocol: ' in text and spec.crop in text.split('| vkitti2')[-1]


def test_check_depth_dataset_reads_a_release(tmp_path):
    root, expected = make('ibims', str(tmp_path / 'i'))
    tool = osp.join(REPO, 'tools/dataset_converters/check_depth_dataset.py')
    ok = subprocess.run([sys.executable, tool, root, '--test-set', osp.join(ZS, 'ibims.py')], capture_output=True,
                        text=True, timeout=300, cwd=REPO)
    assert ok.returncode == 0 and 'OK: all 2 samples exist and decode' in ok.stdout, ok.stdout + ok.stderr
    import os
    os.remove(osp.join(root, 'depth', 'office_02.png'))
    bad = subprocess.run([sys.executable, tool, root, '--test-set', osp.join(ZS, 'ibims.py')], capture_output=True,
                         text=True, timeout=300, cwd=REPO)
    assert bad.returncode == 2 and 'office_02.png' in bad.stderr and 'does not exist' in bad.stderr
