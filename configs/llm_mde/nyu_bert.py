# LLM-MDE, faithful to the authors' code (docs/llm_mde.md): ViT-B/16 + LoRA, BERT, APG prompts, NYU 795, 50 epochs.
_base_ = ['../_base_/llm_mde_nyu.py']
