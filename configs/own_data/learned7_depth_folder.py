# Template: fine-tune Auty et al.'s learned-7 depth tokens (frozen CLIP RN50) on your own folder of RGB-D pairs
# and evaluate on its test list (docs/own_data.md). Set data_root, depth_scale and max_depth below (or with
# --cfg-options), then:
#   python tools/train.py configs/own_data/learned7_depth_folder.py --work-dir work_dirs/my_depth
#   python tools/test.py configs/own_data/learned7_depth_folder.py work_dirs/my_depth/epoch_25.pth
_base_ = ['../_base_/models/clipdepth_rn50.py', '../_base_/datasets/depth_folder.py',
          '../_base_/schedules/auty_25ep.py', '../_base_/default_runtime.py']

data_root = 'data/my_depth'  # holds images/, depths/, train.txt, test.txt
max_depth = 10.0  # metres: the bins and the evaluation range
model = dict(decode_head=dict(max_depth=max_depth))
train_dataloader = dict(dataset=dict(data_root=data_root, max_depth=max_depth))
val_dataloader = dict(dataset=dict(data_root=data_root, max_depth=max_depth))
test_dataloader = val_dataloader
val_evaluator = dict(max_depth=max_depth)
test_evaluator = val_evaluator
