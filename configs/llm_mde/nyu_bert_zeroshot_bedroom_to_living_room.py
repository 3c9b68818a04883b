# LLM-MDE zero-shot (paper Table II): trained on bedroom only, validated/tested on unseen 'living_room' test frames.
_base_ = ['./_zeroshot_bedroom.py']
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CrossSceneDataset',
        scene_types=['living_room'],
        exclude_scene_types={{_base_.train_scene_types}},
        dataset={{_base_.val_dataloader.dataset}}))
test_dataloader = val_dataloader
