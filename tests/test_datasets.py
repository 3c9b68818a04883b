"""NYUDepthV2Dataset / KITTIEigenDataset: split files, layouts, metainfo, configs, bad input."""
import importlib.util
import logging
import re
import shutil
import os.path as osp
import sys
from pathlib import Path

import numpy as np
import pytest
from mmengine import Config
from mmengine.logging import MMLogger
from PIL import Image

import mmclipdepth  # noqa: F401  (registers the components)
from mmclipdepth.datasets import (SPLITS_DIR, KITTIEigenDataset, NYUDepthV2Dataset,
                                  resolve_split_file)
from mmseg.registry import DATASETS

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / 'tests' / 'data'
NYU = DATA / 'nyu'
KITTI = DATA / 'kitti'
DRIVE = '2011_09_26_drive_0001_sync'
LOAD = [dict(type='LoadImageFromFileStrict'), dict(type='LoadDepthPNG')]


class _ListHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def log_messages():
    """Messages logged through mmengine's current MMLogger during the test."""
    logger = MMLogger.get_current_instance()
    handler = _ListHandler()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def nyu(split='train', split_file='splits/nyu_train_samples.txt', **kw):
    return NYUDepthV2Dataset(data_root=str(NYU), split=split, split_file=split_file, **kw)


def kitti(**kw):
    kw.setdefault('split', 'test')
    kw.setdefault('split_file', 'splits/kitti_eigen_samples.txt')
    return KITTIEigenDataset(data_root=str(KITTI), **kw)


# ----------------------------------------------------------------------------------- NYU
def test_nyu_train_layout_and_metainfo():
    ds = nyu()
    assert len(ds) == 3
    for i, idx in enumerate(['00000', '00050', '00100']):
        info = ds.get_data_info(i)
        assert info['img_path'] == str(NYU / 'sync' / 'basement_0001a' / f'rgb_{idx}.jpg')
        assert info['depth_map_path'] == str(NYU / 'sync' / 'basement_0001a' /
                                             f'sync_depth_{idx}.png')
        assert info['scene'] == 'basement_0001a'
        assert info['scene_type'] == 'basement'
        assert info['focal'] == pytest.approx(518.8579)
        assert info['split_line'] == i + 1
        assert info['split_file'] == str(NYU / 'splits' / 'nyu_train_samples.txt')
        assert info['seg_fields'] == [] and info['reduce_zero_label'] is False
        assert 'category_id' not in info
        assert info['depth_scale'] == 1000.0
    assert ds.metainfo['min_depth'] == 1e-3 and ds.metainfo['max_depth'] == 10.0


def test_nyu_official_splits_layout():
    test = nyu(split='test', split_file='splits/nyu_test_samples.txt')
    info = test.get_data_info(0)
    assert info['img_path'] == str(NYU / 'official_splits' / 'test' / 'basement' / 'rgb_00100.jpg')
    assert info['scene'] is None and info['scene_type'] == 'basement'
    train = nyu(split='official_train', split_file='splits/nyu_official_train_samples.txt')
    info = train.get_data_info(0)
    assert info['img_path'] == str(NYU / 'official_splits' / 'train' / 'bookstore' /
                                   'rgb_00001.jpg')
    assert info['focal'] == pytest.approx(518.8579)  # two-column list: the dataset's focal
    assert info['scene_type'] == 'bookstore'


@pytest.mark.parametrize('folder,scene,scene_type', [
    ('kitchen_0028b', 'kitchen_0028b', 'kitchen'),
    ('living_room_0019', 'living_room_0019', 'living_room'),
    ('home_office_0005', 'home_office_0005', 'home_office'),
    ('nyu_office_0', 'nyu_office_0', 'nyu_office'),
    ('bathroom', None, 'bathroom'),
])
def test_nyu_scene_names(tmp_path, folder, scene, scene_type):
    (tmp_path / 'sync').mkdir()
    split = tmp_path / 'list.txt'
    split.write_text(f'/{folder}/rgb_00001.jpg /{folder}/sync_depth_00001.png 518.8579\n')
    info = NYUDepthV2Dataset(data_root=str(tmp_path), split='train',
                             split_file=str(split)).get_data_info(0)
    assert (info['scene'], info['scene_type']) == (scene, scene_type)
    assert info['img_path'] == str(tmp_path / 'sync' / folder / 'rgb_00001.jpg')


def _make_tree(root, *folders):
    for f in folders:
        (root / f).mkdir(parents=True, exist_ok=True)
    return str(root)


def test_shipped_nyu_splits(tmp_path):
    root = _make_tree(tmp_path, 'sync', 'official_splits/test', 'official_splits/train')
    train = NYUDepthV2Dataset(data_root=root, split='train', serialize_data=False)
    assert len(train) == 24231
    first = train.get_data_info(0)
    assert first['img_path'] == osp.join(root, 'sync', 'kitchen_0028b', 'rgb_00045.jpg')
    assert first['depth_map_path'] == osp.join(root, 'sync', 'kitchen_0028b',
                                               'sync_depth_00045.png')
    assert (first['scene'], first['scene_type']) == ('kitchen_0028b', 'kitchen')
    test = NYUDepthV2Dataset(data_root=root, split='test', serialize_data=False)
    assert len(test) == 654
    assert test.get_data_info(653)['split_line'] == 654
    assert test.get_data_info(0)['img_path'] == osp.join(root, 'official_splits', 'test',
                                                         'bathroom', 'rgb_00045.jpg')
    off = NYUDepthV2Dataset(data_root=root, split='official_train', serialize_data=False)
    assert len(off) == 795
    assert off.get_data_info(0)['img_path'] == osp.join(root, 'official_splits', 'train',
                                                        'basement', 'rgb_00489.jpg')
    assert len({d['scene_type'] for d in off.data_list}) == 27


def test_shipped_kitti_splits(tmp_path, log_messages):
    root = _make_tree(tmp_path, 'raw', 'data_depth_annotated')
    test = KITTIEigenDataset(data_root=root, split='test', serialize_data=False)
    assert len(test) == 652 and test.num_skipped_no_gt == 45
    assert any('skipped 45 of 697 lines' in m for m in log_messages)
    info = test.get_data_info(0)
    assert info['img_path'] == osp.join(root, 'raw', '2011_09_26', '2011_09_26_drive_0002_sync',
                                        'image_02', 'data', '0000000069.png')
    assert info['depth_map_path'] == osp.join(root, 'data_depth_annotated',
                                              '2011_09_26_drive_0002_sync', 'proj_depth',
                                              'groundtruth', 'image_02', '0000000069.png')
    assert info['focal'] == pytest.approx(721.5377) and info['depth_scale'] == 256.0
    dc = KITTIEigenDataset(data_root=root, split='depthclip_test', serialize_data=False)
    assert len(dc) == 652
    # DepthCLIP's third column is a dense-GT path: the focal comes from the recording date
    assert {d['img_path']: d['focal'] for d in dc.data_list} == {
        d['img_path']: d['focal'] for d in test.data_list}
    train = KITTIEigenDataset(data_root=root, split='train', serialize_data=False)
    assert len(train) == 23158 and train.num_skipped_no_gt == 0
    assert train.get_data_info(1)['focal'] == pytest.approx(718.856)  # a 2011_10_03 drive


def test_kitti_samples_skip_none(log_messages):
    ds = kitti()
    assert len(ds) == 3 and ds.num_skipped_no_gt == 1
    assert any('skipped 1 of 4 lines' in m for m in log_messages)
    assert [ds.get_data_info(i)['split_line'] for i in range(3)] == [1, 2, 4]
    assert ds.get_data_info(2)['img_path'] == str(KITTI / 'raw' / '2011_09_26' / DRIVE /
                                                  'image_02' / 'data' / '0000000100.png')
    # absolute data_prefix folders are used as given (RGB and GT in unrelated places)
    ds2 = KITTIEigenDataset(data_root=str(KITTI), split=None,
                            split_file=str(KITTI / 'splits' / 'kitti_eigen_samples.txt'),
                            data_prefix=dict(img_path=str(KITTI / 'raw'),
                                             depth_map_path=str(KITTI / 'data_depth_annotated')))
    assert ds2.get_data_info(0)['img_path'] == ds.get_data_info(0)['img_path']


# ------------------------------------------------------------------- loading real samples
@pytest.mark.parametrize('which', ['nyu', 'kitti'])
def test_loaded_depth_in_metres_matches_raw_png(which):
    ds = nyu(pipeline=LOAD) if which == 'nyu' else kitti(pipeline=LOAD)
    scale = 1000.0 if which == 'nyu' else 256.0
    rng = np.random.default_rng(0)
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        raw = np.array(Image.open(info['depth_map_path']))  # independent read: uint16
        assert raw.dtype == np.uint16
        rgb = np.array(Image.open(info['img_path']).convert('RGB'))[..., ::-1]
        out = ds[i]
        depth = out['gt_depth_map']
        assert depth.dtype == np.float32 and depth.shape == raw.shape
        assert out['seg_fields'] == ['gt_depth_map']
        rows, cols = np.nonzero(raw)
        pick = rng.choice(len(rows), 5, replace=False)
        for r, c in zip(rows[pick], cols[pick]):
            assert depth[r, c] == pytest.approx(raw[r, c] / scale, rel=1e-6)
        assert np.all(depth[raw == 0] == 0)
        np.testing.assert_array_equal(out['img'], rgb)
        assert out['img'].dtype == np.uint8 and out['ori_shape'] == raw.shape


def test_known_depth_values_by_hand():
    # raw PNG values read once with PIL (hard-coded) -> metres
    ds = nyu(pipeline=LOAD)
    d = ds[0]['gt_depth_map']
    raw = np.array(Image.open(NYU / 'sync' / 'basement_0001a' / 'sync_depth_00000.png'))
    r, c = 240, 320
    assert raw[r, c] > 0
    assert d[r, c] == np.float32(raw[r, c]) / np.float32(1000)
    k = kitti(pipeline=LOAD)[0]['gt_depth_map']
    kraw = np.array(Image.open(KITTI / 'data_depth_annotated' / DRIVE / 'proj_depth' /
                               'groundtruth' / 'image_02' / '0000000005.png'))
    r, c = np.argwhere(kraw > 0)[0]
    assert k[r, c] == np.float32(kraw[r, c]) / np.float32(256)


# ------------------------------------------------------------------------------ configs
EXPECTED_TRAIN = {
    'nyu': ['LoadImageFromFileStrict', 'LoadDepthPNG', 'NYUBorderCrop', 'RandomDepthRotate',
            'RandomCrop', 'RandomFlip', 'RandomGammaBrightnessColor', 'PackSegInputs'],
    'kitti': ['LoadImageFromFileStrict', 'LoadDepthPNG', 'KBCrop', 'RandomDepthRotate',
              'RandomCrop', 'RandomFlip', 'RandomGammaBrightnessColor', 'PackSegInputs'],
}


@pytest.mark.parametrize('which', ['nyu', 'kitti'])
def test_base_configs_follow_spec(which):
    cfg = Config.fromfile(str(REPO / 'configs' / '_base_' / 'datasets' / f'{which}.py'))
    assert [t['type'] for t in cfg.train_pipeline] == EXPECTED_TRAIN[which]
    assert cfg.train_dataloader.batch_size == 16
    assert cfg.val_dataloader.batch_size == 1 and cfg.test_dataloader.batch_size == 1
    assert cfg.train_dataloader.dataset.split == 'train'
    assert cfg.test_dataloader.dataset.split == 'test'
    assert cfg.train_dataloader.dataset.data_root == f'data/{which}'
    tp = {t['type']: t for t in cfg.train_pipeline}
    if which == 'nyu':
        assert tp['NYUBorderCrop']['box'] == (43, 45, 608, 472)
        assert tp['RandomDepthRotate']['degree'] == 2.5
        assert tp['RandomCrop']['crop_size'] == (416, 544)
        assert tp['RandomGammaBrightnessColor']['brightness_range'] == (0.75, 1.25)
        assert tp['LoadDepthPNG']['depth_scale'] == 1000.0
        assert cfg.test_evaluator == dict(type='DepthEvalMetric', crop='eigen', min_depth=1e-3,
                                          max_depth=10.0)
        assert [t['type'] for t in cfg.test_pipeline] == [
            'LoadImageFromFileStrict', 'LoadDepthPNG', 'PackSegInputs']
    else:
        assert tp['RandomDepthRotate']['degree'] == 1.0
        assert tp['RandomCrop']['crop_size'] == (352, 704)
        assert tp['RandomGammaBrightnessColor']['brightness_range'] == (0.9, 1.1)
        assert tp['LoadDepthPNG']['depth_scale'] == 256.0
        assert cfg.test_evaluator == dict(type='DepthEvalMetric', crop='garg', min_depth=1e-3,
                                          max_depth=80.0)
        assert [t['type'] for t in cfg.test_pipeline] == [
            'LoadImageFromFileStrict', 'LoadDepthPNG', 'KBCrop', 'PackSegInputs']
    assert tp['RandomFlip']['prob'] == 0.5 and tp['RandomGammaBrightnessColor']['prob'] == 0.5
    for key in ('focal', 'img_path', 'ori_shape', 'flip'):
        assert key in tp['PackSegInputs']['meta_keys']


@pytest.mark.parametrize('which,train_hw,test_hw', [
    ('nyu', (416, 544), (480, 640)), ('kitti', (352, 704), (352, 1216))])
def test_sample_configs_build_and_pack(which, train_hw, test_hw):
    cfg = Config.fromfile(str(REPO / 'configs' / '_base_' / 'datasets' / f'{which}_samples.py'))
    for key, hw in (('train_dataloader', train_hw), ('val_dataloader', test_hw),
                    ('test_dataloader', test_hw)):
        ds = DATASETS.build(cfg[key].dataset)
        assert len(ds) == (3 if which == 'kitti' or key == 'train_dataloader' else 1)
        for i in range(len(ds)):
            packed = ds[i]
            sample = packed['data_samples']
            assert tuple(packed['inputs'].shape) == (3, *hw)
            assert tuple(sample.gt_depth_map.data.shape) == (1, *hw)
            assert sample.gt_depth_map.data.max() > 0
            assert sample.metainfo['focal'] > 0
            if which == 'nyu':
                assert sample.metainfo['scene_type'] == 'basement'
            if key != 'train_dataloader':
                assert tuple(sample.metainfo['ori_shape']) == hw  # the evaluation frame


# ------------------------------------------------------------------------------ bad input
def test_nonexistent_data_root():
    with pytest.raises(FileNotFoundError, match='no/such/root'):
        NYUDepthV2Dataset(data_root='/no/such/root', split='test')


def test_missing_layout_folder(tmp_path):
    (tmp_path / 'sync').mkdir()
    with pytest.raises(FileNotFoundError, match=r'official_splits/test'):
        NYUDepthV2Dataset(data_root=str(tmp_path), split='test')


def test_missing_split_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.txt'):
        NYUDepthV2Dataset(data_root=str(tmp_path), split='test', split_file='nope.txt')


def test_unknown_split():
    with pytest.raises(ValueError, match="unknown split 'val'"):
        NYUDepthV2Dataset(data_root=str(NYU), split='val')


def test_empty_split_file(tmp_path):
    (tmp_path / 'sync').mkdir()
    empty = tmp_path / 'empty.txt'
    empty.write_text('\n\n')
    with pytest.raises(ValueError, match='empty.txt.*lists no sample'):
        NYUDepthV2Dataset(data_root=str(tmp_path), split='train', split_file=str(empty))


@pytest.mark.parametrize('bad_line,match', [
    ('/kitchen_0001/rgb_00001.jpg', '1'),
    ('/a/rgb.jpg /a/d.png 518.8 extra', '4'),
    ('None /a/d.png 518.8', 'RGB path is None'),
])
def test_malformed_split_file(tmp_path, bad_line, match):
    (tmp_path / 'sync').mkdir()
    split = tmp_path / 'bad.txt'
    split.write_text('/a/rgb_00001.jpg /a/sync_depth_00001.png 518.8579\n' + bad_line + '\n')
    with pytest.raises(ValueError, match=rf'bad.txt.*line 2.*{match}'):
        NYUDepthV2Dataset(data_root=str(tmp_path), split='train', split_file=str(split))


def test_only_none_ground_truth(tmp_path):
    _make_tree(tmp_path, 'raw', 'data_depth_annotated')
    split = tmp_path / 'k.txt'
    split.write_text('2011_09_26/x/image_02/data/0.png None 721.5377\n')
    with pytest.raises(ValueError, match='lists no sample with ground truth'):
        KITTIEigenDataset(data_root=str(tmp_path), split='test', split_file=str(split))


def test_split_file_resolution(tmp_path):
    assert resolve_split_file('nyudepthv2_test_files_with_gt.txt') == osp.join(
        SPLITS_DIR, 'nyudepthv2_test_files_with_gt.txt')
    assert resolve_split_file('splits/nyu_train_samples.txt', str(NYU)) == str(
        NYU / 'splits' / 'nyu_train_samples.txt')
    with pytest.raises(FileNotFoundError, match='looked for'):
        resolve_split_file('missing.txt', str(tmp_path))


def test_ann_file_rejected():
    with pytest.raises(TypeError, match='split_file'):
        NYUDepthV2Dataset(data_root=str(NYU), ann_file='x.txt')


def test_error_when_iterating_names_split_line(tmp_path):
    (tmp_path / 'sync' / 's_0001').mkdir(parents=True)
    split = tmp_path / 'l.txt'
    split.write_text('/s_0001/rgb_00001.jpg /s_0001/sync_depth_00001.png 518.8579\n')
    ds = NYUDepthV2Dataset(data_root=str(tmp_path), split='train', split_file=str(split),
                           pipeline=LOAD)
    with pytest.raises(FileNotFoundError, match=r"rgb_00001.jpg.*l.txt', line 1"):
        ds[0]


# --------------------------------------------------------------------------- check tool
TOOL = REPO / 'tools' / 'dataset_converters' / 'check_depth_dataset.py'


@pytest.fixture(scope='module')
def check_tool():
    """The tool's module, imported from its path (run in-process: a subprocess costs ~20 s)."""
    spec = importlib.util.spec_from_file_location('check_depth_dataset', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_check_tool(tmp_path, check_tool, capsys):
    assert check_tool.main([str(KITTI), 'splits/kitti_eigen_samples.txt']) == 0
    assert 'OK: all 3 samples' in capsys.readouterr().out
    # a copy of the NYU tree with one depth map missing and one truncated RGB
    root = tmp_path / 'nyu'
    shutil.copytree(NYU, root)
    scene = root / 'sync' / 'basement_0001a'
    (scene / 'sync_depth_00050.png').unlink()
    data = (scene / 'rgb_00100.jpg').read_bytes()
    (scene / 'rgb_00100.jpg').write_bytes(data[:len(data) // 2])
    assert check_tool.main([str(root), 'splits/nyu_train_samples.txt']) == 1
    out = capsys.readouterr().out
    assert re.search(r"MISSING: depth map not found: .*sync_depth_00050.png' \(split file "
                     r"'.*nyu_train_samples.txt', line 2\)", out)
    assert re.search(r"UNDECODABLE: RGB image '.*rgb_00100.jpg' \(split file '.*nyu_train_samples.txt', line 3\): "
                     r"corrupt or truncated image", out)
    assert 'FAILED: 2 of 3 samples' in out
    assert check_tool.main([str(tmp_path / 'nothing'), 'test']) == 2
    assert 'does not exist' in capsys.readouterr().err
    # the official-train layout, chosen by name
    assert check_tool.main([str(NYU), 'official_train']) == 1  # only 1 of 795 files is bundled

