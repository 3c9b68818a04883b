"""No silent wrong numbers, nothing lost (docs/reliability.md): one test per fault, each asserting the exact
behaviour - the error type and the file / key it names, or numerical equality."""
import glob
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.runner import Runner
from mmseg.registry import MODELS

from conftest import CHILD_THREADS, DATA, REPO, TINY_CLIP, tiny_runner_cfg
from mmclipdepth.checkpoint import IDENTITY_KEY, CorruptCheckpointError, safe_torch_load
from mmclipdepth.apis import inference_depth, init_depth_model
from mmclipdepth.checkpoint import CheckpointMismatchError

NYU7 = 'configs/clipdepth/nyu_baseline_learned7.py'
NYU20 = 'configs/clipdepth/nyu_baseline_learned20.py'
KITTI7 = 'configs/clipdepth/kitti_baseline_learned7.py'
HELPER = osp.join(REPO, 'tests', 'helpers', 'train_with_faults.py')
ENV = dict(os.environ, OMP_NUM_THREADS=CHILD_THREADS, HF_HUB_OFFLINE='1')


def _ckpt(tmp_path, config, name, drop=(), dataset='nyu'):
    """A checkpoint (tools/train.py layout, CLIP included) of a freshly built tiny model of ``config``."""
    cfg = tiny_runner_cfg(config, work_dir=str(tmp_path / 'w'), dataset=dataset)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    state = {k: v for k, v in model.state_dict().items() if k not in drop}
    path = str(tmp_path / name)
    torch.save(dict(state_dict=state, meta=dict()), path)
    return path


def _runner(tmp_path, config=NYU7, dataset='nyu', **kw):
    cfg = tiny_runner_cfg(config, work_dir=str(tmp_path / 'run'), dataset=dataset)
    for k, v in kw.items():
        cfg[k] = v
    return Runner.from_cfg(cfg)


# ------------------------------------------------------------------------------------------- checkpoints
def test_other_variant_checkpoint_is_refused_on_load_from_test_and_api(tmp_path):
    ckpt = _ckpt(tmp_path, NYU20, 'learned20.pth')
    with pytest.raises(CheckpointMismatchError, match=r'(?s)learned20\.pth.*depth_vecs: checkpoint \(20, 32\) vs '
                                                      r'model \(7, 32\)'):
        _runner(tmp_path, load_from=ckpt).test()
    with pytest.raises(CheckpointMismatchError, match=r'learned20\.pth'):
        init_depth_model(tiny_runner_cfg(NYU7), ckpt)


def test_wrong_variant_resume_fails_before_the_optimiser(tmp_path):
    ckpt = _ckpt(tmp_path, NYU20, 'learned20.pth')
    runner = _runner(tmp_path, load_from=ckpt, resume=True)
    with pytest.raises(CheckpointMismatchError, match='depth_vecs'):
        runner.train()
    assert runner.iter == 0


def test_checkpoint_without_the_tokens_and_no_checkpoint_are_refused(tmp_path):
    ckpt = _ckpt(tmp_path, NYU7, 'no_tokens.pth', drop=('decode_head.text_encoder.depth_vecs', ))
    with pytest.raises(CheckpointMismatchError, match=r"(?s)no_tokens\.pth.*1 learnable parameter\(s\) missing "
                                                      r"\['decode_head\.text_encoder\.depth_vecs'\]"):
        _runner(tmp_path, load_from=ckpt).test()
    with pytest.raises(RuntimeError, match=r'no checkpoint was loaded.*allow_untrained'):
        _runner(tmp_path / 'b').test()
    runner = _runner(tmp_path / 'c')
    runner.model.test_cfg['allow_untrained'] = True  # asked for explicitly: runs
    assert 'abs_rel' in ''.join(runner.test())


def test_kitti_checkpoint_in_nyu_config_names_both_ranges(tmp_path):
    ckpt = _ckpt(tmp_path, KITTI7, 'kitti7.pth', dataset='kitti')  # same shapes, other bins and range
    msg = (r'(?s)kitti7\.pth.*depth_range: checkpoint \[0\.001, 80\], config \[0\.001, 10\].*'
           r'bin_centres: checkpoint 7 values 5\.71.* \.\. 74\.28.*, config 7 values 0\.71.* \.\. 9\.28')
    with pytest.raises(CheckpointMismatchError, match=msg):
        _runner(tmp_path, load_from=ckpt).test()
    with pytest.raises(CheckpointMismatchError, match='bin_centres'):
        init_depth_model(tiny_runner_cfg(NYU7), ckpt)


def test_log_bins_over_a_linear_checkpoint_is_refused(tmp_path):
    ckpt = _ckpt(tmp_path, NYU7, 'linear7.pth')
    cfg = tiny_runner_cfg(NYU7)
    cfg.model.decode_head.bins = 'log'
    with pytest.raises(CheckpointMismatchError, match=r'bin_centres: checkpoint 7 values 0\.71.*config 7 values'):
        init_depth_model(cfg, ckpt)


@pytest.mark.parametrize('content, match', [(b'', 'empty'), (None, 'truncated')])
def test_empty_and_truncated_checkpoints_name_the_file(tmp_path, content, match):
    good = _ckpt(tmp_path, NYU7, 'good.pth')
    bad = tmp_path / 'bad.pth'
    data = open(good, 'rb').read()
    bad.write_bytes(content if content is not None else data[:len(data) // 3])
    with pytest.raises(CorruptCheckpointError, match=rf"bad\.pth.*{match}|{match}.*bad\.pth"):
        safe_torch_load(str(bad))
    with pytest.raises(CorruptCheckpointError, match=r'bad\.pth'):
        init_depth_model(tiny_runner_cfg(NYU7), str(bad))
    with pytest.raises(CorruptCheckpointError, match=r'bad\.pth'):
        _runner(tmp_path, load_from=str(bad)).test()


def test_tools_test_refuses_mismatch_and_needs_no_clip_download(tmp_path):
    """tools/test.py exits non-zero naming the file on a mismatch; with a checkpoint that carries CLIP the config's
    CLIP source is never opened (here a file that does not exist stands for an offline 'openai')."""
    cfg = tiny_runner_cfg(NYU7, work_dir=str(tmp_path / 'w'))
    cfg.model.clip = dict(TINY_CLIP, pretrained='/nonexistent/openai_RN50.pt')
    cfg_path = str(tmp_path / 'cfg.py')
    cfg.dump(cfg_path)
    good = _ckpt(tmp_path, NYU7, 'good.pth')
    bad = _ckpt(tmp_path, NYU20, 'learned20.pth')
    run = lambda ckpt: subprocess.run([sys.executable, osp.join(REPO, 'tools/test.py'), cfg_path, ckpt,  # noqa
                                       '--work-dir', str(tmp_path / 'out')], capture_output=True, text=True,
                                      timeout=300, cwd=REPO, env=ENV)
    out = run(good)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'abs_rel' in out.stdout + out.stderr and 'RANDOMLY INITIALISED' not in out.stdout + out.stderr
    out = run(bad)
    assert out.returncode != 0
    assert 'CheckpointMismatchError' in out.stderr and 'learned20.pth' in out.stderr


# ------------------------------------------------------------------------------------------- saving
def _train_cfg(tmp_path, name, max_iters=6, interval=2, keep=1, **loader):
    cfg = tiny_runner_cfg(NYU7, work_dir=str(tmp_path / name), max_iters=max_iters)
    cfg.default_hooks.checkpoint = dict(type='SafeCheckpointHook', by_epoch=False, interval=interval,
                                        max_keep_ckpts=keep)
    cfg.train_dataloader.update(loader)
    path = str(tmp_path / f'{name}.py')
    cfg.dump(path)
    return path, cfg.work_dir


def _run_helper(*args):
    return subprocess.run([sys.executable, HELPER, *args], capture_output=True, text=True, timeout=400, cwd=REPO,
                          env=ENV)


@pytest.mark.parametrize('moment', ['write', 'replace', 'pointer'])
def test_kill_during_a_save_leaves_a_resumable_run(tmp_path, moment):
    cfg_path, work = _train_cfg(tmp_path, 'run', max_iters=4, interval=2, keep=1)
    out = _run_helper(cfg_path, '--kill-during-save', '2', '--kill-at', moment)
    assert out.returncode == -9, out.stderr[-2000:]  # SIGKILL during the second save (iteration 4)
    pointer = open(osp.join(work, 'last_checkpoint')).read().strip()
    assert osp.basename(pointer) == ('iter_2.pth' if moment in ('write', 'replace') else 'iter_4.pth')
    ckpt = safe_torch_load(pointer)  # complete and loadable
    assert ckpt['meta']['iter'] == int(osp.basename(pointer)[5:-4])
    out = _run_helper(cfg_path, '--resume')
    assert out.returncode == 0, out.stderr[-3000:]
    assert safe_torch_load(osp.join(work, 'iter_4.pth'))['meta']['iter'] == 4
    if moment != 'pointer':  # max_keep_ckpts=1: removed once the new one is complete (killed before: kept)
        assert not osp.exists(osp.join(work, 'iter_2.pth'))
    assert not glob.glob(osp.join(work, '.*.tmp'))  # a killed save's temporary file is cleaned up


def test_disk_full_names_the_file_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    cfg_path, work = _train_cfg(tmp_path, 'full', max_iters=4, interval=2, keep=1)
    from mmengine.config import Config

    from mmclipdepth.checkpoint import atomic as backend
    runner = Runner.from_cfg(Config.fromfile(cfg_path))
    real_fdopen, calls = os.fdopen, {'n': 0}

    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

        def write(self, data):
            raise OSError(28, 'No space left on device')

        def __getattr__(self, name):
            return getattr(self.f, name)

    def fdopen(fd, mode='r', *a, **k):
        f = real_fdopen(fd, mode, *a, **k)
        calls['n'] += 1
        return Full(f) if calls['n'] == 3 else f  # iter_2.pth, last_checkpoint, then iter_4.pth fails

    monkeypatch.setattr(backend.os, 'fdopen', fdopen)
    with pytest.raises(OSError, match=r"could not write '.*iter_4\.pth': No space left on device") as info:
        runner.train()
    assert info.value.errno == 28
    assert open(osp.join(work, 'last_checkpoint')).read().strip().endswith('iter_2.pth')
    assert safe_torch_load(osp.join(work, 'iter_2.pth'))['meta']['iter'] == 2  # intact
    assert not osp.exists(osp.join(work, 'iter_4.pth')) and not glob.glob(osp.join(work, '.iter_4*'))


# ------------------------------------------------------------------------------------------- exact resume
def test_sigkill_then_resume_equals_an_uninterrupted_run_bit_for_bit(tmp_path):
    """Killed after iteration 5 (checkpoint at 4), resumed: the iteration-6 tokens, optimiser state and BatchNorm
    statistics equal the uninterrupted run's exactly. Two data-loader workers (persistent), crossing epochs."""
    loader = dict(num_workers=2, persistent_workers=True)
    a_cfg, a_work = _train_cfg(tmp_path, 'a', max_iters=6, interval=2, keep=3, **loader)
    b_cfg, b_work = _train_cfg(tmp_path, 'b', max_iters=6, interval=2, keep=3, **loader)
    assert _run_helper(a_cfg).returncode == 0
    out = _run_helper(b_cfg, '--kill-after-iter', '5')
    assert out.returncode == -9, out.stderr[-2000:]
    assert not osp.exists(osp.join(b_work, 'iter_6.pth'))
    out = _run_helper(b_cfg, '--resume')
    assert out.returncode == 0, out.stderr[-3000:]
    a = safe_torch_load(osp.join(a_work, 'iter_6.pth'))
    b = safe_torch_load(osp.join(b_work, 'iter_6.pth'))
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for k in a['state_dict']:
        if k == IDENTITY_KEY:  # the identity's tensor digests: equal tensors, equal digests
            assert a['state_dict'][k]['digests'] == b['state_dict'][k]['digests']
            continue
        assert torch.equal(a['state_dict'][k], b['state_dict'][k]), k
    sa, sb = a['optimizer']['state'], b['optimizer']['state']
    assert sa.keys() == sb.keys() and sa
    for i in sa:
        for k in sa[i]:
            assert torch.equal(torch.as_tensor(sa[i][k]), torch.as_tensor(sb[i][k])), (i, k)
    before = safe_torch_load(osp.join(b_work, 'iter_4.pth'))['state_dict']
    assert not torch.equal(before['decode_head.text_encoder.depth_vecs'],
                           b['state_dict']['decode_head.text_encoder.depth_vecs'])  # it did train after resuming


# ------------------------------------------------------------------------------------------- distributed
def _split_of_four(tmp_path):
    lines = open(osp.join(DATA, 'nyu', 'splits', 'nyu_train_samples.txt')).read().split('\n')
    lines = [ln for ln in lines if ln.strip()]
    path = tmp_path / 'four.txt'
    path.write_text('\n'.join(lines + lines[:1]) + '\n')
    return str(path)


@pytest.mark.parametrize('bn_mode', ['train', 'eval'])
def test_two_processes_equal_one_process_of_the_whole_batch(tmp_path, bn_mode):
    split = _split_of_four(tmp_path)
    results = {}
    for procs, batch in ((1, 4), (2, 2)):
        cfg = tiny_runner_cfg(NYU7, work_dir=str(tmp_path / f'p{procs}'), max_iters=3, batch_size=batch)
        cfg.train_dataloader.dataset.split_file = split
        cfg.model.backbone.bn_mode = bn_mode
        # NCHW trunk: one process uses torch's native batch norm, N processes the pooled float64 statistics;
        # on the channels-last trunk the native NHWC kernel's float32 rounding alone moves the tokens by ~2e-5
        cfg.model.backbone.channels_last = False
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
        cfg.train_cfg.val_interval = 1000
        path = str(tmp_path / f'p{procs}.py')
        cfg.dump(path)
        if procs == 1:
            cmd = [sys.executable, osp.join(REPO, 'tools/train.py'), path]
        else:
            cmd = [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={procs}',
                   f'--master_port={29600 + (bn_mode == "eval")}', osp.join(REPO, 'tools/train.py'), path,
                   '--launcher', 'pytorch']
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=400, cwd=REPO,
                             env=dict(ENV, OMP_NUM_THREADS='1'))
        assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
        results[procs] = safe_torch_load(osp.join(cfg.work_dir, 'iter_3.pth'))['state_dict']
    one, two = results[1], results[2]
    tok = 'decode_head.text_encoder.depth_vecs'
    start = _ckpt(tmp_path, NYU7, 'init.pth')
    assert not torch.allclose(one[tok], torch.load(start)['state_dict'][tok])  # trained
    init = torch.load(start)['state_dict'][tok]
    # float32 sums over the batch in another order (per-rank partial sums, then all-reduce): rounding only.
    assert float((one[tok] - two[tok]).norm() / one[tok].norm()) <= 1e-6
    assert float((one[tok] - two[tok]).norm() / (one[tok] - init).norm()) <= 1e-5  # of what training moved
    bn = [k for k in one if k.endswith('running_mean')]
    for k in bn:  # train: both saw the statistics of the whole 4-image batch; eval: untouched
        assert torch.allclose(one[k], two[k], rtol=1e-5, atol=1e-6), k


# ------------------------------------------------------------------------------------------- inputs
@pytest.fixture(scope='module')
def zero_shot_model():
    cfg = tiny_runner_cfg('configs/clipdepth/nyu_depthclip_zeroshot.py')
    return init_depth_model(cfg)


@pytest.mark.parametrize('array, match', [
    (np.full((64, 64, 3), np.nan, np.float32), 'dtype float32.*img \\* 255'),
    (np.random.rand(64, 64, 3), 'dtype float64'),
    (np.zeros((64, 64, 3), np.uint16), 'dtype uint16'),
    (np.zeros((0, 0, 3), np.uint8), 'empty'),
    (np.zeros((24, 300, 3), np.uint8), r'24x300 px.*at least 32x32'),
])
def test_inference_refuses_bad_arrays(zero_shot_model, array, match):
    with pytest.raises(ValueError, match=rf'array #0.*{match}|{match}'):
        inference_depth(zero_shot_model, array)


def test_small_image_in_a_dataset_names_the_file(tmp_path):
    runner = _runner(tmp_path, config='configs/clipdepth/nyu_depthclip_zeroshot.py')
    model = runner.model.eval()
    from mmseg.structures import SegDataSample
    s = SegDataSample()
    s.set_metainfo(dict(img_path='tiny/rgb_01.jpg', img_shape=(24, 24), ori_shape=(24, 24)))
    with pytest.raises(ValueError, match=r"'tiny/rgb_01\.jpg' is 24x24 px.*at least 32x32"):
        model.predict(torch.zeros(1, 3, 24, 24), [s])


def test_demo_folder_skips_depth_pngs_and_carries_on_after_a_bad_file(tmp_path, capsys):
    import importlib.util
    spec = importlib.util.spec_from_file_location('image_demo', osp.join(REPO, 'demo', 'image_demo.py'))
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    folder = tmp_path / 'in'
    folder.mkdir()
    src = osp.join(DATA, 'nyu', 'sync', 'basement_0001a')
    cv2.imwrite(str(folder / 'a.jpg'), cv2.imread(osp.join(src, 'rgb_00000.jpg')))
    cv2.imwrite(str(folder / 'b_depth.png'), cv2.imread(osp.join(src, 'sync_depth_00000.png'), cv2.IMREAD_UNCHANGED))
    cv2.imwrite(str(folder / 'c_tiny.png'), np.zeros((20, 20, 3), np.uint8))
    cfg = tiny_runner_cfg('configs/clipdepth/nyu_depthclip_zeroshot.py')
    cfg_path = str(tmp_path / 'zs.py')
    cfg.dump(cfg_path)
    summary = demo.main([cfg_path, str(folder), '--out-dir', str(tmp_path / 'out')])
    err = capsys.readouterr().err
    assert [osp.basename(s['image']) for s in summary] == ['a.jpg']
    assert 'skipping' in err and 'b_depth.png' in err and '16-bit' in err
    assert 'c_tiny.png' in err and '20x20 px' in err and '1 of 2 image(s) failed' in err
    assert osp.isfile(tmp_path / 'out' / 'a_depth.npy')
    with pytest.raises(ValueError, match='c_tiny.png'):
        demo.main([cfg_path, str(folder), '--out-dir', str(tmp_path / 'out2'), '--stop-on-error'])


def test_training_without_valid_ground_truth_warns_with_a_count(tmp_path, caplog):
    cfg = tiny_runner_cfg(NYU7, work_dir=str(tmp_path / 'w'), max_iters=2)
    for t in cfg.train_dataloader.dataset.pipeline:
        if t['type'] == 'LoadDepthPNG':
            t['depth_scale'] = 1e9  # every depth below min_depth: no valid pixel
    cfg.train_cfg.val_interval = 1000
    runner = Runner.from_cfg(cfg)
    import logging
    with caplog.at_level(logging.WARNING):
        runner.train()
    text = caplog.text + ''.join(open(f).read() for f in glob.glob(str(tmp_path / 'w' / '*' / '*.log')))
    assert '2 training batch(es)' in text and 'no valid ground-truth pixel' in text
