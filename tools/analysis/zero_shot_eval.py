"""Evaluate one model on the zero-shot test sets and write one table.

    python tools/analysis/zero_shot_eval.py CONFIG [CHECKPOINT] --datasets sunrgbd ibims diode_indoor ...
        [--data-root NAME=PATH ...] [--work-dir DIR] [--out table.md] [--cfg-options k=v]

For each dataset NAME (a file ``configs/_base_/datasets/zero_shot/NAME.py``, or ``all``) the model of CONFIG
(with CHECKPOINT; none for a zero-shot config) is tested on that set with its protocol (crop, depth range) and
every scaling mode of the set's evaluator: ``metric`` (raw metric depth), ``median`` (per-image median
scaling), ``lsq_depth`` / ``lsq_disparity`` (per-image least-squares scale and shift in depth / disparity).
The table lists dataset, protocol, scaling, abs_rel, δ1, rmse and the number of images. A dataset whose files
are missing is named in the table and on stderr (and the exit status is 1), never silently skipped.
"""
import argparse
import glob
import json
import os.path as osp
import sys

from mmengine.config import Config, DictAction

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ZERO_SHOT_DIR = osp.join(REPO, 'configs', '_base_', 'datasets', 'zero_shot')
SCALINGS = ('metric', 'median', 'lsq_depth', 'lsq_disparity')


def available() -> list:
    return sorted(osp.splitext(osp.basename(p))[0] for p in glob.glob(osp.join(ZERO_SHOT_DIR, '*.py')))


def evaluate(cfg: Config, checkpoint, test_set: str, data_root=None, work_dir='work_dirs/zero_shot') -> dict:
    """Metrics of the model of ``cfg`` on one zero-shot set (``Runner.test``), keys ``<scaling>/<metric>``."""
    from mmclipdepth.utils import apply_test_set, build_runner
    cfg = apply_test_set(Config(cfg.to_dict()), test_set)
    if data_root:
        cfg.test_dataloader.dataset.data_root = data_root
    cfg.work_dir = work_dir
    cfg.load_from = checkpoint
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.train_dataloader = cfg.train_cfg = cfg.optim_wrapper = cfg.param_scheduler = None
    from mmclipdepth.utils.weights import exit_on_missing_weights
    with exit_on_missing_weights(cfg, 'zero_shot_eval.py'):
        runner = build_runner(cfg)
    metrics = runner.test()
    metrics['images'] = len(runner.test_dataloader.dataset)
    from mmclipdepth.utils.protocol import protocol_stamp
    metrics['protocol'] = protocol_stamp(cfg, checkpoint)  # stamped beside the numbers (zero_shot.json)
    return dict(metrics)


def all_metrics_nan(metrics: dict) -> bool:
    """True when every float metric (``images`` and the ``nonfinite_pred`` shares aside) is NaN."""
    values = [v for k, v in metrics.items()
              if k != 'images' and not k.endswith('nonfinite_pred') and isinstance(v, float)]
    return bool(values) and all(v != v for v in values)


def table(rows) -> str:
    lines = ['| dataset | protocol | scaling | abs_rel | δ1 | rmse | images |', '|---|---|---|---|---|---|---|']
    for r in rows:
        if r.get('missing'):
            lines.append(f"| {r['name']} | {r['protocol']} | - | missing: {r['missing']} | | | |")
            continue
        for s in SCALINGS:
            m = r['metrics']
            if f'{s}/abs_rel' not in m:
                continue
            lines.append(f"| {r['name']} | {r['protocol']} | {s} | {m[f'{s}/abs_rel']:.4f} | {m[f'{s}/d1']:.4f} | "
                         f"{m[f'{s}/rmse']:.4f} | {m['images']} |")
    from mmclipdepth.utils.protocol import describe_protocol
    notes = [f"- {r['name']}: {describe_protocol(r['metrics'].get('protocol'))}" for r in rows if r.get('metrics')]
    if any(r.get('missing') for r in rows):
        notes.append('- missing: where to get each set and the layout --data-root expects: docs/zero_shot.md')
    return '\n'.join(lines + ([''] + notes if notes else [])) + '\n'


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoint', nargs='?')
    p.add_argument('--datasets', nargs='+', required=True, help=f'any of {available()} or all')
    p.add_argument('--data-root', nargs='+', action=DictAction, default={}, help='NAME=PATH overrides')
    p.add_argument('--work-dir', default='work_dirs/zero_shot')
    p.add_argument('--out', default=None, help='write the Markdown table here (default WORK_DIR/zero_shot.md)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = p.parse_args(argv)
    import mmclipdepth  # noqa: F401
    names = available() if args.datasets == ['all'] else args.datasets
    unknown = [n for n in names if n not in available()]
    if unknown:
        sys.exit(f'error: unknown dataset(s) {unknown}; expected any of {available()} or all')
    bad_roots = sorted(set(args.data_root) - set(available()))
    if bad_roots:  # a typo (ibmis=...) would otherwise leave the default root in use without a word
        sys.exit(f'error: --data-root key(s) {bad_roots} name no zero-shot set; known keys: {available()}')
    if not osp.isfile(args.config):
        sys.exit(f'error: config {args.config!r} does not exist')
    if args.checkpoint and not osp.isfile(args.checkpoint):
        sys.exit(f'error: checkpoint {args.checkpoint!r} does not exist')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    rows, missing = [], []
    for name in names:
        spec = Config.fromfile(osp.join(ZERO_SHOT_DIR, name + '.py'))
        z = spec.zero_shot
        protocol = f"{z.crop} crop, ({z.min_depth:g}, {z.max_depth:g}] m"
        root = args.data_root.get(name) or spec.test_dataloader.dataset.data_root
        if not osp.isdir(root):
            rows.append(dict(name=name, protocol=protocol, missing=f'no folder {root}'))
            missing.append(f'{name} ({root})')
            continue
        try:
            metrics = evaluate(cfg, args.checkpoint, osp.join(ZERO_SHOT_DIR, name + '.py'), root,
                               osp.join(args.work_dir, name))
        except FileNotFoundError as e:
            rows.append(dict(name=name, protocol=protocol, missing=str(e).replace('|', '/')))
            missing.append(f'{name} ({e})')
            continue
        rows.append(dict(name=name, protocol=protocol, metrics=metrics))
    text = table(rows)
    out = args.out or osp.join(args.work_dir, 'zero_shot.md')
    import os
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w', encoding='utf-8') as f:
        f.write(text)
    with open(osp.splitext(out)[0] + '.json', 'w', encoding='utf-8') as f:
        json.dump(rows, f, indent=1)
    print(text)
    all_nan = [r['name'] for r in rows if 'metrics' in r and all_metrics_nan(r['metrics'])]
    if all_nan:
        print(f'error: every metric is NaN for {all_nan} (no image had a valid ground-truth pixel, or every '
              'prediction was non-finite): see the warnings above; the table is not a result', file=sys.stderr)
    if missing:
        print('missing dataset(s), not evaluated: ' + '; '.join(missing)
              + ' (where to get them and the layout --data-root expects: docs/zero_shot.md)', file=sys.stderr)
    return 1 if missing or all_nan else 0


if __name__ == '__main__':
    sys.exit(main())
