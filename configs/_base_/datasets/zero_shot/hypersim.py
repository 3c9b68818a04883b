# Hypersim test (indoor): zero-shot test set (docs/zero_shot.md), protocol of ZoeDepth
# DATASETS_CONFIG['hypersim_test']: eigen crop, min_depth_eval 1e-3, max_depth_eval 80 (its max_depth, the model
# range, is 10). With any model config: python tools/test.py CONFIG CKPT --test-set
# configs/_base_/datasets/zero_shot/hypersim.py (data_root: --cfg-options test_dataloader.dataset.data_root=...),
# or tools/analysis/zero_shot_eval.py.
_base_ = ['../zero_shot_common.py']
zero_shot = dict(name='hypersim', title='Hypersim test (indoor)', crop='eigen_box', min_depth=0.001, max_depth=80,
                 source=("ZoeDepth DATASETS_CONFIG['hypersim_test']: eigen crop, min_depth_eval 1e-3, max_depth_eval"
                         " 80 (its max_depth, the model range, is 10)"))
test_dataloader = dict(dataset=dict(type='HyperSimDataset', data_root='data/hypersim', split_file=None))
# one metric per way of relating the prediction to the ground truth, each under its own prefix
test_evaluator = [
    dict(type='DepthEvalMetric', crop=zero_shot['crop'], min_depth=zero_shot['min_depth'],
         max_depth=zero_shot['max_depth'], alignment=alignment, prefix=alignment)
    for alignment in ('metric', 'median', 'lsq_depth', 'lsq_disparity')
]
