"""Development material of the repository, not part of the installed package (``setup.py`` ships
``mmclipdepth`` only): independent references, the authors' training step and the benchmark harness. Import it as
``benchmarks.*`` from the repository root (the test suite puts the root on ``sys.path`` through ``pytest.ini``;
the tools in ``tools/analysis`` insert it themselves).

* ``reference_clip``, ``reference_depthclip``: OpenAI CLIP's text tower and image trunk, DepthCLIP's head and
  the SILog loss, written from the published architectures (OpenAI CLIP, Radford et al. 2021; DepthCLIP,
  Zhang et al. 2022; Auty & Mikolajczyk 2023) on plain state-dict tensors with ``torch.nn.functional`` - they
  never call open_clip's modules or this package's models, so a test that compares the two can see a wrong
  activation, normalisation, tokenisation, pooling position or layer order (re-exported here);
* ``authors_step``: the authors' training step; ``equivalence``: the package's step against it, its speed-ups,
  model and batch builders, the float64 envelope;
* the harness of ``tools/analysis/benchmark.py``: ``timing`` (clocks, peak memory, profile), ``precision``
  (fp32 / TF32 / AMP), ``measure`` (one process's measurements), ``runner`` (a process per measurement, the
  report), ``report`` (its tables).
"""
from .reference_clip import (reference_image_trunk, reference_text_features, reference_tokenize,
                             reference_text_tower)
from .reference_depthclip import (reference_bin_depth, reference_depth, reference_prompt_features,
                                  reference_silog)

__all__ = ['reference_image_trunk', 'reference_text_features', 'reference_tokenize', 'reference_text_tower',
           'reference_bin_depth', 'reference_depth', 'reference_prompt_features', 'reference_silog']
