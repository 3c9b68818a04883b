"""Multi-variant training (one frozen trunk, K heads): each variant equals its solo run; sweep configs, the
checkpoint split and the paper table."""
import glob
import json
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from conftest import REPO, tiny_runner_cfg
from mmclipdepth.checkpoint import CheckpointMismatchError
from mmclipdepth.utils.sweep import sweep_from_configs

CLIPDEPTH = osp.join(REPO, 'configs', 'clipdepth')
SWEEP_DIRS = [osp.join(REPO, 'configs', 'clipdepth', 'sweeps'), osp.join(REPO, 'configs', 'mirror', 'sweeps')]


def _write_sweep(folder, config_dir, *names):
    path = osp.join(str(folder), 'my_sweep.py')
    with open(path, 'w') as f:
        f.write(f"_base_ = [{osp.join(config_dir, names[0] + '.py')!r}, "
                f"{osp.join(REPO, 'configs/_base_/sweeps/auty_published.py')!r}]\n"
                'from mmclipdepth.utils.sweep import sweep_from_configs\n'
                f'globals().update(sweep_from_configs({config_dir!r}, *{list(names)!r}))\n')
    return path


def _rel(a, b):
    a, b = a.detach().double(), b.detach().double()
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def _train(cfg):
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def _compare_with_solo(sweep_runner, name, solo_runner):
    """Worst relative difference of every head tensor and every trunk buffer (BatchNorm statistics)."""
    sweep = sweep_runner.model.state_dict()
    solo = solo_runner.model.state_dict()
    worst = {}
    for key, value in solo.items():
        if not value.dtype.is_floating_point:
            continue
        other = sweep[key.replace('decode_head.', f'decode_heads.{name}.', 1) if key.startswith('decode_head.')
                      else key]
        worst[key] = _rel(other, value)
    return worst


def test_each_variant_of_a_sweep_equals_its_solo_run(tmp_path):
    """Three variants (learned depth tokens; learned context + words; human words only, whose "training"
    moves only the trunk's BatchNorm statistics) trained 3 iterations on the bundled NYU samples in one run
    vs alone. Both runs do the same operations in the same order on the same data (per-sample augmentation
    seeds), so they agree to the last bit on one machine; 1e-6 relative leaves room
    for a BLAS that picks other kernels for the batched shapes. A shared trunk pass per step, a head
    initialised from another random stream or a BatchNorm update per variant would all break it."""
    names = ['nyu_baseline_learned7', 'nyu_404d_depth7', 'nyu_baseline_depth7']
    sweep_cfg = tiny_runner_cfg(_write_sweep(tmp_path, CLIPDEPTH, *names), work_dir=str(tmp_path / 'sweep'),
                                max_iters=3)
    sweep = _train(sweep_cfg)
    sweep_metrics = sweep.test()
    for name in names:
        solo = _train(tiny_runner_cfg(f'configs/clipdepth/{name}.py', work_dir=str(tmp_path / name),
                                      max_iters=3))
        worst = _compare_with_solo(sweep, name, solo)
        assert worst and max(worst.values()) <= 1e-6, sorted(worst.items(), key=lambda kv: -kv[1])[:3]
        assert any('running_mean' in k for k in worst) and any('text_encoder' in k for k in worst)
        solo_metrics = solo.test()
        for key in ('abs_rel', 'rmse', 'd1'):
            assert sweep_metrics[f'{name}/{key}'] == pytest.approx(solo_metrics[key], rel=1e-6)
    # the tokens did train (a sweep that never stepped would equal a solo run that never stepped)
    init = tiny_runner_cfg(f'configs/clipdepth/{names[0]}.py', work_dir=str(tmp_path / 'init'))
    before = Runner.from_cfg(init).model.decode_head.text_encoder.depth_vecs
    after = sweep.model.decode_heads[names[0]].text_encoder.depth_vecs
    assert _rel(after, before) > 1e-4

    # split the sweep checkpoint: each part is an ordinary checkpoint of its own config with the same metrics
    ckpt = osp.join(str(tmp_path / 'sweep'), 'iter_3.pth')
    out_dir = str(tmp_path / 'split')
    dumped = glob.glob(osp.join(str(tmp_path / 'sweep'), '*.py'))
    assert len(dumped) == 1
    run = subprocess.run([sys.executable, osp.join(REPO, 'tools/model_converters/split_variants.py'), dumped[0],
                          ckpt, '--out-dir', out_dir], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    for name in names:
        cfg = tiny_runner_cfg(f'configs/clipdepth/{name}.py', work_dir=str(tmp_path / f'test_{name}'))
        cfg.load_from = osp.join(out_dir, name + '.pth')
        metrics = Runner.from_cfg(cfg).test()
        assert metrics['abs_rel'] == pytest.approx(sweep_metrics[f'{name}/abs_rel'], rel=1e-6)
    # a split part keeps the checks: the learned-7 head in the human-words config is refused
    cfg = tiny_runner_cfg('configs/clipdepth/nyu_baseline_learned7_log.py', work_dir=str(tmp_path / 'wrong'))
    cfg.load_from = osp.join(out_dir, 'nyu_baseline_learned7.pth')
    with pytest.raises(CheckpointMismatchError, match=r'model\.decode_head\.bins: linear \(checkpoint\) vs log '
                                                      r'\(config\)'):
        Runner.from_cfg(cfg).test()

    # the paper table: published numbers of Table 3/4/5 rows beside the validation metrics of this run
    table_run = subprocess.run([sys.executable, osp.join(REPO, 'tools/analysis/paper_table.py'),
                                str(tmp_path / 'sweep')], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert table_run.returncode == 0, table_run.stderr[-3000:]
    text = open(osp.join(str(tmp_path / 'sweep'), 'paper_table.md')).read()
    ours = f"{sweep_metrics['nyu_baseline_learned7/abs_rel']:.3f}"
    assert '### Auty Table 3 (NYU)' in text and '### Auty Table 5 (NYU)' in text and 'KITTI' not in text
    row = next(line for line in text.splitlines() if line.startswith('| learned-7 |'))
    assert row.split(' | ')[2] == f'0.319 / {ours}'  # Table 3 learned-7 abs_rel, published / ours
    assert '(not in this run)' in text  # Table 3's colour-7 row, Table 4's 101d, ...


def test_mirror_sweep_equals_solo_runs(tmp_path):
    """CLIP2Depth heads hold randomly initialised decoders: each variant's head must be built in the random
    stream its solo run builds it in (mirror s=8 and the mirror removed)."""
    names = ['nyu_mirror8_deconv', 'nyu_nomirror_deconv']
    mirror = osp.join(REPO, 'configs', 'mirror')

    def tiny(cfg):  # the tiny CLIP's 128-d features, a small decoder
        for head in (cfg.model.decode_heads.values() if 'decode_heads' in cfg.model else [cfg.model.decode_head]):
            head.update(in_channels=128, channels=16, deconv_channels=(16, 16, 8, 8, 8))
        return cfg

    sweep = _train(tiny(tiny_runner_cfg(_write_sweep(tmp_path, mirror, *names), work_dir=str(tmp_path / 's'),
                                        max_iters=2)))
    for name in names:
        solo = _train(tiny(tiny_runner_cfg(f'configs/mirror/{name}.py', work_dir=str(tmp_path / name),
                                           max_iters=2)))
        worst = _compare_with_solo(sweep, name, solo)
        assert max(worst.values()) <= 1e-6, sorted(worst.items(), key=lambda kv: -kv[1])[:3]


@pytest.mark.parametrize('path', sorted(p for d in SWEEP_DIRS for p in glob.glob(osp.join(d, '*.py'))))
def test_sweep_configs_hold_their_leaf_configs(path):
    """Every repo sweep config: each head, optimiser and schedule is the one of its own leaf config (read
    here independently), and each metric reads its own variant's prediction under its own prefix."""
    cfg = Config.fromfile(path)
    assert cfg.model.type == 'MultiVariantDepthEstimator' and 'decode_head' not in cfg.model
    assert list(cfg.model.decode_heads) == list(cfg.variant_configs)
    for name, leaf_path in cfg.variant_configs.items():
        assert osp.basename(leaf_path) == name + '.py' and osp.dirname(osp.dirname(path)) == osp.dirname(leaf_path)
        leaf = Config.fromfile(leaf_path)
        assert cfg.model.decode_heads[name].to_dict() == leaf.model.decode_head.to_dict()
        assert cfg.optim_wrapper.variants[name].to_dict() == leaf.optim_wrapper.to_dict()
        assert [dict(s) for s in cfg.param_scheduler[name]] == [dict(s) for s in leaf.param_scheduler]
        assert cfg.model.backbone.to_dict() == leaf.model.backbone.to_dict()
        assert cfg.train_dataloader.to_dict() == leaf.train_dataloader.to_dict()
    assert [m.prefix for m in cfg.val_evaluator] == list(cfg.variant_configs)
    assert [m.pred_key for m in cfg.val_evaluator] == [f'pred_depth_map_{n}' for n in cfg.variant_configs]


def test_sweep_refuses_variants_that_cannot_share_a_trunk(tmp_path):
    with pytest.raises(ValueError, match=r'kitti_baseline_learned7\.py differs .*train_dataloader'):
        sweep_from_configs(CLIPDEPTH, 'nyu_baseline_learned7', 'kitti_baseline_learned7')
    with pytest.raises(FileNotFoundError, match='nyu_no_such_variant'):
        sweep_from_configs(CLIPDEPTH, 'nyu_baseline_learned7', 'nyu_no_such_variant')
    with pytest.raises(ValueError, match='listed twice'):
        sweep_from_configs(CLIPDEPTH, 'nyu_baseline_learned7', 'nyu_baseline_learned7')
    # the variants share one CLIP: a variant on other CLIP weights cannot join the sweep
    other = tmp_path / 'nyu_other_clip.py'
    other.write_text(f"_base_ = ['{CLIPDEPTH}/nyu_baseline_learned20.py']\nmodel = dict(clip=dict(pretrained='laion2b_s34b_b79k'))\n")
    with pytest.raises(ValueError, match=r'nyu_other_clip\.py differs .*model\.clip'):
        sweep_from_configs(str(tmp_path), f'{CLIPDEPTH}/nyu_baseline_learned7', 'nyu_other_clip')


def test_multi_variant_model_checks(tmp_path):
    from mmengine.optim import OptimWrapper
    from mmseg.registry import MODELS
    cfg = tiny_runner_cfg(_write_sweep(tmp_path, CLIPDEPTH, 'nyu_baseline_learned7', 'nyu_baseline_learned20'))
    model_cfg = cfg.model.to_dict()
    heads = model_cfg.pop('decode_heads')
    with pytest.raises(ValueError, match='Python identifiers'):
        MODELS.build(dict(model_cfg, decode_heads={'a.b': heads['nyu_baseline_learned7']}))
    with pytest.raises(ValueError, match="primary='x'"):
        MODELS.build(dict(model_cfg, decode_heads=heads, primary='x'))
    model = MODELS.build(dict(model_cfg, decode_heads=heads))
    # one optimiser for everything would silently mix the variants' schedules: refused
    single = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    batch = dict(inputs=[torch.zeros(3, 64, 64, dtype=torch.uint8)], data_samples=[])
    with pytest.raises(TypeError, match='OptimWrapperDict'):
        model.train_step(batch, single)
    # the heads differ (7 vs 20 bins), the trunk is one module
    assert model.decode_heads['nyu_baseline_learned20'].bin_centres.numel() == 20
    assert sum(1 for n, _ in model.named_modules() if n.endswith('visual')) == 1
    # one CLIP for the model (model.clip): every head's text tower is the trunk's CLIP's
    for head in model.decode_heads.values():
        assert head.text_encoder.core.transformer is model.clip_model.transformer
    assert model.clip_model.visual is model.backbone.visual
    # a head that sets its own CLIP is refused with the key named
    own = dict(heads, nyu_baseline_learned20=dict(heads['nyu_baseline_learned20']))
    own['nyu_baseline_learned20']['text_encoder'] = dict(own['nyu_baseline_learned20']['text_encoder'],
                                                         clip=dict(cfg.model.clip))
    with pytest.raises(ValueError, match=r'model\.decode_heads\.nyu_baseline_learned20\.text_encoder\.clip: '
                                         r'CLIP is configured once per model'):
        MODELS.build(dict(model_cfg, decode_heads=own))


def test_two_processes_train_a_sweep_as_one_process(tmp_path):
    """``MultiVariantDataParallel``: each head's gradients are averaged over the processes before its own step
    and the trunk's BatchNorm statistics are pooled, so 2 processes x batch 2 equal 1 process x batch 4."""
    from mmclipdepth.checkpoint import safe_torch_load
    from test_reliability import ENV, _split_of_four
    split = _split_of_four(tmp_path)
    names = ['nyu_baseline_learned7', 'nyu_404d_depth7']
    sweep = _write_sweep(tmp_path, CLIPDEPTH, *names)
    results = {}
    for procs, batch in ((1, 4), (2, 2)):
        cfg = tiny_runner_cfg(sweep, work_dir=str(tmp_path / f'p{procs}'), max_iters=2, batch_size=batch)
        cfg.train_dataloader.dataset.split_file = split
        cfg.model.backbone.channels_last = False  # as test_reliability's: native NHWC batch norm rounds otherwise
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
        cfg.train_cfg.val_interval = 1000
        path = str(tmp_path / f'p{procs}.py')
        cfg.dump(path)
        cmd = [sys.executable, osp.join(REPO, 'tools/train.py'), path] if procs == 1 else [
            sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={procs}', '--master_port=29611',
            osp.join(REPO, 'tools/train.py'), path, '--launcher', 'pytorch']
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=400, cwd=REPO,
                             env=dict(ENV, OMP_NUM_THREADS='1'))
        assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
        results[procs] = safe_torch_load(osp.join(cfg.work_dir, 'iter_2.pth'))['state_dict']
    one, two = results[1], results[2]
    for key in ('decode_heads.nyu_baseline_learned7.text_encoder.depth_vecs',
                'decode_heads.nyu_404d_depth7.text_encoder.ctx'):
        # float32 sums over the batch in another order (per-rank partial sums, then all-reduce): rounding only
        assert _rel(two[key], one[key]) <= 1e-6, key
    for key in (k for k in one if k.endswith('running_mean')):
        assert torch.allclose(one[key], two[key], rtol=1e-5, atol=1e-6), key


def test_tools_train_runs_a_repo_sweep_config_and_paper_table_writes_it(tmp_path):
    """``python tools/train.py configs/clipdepth/sweeps/nyu_auty_table5.py`` (tiny CLIP, the bundled samples, 2
    iterations): every variant trains and is evaluated under its prefix; the paper table has all three rows."""
    cfg = tiny_runner_cfg('configs/clipdepth/sweeps/nyu_auty_table5.py', work_dir=str(tmp_path / 'w'), max_iters=2)
    path = str(tmp_path / 'nyu_auty_table5.py')
    cfg.dump(path)
    run = subprocess.run([sys.executable, osp.join(REPO, 'tools/train.py'), path], capture_output=True, text=True,
                         timeout=600, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    log = run.stdout + run.stderr
    for name in cfg.model.decode_heads:
        assert f'{name}/loss' in log and f'{name}/abs_rel' in log and f'{name}/grad_norm' in log
    table = subprocess.run([sys.executable, osp.join(REPO, 'tools/analysis/paper_table.py'), str(tmp_path / 'w')],
                           capture_output=True, text=True, timeout=120, cwd=REPO)
    assert table.returncode == 0, table.stderr[-3000:]
    section = table.stdout.split('### Auty Table 5 (NYU)')[1].split('###')[0]
    rows = [ln for ln in section.splitlines() if ln.startswith('| ') and ' / ' in ln]
    assert len(rows) == 3 and not any('(not in this run)' in r or '/ -' in r for r in rows)
    assert '### Auty Table 3 (NYU)' in table.stdout  # its learned-7 row was trained too (the rest: not in this run)


def test_paper_table_without_published_numbers_and_from_a_metrics_file(tmp_path):
    """The mirror sweep has no published table (only the abstract is bundled): its variants get a table of
    their own; --metrics takes the numbers from a file; a variant without metrics is an error."""
    cfg = Config.fromfile(osp.join(REPO, 'configs/mirror/sweeps/nyu_mirror_sizes.py'))
    metrics = {f'{n}/{k}': 0.1 * i + 0.01 * j for i, n in enumerate(cfg.model.decode_heads)
               for j, k in enumerate(('abs_rel', 'sq_rel', 'rmse', 'rmse_log_unrooted', 'log10', 'd1', 'd2', 'd3'))}
    mfile = tmp_path / 'm.json'
    mfile.write_text(json.dumps(metrics))
    tool = osp.join(REPO, 'tools/analysis/paper_table.py')
    args = [sys.executable, tool, str(tmp_path), '--config', osp.join(REPO, 'configs/mirror/sweeps/nyu_mirror_sizes.py')]
    run = subprocess.run(args + ['--metrics', str(mfile)], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert run.returncode == 0, run.stderr[-2000:]
    assert '### Variants without a published table' in run.stdout and '### Auty' not in run.stdout
    row = next(ln for ln in run.stdout.splitlines() if ln.startswith('| `nyu_mirror16_deconv`'))
    assert row.split(' | ')[1] == '0.100'  # abs_rel of the second variant, as written in the file
    del metrics['nyu_nomirror_deconv/abs_rel']
    mfile.write_text(json.dumps(metrics))
    bad = subprocess.run(args + ['--metrics', str(mfile)], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert bad.returncode == 1 and 'nyu_nomirror_deconv' in bad.stderr
