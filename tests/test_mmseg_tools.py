"""mmseg's own tools/train.py and tools/test.py (installed under mmseg/.mim/tools) run the package's configs,
including --out (DepthEvalMetric's output_dir), --show-dir and --tta (DepthTTAModel + tta_pipeline)."""
import glob
import os
import os.path as osp
import subprocess
import sys

import cv2
import mmseg
import numpy as np
import pytest
import torch
from mmengine.config import Config

from conftest import CHILD_THREADS, REPO, tiny_runner_cfg
from mmclipdepth.checkpoint import safe_torch_load

TOOLS = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools')
ENV = dict(os.environ, OMP_NUM_THREADS=CHILD_THREADS, HF_HUB_OFFLINE='1')


@pytest.mark.skipif(not osp.isfile(osp.join(TOOLS, 'train.py')), reason='mmseg installed without its tools')
def test_mmseg_train_then_test_with_out_show_dir_and_tta(tmp_path):
    cfg = tiny_runner_cfg('configs/clipdepth/nyu_baseline_learned7.py', work_dir=str(tmp_path / 'w'), max_iters=2)
    cfg_path = str(tmp_path / 'tiny.py')
    cfg.dump(cfg_path)
    run = lambda *a: subprocess.run([sys.executable, *a], capture_output=True, text=True, timeout=600,  # noqa
                                    cwd=str(tmp_path), env=ENV)
    out = run(osp.join(TOOLS, 'train.py'), cfg_path, '--work-dir', str(tmp_path / 'w'))
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    ckpt = str(tmp_path / 'w' / 'iter_2.pth')
    assert safe_torch_load(ckpt)['meta']['iter'] == 2
    for tta in (False, True):
        pred, show = tmp_path / f'pred{tta}', tmp_path / f'show{tta}'
        args = [osp.join(TOOLS, 'test.py'), cfg_path, ckpt, '--work-dir', str(tmp_path / f't{tta}'), '--out',
                str(pred), '--show-dir', str(show)] + (['--tta'] if tta else [])
        out = run(*args)
        log = out.stdout + out.stderr
        assert out.returncode == 0, log[-4000:]
        assert 'abs_rel' in log
        pngs = sorted(glob.glob(str(pred / '*.png')))
        assert [osp.basename(p) for p in pngs] == ['rgb_00100.png']  # the bundled test frame
        depth = cv2.imread(pngs[0], cv2.IMREAD_UNCHANGED)
        assert depth.dtype == np.uint16 and depth.shape == (480, 640) and 1 <= depth.min() <= depth.max() <= 10000
        assert glob.glob(str(show / '**' / '*.png'), recursive=True)
        if tta:
            tta_depth = depth
        else:
            plain_depth = depth
    # --tta (views averaged at full resolution) equals whole_flip (averaged at the head's resolution)
    assert np.abs(tta_depth.astype(int) - plain_depth.astype(int)).max() <= 1  # 1 mm: rounding to uint16


@pytest.mark.skipif(not osp.isfile(osp.join(TOOLS, 'test.py')), reason='mmseg installed without its tools')
def test_zero_shot_config_through_mmseg_test_with_an_init_checkpoint(tmp_path):
    conv = osp.join(REPO, 'tools', 'model_converters', 'checkpoint_size.py')
    zs = tiny_runner_cfg('configs/clipdepth/nyu_depthclip_zeroshot.py', work_dir=str(tmp_path / 'w'))
    zs_path = str(tmp_path / 'zs.py')
    zs.dump(zs_path)
    out = subprocess.run([sys.executable, conv, zs_path, '--init', str(tmp_path / 'zs.pth')], capture_output=True,
                         text=True, timeout=300, env=ENV)
    assert out.returncode == 0, out.stderr[-3000:]
    out = subprocess.run([sys.executable, osp.join(TOOLS, 'test.py'), zs_path, str(tmp_path / 'zs.pth'),
                          '--work-dir', str(tmp_path / 't')], capture_output=True, text=True, timeout=300,
                         cwd=str(tmp_path), env=ENV)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    assert 'abs_rel' in out.stdout + out.stderr
    learned = tiny_runner_cfg('configs/clipdepth/nyu_baseline_learned7.py')
    learned_path = str(tmp_path / 'l7.py')
    learned.dump(learned_path)
    out = subprocess.run([sys.executable, conv, learned_path, '--init', str(tmp_path / 'l7.pth')], capture_output=True,
                         text=True, timeout=300, env=ENV)
    assert out.returncode != 0 and 'learnable parameter' in out.stderr and not osp.exists(tmp_path / 'l7.pth')
