"""Write a sweep's results in the paper's table layout, published numbers beside ours (Markdown).

    python tools/analysis/paper_table.py WORK_DIR [--config CONFIG] [--metrics FILE] [--out FILE]

``WORK_DIR`` is where ``tools/train.py`` / ``tools/test.py`` ran a sweep config (``configs/*/sweeps/``): the
config is the one mmengine dumped there, read as data and never executed (``--config``: a config you trust,
run as any mm config), the metrics the last evaluation logged there
(``*/vis_data/scalars.json`` after validation, ``*/<timestamp>.json`` after ``tools/test.py``; or
``--metrics``, a JSON object ``{"<variant>/<metric>": value}``). Every table of the config's
``paper_tables`` (``configs/_base_/sweeps/auty_published.py``: each row a config name) with a row among the
run's variants is written, each cell ``paper / ours``; the published numbers are those of the model of that
name in the metafiles (``configs/*/metafile.yaml``, mmsegmentation's format; ``--metafile``). Variants that no
published table holds follow in a table of their own. Writes ``WORK_DIR/paper_table.md`` (or ``--out``) and
prints it.
"""
import argparse
import ast
import glob
import json
import os.path as osp
import sys

import yaml
from mmengine.config import Config

LABELS = dict(abs_rel='Abs', sq_rel='SqRel', rmse='RMS', rmse_log='RMSE log', rmse_log_unrooted='RMSL',
              log10='log10', silog='SILog', d1='δ1', d2='δ2', d3='δ3')
DEFAULT_COLUMNS = ['abs_rel', 'sq_rel', 'rmse', 'rmse_log_unrooted', 'log10', 'd1', 'd2', 'd3']
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def default_metafiles() -> list:
    return sorted(glob.glob(osp.join(REPO, 'configs', '*', 'metafile.yaml')))


def load_published(paths) -> dict:
    """``{model name: (metrics, metafile)}`` of every model with ``Results`` in these metafiles (mmsegmentation's
    format: ``Models: [{Name, Results: {Task, Dataset, Metrics: {key: value}}}]``; ``Results`` may be a list)."""
    published = {}
    for path in paths:
        with open(path, encoding='utf-8') as f:
            try:
                data = yaml.safe_load(f)
            except yaml.YAMLError as e:
                raise ValueError(f'{path}: not YAML ({e})') from None
        models = data.get('Models') if isinstance(data, dict) else None
        if not isinstance(models, list):
            raise ValueError(f'{path}: expected a metafile with a "Models" list (mmsegmentation\'s format)')
        for i, model in enumerate(models):
            name = model.get('Name') if isinstance(model, dict) else None
            if not isinstance(name, str):
                raise ValueError(f'{path}: Models[{i}] has no "Name"')
            results = model.get('Results')
            if results is None:
                continue
            metrics = {}
            for result in results if isinstance(results, list) else [results]:
                values = result.get('Metrics') if isinstance(result, dict) else None
                if not isinstance(values, dict) or not all(isinstance(v, (int, float)) for v in values.values()):
                    raise ValueError(f'{path}: model {name!r}: expected Results.Metrics, a mapping of metric '
                                     f'to number, got {values!r}')
                metrics.update(values)
            if name in published:
                raise ValueError(f'{path}: model {name!r} has results in {published[name][1]} too')
            published[name] = (metrics, path)
    return published


def _literal(node, path: str):
    """An expression of a dumped config as data: literals, lists, tuples, dicts and ``dict(k=v)`` only."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [_literal(e, path) for e in node.elts]
        return tuple(items) if isinstance(node, ast.Tuple) else items
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_literal(k, path): _literal(v, path) for k, v in zip(node.keys, node.values)}
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == 'dict' and not node.args
            and all(k.arg is not None for k in node.keywords)):
        return {k.arg: _literal(k.value, path) for k in node.keywords}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _literal(node.operand, path)
        if isinstance(v, (int, float)):
            return -v if isinstance(node.op, ast.USub) else v
    raise ValueError(f'{path}, line {getattr(node, "lineno", "?")}: not plain data '
                     f'({ast.unparse(node)[:60]!r}); a config found in a work dir is read, never executed: pass '
                     '--config with the sweep config you trust')


def read_dumped_config(path: str) -> Config:
    """The config mmengine dumped in a work dir, read as data (``ast``: assignments of literal values only),
    never executed: a work dir from elsewhere may hold any ``.py``."""
    with open(path, encoding='utf-8') as f:
        try:
            tree = ast.parse(f.read(), filename=path)
        except SyntaxError as e:
            raise ValueError(f'{path}: not a dumped config ({e.msg}, line {e.lineno})') from None
    values = {}
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
            raise ValueError(f'{path}, line {stmt.lineno}: not a plain assignment ({ast.unparse(stmt)[:60]!r}); '
                             'a config found in a work dir is read, never executed: pass --config with the sweep '
                             'config you trust')
        values[stmt.targets[0].id] = _literal(stmt.value, path)
    return Config(values, filename=path)


def find_config(work_dir: str) -> str:
    found = [p for p in glob.glob(osp.join(work_dir, '*.py'))]
    if len(found) != 1:
        raise FileNotFoundError(f'{work_dir}: expected the one config mmengine dumps there, found {len(found)} '
                                f'.py files {found[:3]}; pass --config')
    return found[0]


def _records(path: str):
    with open(path, encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f'{path}, line {n}: not JSON ({e})') from None


def find_metrics(work_dir: str, variants) -> tuple:
    """(metrics, file) of the last logged evaluation that holds metrics of these variants."""
    files = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')) + glob.glob(
        osp.join(work_dir, '*', '*.json'))
    best = None
    for path in sorted(files, key=osp.getmtime):
        for record in _records(path):
            if any(f'{v}/abs_rel' in record for v in variants):
                best = (record, path)
    if best is None:
        raise FileNotFoundError(f'{work_dir}: no logged evaluation with metrics of the variants {list(variants)} '
                                '(run tools/test.py on the sweep checkpoint, or pass --metrics)')
    return best


def _cell(value) -> str:
    return '-' if value is None else f'{value:.3f}'


def protocol_labels(protocols: dict, strict: bool = False) -> tuple:
    """(variant -> mark, footnote lines) for the protocol stamps of the variants (``metrics.json`` of
    tools/test.py). One protocol: no marks, one line under the tables. Several: each variant's cells carry
    ``[P<k>]`` and the footnotes say which protocol is which; ``strict`` refuses instead."""
    from mmclipdepth.utils.protocol import describe_protocol, protocol_key
    keys = {}
    for variant, stamp in protocols.items():
        keys.setdefault(protocol_key(stamp), (len(keys) + 1, stamp))
    if len(keys) <= 1:
        stamp = next(iter(keys.values()))[1] if keys else None
        return {}, [describe_protocol(stamp)]
    if strict:
        raise ValueError(f'the metrics mix {len(keys)} evaluation protocols in one column: '
                         + '; '.join(f'P{k}: {describe_protocol(s)}' for k, s in keys.values())
                         + ' (drop --strict-protocol to mark them instead)')
    marks = {v: f' [P{keys[protocol_key(s)][0]}]' for v, s in protocols.items()}
    notes = ['**Numbers of different protocols share these columns; each cell is marked with its own:**']
    notes += [f'- P{k}: {describe_protocol(s)}' for k, s in keys.values()]
    return marks, notes


def _published_row(published: dict, table: dict, label: str, variant: str, metafiles) -> list:
    if variant not in published:
        raise ValueError(f"{table['name']}, row {label!r}: no model {variant!r} with Results in "
                         f"{', '.join(metafiles) or 'no metafile'}")
    values, path = published[variant]
    missing = [c for c in table['columns'] if c not in values]
    if missing:
        raise ValueError(f"{path}: model {variant!r} has no {missing} in Results.Metrics ({table['name']}, row "
                         f"{label!r}, shows them)")
    return [values[c] for c in table['columns']]


def render(cfg: Config, metrics: dict, source: str, protocols: dict = None, strict: bool = False,
           metafiles=None) -> str:
    """The tables in Markdown; published numbers from ``metafiles`` (default: the repo's
    ``configs/*/metafile.yaml``)."""
    metafiles = default_metafiles() if metafiles is None else list(metafiles)
    published = load_published(metafiles)
    variants = list(cfg.model.decode_heads)
    marks, notes = protocol_labels(protocols if protocols is not None else {v: None for v in variants}, strict)
    ours = lambda v, k: metrics.get(f'{v}/{k}')  # noqa: E731
    lines = [f'Each cell: published / this run ({source}).', '']
    covered = set()
    for table in cfg.get('paper_tables', []):
        rows = [r for r in table['rows'] if r[1] in variants]
        if not rows:
            continue
        cols = list(table['columns'])
        lines += [f"### {table['name']}: {table['caption']}", '',
                  '| row | config | ' + ' | '.join(LABELS.get(c, c) for c in cols) + ' |',
                  '|---|---|' + '---|' * len(cols)]
        for row in table['rows']:
            label, variant = row[0], row[1]  # (a config dumped before the metafile also holds the numbers)
            covered.add(variant)
            cells = [f'{_cell(p)} / {_cell(ours(variant, c))}{marks.get(variant, "")}'
                     for c, p in zip(cols, _published_row(published, table, label, variant, metafiles))]
            lines.append(f'| {label} | `{variant}`{"" if variant in variants else " (not in this run)"} | '
                         + ' | '.join(cells) + ' |')
        lines.append('')
    rest = [v for v in variants if v not in covered]
    if rest:
        lines += ['### Variants without a published table', '',
                  '| config | ' + ' | '.join(LABELS[c] for c in DEFAULT_COLUMNS) + ' |',
                  '|---|' + '---|' * len(DEFAULT_COLUMNS)]
        lines += [f'| `{v}` | ' + ' | '.join(_cell(ours(v, c)) + marks.get(v, '') for c in DEFAULT_COLUMNS) + ' |'
                  for v in rest]
        lines.append('')
    lines += notes + ['']
    return '\n'.join(lines)


def load_metric_files(paths) -> tuple:
    """(metrics, variant -> protocol stamp) from JSON files ``{"<variant>/<metric>": value[, "protocol": {...}]}``;
    a later file's values replace an earlier file's."""
    metrics, protocols = {}, {}
    for path in paths:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
        if not isinstance(data, dict):
            raise ValueError(f'{path}: expected a JSON object {{"<variant>/<metric>": value}}')
        stamp = data.pop('protocol', None)
        metrics.update(data)
        for key in data:
            if '/' in key:
                protocols[key.split('/')[0]] = stamp
    return metrics, protocols


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('work_dir')
    p.add_argument('--config', help='the sweep config (default: the one dumped in WORK_DIR)')
    p.add_argument('--metrics', nargs='+', help='JSON files {"<variant>/<metric>": value} (tools/test.py\'s '
                   'metrics.json with its "protocol"; default: the last logged evaluation)')
    p.add_argument('--strict-protocol', action='store_true',
                   help='refuse (instead of marking) metrics of different evaluation protocols in one column')
    p.add_argument('--metafile', nargs='+', help='metafiles with the published numbers (mmsegmentation\'s format; '
                   'default: configs/*/metafile.yaml of this repository)')
    p.add_argument('--out', help='default WORK_DIR/paper_table.md')
    args = p.parse_args(argv)
    if not osp.isdir(args.work_dir):
        sys.exit(f'error: work dir {args.work_dir!r} does not exist')
    try:
        cfg = Config.fromfile(args.config) if args.config else read_dumped_config(find_config(args.work_dir))
        if cfg.model.get('type') != 'MultiVariantDepthEstimator':
            raise ValueError(f'the config is not a sweep (model.type {cfg.model.get("type")!r})')
        variants = list(cfg.model.decode_heads)
        protocols = None
        if args.metrics:
            metrics, protocols = load_metric_files(args.metrics)
            source = ', '.join(args.metrics)
        else:
            metrics, source = find_metrics(args.work_dir, variants)
            stamped = osp.join(args.work_dir, 'metrics.json')  # tools/test.py's, when it is this evaluation's
            if osp.isfile(stamped) and osp.getmtime(stamped) >= osp.getmtime(source):
                with open(stamped, encoding='utf-8') as f:
                    stamp = json.load(f).get('protocol')
                protocols = {v: stamp for v in variants}
    except (FileNotFoundError, ValueError, KeyError) as e:
        sys.exit(f'error: {e}')
    missing = [v for v in variants if f'{v}/abs_rel' not in metrics]
    if missing:
        sys.exit(f'error: {source} has no metrics of the variant(s) {missing}')
    try:
        text = render(cfg, metrics, osp.relpath(source, args.work_dir) if not args.metrics else source, protocols,
                      args.strict_protocol, args.metafile)
    except (OSError, ValueError) as e:
        sys.exit(f'error: {e}')
    out = args.out or osp.join(args.work_dir, 'paper_table.md')
    with open(out, 'w', encoding='utf-8') as f:
        f.write(text)
    print(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
