"""The metafiles (``configs/*/metafile.yaml``, mmsegmentation's format) are the one place the published numbers
are typed: every config has its entry, README.md's table agrees with them digit for digit, and
tools/analysis/paper_table.py prints theirs."""
import functools
import glob
import importlib.util
import json
import os.path as osp
import re
import subprocess
import sys

import pytest
import yaml
from mmengine.config import Config

from conftest import REPO

METAFILES = sorted(glob.glob(osp.join(REPO, 'configs', '*', 'metafile.yaml')))
FAMILIES = ['clipdepth', 'mirror', 'llm_mde']
README_COLUMNS = ['abs_rel', 'rmse', 'd1']  # README.md's "Configs and published numbers" table, after 2 columns
TOOL = osp.join(REPO, 'tools', 'analysis', 'paper_table.py')


@functools.lru_cache(maxsize=None)
def _clipdepth_configs():
    return frozenset(osp.basename(p)[:-3] for p in glob.glob(osp.join(REPO, 'configs', 'clipdepth', '*.py')))


@functools.lru_cache(maxsize=None)
def _load_cached(path):
    return _load(path)


def _load(path):
    with open(path, encoding='utf-8') as f:
        return yaml.safe_load(f)


def _published(paths=METAFILES):
    """{name: metrics} of the models with Results (parsed here, independently of paper_table.py)."""
    out = {}
    for path in paths:
        for model in _load(path)['Models']:
            if 'Results' in model:
                out[model['Name']] = model['Results']['Metrics']
    return out


def readme_rows(text):
    """[(config name, [cell, ...])] of README.md's published-numbers table: a cell ``a / b / c`` holds the
    numbers of the configs ``x.py`` / ``b`` / ``c`` named in the first column, where an abbreviation replaces
    either the template (``{dataset}_{template}_{rest}``: ``102d`` after ``nyu_101d_depth7.py``) or the rest
    (``colour7`` after ``nyu_baseline_size7.py``); exactly one of the two must be a config."""
    section = text.split('## Configs and published numbers', 1)[1].split('\n## ', 1)[0]
    lines = [ln for ln in section.splitlines() if ln.startswith('| `')]
    assert lines, 'README.md: no table rows under "## Configs and published numbers"'
    configs = _clipdepth_configs()
    rows = []
    for line in lines:
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        names = [n.strip().strip('`') for n in cells[0].split(' / ')]
        first = names[0][:-3] if names[0].endswith('.py') else names[0]
        assert first in configs, f'README.md row {line!r}: configs/clipdepth/{first}.py does not exist'
        dataset, template, rest = first.split('_', 2)
        expanded = [first]
        for short in names[1:]:
            found = {c for c in (f'{dataset}_{short}_{rest}', f'{dataset}_{template}_{short}') if c in configs}
            assert len(found) == 1, f'README.md row {line!r}: {short!r} names {sorted(found) or "no config"}'
            expanded.append(found.pop())
        values = [[v.strip() for v in cell.split(' / ')] for cell in cells[2:2 + len(README_COLUMNS)]]
        for v in values:
            assert len(v) == len(expanded), f'README.md row {line!r}: {len(v)} numbers for {len(expanded)} configs'
        for i, name in enumerate(expanded):
            rows.append((name, [v[i] for v in values], line))
    return rows


def mismatches(readme_text, published):
    """What README.md's table and the metafiles disagree on (empty when they agree)."""
    problems, seen = [], set()
    for name, cells, line in readme_rows(readme_text):
        seen.add(name)
        exact = all(re.fullmatch(r'\d+\.\d{3}', c) for c in cells)
        if name not in published:
            if exact:
                problems.append(f'{name}: README.md gives {cells}, the metafile has no Results')
            elif not all(c == '-' or c.startswith('≈') for c in cells):
                problems.append(f'{name}: README.md cells {cells} are neither numbers nor "-"/"≈..."')
            continue
        want = [f'{published[name][k]:.3f}' for k in README_COLUMNS]
        if cells != want:
            problems.append(f'{name}: README.md {cells} vs metafile {want} ({README_COLUMNS})')
    clipdepth = [m['Name'] for m in _load_cached(osp.join(REPO, 'configs', 'clipdepth', 'metafile.yaml'))['Models']
                 if 'Results' in m]
    problems += [f'{name}: published in the metafile, not in README.md\'s table' for name in clipdepth
                 if name not in seen]
    return problems


@pytest.fixture(scope='module')
def readme():
    with open(osp.join(REPO, 'README.md'), encoding='utf-8') as f:
        return f.read()


def test_every_config_has_one_metafile_entry():
    assert [osp.basename(osp.dirname(p)) for p in METAFILES] == sorted(FAMILIES)
    names = []
    for path in METAFILES:
        data = _load(path)
        collections = {c['Name'] for c in data['Collections']}
        for model in data['Models']:
            names.append(model['Name'])
            assert model['In Collection'] in collections, (path, model['Name'])
            assert model['Config'] == f"configs/{osp.basename(osp.dirname(path))}/{model['Name']}.py", (path, model)
            assert osp.isfile(osp.join(REPO, model['Config'])), model['Config']
            if 'Results' in model:
                r = model['Results']
                assert r['Task'] == 'Depth Estimation' and r['Dataset'] and r['Metrics'], (path, model['Name'])
                assert all(isinstance(v, float) and 0 < v < 100 for v in r['Metrics'].values()), model['Name']
    assert len(names) == len(set(names))
    configs = sorted(osp.basename(p)[:-3] for f in FAMILIES for p in glob.glob(osp.join(REPO, 'configs', f, '*.py'))
                     if not osp.basename(p).startswith('_'))
    assert sorted(names) == configs


def test_published_rows():
    """Auty et al. Tables 3-7 give 28 configs numbers (8 of them SqRel too, from Table 6); LLM-MDE Table I's 5
    groups and Table II's one filled row; CLIP2Depth none (only its abstract is among the sources)."""
    pub = _published()
    auty = _published([osp.join(REPO, 'configs', 'clipdepth', 'metafile.yaml')])
    assert len(auty) == 28 and sum('sq_rel' in m for m in auty.values()) == 8
    assert all(set(m) - {'sq_rel'} == {'abs_rel', 'rmse', 'rmse_log_unrooted', 'log10', 'd1', 'd2', 'd3'}
               for m in auty.values())
    assert not _published([osp.join(REPO, 'configs', 'mirror', 'metafile.yaml')])
    llm = _published([osp.join(REPO, 'configs', 'llm_mde', 'metafile.yaml')])
    assert sorted(llm) == ['nyu_bert_1shot', 'nyu_bert_2shot', 'nyu_bert_3shot', 'nyu_bert_4shot',
                           'nyu_bert_one_per_scene', 'nyu_bert_zeroshot_bedroom_to_bathroom']
    assert pub['nyu_baseline_learned256_log']['abs_rel'] == 0.298 and pub['nyu_bert_4shot']['RMSE'] == 0.242


def test_every_paper_table_row_has_its_published_numbers():
    tables = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'sweeps', 'auty_published.py')).paper_tables
    pub = _published()
    rows = [(t['name'], row, c) for t in tables for row in t['rows'] for c in t['columns']]
    assert len(rows) > 100
    assert all(len(row) == 2 for _, row, _ in rows)  # labels and configs only: the numbers live in the metafile
    missing = [(name, row[1], c) for name, row, c in rows if c not in pub.get(row[1], {})]
    assert not missing


def test_readme_table_agrees_with_the_metafile(readme):
    rows = readme_rows(readme)
    assert len({name for name, _, _ in rows}) >= 30
    assert mismatches(readme, _published()) == []


def test_a_wrong_digit_in_either_is_caught(readme):
    pub = _published()
    assert mismatches(readme, pub) == []
    # each published README number, one digit changed in README.md
    numbers = [m for m in re.finditer(r'\b\d+\.\d{3}\b', readme.split('## Configs and published numbers')[1]
                                      .split('\n## ')[0])]
    offset = readme.index('## Configs and published numbers') + len('## Configs and published numbers')
    assert len(numbers) >= 80
    for m in numbers:
        start = offset + m.start() + len(m.group()) - 1
        wrong = readme[:start] + str((int(readme[start]) + 1) % 10) + readme[start + 1:]
        assert mismatches(wrong, pub), f'README.md {m.group()!r} changed went unnoticed'
    # each metafile number the README shows, changed by 0.001
    shown = {n for n, _, _ in readme_rows(readme)}
    for name, metrics in pub.items():
        for key in README_COLUMNS:
            if key in metrics and name in shown:
                bad = {**pub, name: {**metrics, key: round(metrics[key] + 0.001, 3)}}
                assert mismatches(readme, bad), (name, key)
    # a published model dropped from README.md's table
    missing = readme.replace('| `kitti_404d_learned7.py` |', '| `kitti_404d_depth7.py` |', 1)
    assert any('kitti_404d_learned7' in p for p in mismatches(missing, pub))


def _tool():
    spec = importlib.util.spec_from_file_location('paper_table_under_test', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(tmp_path, *metafile):
    """``python tools/analysis/paper_table.py WORK --config <sweep> --metrics m.json [--metafile ...]``."""
    metrics = {f'{n}/{k}': 0.5 for n in ('nyu_baseline_learned7', 'nyu_404d_depth7', 'nyu_404d_learned7')
               for k in ('abs_rel', 'sq_rel', 'rmse', 'rmse_log_unrooted', 'log10', 'd1', 'd2', 'd3')}
    mfile = tmp_path / 'm.json'
    mfile.write_text(json.dumps(metrics))
    cmd = [sys.executable, TOOL, str(tmp_path), '--config',
           osp.join(REPO, 'configs', 'clipdepth', 'sweeps', 'nyu_auty_table5.py'), '--metrics', str(mfile)]
    if metafile:
        cmd += ['--metafile', *metafile]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)


def _row(text, table, label):
    section = text.split(f'### {table}')[1].split('###')[0]
    return next(ln for ln in section.splitlines() if ln.startswith(f'| {label} |'))


def _cells(row):
    return [c.strip() for c in row.strip().strip('|').split('|')[2:]]


def test_paper_table_prints_the_metafile_numbers(tmp_path):
    """The published half of each cell is the metafile's number; a model missing from the metafile is an
    error that names the model and the file."""
    run = _run(tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    pub = _published()
    want = [f'{pub["nyu_404d_learned7"][k]:.3f} / 0.500' for k in
            ('abs_rel', 'rmse', 'rmse_log_unrooted', 'log10', 'd1', 'd2', 'd3')]
    assert _cells(_row(run.stdout, 'Auty Table 5 (NYU)', '404d, learned-7')) == want
    assert want[0] == '0.317 / 0.500'  # Auty et al. Table 5, NYU, 404d + learned-7, Abs
    data = _load(osp.join(REPO, 'configs', 'clipdepth', 'metafile.yaml'))
    data['Models'] = [m for m in data['Models'] if m['Name'] != 'nyu_404d_learned7']
    changed = tmp_path / 'changed.yaml'
    changed.write_text(yaml.safe_dump(data, allow_unicode=True))
    run = _run(tmp_path, str(changed))
    assert run.returncode == 1
    assert "no model 'nyu_404d_learned7' with Results" in run.stderr and str(changed) in run.stderr


def test_paper_table_follows_a_changed_metafile(tmp_path):
    """render() with a tampered metafile: the changed number is printed; a metric the table shows but the
    model lacks, or a metafile without Models, is an error naming the file."""
    tool = _tool()
    tables = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'sweeps', 'auty_published.py')).paper_tables
    cfg = Config(dict(model=dict(type='MultiVariantDepthEstimator', decode_heads=dict(nyu_404d_learned7=dict())),
                      paper_tables=tables))
    ours = {f'nyu_404d_learned7/{k}': 0.5 for k in tool.DEFAULT_COLUMNS}
    data = _load(osp.join(REPO, 'configs', 'clipdepth', 'metafile.yaml'))
    model = next(m for m in data['Models'] if m['Name'] == 'nyu_404d_learned7')
    model['Results']['Metrics']['abs_rel'] = 0.123
    changed = tmp_path / 'changed.yaml'
    changed.write_text(yaml.safe_dump(data, allow_unicode=True))
    text = tool.render(cfg, ours, 'm.json', metafiles=[str(changed)])
    assert _cells(_row(text, 'Auty Table 5 (NYU)', '404d, learned-7'))[0] == '0.123 / 0.500'
    assert _cells(_row(tool.render(cfg, ours, 'm.json'), 'Auty Table 5 (NYU)', '404d, learned-7'))[0] == \
        '0.317 / 0.500'
    del next(m for m in data['Models'] if m['Name'] == 'nyu_404d_depth7')['Results']['Metrics']['log10']
    changed.write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(ValueError, match=r"changed\.yaml: model 'nyu_404d_depth7' has no \['log10'\]"):
        tool.render(cfg, ours, 'm.json', metafiles=[str(changed)])
    changed.write_text('Collections: []\n')
    with pytest.raises(ValueError, match=r'changed\.yaml: expected a metafile with a "Models" list'):
        tool.render(cfg, ours, 'm.json', metafiles=[str(changed)])
