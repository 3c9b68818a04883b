"""Write each predicted depth map to ``out_dir`` as ``<image stem>.npy`` (metres, float32)."""
import os
import os.path as osp

import numpy as np
from mmengine.evaluator import BaseMetric
from mmseg.registry import METRICS

__all__ = ['DumpDepthResults']


@METRICS.register_module()
class DumpDepthResults(BaseMetric):
    """Saves ``pred_depth_map`` of every sample (``tools/test.py --out DIR``); reports no metric."""
    default_prefix = ''

    def __init__(self, out_dir: str, collect_device: str = 'cpu', prefix=None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.out_dir = out_dir
        os.makedirs(out_dir, exist_ok=True)

    def process(self, data_batch, data_samples) -> None:
        for sample in data_samples:
            depth = sample['pred_depth_map']['data'].squeeze(0).cpu().numpy().astype(np.float32)
            stem = osp.splitext(osp.basename(sample.get('img_path', f'{len(self.results)}')))[0]
            scene = osp.basename(osp.dirname(sample.get('img_path', '')))
            name = f'{scene}_{stem}' if scene else stem
            np.save(osp.join(self.out_dir, name + '.npy'), depth)
            self.results.append(name)

    def compute_metrics(self, results) -> dict:
        return dict()
