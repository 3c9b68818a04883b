# DDAD (outdoor): zero-shot test set (docs/zero_shot.md), protocol of ZoeDepth DATASETS_CONFIG['ddad']: garg crop,
# min_depth_eval 1e-3, max_depth_eval 80 (ZoeDepth resizes the image to its network input; here it runs at the
# native size, no KB crop). With any model config: python tools/test.py CONFIG CKPT --test-set
# configs/_base_/datasets/zero_shot/ddad.py (data_root: --cfg-options test_dataloader.dataset.data_root=...), or
# tools/analysis/zero_shot_eval.py.
_base_ = ['../zero_shot_common.py']
zero_shot = dict(name='ddad', title='DDAD (outdoor)', crop='garg', min_depth=0.001, max_depth=80,
                 source=("ZoeDepth DATASETS_CONFIG['ddad']: garg crop, min_depth_eval 1e-3, max_depth_eval 80 "
                         "(ZoeDepth resizes the image to its network input; here it runs at the native size, no KB "
                         "crop)"))
test_dataloader = dict(dataset=dict(type='DDADDataset', data_root='data/ddad/ddad_val'))
# one metric per way of relating the prediction to the ground truth, each under its own prefix
test_evaluator = [
    dict(type='DepthEvalMetric', crop=zero_shot['crop'], min_depth=zero_shot['min_depth'],
         max_depth=zero_shot['max_depth'], alignment=alignment, prefix=alignment)
    for alignment in ('metric', 'median', 'lsq_depth', 'lsq_disparity')
]
