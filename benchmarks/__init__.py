"""Independent references for tests and benchmarks (mmengine's ``testing`` convention).

Everything here is written from the published architectures (OpenAI CLIP, Radford et al. 2021; DepthCLIP,
Zhang et al. 2022; Auty & Mikolajczyk 2023) on plain state-dict tensors with ``torch.nn.functional`` - it
never calls open_clip's modules or this package's models, so a test that compares the two can see a wrong
activation, normalisation, tokenisation, pooling position or layer order.
"""
from .. import _guard  # noqa: F401  (first: refuses a shadowed, empty mmclipdepth package)
from .reference_clip import (reference_image_trunk, reference_text_features, reference_tokenize,
                             reference_text_tower)
from .reference_depthclip import (reference_bin_depth, reference_depth, reference_prompt_features,
                                  reference_silog)
from . import authors_step, equivalence  # noqa: E402  (the authors' training step; comparisons with it)

__all__ = ['reference_image_trunk', 'reference_text_features', 'reference_tokenize', 'reference_text_tower',
           'reference_bin_depth', 'reference_depth', 'reference_prompt_features', 'reference_silog']
