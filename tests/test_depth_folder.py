"""The user's own data: DepthFolderDataset on a folder built from the bundled NYU frames (train -> test ->
demo through the command-line tools), check_depth_dataset.py --folder, and errors naming the file."""
import glob
import hashlib
import importlib.util
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from conftest import DATA, REPO
from tiny_configs import tiny_config

NYU = osp.join(DATA, 'nyu')
TRAIN = ['basement_0001a/rgb_00000', 'basement_0001a/rgb_00050', 'basement_0001a/rgb_00100']
TEST_RGB = osp.join(NYU, 'official_splits/test/basement/rgb_00100.jpg')


def _make_folder(root):
    """images/<scene>/<stem>.jpg + depths/<scene>/<stem>.png (mm) for the 3 train frames; the test frame's depth
    as .npy metres; train.txt / test.txt list the stems."""
    for stem in TRAIN:
        scene, name = stem.split('/')
        os.makedirs(osp.join(root, 'images', scene), exist_ok=True)
        os.makedirs(osp.join(root, 'depths', scene), exist_ok=True)
        shutil.copy(osp.join(NYU, 'sync', scene, name + '.jpg'), osp.join(root, 'images', stem + '.jpg'))
        shutil.copy(osp.join(NYU, 'sync', scene, name.replace('rgb', 'sync_depth') + '.png'),
                    osp.join(root, 'depths', stem + '.png'))
    os.makedirs(osp.join(root, 'images', 'test'))
    os.makedirs(osp.join(root, 'depths', 'test'))
    shutil.copy(TEST_RGB, osp.join(root, 'images', 'test', 'f100.jpg'))
    mm = cv2.imread(TEST_RGB.replace('rgb_', 'sync_depth_').replace('.jpg', '.png'), cv2.IMREAD_UNCHANGED)
    np.save(osp.join(root, 'depths', 'test', 'f100.npy'), mm.astype(np.float32) / 1000.0)
    with open(osp.join(root, 'train.txt'), 'w') as f:
        f.write('\n'.join(TRAIN) + '\n')
    with open(osp.join(root, 'test.txt'), 'w') as f:
        f.write('test/f100.jpg\n')  # a suffix in the list is ignored
    return mm


@pytest.fixture
def folder(tmp_path):
    root = str(tmp_path / 'mine')
    mm = _make_folder(root)
    return root, mm


def _check_tool():
    spec = importlib.util.spec_from_file_location(
        'check_depth_dataset', osp.join(REPO, 'tools/dataset_converters/check_depth_dataset.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_folder_dataset_pairs_by_stem_and_loads_metres(folder):
    from mmclipdepth.datasets import DepthFolderDataset
    from mmclipdepth.datasets.transforms import LoadFolderDepth
    root, mm = folder
    ds = DepthFolderDataset(data_root=root, split_file='train.txt', intrinsics=(518.8579, 519.4696, 325.58, 253.74),
                            pipeline=[])
    assert [ds.get_data_info(i)['stem'] for i in range(3)] == TRAIN
    info = ds.get_data_info(1)
    assert info['depth_map_path'].endswith('depths/basement_0001a/rgb_00050.png') and info['focal'] == 518.8579
    png = cv2.imread(info['depth_map_path'], cv2.IMREAD_UNCHANGED)
    out = LoadFolderDepth()(dict(info))
    # metres = uint16 / 1000, both exact in float32 up to one rounding of the division (rel 2^-24)
    np.testing.assert_allclose(out['gt_depth_map'], png / 1000.0, rtol=2 ** -23)
    test = DepthFolderDataset(data_root=root, split_file='test.txt', pipeline=[])
    npy = LoadFolderDepth()(dict(test.get_data_info(0)))['gt_depth_map']
    np.testing.assert_array_equal(npy, mm.astype(np.float32) / 1000.0)  # .npy metres as stored
    every = DepthFolderDataset(data_root=root, pipeline=[])  # no split file: every pair, sorted by stem
    assert len(every) == 4 and every.get_data_info(3)['stem'] == 'test/f100'


def test_folder_errors_name_the_file(folder, tmp_path, capsys):
    from mmclipdepth.datasets import DepthFolderDataset
    root, _ = folder
    np.save(osp.join(root, 'depths', 'test', 'orphan.npy'), np.ones((4, 4), np.float32))
    with pytest.raises(FileNotFoundError, match=r"depth map '.*depths/test/orphan.npy' has no image test/orphan"):
        DepthFolderDataset(data_root=root, pipeline=[])
    os.remove(osp.join(root, 'depths', 'test', 'orphan.npy'))
    os.remove(osp.join(root, 'depths', TRAIN[2] + '.png'))
    with pytest.raises(FileNotFoundError, match=r"image '.*images/basement_0001a/rgb_00100.jpg' has no depth map"):
        DepthFolderDataset(data_root=root, split_file='train.txt', pipeline=[])
    tool = _check_tool()
    assert tool.main([root, 'train.txt', '--folder']) == 2
    assert 'rgb_00100.jpg' in capsys.readouterr().err
    # depth_scale 1 reads millimetres as metres: every pixel > 10 m -> INVALID, naming the file and the scale
    assert tool.main([root, 'train.txt', '--folder', '--depth-scale', '1']) == 2  # still the missing depth
    shutil.copy(osp.join(NYU, 'sync/basement_0001a/sync_depth_00100.png'), osp.join(root, 'depths', TRAIN[2] + '.png'))
    capsys.readouterr()
    assert tool.main([root, 'train.txt', '--folder']) == 0
    assert tool.main([root, 'train.txt', '--folder', '--depth-scale', '1']) == 1
    out = capsys.readouterr().out
    assert out.count('INVALID') == 3 and 'depths/basement_0001a/rgb_00000.png: no pixel lies in the evaluation ' \
        'range (0.001, 10.0] m (depth_scale=1.0' in out


def test_folder_bad_depth_files_name_the_file(folder, capsys):
    """A depth map of the wrong size, of the wrong shape (3 channels), a PNG without a depth scale, and a scale that
    leaves no valid pixel: each an error or a warning naming the file; check_depth_dataset.py reports them."""
    from mmclipdepth.datasets import DepthFolderDataset
    from mmclipdepth.datasets.transforms import LoadFolderDepth
    root, _ = folder
    ds = DepthFolderDataset(data_root=root, split_file='train.txt', pipeline=[])
    info = [dict(ds.get_data_info(i)) for i in range(3)]
    img = np.zeros((480, 640, 3), np.uint8)
    # wrong size: the depth map is half the image
    small = osp.join(root, 'depths', TRAIN[0] + '.png')
    cv2.imwrite(small, np.full((240, 320), 2000, np.uint16))
    with pytest.raises(ValueError, match=r"depth map is 240x320 but its image is 480x640: depth '.*rgb_00000.png', "
                                         r"image '.*images/basement_0001a/rgb_00000.jpg'"):
        LoadFolderDepth()(dict(info[0], img=img))
    # wrong shape: an 8-bit colour PNG where a single-channel 16-bit map belongs
    colour = osp.join(root, 'depths', TRAIN[1] + '.png')
    cv2.imwrite(colour, np.zeros((480, 640, 3), np.uint8))
    with pytest.raises(ValueError, match=r"depth map '.*rgb_00050.png' is uint8 with shape \(480, 640, 3\); the "
                                         r"release stores a single-channel 16-bit PNG"):
        LoadFolderDepth()(dict(info[1], img=img))
    # a missing key: a PNG sample without depth_scale
    with pytest.raises(KeyError, match=r"'.*rgb_00100.png' is a PNG but the sample has no depth_scale"):
        LoadFolderDepth()({k: v for k, v in info[2].items() if k != 'depth_scale'})
    # every pixel invalid: millimetres read with depth_scale 1 -> warned, naming the file and the scale
    with pytest.warns(UserWarning, match=r"rgb_00100.png: no pixel lies in the evaluation range \(0.001, 10.0\] m "
                                         r"\(depth_scale=1.0"):
        LoadFolderDepth(depth_scale=1.0)(dict(info[2], img=img))
    capsys.readouterr()
    assert _check_tool().main([root, 'train.txt', '--folder']) == 1
    out = capsys.readouterr()
    report = out.out + out.err
    assert 'rgb_00000.png' in report and '240x320' in report
    assert 'rgb_00050.png' in report and 'single-channel 16-bit' in report
    assert 'rgb_00100.png' not in report  # the good one passes


def test_folder_dataset_train_test_demo_through_the_tools(folder, tmp_path):
    root, _ = folder
    cfg = tiny_config('own_data/learned7_depth_folder.py')
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = root
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
    cfg.train_dataloader.batch_size = 2
    cfg.train_dataloader.dataset.pipeline[2].crop_size = (256, 320)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2, val_interval=2)
    for sched in cfg.param_scheduler:
        sched.update(by_epoch=False, total_steps=2, convert_to_iter_based=False)
    cfg.default_hooks.checkpoint = dict(type='SafeCheckpointHook', by_epoch=False, interval=2)
    cfg.log_processor = dict(by_epoch=False)
    cfg_path = str(tmp_path / 'mine.py')
    cfg.dump(cfg_path)
    run = lambda *a: subprocess.run([sys.executable, *a], capture_output=True, text=True, timeout=300, cwd=REPO)  # noqa
    train = run('tools/train.py', cfg_path, '--work-dir', str(tmp_path / 'w'))
    assert train.returncode == 0, train.stderr[-3000:]
    ckpt = str(tmp_path / 'w' / 'iter_2.pth')
    test = run('tools/test.py', cfg_path, ckpt, '--work-dir', str(tmp_path / 't'), '--cfg-options',
               'test_evaluator.max_inclusive=False', 'model.test_cfg.mode=whole')
    assert test.returncode == 0, test.stderr[-3000:]
    record = json.load(open(tmp_path / 't' / 'metrics.json'))
    assert 0 <= record['d1'] <= 1 and record['abs_rel'] > 0
    stamp = record['protocol']  # read back; digests recomputed here from the files
    sha = lambda p: hashlib.sha256(open(p, 'rb').read()).hexdigest()  # noqa: E731
    assert stamp['dataset'] == 'DepthFolderDataset' and osp.samefile(stamp['split_file'], osp.join(root, 'test.txt'))
    assert stamp['split_file_sha256'] == sha(osp.join(root, 'test.txt'))
    assert stamp['checkpoint_sha256'] == sha(ckpt)
    # the config fingerprint is the one training wrote into the checkpoint (mmclipdepth.checkpoint.identity),
    # with the sha256 of its canonical JSON
    from mmclipdepth.checkpoint import IDENTITY_KEY
    ident = torch.load(ckpt, map_location='cpu', weights_only=False)['state_dict'][IDENTITY_KEY]
    assert stamp['config_fingerprint'] == ident['fingerprint'] and len(ident['fingerprint']) > 10
    assert stamp['config_fingerprint_sha256'] == hashlib.sha256(json.dumps(
        ident['fingerprint'], sort_keys=True, separators=(',', ':')).encode()).hexdigest()
    # the command-line overrides, not the config defaults, are what the numbers were computed with
    assert (stamp['crop'], stamp['max_comparison'], stamp['tta']) == ('none', '<', 'whole')
    assert (stamp['min_depth'], stamp['max_depth']) == (1e-3, 10.0) and stamp['averaging'] == 'image-wise'
    assert stamp['input_size'].startswith('native') and stamp['versions']['torch'] == torch.__version__
    demo = run('demo/image_demo.py', cfg_path, ckpt, osp.join(root, 'images', 'test'), '--out-dir',
               str(tmp_path / 'd'))
    assert demo.returncode == 0, demo.stderr[-3000:]
    depth = np.load(tmp_path / 'd' / 'f100_depth.npy')
    assert depth.shape == (480, 640) and np.all((depth > 0) & (depth <= 10.0 + 1e-5))  # bins within (0, 10] m
