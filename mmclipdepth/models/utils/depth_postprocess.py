"""Flip averaging and depth post-processing, as plain functions: the one definition the estimators
(``BaseDepthEstimator``: ``whole_flip`` and every test mode), mmseg's ``--tta`` path (``DepthTTAModel``), the
exported graph (``mmclipdepth.apis.onnx_depth_model``, which traces ``flip_average``) and ``OnnxDepthModel``
(which post-processes the graph's output with ``postprocess_depth``) share."""
from typing import List, Optional, Sequence

from mmengine.structures import PixelData
from mmseg.models.utils import resize
from mmseg.structures import SegDataSample
from torch import Tensor

__all__ = ['average_views', 'flip_average', 'postprocess_depth']


def average_views(views: Sequence[Tensor]) -> Tensor:
    """Element-wise mean of predictions of the same pixels, one tensor per view: ``(a + b) / 2`` for two (the
    sum rounded once, the halving exact), the running sum over the count for more."""
    if not views:
        raise ValueError('average_views needs at least one view, got none')
    total = views[0]
    for view in views[1:]:
        total = total + view
    return total / len(views)


def flip_average(low: Tensor, n: int) -> Tensor:
    """Flip test-time augmentation of DepthCLIP (``eval.py`` ``validate``) and Auty et al.: ``low`` is a
    (2n, C, H, W) prediction of a batch followed by its horizontal mirror; returns the (n, C, H, W) average of
    the batch and the mirrored-back mirror, at ``low``'s resolution (the head's, before any upsampling)."""
    if low.dim() != 4 or low.shape[0] != 2 * n:
        raise ValueError(f'flip_average expects a (2*{n}, C, H, W) batch (the images, then their mirrors), got '
                         f'shape {tuple(low.shape)}')
    return average_views([low[:n], low[n:].flip(dims=(3, ))])


def _padding(meta: dict) -> List[int]:
    """(left, right, top, bottom) pixels of padding the data preprocessor added (mmseg's metainfo keys)."""
    if 'img_padding_size' in meta:
        return meta['img_padding_size']
    return meta.get('padding_size', [0] * 4)


def postprocess_depth(depth: Tensor, data_samples: Optional[List[SegDataSample]],
                      align_corners: bool) -> List[SegDataSample]:
    """Depth (N, C, H, W) at the network's input size -> ``pred_depth_map`` of each data sample.

    mmseg's ``DepthEstimator.postprocess_result``: remove the padding (``img_padding_size``, else
    ``padding_size``: left, right, top, bottom), undo a ``flip`` (``flip_direction`` horizontal or vertical),
    resize bilinearly to ``ori_shape`` with ``align_corners``. A sample whose image alone was cropped
    (``img_crop_box`` = left, top, right, bottom, written by ``ImageOnlyCrop``) is not resized: its prediction
    (padding removed, flip undone) is pasted at the box into a zero ``ori_shape`` frame, as DepthCLIP's evaluation does (the metric ignores
    the rest). Without data samples, each prediction is returned as it is. Returns the data samples.
    """
    n = depth.shape[0]
    if data_samples is None:
        samples = [SegDataSample() for _ in range(n)]
        for i, ds in enumerate(samples):
            ds.set_data({'pred_depth_map': PixelData(data=depth[i])})
        return samples
    h, w = depth.shape[-2:]
    for i, ds in enumerate(data_samples):
        meta = ds.metainfo
        left, right, top, bottom = _padding(meta)
        d = depth[i:i + 1, :, top:h - bottom, left:w - right]
        if meta.get('flip', None):
            direction = meta.get('flip_direction', None)
            if direction not in ('horizontal', 'vertical'):
                raise ValueError(f'sample {meta.get("img_path", i)!r}: flip_direction {direction!r}, expected '
                                 "'horizontal' or 'vertical'")
            d = d.flip(dims=(3, ) if direction == 'horizontal' else (2, ))
        if 'img_crop_box' in meta:
            x0, y0, x1, y1 = meta['img_crop_box']
            if tuple(d.shape[-2:]) != (y1 - y0, x1 - x0):
                raise ValueError(f'prediction of {meta.get("img_path")!r} is {tuple(d.shape[-2:])}, '
                                 f'img_crop_box {meta["img_crop_box"]} needs {(y1 - y0, x1 - x0)}')
            out = d.new_zeros((d.shape[1], ) + tuple(meta['ori_shape'][:2]))
            out[:, y0:y1, x0:x1] = d[0]
        else:
            out = resize(d, size=meta['ori_shape'], mode='bilinear', align_corners=align_corners,
                         warning=False).squeeze(0)
        ds.set_data({'pred_depth_map': PixelData(data=out)})
    return data_samples
