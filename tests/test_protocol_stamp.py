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


def test_paper_table_marks_or_refuses_mixed_protocols(tmp_path):
    """Two metrics.json files of one sweep evaluated with different crops: every cell is marked with its
    protocol and the protocols are printed under the table; --strict-protocol refuses."""
    from mmengine.config import Config
    sweep = osp.join(REPO, 'configs/mirror/sweeps/nyu_mirror_sizes.py')
    variants = list(Config.fromfile(sweep).model.decode_heads)
    base = dict(dataset='NYUDepthV2Dataset', split='test', split_file='x/nyudepthv2_test_files_with_gt.txt',
                split_file_sha256='ab' * 32, crop='eigen', min_depth=0.001, max_depth=10.0, max_comparison='<=',
                min_pred=None, clamp_prediction='yes', alignment='metric', averaging='image-wise', tta='whole_flip',
                input_size='native')
    files = []
    for i, (part, stamp) in enumerate(((variants[:2], base), (variants[2:], dict(base, crop='depthclip_nyu')))):
        record = {f'{v}/{k}': 0.5 for v in part for k in ('abs_rel', 'sq_rel', 'rmse', 'rmse_log_unrooted', 'log10',
                                                          'd1', 'd2', 'd3')}
        record['protocol'] = stamp
        files.append(str(tmp_path / f'm{i}.json'))
        json.dump(record, open(files[-1], 'w'))
    args = [sys.executable, osp.join(REPO, 'tools/analysis/paper_table.py'), str(tmp_path), '--config', sweep,
            '--metrics', *files]
    run = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert run.returncode == 0, run.stderr[-2000:]
    rows = {ln.split(' | ')[0][3:-1]: ln for ln in run.stdout.splitlines() if ln.startswith('| `')}
    assert rows[variants[0]].count('[P1]') == 8 and '[P2]' not in rows[variants[0]]
    assert rows[variants[-1]].count('[P2]') == 8
    assert '- P1: protocol: NYUDepthV2Dataset nyudepthv2_test_files_with_gt.txt' in run.stdout
    assert 'crop depthclip_nyu' in run.stdout.split('- P2:')[1]
    strict = subprocess.run(args + ['--strict-protocol'], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert strict.returncode == 1 and 'mix 2 evaluation protocols' in strict.stderr
    assert 'crop eigen' in strict.stderr and 'crop depthclip_nyu' in strict.stderr
