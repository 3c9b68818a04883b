# LLM-MDE cross-scene zero-shot (paper Table II): train on one scene type (bedroom: the paper does not name
# it) of the 795 official training images; the leaf configs test on one unseen type each.
_base_ = ['../_base_/llm_mde_nyu.py']
train_scene_types = ['bedroom']
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CrossSceneDataset',
        scene_types=train_scene_types,
        dataset={{_base_.train_dataloader.dataset}}))
