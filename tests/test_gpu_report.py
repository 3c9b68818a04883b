"""tools/analysis/gpu_report.py as a user runs it, tiny and on the CPU: the report's structure, deviations recomputed
here (the fp32 loss by the authors' step, depth by the model's own inference), the --budget-s skips, deviations
that are computed (fp32 against itself is exactly 0, a lower precision is not), skipped entries with reasons."""
import glob
import json
import os.path as osp
import subprocess
import sys
import warnings

import numpy as np
import torch

from conftest import REPO

NYU7 = osp.join(REPO, 'configs/clipdepth/nyu_baseline_learned7.py')


def _tiny_cfg():
    """The config as the report builds it with --tiny: random CLIP weights of the tiny RN50-family architecture."""
    from mmengine.config import Config

    from mmclipdepth.utils import set_clip_pretrained_none
    sys.path.insert(0, osp.join(REPO, 'tools', 'analysis'))
    from gpu_report import TINY_CLIP  # the architecture only (data)
    cfg = Config.fromfile(NYU7)
    set_clip_pretrained_none(cfg.model)
    cfg.model.clip = dict(TINY_CLIP)
    return cfg


def _dev(a, ref):
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    return float(np.abs(a - ref).max() / np.abs(ref).max())


def test_gpu_report_tiny_on_cpu(tmp_path):
    out = tmp_path / 'r' / 'report.json'
    cmd = [sys.executable, osp.join(REPO, 'tools/analysis/gpu_report.py'), '--tiny', '--device', 'cpu',
           '--out', str(out), '--sweep', osp.join(REPO, 'configs/clipdepth/sweeps/nyu_auty_table5.py'),
           '--compile-backend', 'eager', '--save-outputs', str(tmp_path / 'outputs')]
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
    # the fp32 loss the deviations are taken from, recomputed here by the authors' step (benchmarks.authors_step,
    # its own trunk and prompts) on the model and batch the report builds (seed 0, batch seed 1): float32 rounding
    from benchmarks.authors_step import ReferencePrompts, reference_autograd, reference_loss
    from benchmarks.equivalence import build_model, make_batch, prepare_model_cfg
    model = build_model(prepare_model_cfg(_tiny_cfg().model, 7, 'none'), seed=0)
    inputs, samples = make_batch(2, (64, 96), model.decode_head.min_depth, model.decode_head.max_depth, seed=1)
    with torch.no_grad(), reference_autograd(model):
        loss = reference_loss(model, inputs, samples, ReferencePrompts(model)).item()
    assert abs(fp32['deviation_from_fp32']['loss_fp32'] - loss) <= 1e-4 * abs(loss), (fp32, loss)
    for p in ('bf16', 'fp16'):
        d = row['precisions'][p]['deviation_from_fp32']
        assert d['finite'], d  # fp16: loss scaling backs off until the gradients are finite, as GradScaler's
        assert abs(d['loss_rel_diff'] - abs(d['loss'] - d['loss_fp32']) / abs(d['loss_fp32'])) <= 1e-12
        assert d['max_rel_diff'] == max([d['loss_rel_diff']] + list(d['grad_rel_diff'].values()))
    d16 = row['precisions']['fp16']['deviation_from_fp32']
    assert d16['loss_scale'] == 2.0 ** (16 - d16['overflow_backoffs']) and d16['loss_scale'] >= 1

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
        assert all(v['images_per_s'] > 0 for k, v in runs.items() if 'skipped' not in v)

    # the depth deviations recomputed here: eager depth from the model's own inference (whole_flip, as the config)
    # on the report's input (randn, generator seeded by the batch size), against each run's saved depth
    from mmclipdepth.apis import init_depth_model
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # random weights, said by the report too
        model = init_depth_model(_tiny_cfg(), allow_untrained=True).eval()
    assert sorted(osp.basename(f) for f in glob.glob(str(tmp_path / 'outputs' / '*.npy'))) == sorted(
        f'64x96_b{b}_{k}.npy' for b in (1, 2) for k in ('eager_fp32', 'torch_compile', 'onnxruntime_CPU'))
    for x in r['inference']:
        (h, w), b = x['size'], x['batch']
        inp = torch.randn(b, 3, h, w, generator=torch.Generator().manual_seed(b))
        with torch.no_grad():
            ref = model.inference(inp, [dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w))] * b).numpy()
        saved = {k: np.load(tmp_path / 'outputs' / f'{h}x{w}_b{b}_{k}.npy') for k in x['runs']
                 if 'skipped' not in x['runs'][k]}
        assert saved['eager_fp32'].shape == ref.shape == (b, 1, h, w)
        assert _dev(saved['eager_fp32'], ref) <= 1e-6  # the exported graph's wrapper is the model's inference
        for k, out in saved.items():
            # float32 rounding of the two eager references (<= 1e-6) may move a recomputed deviation that much
            assert abs(_dev(out, ref) - x['runs'][k]['deviation_from_eager_fp32']) <= 2e-6, k

    ld = r['loader']
    assert ld['images'] == 4 and set(ld['workers']) == {'1', '2'}
    for v in ld['workers'].values():
        # 4 images, batch 2: the first batch starts the workers, the second is timed
        assert v['images_timed'] == 2 and v['images_per_s'] > 0
        assert v['input_bound'] == (v['images_per_s'] < ld['step_images_per_s_fp32'])

    md = (tmp_path / 'r' / 'report.md').read_text()
    assert 'TINY smoke run' in md and '| 7 | tf32 | skipped: TF32' in md and '| loader workers |' in md


def test_gpu_report_budget_skips_what_is_not_started(tmp_path):
    """--budget-s 0: every measurement is listed as skipped with the budget as its reason, the report is still
    written (the command ends instead of running past its budget)."""
    out = tmp_path / 'report.json'
    cmd = [sys.executable, osp.join(REPO, 'tools/analysis/gpu_report.py'), '--tiny', '--device', 'cpu',
           '--out', str(out), '--budget-s', '0', '--skip', 'inference']
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    r = json.loads(out.read_text())
    assert r['budget_s'] == 0 and 'inference' not in r
    (row, ) = r['training']
    assert all('--budget-s' in e['skipped'] for p, e in row['precisions'].items() if p != 'tf32')
    assert 'CUDA' in row['precisions']['tf32']['skipped']  # the device's lack is the first reason given
    assert '--budget-s' in r['loader']['skipped'] and '--budget-s' in r['sweep']['skipped']
    md = (tmp_path / 'report.md').read_text()
    assert '| 7 | fp32 | skipped: not run: the --budget-s' in md and 'Loader: not run' in md
