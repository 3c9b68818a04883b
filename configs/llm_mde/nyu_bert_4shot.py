# LLM-MDE few-shot (paper Table I, 4-Shot): 4 random image(s) per scene type of the 795 official
# training images (seed 0; scene types with fewer keep all), faithful model and schedule.
_base_ = ['../_base_/llm_mde_nyu.py']
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='KShotSceneDataset',
        shots=4,
        seed=0,
        group_by='scene_type',
        dataset={{_base_.train_dataloader.dataset}}))
