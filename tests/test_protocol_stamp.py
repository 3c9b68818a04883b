"""The protocol stamp beside the numbers: paper_table.py marks or refuses mixed protocols (the stamp read back from
tools/test.py's metrics.json: tests/test_depth_folder.py)."""
import importlib.util
import json
import os.path as osp
import subprocess
import sys

import pytest

from conftest import REPO
from mmclipdepth.utils.protocol import describe_protocol, protocol_key


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
    # --strict-protocol through the tool's main (argv as typed; one interpreter start less)
    spec = importlib.util.spec_from_file_location('paper_table', osp.join(REPO, 'tools/analysis/paper_table.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    with pytest.raises(SystemExit) as exc:
        tool.main(args[2:] + ['--strict-protocol'])
    message = str(exc.value.code)
    assert message.startswith('error: the metrics mix 2 evaluation protocols in one column')
    assert 'crop eigen,' in message and 'crop depthclip_nyu' in message
