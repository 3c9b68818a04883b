# LLM-MDE "GPT-2" option as the code implements it: GPT-2 gives the tokenizer and the word-embedding table
# (prototypes, prompt embeddings); the decoder stays bert-base-uncased (the code always loads BERT there).
# Set decoder_model='openai-community/gpt2' (with qkv='peft_lora') for a GPT-2 decoder.
_base_ = ['../_base_/llm_mde_nyu.py']
model = dict(language_model=dict(embed_model='openai-community/gpt2'))
