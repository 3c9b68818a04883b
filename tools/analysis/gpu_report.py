"""One command for a GPU machine: training step (ours against the authors'), precisions, the 28-head sweep,
inference backends, the data loader and the environment, as JSON plus a Markdown table beside it.

    python tools/analysis/gpu_report.py [--device cuda] [--tiny] --out report.json [--budget-s 480]
        [--config configs/clipdepth/nyu_baseline_learned7.py] [--sweep configs/clipdepth/sweeps/nyu_auty_tables3to7.py]
        [--skip train sweep inference loader] [--save-outputs DIR]

Every model has random CLIP weights of the configured architecture (the cost does not depend on the values).

* ``training``: per N in (7, 256) bins, batch 16, 416x544, the package's step and the authors'-step reference
  (``benchmarks.authors_step``; ``benchmarks.measure.measure_training``) in fp32, TF32, AMP bf16 and AMP fp16 (with
  loss scaling): seconds per step, images/s, peak memory; the loss / token-gradient deviation of each precision
  from fp32 (``precision_deviation``), and, first, the fp32 equivalence check of ours against the reference.
  A precision the device lacks is listed as skipped, with the reason.
* ``sweep``: ``benchmark_sweep.py`` (28 heads: the 14 NYU variants twice, against the first variant alone).
* ``inference``: 480x640 and 352x1216, batch 1 and 16: the exported image-to-depth graph (the config's flip
  TTA, text features baked in) in eager PyTorch fp32, ``torch.compile`` and onnxruntime (CUDA / TensorRT
  providers on a GPU, the CPU provider on a CPU; absent ones skipped with the reason): images/s and the depth
  deviation from eager fp32 (max |d - d_eager| / max |d_eager|).
* ``loader``: the config's training data loader (its pipeline and sampler) alone on a synthetic NYU-sized BTS
  tree (480x640 JPEG + 16-bit PNG) with 1, 4 and 8 workers: images/s against the fp32 training step's images/s
  (input-bound when the loader is slower).
* ``environment``: GPU, driver, CUDA, torch, cuDNN, onnxruntime and its providers, CPU.

The sections run in that order except that the loader follows the training step, and ``inference`` (the
slowest to prepare: ``torch.compile`` and TensorRT engines per shape) comes last. ``--budget-s`` (default
480 s, the 8 minutes the report is meant to take on one H100; no budget with ``--tiny`` unless given): once
that much wall time has passed, every measurement not yet started is listed as skipped with that reason, so
the command ends soon after the budget whatever the machine (one measurement already running is finished).
``--save-outputs DIR`` keeps each inference run's depth (``HxW_bB_RUN.npy``) so that the deviations can be
recomputed.

``--tiny`` runs the same code with a tiny CLIP, small sizes and batches and few iterations (the test suite runs
``--tiny --device cpu`` in seconds); its numbers are not measurements of anything.
"""
import argparse
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import torch

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))
sys.path.insert(0, REPO)  # benchmarks/ (development code at the repository root, not installed)
from benchmarks.measure import measure_training  # noqa: E402
from benchmarks.precision import PRECISIONS, precision_deviation, precision_unsupported  # noqa: E402
from benchmarks.timing import machine_info  # noqa: E402

#: a tiny CLIP of the RN50 family (ModifiedResNet 1-1-1-1 width 8, 2-layer text tower) for --tiny
TINY_CLIP = dict(model_name='RN50', pretrained=None, quick_gelu=True, arch_cfg=dict(
    embed_dim=128, vision_cfg=dict(layers=[1, 1, 1, 1], width=8, head_width=8, image_size=64),
    text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2)))

FULL = dict(bins=(7, 256), train_batch=16, train_size=(416, 544), iters=3, warmup=1,
            infer_sizes=((480, 640), (352, 1216)), infer_batches=(1, 16), infer_iters=5,
            loader_images=256, loader_batch=16, workers=(1, 4, 8), sweep_copies=2, sweep_batch=16)
TINY = dict(bins=(7, ), train_batch=2, train_size=(64, 96), iters=1, warmup=1,
            infer_sizes=((64, 96), ), infer_batches=(1, 2), infer_iters=1,
            loader_images=4, loader_batch=2, workers=(1, 2), sweep_copies=1, sweep_batch=1)


#: wall-clock deadline (time.perf_counter) set by main from --budget-s; None = no budget
DEADLINE = None


def over_budget():
    """The reason a measurement is skipped once the --budget-s wall time has passed, else None."""
    if DEADLINE is not None and time.perf_counter() > DEADLINE:
        return 'not run: the --budget-s wall-time budget was spent before it'
    return None


def log(msg):
    print(f'[gpu_report] {msg}', flush=True)


def _sync(device):
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def environment(device: str) -> dict:
    env = machine_info(device)
    env.update(cuda_build=torch.version.cuda, cudnn=torch.backends.cudnn.version()
               if torch.backends.cudnn.is_available() else None, cuda_available=torch.cuda.is_available())
    if device.startswith('cuda'):
        props = torch.cuda.get_device_properties(0)
        env.update(gpu=props.name, gpu_memory_gb=round(props.total_memory / 2**30, 1),
                   compute_capability=list(torch.cuda.get_device_capability()), gpu_count=torch.cuda.device_count())
        try:
            env['driver'] = subprocess.run(['nvidia-smi', '--query-gpu=driver_version', '--format=csv,noheader'],
                                           capture_output=True, text=True, timeout=30).stdout.strip() or None
        except (OSError, subprocess.SubprocessError) as e:
            env['driver'] = f'unknown (nvidia-smi: {e})'
    try:
        import onnxruntime as ort
        env.update(onnxruntime=ort.__version__, onnxruntime_providers=ort.get_available_providers())
    except ImportError as e:
        env['onnxruntime'] = f'not installed ({e})'
    env['python'] = platform.python_version()
    return env


def _model_cfg(config: str, tiny: bool):
    from mmengine.config import Config

    from mmclipdepth.utils import set_clip_pretrained_none
    cfg = Config.fromfile(config)
    set_clip_pretrained_none(cfg.model)
    if tiny:
        cfg.model.clip = dict(TINY_CLIP)
    return cfg


# ----------------------------------------------------------------------------------------------- training
def training(config, s, device, tiny) -> list:
    from benchmarks.equivalence import build_model, make_batch, prepare_model_cfg
    rows = []
    cfg = _model_cfg(config, tiny)
    for n in s['bins']:
        model = build_model(prepare_model_cfg(cfg.model, n, 'none'), seed=0, device=device)
        head = model.decode_head
        inputs, samples = make_batch(s['train_batch'], s['train_size'], head.min_depth, head.max_depth, seed=1,
                                     device=device)
        row = dict(bins=n, batch=s['train_batch'], size=list(s['train_size']), precisions={})
        for precision in PRECISIONS:
            why = precision_unsupported(precision, device) or over_budget()
            if why:
                row['precisions'][precision] = dict(skipped=why)
                log(f'train bins={n} {precision}: skipped ({why})')
                continue
            entry = dict(deviation_from_fp32=precision_deviation(model, inputs, samples, precision, device))
            for path in ('optimised', 'reference'):
                try:
                    r = measure_training(model, inputs, samples, path, s['iters'], s['warmup'], device=device,
                                         precision=precision, check=path == 'reference' and precision == 'fp32')
                except torch.cuda.OutOfMemoryError as e:
                    torch.cuda.empty_cache()
                    entry[path] = dict(error=f'out of GPU memory: {str(e).splitlines()[0]}')
                    continue
                r['images_per_s'] = s['train_batch'] / r['wall_s']
                if 'equivalence' in r:
                    row['equivalence_fp32'] = r.pop('equivalence')['optimised']
                entry[path] = r
            row['precisions'][precision] = entry
            log(f'train bins={n} {precision}: ' + ', '.join(
                f"{p} {entry[p]['wall_s']:.3f} s/step" for p in ('optimised', 'reference') if 'wall_s' in entry[p])
                + f", deviation from fp32 {entry['deviation_from_fp32']['max_rel_diff']:.2e}")
        rows.append(row)
        del model
        if device.startswith('cuda'):
            torch.cuda.empty_cache()
    return rows


# ----------------------------------------------------------------------------------------------- sweep
def sweep(sweep_config, s, device, tiny) -> dict:
    why = over_budget()
    if why:
        log(f'sweep: skipped ({why})')
        return dict(skipped=why)
    with tempfile.TemporaryDirectory() as tmp:
        out = osp.join(tmp, 'sweep.json')
        size = ['64', '96'] if tiny else ['416', '544']
        cmd = [sys.executable, osp.join(HERE, 'benchmark_sweep.py'), sweep_config, '--batch', str(s['sweep_batch']),
               '--size', *size, '--iters', str(s['iters']), '--warmup', str(s['warmup']),
               '--copies', str(s['sweep_copies']), '--rounds', '1' if tiny else '2', '--device', device,
               '--out', out] + (['--clip', json.dumps(TINY_CLIP)] if tiny else [])
        # the budget left (and a minute's grace) bounds the subprocess too
        limit = None if DEADLINE is None else max(DEADLINE - time.perf_counter(), 0) + 60
        try:
            run = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONWARNINGS='ignore'),
                                 timeout=limit)
        except subprocess.TimeoutExpired:
            return dict(error=f'benchmark_sweep.py stopped after {limit:.0f} s: the --budget-s budget (and 60 s) '
                        'was spent', command=' '.join(cmd))
        if run.returncode or not osp.isfile(out):
            return dict(error=f'benchmark_sweep.py failed (exit {run.returncode}): {run.stderr[-2000:]}',
                        command=' '.join(cmd))
        with open(out) as f:
            return dict(json.load(f), command=' '.join(cmd))


# ----------------------------------------------------------------------------------------------- inference
def _time(fn, iters, warmup, device):
    out, walls = None, []
    for i in range(warmup + iters):
        _sync(device)
        t = time.perf_counter()
        out = fn()
        _sync(device)
        walls.append(time.perf_counter() - t)
    return out, walls


def _dev(a, ref) -> float:
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    return float(np.abs(a - ref).max() / max(np.abs(ref).max(), 1e-12))


def inference(config, s, device, tiny, compile_backend='inductor', save_outputs=None) -> list:
    import cv2

    from mmclipdepth.apis import export_onnx, init_depth_model
    from mmclipdepth.apis.onnx_depth_model import _constant_text, _ImageToDepth
    cfg = _model_cfg(config, tiny)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = init_depth_model(cfg, allow_untrained=True)
    flip = model.test_cfg.get('mode', 'whole') == 'whole_flip'
    rows = []
    work = tempfile.mkdtemp(prefix='gpu_report_')
    h0, w0 = s['infer_sizes'][0]
    image = osp.join(work, 'input.png')
    rng = np.random.default_rng(0)
    cv2.imwrite(image, cv2.GaussianBlur(rng.integers(0, 256, (h0, w0, 3), dtype=np.uint8), (0, 0), 3))
    onnx_path = osp.join(work, 'model.onnx')
    sessions = {}
    try:
        import onnxruntime as ort
        export_onnx(model, onnx_path, [image], dynamic_shape=True)  # on the CPU, with its parity check
        available = ort.get_available_providers()
        wanted = (['TensorrtExecutionProvider', 'CUDAExecutionProvider'] if device.startswith('cuda')
                  else ['CPUExecutionProvider'])
        for prov in ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider']:
            if prov not in wanted:
                sessions[prov] = f'not measured on device {device}'
            elif prov not in available:
                sessions[prov] = f'not in this onnxruntime (available: {available})'
            else:
                options = {}
                if prov == 'TensorrtExecutionProvider':  # fp32 engines, built once per shape into the work folder
                    options = dict(trt_engine_cache_enable=True, trt_engine_cache_path=osp.join(work, 'trt'))
                sessions[prov] = ort.InferenceSession(onnx_path, providers=[(prov, options), 'CPUExecutionProvider'])
    except Exception as e:  # noqa: BLE001 - the report goes on without onnxruntime, saying why
        sessions = {p: f'export or onnxruntime failed: {type(e).__name__}: {str(e)[:300]}' for p in
                    ('TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider')}
    model.to(device).eval()
    with torch.no_grad(), _constant_text(model):
        graph = _ImageToDepth(model, flip).to(device).eval()
        for h, w in s['infer_sizes']:
            for b in s['infer_batches']:
                why = over_budget()
                if why:
                    rows.append(dict(size=[h, w], batch=b, flip_tta=flip, skipped=why))
                    log(f'inference {h}x{w} batch {b}: skipped ({why})')
                    continue
                x = torch.randn(b, 3, h, w, generator=torch.Generator().manual_seed(b)).to(device)
                row = dict(size=[h, w], batch=b, flip_tta=flip, runs={})
                ref, walls = _time(lambda: graph(x), s['infer_iters'], 1, device)
                ref = ref.float().cpu().numpy()
                outputs = dict(eager_fp32=ref)
                row['runs']['eager_fp32'] = dict(images_per_s=b / float(np.median(walls[1:])),
                                                 deviation_from_eager_fp32=0.0)
                try:
                    torch._dynamo.reset()
                    compiled = torch.compile(graph, dynamic=False, backend=compile_backend)
                    t = time.perf_counter()
                    compiled(x)
                    _sync(device)
                    first = time.perf_counter() - t
                    out, walls = _time(lambda: compiled(x), s['infer_iters'], 0, device)
                    outputs['torch_compile'] = out.float().cpu().numpy()
                    row['runs']['torch_compile'] = dict(images_per_s=b / float(np.median(walls)),
                                                        first_call_s=first, backend=compile_backend,
                                                        deviation_from_eager_fp32=_dev(out.float().cpu(), ref))
                except Exception as e:  # noqa: BLE001 - a compiler failure is a result of the report
                    row['runs']['torch_compile'] = dict(error=f'{type(e).__name__}: {str(e)[:300]}')
                x_np = x.cpu().numpy()
                for prov, sess in sessions.items():
                    key = 'onnxruntime_' + prov.replace('ExecutionProvider', '')
                    if isinstance(sess, str) or over_budget():
                        row['runs'][key] = dict(skipped=sess if isinstance(sess, str) else over_budget())
                        continue
                    try:
                        out, walls = _time(lambda: sess.run(['depth'], {'image': x_np})[0], s['infer_iters'], 1,
                                           'cpu')
                        outputs[key] = out
                        row['runs'][key] = dict(images_per_s=b / float(np.median(walls[1:])),
                                                deviation_from_eager_fp32=_dev(out, ref),
                                                note='host arrays in and out (copies included)',
                                                providers_used=sess.get_providers())
                    except Exception as e:  # noqa: BLE001
                        row['runs'][key] = dict(error=f'{type(e).__name__}: {str(e)[:300]}')
                if save_outputs:
                    os.makedirs(save_outputs, exist_ok=True)
                    for k, v in outputs.items():
                        np.save(osp.join(save_outputs, f'{h}x{w}_b{b}_{k}.npy'), v)
                log(f'inference {h}x{w} batch {b}: ' + ', '.join(
                    f"{k} {v['images_per_s']:.2f} img/s" for k, v in row['runs'].items() if 'images_per_s' in v))
                rows.append(row)
    return rows


# ----------------------------------------------------------------------------------------------- loader
def _synthetic_nyu(root: str, n: int) -> str:
    """A BTS-layout NYU tree of ``n`` 480x640 frames (smooth random JPEG, 16-bit PNG depth in mm) and its
    split file; returns the split file's path."""
    import cv2
    rng = np.random.default_rng(0)
    lines = []
    for i in range(n):
        scene = f'scene_{i // 32:04d}'
        os.makedirs(osp.join(root, 'sync', scene), exist_ok=True)
        img = cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), (0, 0), 2)
        depth = (500 + 9000 * cv2.GaussianBlur(rng.random((480, 640)), (0, 0), 8)).astype(np.uint16)
        cv2.imwrite(osp.join(root, 'sync', scene, f'rgb_{i:05d}.jpg'), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(osp.join(root, 'sync', scene, f'sync_depth_{i:05d}.png'), depth)
        lines.append(f'/{scene}/rgb_{i:05d}.jpg /{scene}/sync_depth_{i:05d}.png 518.8579')
    split = osp.join(root, 'train_split.txt')
    with open(split, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return split


def loader(config, s, step_images_per_s) -> dict:
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    import mmclipdepth  # noqa: F401
    init_default_scope('mmseg')
    why = over_budget()
    if why:
        log(f'loader: skipped ({why})')
        return dict(skipped=why)
    cfg = Config.fromfile(config)
    root = tempfile.mkdtemp(prefix='gpu_report_nyu_')
    t = time.perf_counter()
    split = _synthetic_nyu(root, s['loader_images'])
    out = dict(images=s['loader_images'], batch=s['loader_batch'], frame='480x640 JPEG + 16-bit PNG',
               pipeline=[p['type'] for p in cfg.train_dataloader.dataset.pipeline],
               tree_written_s=time.perf_counter() - t, workers={}, step_images_per_s_fp32=step_images_per_s)
    for workers in s['workers']:
        why = over_budget()
        if why:
            out['workers'][str(workers)] = dict(skipped=why)
            log(f'loader {workers} worker(s): skipped ({why})')
            continue
        dl_cfg = cfg.train_dataloader.copy()
        dl_cfg.update(batch_size=s['loader_batch'], num_workers=workers, persistent_workers=False)
        dl_cfg.dataset = dict(dl_cfg.dataset, data_root=root, split_file=split)
        dl = Runner.build_dataloader(dl_cfg.to_dict(), seed=0)
        t = time.perf_counter()
        it = iter(dl)
        next(it)  # workers started, first batch
        first = time.perf_counter() - t
        t, n = time.perf_counter(), 0
        for batch in it:
            n += len(batch['inputs'])
        wall = time.perf_counter() - t
        ips = n / wall if n else None
        out['workers'][str(workers)] = dict(images_per_s=ips, first_batch_s=first, images_timed=n,
                                            input_bound=(ips < step_images_per_s) if ips and step_images_per_s
                                            else None)
        log(f'loader {workers} worker(s): {ips:.1f} img/s' if ips else f'loader {workers} worker(s): no batch timed')
    return out


# ----------------------------------------------------------------------------------------------- report
def markdown(report: dict) -> str:
    env = report['environment']
    lines = [f"# GPU report ({'TINY smoke run: not measurements' if report['tiny'] else 'measured'})", '',
             f"Device `{report['device']}`: {env.get('gpu', env.get('cpu', ''))}; driver {env.get('driver')}; "
             f"torch {env.get('torch')} (CUDA {env.get('cuda_build')}, cuDNN {env.get('cudnn')}); onnxruntime "
             f"{env.get('onnxruntime')} {env.get('onnxruntime_providers', '')}", '', f"Command: `{report['command']}`"]
    if report.get('training'):
        lines += ['', '| bins | precision | ours s/step | ours img/s | reference s/step | reference / ours | '
                  'peak memory ours / reference GiB | loss, token-grad deviation from fp32 |',
                  '|---|---|---|---|---|---|---|---|']
        for row in report['training']:
            for p, e in row['precisions'].items():
                if 'skipped' in e:
                    lines.append(f"| {row['bins']} | {p} | skipped: {e['skipped']} | | | | | |")
                    continue
                o, r, d = e.get('optimised', {}), e.get('reference', {}), e['deviation_from_fp32']
                fmt = (lambda v, f: format(v, f) if isinstance(v, (int, float)) else (v or ''))
                ratio = r['wall_s'] / o['wall_s'] if 'wall_s' in o and 'wall_s' in r else None
                lines.append(f"| {row['bins']} | {p} | {fmt(o.get('wall_s', o.get('error')), '.3f')} | "
                             f"{fmt(o.get('images_per_s'), '.1f')} | {fmt(r.get('wall_s', r.get('error')), '.3f')} | "
                             f"{fmt(ratio, '.2f')} | {fmt(o.get('peak_bytes', 0) / 2**30, '.2f')} / "
                             f"{fmt(r.get('peak_bytes', 0) / 2**30, '.2f')} | "
                             f"{d['loss_rel_diff']:.1e}, {max(d['grad_rel_diff'].values()):.1e}"
                             + (f" (loss scale {d['loss_scale']:g})" if 'loss_scale' in d else '')
                             + ('' if d['finite'] else ' NOT FINITE') + ' |')
            eq = row.get('equivalence_fp32')
            if eq:
                lines.append(f"| {row['bins']} | fp32 ours vs reference | max rel diff {eq['max_rel_diff']:.1e} "
                             '| | | | | |')
    sw = report.get('sweep')
    if sw:
        lines += ['', 'Sweep: ' + (sw['error'].splitlines()[0] if 'error' in sw else
                                   sw['skipped'] if 'skipped' in sw else
                  f"{sw['results']['sweep']['heads']} heads: {sw['results']['sweep']['step_s']:.3f} s/step against "
                  f"{sw['results']['single']['step_s']:.3f} s/step for one variant "
                  f"({sw['sweep_over_single']:.2f}x)")]
    if report.get('inference'):
        lines += ['', '| size | batch | run | img/s | depth deviation from eager fp32 |', '|---|---|---|---|---|']
        for row in report['inference']:
            if 'skipped' in row:
                lines.append(f"| {row['size'][0]}x{row['size'][1]} | {row['batch']} | all | {row['skipped']} | |")
            for k, v in row.get('runs', {}).items():
                why = v.get('skipped') or v.get('error')
                lines.append(f"| {row['size'][0]}x{row['size'][1]} | {row['batch']} | {k} | " + (
                    f'{why} | |' if why else f"{v['images_per_s']:.2f} | {v['deviation_from_eager_fp32']:.1e} |"))
    ld = report.get('loader')
    if ld and 'skipped' in ld:
        lines += ['', f"Loader: {ld['skipped']}"]
    elif ld:
        lines += ['', f"| loader workers | img/s | input-bound (fp32 step: {ld['step_images_per_s_fp32'] or 0:.1f} "
                  'img/s) |', '|---|---|---|']
        for k, v in ld['workers'].items():
            lines.append(f"| {k} | {v['skipped']} | |" if 'skipped' in v else
                         f"| {k} | {v['images_per_s'] or 0:.1f} | {v['input_bound']} |")
    return '\n'.join(lines) + '\n'


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--device', default='cuda', help="'cuda' (default) or 'cpu'")
    p.add_argument('--tiny', action='store_true', help='tiny CLIP, small sizes, few iterations (a smoke run)')
    p.add_argument('--out', required=True, help='JSON report; the Markdown table goes beside it (.md)')
    p.add_argument('--config', default=osp.join(REPO, 'configs/clipdepth/nyu_baseline_learned7.py'))
    p.add_argument('--sweep', default=osp.join(REPO, 'configs/clipdepth/sweeps/nyu_auty_tables3to7.py'))
    p.add_argument('--compile-backend', default='inductor',
                   help="torch.compile backend (default inductor; 'eager' = graph capture only, for a quick smoke run)")
    p.add_argument('--skip', nargs='+', default=[], choices=['train', 'sweep', 'inference', 'loader'])
    p.add_argument('--budget-s', type=float, default=None,
                   help='wall-time budget (default 480 s; none with --tiny): measurements not started when it is '
                   'spent are listed as skipped')
    p.add_argument('--save-outputs', default=None, metavar='DIR',
                   help='keep each inference run\'s depth as DIR/HxW_bB_RUN.npy (to recompute the deviations)')
    args = p.parse_args(argv)
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        p.error('--device cuda: no CUDA device is visible to torch (use --device cpu for a smoke run)')
    for path in (args.config, args.sweep):
        if not osp.isfile(path):
            p.error(f'config file {path} does not exist')
    import mmclipdepth  # noqa: F401
    warnings.filterwarnings('ignore', message='.*RANDOMLY INITIALISED.*')
    s = TINY if args.tiny else FULL
    global DEADLINE
    start = time.perf_counter()
    if args.budget_s is None and not args.tiny:
        args.budget_s = 480.0
    DEADLINE = None if args.budget_s is None else start + args.budget_s
    report = dict(command='python ' + ' '.join([osp.relpath(__file__, REPO)] + sys.argv[1:] if argv is None
                                                 else [osp.relpath(__file__, REPO)] + list(argv)),
                  device=args.device, tiny=args.tiny, settings=s, budget_s=args.budget_s,
                  environment=environment(args.device))
    if 'train' not in args.skip:
        report['training'] = training(args.config, s, args.device, args.tiny)
    if 'loader' not in args.skip:
        step = None
        for row in report.get('training', [])[:1]:
            step = row['precisions']['fp32'].get('optimised', {}).get('images_per_s')
        report['loader'] = loader(args.config, s, step)
    if 'sweep' not in args.skip:
        report['sweep'] = sweep(args.sweep, s, args.device, args.tiny)
    if 'inference' not in args.skip:
        report['inference'] = inference(args.config, s, args.device, args.tiny, args.compile_backend,
                                        args.save_outputs)
    report['total_s'] = time.perf_counter() - start
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(report, f, indent=1, default=str)
    md = osp.splitext(args.out)[0] + '.md'
    with open(md, 'w') as f:
        f.write(markdown(report))
    log(f'wrote {args.out} and {md} in {report["total_s"]:.0f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
