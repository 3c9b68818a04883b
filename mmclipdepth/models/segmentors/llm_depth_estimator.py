"""LLM-MDE as a depth estimator: ViT -> reprogramming -> [prompt ; tokens] -> LLM -> adaptation head (docs/llm_mde.md)."""
from typing import List, Optional, Tuple

import torch
from mmengine.config import ConfigDict
from mmseg.registry import MODELS
from torch import Tensor

# importing the modules registers them
from ..decode_heads.llm_mde_adaptation_head import LLMMDEAdaptationHead  # noqa: F401
from ..text_encoders.hf_language_model import HFLanguageModel  # noqa: F401
from ..utils.adaptive_prompt_generator import AdaptivePromptGenerator  # noqa: F401
from ..utils.cross_modal_reprogramming import CrossModalReprogramming  # noqa: F401
from ..utils.language_to_depth_mlp import LanguageToDepthMLP  # noqa: F401
from .base_depth_estimator import BaseDepthEstimator

__all__ = ['LLMDepthEstimator']


@MODELS.register_module()
class LLMDepthEstimator(BaseDepthEstimator):
    """LLM-MDE (Language4Depth in the authors' code); test modes, checks and post-processing of
    :class:`BaseDepthEstimator` (a sibling of ``CLIPDepthEstimator``: no CLIP here).

    ``extract_feat(img)``: ``t = backbone(img)`` (224 px ViT tokens) -> ``r = language_to_depth(
    reprogramming(t, E))`` with ``E`` the LLM word-embedding table -> prompt strings from
    ``prompt_generator(img)`` -> token ids -> frozen word embeddings ``p`` -> ``language_model([p ; r])`` ->
    returns ``(decoder tokens, img)`` for the head, which also needs the image.

    ``prompt_generator=None`` is the code's ``prompt=False`` path (no LLM decoder: the head reads ``r``
    directly, with ``num_tokens`` = number of ViT tokens). With ``stats_source='coarse_depth'`` a first pass
    without gradients (head in eval mode) uses a statistics-free prompt to get the coarse depth whose
    statistics fill the real prompt. ``reprogramming`` / ``language_to_depth`` sizes left None are filled
    from the backbone width and the LLM vocabulary / width.
    """

    def __init__(self,
                 backbone: dict,
                 decode_head: dict,
                 language_model: dict,
                 reprogramming: dict,
                 language_to_depth: Optional[dict] = dict(type='LanguageToDepthMLP', reduction=4),
                 prompt_generator: Optional[dict] = dict(type='AdaptivePromptGenerator'),
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = dict(mode='whole'),
                 data_preprocessor: Optional[dict] = None,
                 init_cfg=None):
        train_cfg, test_cfg = (ConfigDict(c) if isinstance(c, dict) else c for c in (train_cfg, test_cfg))
        super().__init__(backbone=backbone, decode_head=decode_head, train_cfg=train_cfg, test_cfg=test_cfg,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self._finish_init()
        self.language_model = MODELS.build(language_model)
        vocab, width = self.language_model.word_embeddings.shape
        rep = dict(reprogramming)
        rep.setdefault('d_model', getattr(self.backbone, 'embed_dim', None))
        for key, value in (('d_llm', width), ('vocab_size', vocab)):
            if rep.get(key) is None:
                rep[key] = value
        if rep['d_llm'] != width or rep['vocab_size'] != vocab:
            raise ValueError(f'LLMDepthEstimator: reprogramming d_llm={rep["d_llm"]} / vocab_size='
                             f'{rep["vocab_size"]} do not match the language model ({width} / {vocab})')
        self.reprogramming = MODELS.build(rep)
        if language_to_depth is not None:
            l2d = dict(language_to_depth)
            if l2d.get('channels') is None:
                l2d['channels'] = width
            self.language_to_depth = MODELS.build(l2d)
        else:
            self.language_to_depth = None
        self.prompt_generator = MODELS.build(prompt_generator) if prompt_generator is not None else None
        if self.prompt_generator is not None:
            self._check_sequence_length()

    def _check_sequence_length(self) -> None:
        """[prompt ; image tokens] must fit the decoder's ``max_position_embeddings``; otherwise BERT fails deep
        inside with a tensor-size error. Measured on a representative prompt (a seeded random image, a coarse
        depth of 88.88 m: statistics of 2-3 digits) and the backbone's token count at its input size."""
        config = getattr(getattr(self.language_model, 'decoder', None), 'config', None)
        limit = getattr(config, 'max_position_embeddings', None)
        if not isinstance(limit, int) or not hasattr(self.language_model, 'tokenize'):
            return
        size = getattr(self.backbone, 'input_size', None) or (224, 224)
        gen = torch.Generator().manual_seed(0)
        img = torch.randn(1, 3, *size, generator=gen)
        with torch.no_grad():
            n_image = int(self.backbone(img)[-1].shape[1])
            text = self.prompt_generator(img, coarse_depth=torch.full((1, 1, 8, 8), 88.88))[0]
        n_prompt = int(self.language_model.tokenize([text])[0].shape[1])
        if n_prompt + n_image > limit:
            raise ValueError(
                f'LLMDepthEstimator: the prompt ({n_prompt} tokens, model.prompt_generator.description / task / '
                f'start_text / end_text) plus the {n_image} image tokens (model.backbone) make {n_prompt + n_image} '
                f'positions, more than the language model\'s max_position_embeddings {limit} '
                f'(model.language_model.decoder_model): shorten the prompt or use a model with more positions')

    def _reprogrammed(self, inputs: Tensor) -> Tensor:
        tokens = self.backbone(inputs)[-1]
        x = self.reprogramming(tokens, self.language_model.word_embeddings)
        return self.language_to_depth(x) if self.language_to_depth is not None else x

    def _decode(self, texts: List[str], x: Tensor) -> Tensor:
        lm = self.language_model
        ids, mask = lm.tokenize(texts, device=x.device)
        seq = torch.cat([lm.embed(ids).to(x.dtype), x], dim=1)
        mask = torch.cat([mask, mask.new_ones(x.shape[:2])], dim=1)
        return lm(seq, attention_mask=mask)

    def _coarse_depth(self, inputs: Tensor, x: Tensor) -> Tensor:
        head = self.decode_head
        was_training = head.training
        head.eval()
        try:
            with torch.no_grad():
                out = self._decode(self.prompt_generator(inputs, coarse_depth=None), x)
                return head.forward((out, inputs))
        finally:
            head.train(was_training)

    def extract_feat(self, inputs: Tensor, batch_img_metas: Optional[List[dict]] = None) -> Tuple[Tensor, Tensor]:
        x = self._reprogrammed(inputs)
        if self.prompt_generator is None:
            return (x, inputs)
        coarse = self._coarse_depth(inputs, x) if self.prompt_generator.needs_coarse_depth else None
        texts = self.prompt_generator(inputs, coarse_depth=coarse)
        return (self._decode(texts, x), inputs)
