"""What ``pip install .`` ships: the ``mmclipdepth`` package only, never the repository's development material
(``benchmarks/``: the references and the benchmark harness; ``tests/``, ``tools/``)."""
import os.path as osp
import runpy

import setuptools

from conftest import REPO


def _setup_kwargs(monkeypatch):
    """The keyword arguments ``setup.py`` hands to ``setuptools.setup``, computed on this checkout's tree."""
    captured = {}
    monkeypatch.setattr(setuptools, 'setup', lambda **kw: captured.update(kw))
    monkeypatch.chdir(REPO)  # find_packages() looks in the current folder, as pip runs setup.py
    runpy.run_path(osp.join(REPO, 'setup.py'), run_name='__main__')
    return captured


def test_only_the_package_is_installed(monkeypatch):
    packages = _setup_kwargs(monkeypatch)['packages']
    assert 'mmclipdepth' in packages and 'mmclipdepth.models' in packages
    # benchmarks/ is a package on disk (tests and tools import it from the repository root), so an exclude list
    # that forgot it would ship it: check what setup.py really computes
    assert osp.isfile(osp.join(REPO, 'benchmarks', '__init__.py'))
    stray = [p for p in packages if p.split('.')[0] != 'mmclipdepth']
    assert not stray, f'setup.py would install {stray} as top-level packages next to mmclipdepth'


def test_development_material_is_not_in_the_package():
    # the references and the authors' step live in benchmarks/, not inside the installed package
    assert not osp.exists(osp.join(REPO, 'mmclipdepth', 'testing'))
    import benchmarks
    assert osp.dirname(benchmarks.__file__) == osp.join(REPO, 'benchmarks')
