"""Every repository path that README.md, docs/*.md and the code's docstrings, comments and messages cite exists:
Markdown links (relative to the page) and repo-relative paths such as ``docs/x.md``, ``tools/.../x.py``,
``configs/.../x.py``, ``mmclipdepth/...``, ``demo/...``, ``tests/...``, and ``data/...`` pages (``data/`` is
otherwise where a user puts the datasets)."""
import glob
import os.path as osp
import re

from conftest import REPO

PAGES = ['README.md'] + sorted(osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'docs', '*.md')))
CODE = sorted(osp.relpath(p, REPO) for d in ('mmclipdepth', 'tools', 'configs', 'demo')
              for p in glob.glob(osp.join(REPO, d, '**', '*.py'), recursive=True))
ROOTS = ('docs', 'tools', 'configs', 'demo', 'tests', 'mmclipdepth', 'benchmarks', 'data')
# a repo-relative path: starts at one of ROOTS, not inside a longer path (``x/docs/...``, ``../configs``)
PATH = re.compile(r'(?<![\w./<>-])((?:' + '|'.join(ROOTS) + r')/[\w./*{}<>-]*[\w*}>])')
LINK = re.compile(r'\]\(([^)\s]+)\)')
PLACEHOLDER = re.compile(r'[*{}<>]|(^|/)[A-Z][A-Z0-9_]*(\.py)?($|/)')  # configs/*/..., NAME.py, WORK_DIR/...
# paths of other repositories that pages cite by their own name
EXTERNAL = {'tools/utils.py': "the LLM-MDE authors' training code (651784766/LLM-MDE)"}


def dangling(text: str, where: str, page_dir: str = '') -> list:
    """``[(where:line, path)]`` of the cited paths in ``text`` that do not exist in the repository. ``page_dir``:
    the folder Markdown links are relative to (None: not Markdown)."""
    out = []
    fence = False
    for n, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith('```'):
            fence = not fence
            continue
        if fence and re.fullmatch(r'\s*# [\w./-]+\.py\s*', line):
            continue  # the file a config snippet shows, for the reader to write
        for m in PATH.finditer(line):
            path = m.group(1).rstrip('.')
            if PLACEHOLDER.search(path) or path in EXTERNAL:
                continue
            if path.startswith('data/') and not path.endswith('.md'):
                continue  # the user's datasets
            if not osp.exists(osp.join(REPO, path)):
                out.append((f'{where}:{n}', path))
        if page_dir is None:
            continue
        for m in LINK.finditer(line):
            target = m.group(1).split('#')[0]
            if not target or re.match(r'[a-z]+:', target):
                continue
            if not osp.exists(osp.normpath(osp.join(REPO, page_dir, target))):
                out.append((f'{where}:{n}', target))
    return out


def _read(rel):
    with open(osp.join(REPO, rel), encoding='utf-8') as f:
        return f.read()


def test_pages_cite_files_that_exist():
    assert len(PAGES) > 10
    bad = [d for page in PAGES for d in dangling(_read(page), page, osp.dirname(page))]
    assert not bad, bad


def test_code_cites_files_that_exist():
    assert len(CODE) > 100
    bad = [d for path in CODE for d in dangling(_read(path), path, None)]
    assert not bad, bad


def test_external_paths_are_not_in_this_repository():
    assert not any(osp.exists(osp.join(REPO, p)) for p in EXTERNAL)


def test_a_dangling_reference_is_caught():
    page = ('See docs/install.md and [the data](data_preparation.md).\n'
            'Layout: data/README.md; run `python tools/analysis/paper_table.py WORK_DIR`.\n'
            'Missing: docs/no_such_page.md, tools/analysis/no_such_tool.py, configs/clipdepth/nyu_nope.py,\n'
            '[gone](no_such.md), data/NOTES_nope.md, mmclipdepth/no_such_module.py.\n'
            'Not checked: data/nyu/sync, configs/*/metafile.yaml, configs/_base_/datasets/zero_shot/NAME.py.\n'
            '```python\n# configs/clipdepth/my_new_config.py\n```\n')
    found = dangling(page.replace('data/README.md', 'docs/data_preparation.md'), 'page.md', 'docs')
    assert sorted(p for _, p in found) == sorted([
        'docs/no_such_page.md', 'tools/analysis/no_such_tool.py', 'configs/clipdepth/nyu_nope.py',
        'mmclipdepth/no_such_module.py', 'no_such.md', 'data/NOTES_nope.md'])
    assert ('page.md:2', 'data/README.md') in dangling(page, 'page.md', 'docs')
    assert ('mod.py:1', 'docs/gone.md') in dangling('"""See docs/gone.md."""', 'mod.py', None)
