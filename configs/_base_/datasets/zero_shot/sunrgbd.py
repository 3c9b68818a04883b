# SUN RGB-D (indoor): zero-shot test set (docs/zero_shot.md), protocol of ZoeDepth `zoedepth/utils/config.py`
# DATASETS_CONFIG['sunrgbd']: eigen crop, min_depth_eval 0, max_depth_eval 8. With any model config: python
# tools/test.py CONFIG CKPT --test-set configs/_base_/datasets/zero_shot/sunrgbd.py (data_root: --cfg-options
# test_dataloader.dataset.data_root=...), or tools/analysis/zero_shot_eval.py.
_base_ = ['../zero_shot_common.py']
zero_shot = dict(name='sunrgbd', title='SUN RGB-D (indoor)', crop='eigen_box', min_depth=0, max_depth=8,
                 source=("ZoeDepth `zoedepth/utils/config.py` DATASETS_CONFIG['sunrgbd']: eigen crop, min_depth_eval"
                         " 0, max_depth_eval 8"))
test_dataloader = dict(dataset=dict(type='SUNRGBDDataset', data_root='data/sunrgbd/SUNRGBD', split_file=None))
# one metric per way of relating the prediction to the ground truth, each under its own prefix
test_evaluator = [
    dict(type='DepthEvalMetric', crop=zero_shot['crop'], min_depth=zero_shot['min_depth'],
         max_depth=zero_shot['max_depth'], alignment=alignment, prefix=alignment)
    for alignment in ('metric', 'median', 'lsq_depth', 'lsq_disparity')
]
