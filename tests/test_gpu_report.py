"""tools/analysis/gpu_report.py as a user runs it, tiny and on the CPU: the report's structure, and deviations that
are computed (fp32 against itself is exactly 0, a lower precision is not), skipped entries with their reasons."""
import json
import os.path as osp
import subprocess
import sys

from conftest import REPO


def test_gpu_report_tiny_on_cpu(tmp_path):
    out = tmp_path / 'r' / 'report.json'
    cmd = [sys.executable, osp.join(REPO, 'tools/analysis/gpu_report.py'), '--tiny', '--device', 'cpu',
           '--out', str(out), '--sweep', osp.join(REPO, 'configs/clipdepth/sweeps/nyu_auty_table5.py'),
           '--compile-backend', 'eager']
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=REPO)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    r = json.loads(out.read_text())
    assert r['tiny'] is True and r['device'] == 'cpu'
    env = r['environment']
    assert env['torch'] and env['onnxruntime'] and 'CPUExecutionProvider' in env['onnxruntime_providers']

    (row, ) = r['training']
    assert row['bins'] == 7 and set(row['precisions']) == {'fp32', 'tf32', 'bf16', 'fp16'}
    assert 'CUDA' in row['precisions']['tf32']['skipped']  # no TF32 on a CPU, and it says why
    fp32 = row['precisions']['fp32']
    # the same ops in the same order on the same weights and batch (BN buffers restored): bit-identical on a CPU
    assert fp32['deviation_from_fp32']['max_rel_diff'] == 0.0
    # bfloat16 keeps 8 mantissa bits: the loss cannot come out bit-identical to fp32 through a whole trunk
    bf16 = row['precisions']['bf16']['deviation_from_fp32']
    assert bf16['finite'] and 0 < bf16['max_rel_diff'] < float('inf') and bf16['loss'] != bf16['loss_fp32']
    for p in ('fp32', 'bf16', 'fp16'):
        e = row['precisions'][p]
        for path in ('optimised', 'reference'):
            assert e[path]['precision'] == p and e[path]['wall_s'] > 0
            assert abs(e[path]['images_per_s'] - 2 / e[path]['wall_s']) < 1e-9  # batch 2 / seconds per step
    # ours (the config as users run it: channels-last trunk) against the authors' step in fp32: float32 rounding;
    # the native NHWC batch norm alone moves the token gradients by ~2e-5 (test_reliability), hence 1e-4
    assert row['equivalence_fp32']['max_rel_diff'] <= 1e-4

    sweep = r['sweep']
    assert 'error' not in sweep, sweep.get('error')
    assert sweep['results']['sweep']['heads'] == 3 and sweep['results']['single']['heads'] == 1
    assert abs(sweep['sweep_over_single'] - sweep['results']['sweep']['step_s']
               / sweep['results']['single']['step_s']) < 1e-9

    assert [(x['size'], x['batch']) for x in r['inference']] == [([64, 96], 1), ([64, 96], 2)]
    for x in r['inference']:
        runs = x['runs']
        assert runs['eager_fp32']['deviation_from_eager_fp32'] == 0.0
        # dynamo capture replays the same eager kernels; onnxruntime: export parity (float32 rounding)
        assert runs['torch_compile']['deviation_from_eager_fp32'] <= 1e-5
        assert 0 <= runs['onnxruntime_CPU']['deviation_from_eager_fp32'] <= 1e-4
        assert 'not measured on device cpu' in runs['onnxruntime_CUDA']['skipped']
        assert 'not measured on device cpu' in runs['onnxruntime_Tensorrt']['skipped']

    ld = r['loader']
    assert ld['images'] == 4 and set(ld['workers']) == {'1', '2'}
    for v in ld['workers'].values():
        # 4 images, batch 2: the first batch starts the workers, the second is timed
        assert v['images_timed'] == 2 and v['images_per_s'] > 0
        assert v['input_bound'] == (v['images_per_s'] < ld['step_images_per_s_fp32'])

    md = (tmp_path / 'r' / 'report.md').read_text()
    assert 'TINY smoke run' in md and '| 7 | tf32 | skipped: TF32' in md and '| loader workers |' in md
