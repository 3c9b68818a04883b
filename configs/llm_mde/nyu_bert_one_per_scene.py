# LLM-MDE "Few-Shot" group (paper Table I): one random image per scene type of the 795 official training
# images (27 scene types; seed 0), faithful model and schedule.
_base_ = ['../_base_/llm_mde_nyu.py']
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='OnePerSceneTypeDataset',
        seed=0,
        dataset={{_base_.train_dataloader.dataset}}))
