"""Adaptive depth prompt generation (APG) of LLM-MDE (paper §II-B; what the code does: docs/llm_mde.md)."""
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor, nn

__all__ = ['AdaptivePromptGenerator', 'DEPTHCLIP_WORDS', 'DEPTHCLIP_BINS', 'LLM_MDE_DESCRIPTION']

DEPTHCLIP_WORDS = ('giant', 'extremely close', 'close', 'not in distance', 'a little remote', 'far', 'unseen')
DEPTHCLIP_BINS = (1.00, 1.50, 2.00, 2.25, 2.50, 2.75, 3.00)
LLM_MDE_DESCRIPTION = ('Monocular depth estimation is the process of inferring the distance of objects in a '
                       'scene from a single 2D image.')

_STATS = ('rgb_positions', 'coarse_depth')
_CLASS_FROM = ('first_image', 'per_image')


@MODELS.register_module()
class AdaptivePromptGenerator(nn.Module):
    """Builds one prompt string per image: dataset + task description, input statistics, depth class word.

    Faithful (the authors' code, ``LanguageMono.py`` ``stat_compute``), on the normalised image resized to ``input_size`` (the ViT input):

    - ``stats_source='rgb_positions'``: with ``argmax/argmin/median`` over rows (y) and columns (x) of every
      channel, ``max x = min(argmax over x)``, ``min x = max(argmin over x)``, ``median x = median(median
      index over x)`` (same for y) - pixel *positions* of intensity extremes, not depth values.
    - ``class_from='first_image'``: the most frequent pixel value of the batch's *first* image (all
      channels; ties -> smallest value) bucketised (``torch.bucketize``, right=False) against DepthCLIP's bins
      [1, 1.5, 2, 2.25, 2.5, 2.75, 3] gives one of DepthCLIP's 7 words for every image of the batch. Above
      3 the code indexes past the list (crash); here it maps to the last word.
    - pieces joined with ``separator=''`` (the code concatenates f-strings without spaces).
    - ``stats_dtype='input'``: positions computed in the dtype the images arrive in (the model's); ``'float32'``
      casts first (ties among equal pixel values, and so median positions, can differ between dtypes).

    Corrected: ``stats_source='coarse_depth'`` uses min / max / median of a coarse depth map (metres,
    ``depth_format``) and the class of its median (the paper's description); ``class_from='per_image'``;
    ``separator=' '``. With ``coarse_depth`` missing the statistics and class read ``unknown`` (used for the
    coarse first pass, see ``LLMDepthEstimator``).
    """

    def __init__(self,
                 description: str = LLM_MDE_DESCRIPTION,
                 task: str = "estimate the photo's depth",
                 stats_source: str = 'rgb_positions',
                 class_from: str = 'first_image',
                 separator: str = '',
                 input_size: Optional[int] = 224,
                 depth_words: Sequence[str] = DEPTHCLIP_WORDS,
                 bins: Sequence[float] = DEPTHCLIP_BINS,
                 start_text: str = '<|start_prompt|>',
                 end_text: str = '<|<end_prompt>|>',
                 depth_format: str = '{:.2f}',
                 stats_dtype: str = 'float32'):
        super().__init__()
        if stats_dtype not in ('float32', 'input'):
            raise ValueError(f"AdaptivePromptGenerator: stats_dtype must be 'float32' or 'input', got {stats_dtype!r}")
        self.stats_dtype = stats_dtype
        if stats_source not in _STATS:
            raise ValueError(f'AdaptivePromptGenerator: stats_source must be one of {_STATS}, got {stats_source!r}')
        if class_from not in _CLASS_FROM:
            raise ValueError(f'AdaptivePromptGenerator: class_from must be one of {_CLASS_FROM}, got {class_from!r}')
        if len(depth_words) != len(bins):
            raise ValueError(f'AdaptivePromptGenerator: {len(depth_words)} depth_words for {len(bins)} bins')
        self.description, self.task = description, task
        self.stats_source, self.class_from, self.separator = stats_source, class_from, separator
        self.input_size = None if input_size is None else (int(input_size), int(input_size))
        self.depth_words, self.bins = tuple(depth_words), tuple(float(b) for b in bins)
        self.start_text, self.end_text, self.depth_format = start_text, end_text, depth_format

    @property
    def needs_coarse_depth(self) -> bool:
        return self.stats_source == 'coarse_depth'

    # ----------------------------------------------------------------------------------------------- pieces
    def class_word(self, value: float) -> str:
        idx = int(torch.bucketize(torch.tensor(float(value), dtype=torch.float64),
                                  torch.tensor(self.bins, dtype=torch.float64)))
        return self.depth_words[min(idx, len(self.depth_words) - 1)]

    @staticmethod
    def most_frequent_value(x: Tensor) -> float:
        values, counts = torch.unique(x, return_counts=True)
        return float(values[torch.argmax(counts)])

    @staticmethod
    def rgb_positions(x: Tensor) -> List[dict]:
        """Per image of (B, C, H, W): the code's min/max/median x and y positions (ints)."""
        if x.dim() != 4:
            raise ValueError(f'AdaptivePromptGenerator: expected (B, C, H, W), got {tuple(x.shape)}')
        max_y, min_y = x.argmax(dim=2), x.argmin(dim=2)  # (B, C, W) row index per column
        med_y = x.median(dim=2).indices
        max_x, min_x = x.argmax(dim=3), x.argmin(dim=3)  # (B, C, H) column index per row
        med_x = x.median(dim=3).indices
        out = []
        for i in range(x.shape[0]):
            out.append(dict(min_x=int(min_x[i].max()), min_y=int(min_y[i].max()),
                            max_x=int(max_x[i].min()), max_y=int(max_y[i].min()),
                            median_x=int(med_x[i].flatten().median()),
                            median_y=int(med_y[i].flatten().median())))
        return out

    def _assemble(self, stats: List[str], cls: str) -> str:
        pieces = [f'{self.start_text}Dataset description: {self.description}', f'Task description: {self.task}',
                  'Input statistics:', *stats, f'the depth class of input is {cls}{self.end_text}']
        return self.separator.join(pieces)

    # ---------------------------------------------------------------------------------------------- forward
    def forward(self, img: Tensor, coarse_depth: Optional[Tensor] = None) -> List[str]:
        """(B, C, H, W) normalised images [, (B, 1, h, w) coarse depth in metres] -> B prompt strings."""
        if self.stats_source == 'rgb_positions':
            x = img.detach()
            if self.input_size is not None and tuple(x.shape[-2:]) != self.input_size:
                x = F.interpolate(x, size=self.input_size, mode='bilinear', align_corners=False)
            if self.stats_dtype == 'float32':
                x = x.float()
            pos = self.rgb_positions(x)
            stats = [[f'min value on the x axis {p["min_x"]},', f'min value on the y axis {p["min_y"]},',
                      f'max value on the x axis {p["max_x"]},', f'max value on the y axis {p["max_y"]},',
                      f'median value on the x axis {p["median_x"]},',
                      f'median value on the y axis {p["median_y"]},'] for p in pos]
            values = [self.most_frequent_value(x[i]) for i in range(x.shape[0])]
        else:
            if coarse_depth is None:
                return [self._assemble(['unknown,'], 'unknown') for _ in range(img.shape[0])]
            d = coarse_depth.detach().float().flatten(1)
            if d.shape[0] != img.shape[0]:
                raise ValueError(f'AdaptivePromptGenerator: coarse_depth batch {d.shape[0]} != image batch '
                                 f'{img.shape[0]}')
            stats, values = [], []
            fmt = self.depth_format
            for row in d:
                row = row[torch.isfinite(row)]
                lo, hi, med = (float(row.min()), float(row.max()), float(row.median())) if row.numel() else (0., 0., 0.)
                stats.append([f'min depth {fmt.format(lo)} m,', f'max depth {fmt.format(hi)} m,',
                              f'median depth {fmt.format(med)} m,'])
                values.append(med)
        if self.class_from == 'first_image':
            values = [values[0]] * len(values)
        return [self._assemble(s, self.class_word(v)) for s, v in zip(stats, values)]
