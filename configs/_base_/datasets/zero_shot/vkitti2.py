# Virtual KITTI 2 (outdoor): zero-shot test set (docs/zero_shot.md), protocol of ZoeDepth
# DATASETS_CONFIG['vkitti2']: KB crop, garg crop, min_depth_eval 1e-3, max_depth_eval 80. With any model config:
# python tools/test.py CONFIG CKPT --test-set configs/_base_/datasets/zero_shot/vkitti2.py (data_root:
# --cfg-options test_dataloader.dataset.data_root=...), or tools/analysis/zero_shot_eval.py.
_base_ = ['../zero_shot_common.py']
zero_shot = dict(name='vkitti2', title='Virtual KITTI 2 (outdoor)', crop='garg', min_depth=0.001, max_depth=80,
                 source=("ZoeDepth DATASETS_CONFIG['vkitti2']: KB crop, garg crop, min_depth_eval 1e-3, "
                         "max_depth_eval 80"))
test_dataloader = dict(dataset=dict(
    type='VKITTI2Dataset', data_root='data/vkitti2', camera=0,
    # the KITTI frame's KB crop (352x1216) before packing
    pipeline=[dict(type='LoadImageFromFileStrict'), dict(type='LoadReleaseDepth'),
              dict(type='KBCrop', height=352, width=1216),
              dict(type='PackSegInputs', meta_keys={{_base_.zero_shot_meta_keys}})]))
# one metric per way of relating the prediction to the ground truth, each under its own prefix
test_evaluator = [
    dict(type='DepthEvalMetric', crop=zero_shot['crop'], min_depth=zero_shot['min_depth'],
         max_depth=zero_shot['max_depth'], alignment=alignment, prefix=alignment)
    for alignment in ('metric', 'median', 'lsq_depth', 'lsq_disparity')
]
