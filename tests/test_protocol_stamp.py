"""The protocol stamp beside the numbers: read back from the metrics.json that tools/test.py writes."""
import hashlib
import json
import os.path as osp
import subprocess
import sys

import torch
from mmseg.registry import MODELS

from conftest import REPO, tiny_runner_cfg
from mmclipdepth.utils.protocol import describe_protocol, protocol_key


def _sha256(path):  # independent of the code under test: whole file at once
    return hashlib.sha256(open(path, 'rb').read()).hexdigest()


def test_tools_test_writes_metrics_json_with_its_protocol(tmp_path):
    cfg = tiny_runner_cfg(work_dir=str(tmp_path / 'w'))
    cfg.test_evaluator = dict(type='DepthEvalMetric', min_depth=1e-3, max_depth=10.0, crop='eigen')
    cfg_path = tmp_path / 'tiny.py'
    cfg.dump(str(cfg_path))
    model = MODELS.build(cfg.model)
    ckpt = tmp_path / 'model.pth'
    torch.save(dict(state_dict=model.state_dict(), meta={}), str(ckpt))
    out = subprocess.run([sys.executable, osp.join(REPO, 'tools/test.py'), str(cfg_path), str(ckpt), '--work-dir',
                          str(tmp_path / 'w'), '--cfg-options', 'test_evaluator.max_inclusive=False',
                          'test_evaluator.crop=depthclip_nyu', 'model.test_cfg.mode=whole'],
                         capture_output=True, text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    record = json.load(open(tmp_path / 'w' / 'metrics.json'))
    assert 0 <= record['d1'] <= 1 and record['abs_rel'] > 0
    stamp = record['protocol']
    split = osp.join(REPO, 'tests/data/nyu/splits/nyu_test_samples.txt')
    assert stamp['dataset'] == 'NYUDepthV2Dataset'
    assert osp.samefile(stamp['split_file'], split)
    assert stamp['split_file_sha256'] == _sha256(split)
    # the command-line overrides, not the defaults, are what the numbers were computed with
    assert stamp['crop'] == 'depthclip_nyu' and stamp['max_comparison'] == '<'
    assert (stamp['min_depth'], stamp['max_depth']) == (1e-3, 10.0)
    assert stamp['tta'] == 'whole' and stamp['alignment'] == 'metric' and stamp['averaging'] == 'image-wise'
    assert stamp['input_size'].startswith('native')
    assert stamp['checkpoint_sha256'] == _sha256(ckpt)
    assert stamp['versions']['torch'] == torch.__version__
    assert 'depthclip_nyu' in describe_protocol(stamp) and '< gt < 10.0' in describe_protocol(stamp)
    # a different comparison is a different protocol
    assert protocol_key(stamp) != protocol_key(dict(stamp, max_comparison='<='))
