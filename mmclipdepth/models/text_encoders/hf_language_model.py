"""A ``transformers`` language model for LLM-MDE: tokenizer + frozen word embeddings + LoRA decoder (docs/llm_mde.md)."""
from typing import List, Optional, Sequence, Tuple, Union

from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor, nn

from ..utils.pretrained import transformers_model, transformers_tokenizer

__all__ = ['HFLanguageModel']

# q/k/v Linear names per architecture (BERT-like: separate Linears; GPT-2: one fused Conv1D).
_QKV_TARGETS = {'bert': ('query', 'key', 'value'), 'roberta': ('query', 'key', 'value'),
                'distilbert': ('q_lin', 'k_lin', 'v_lin'), 'gpt2': ('c_attn', )}
_QKV_MODES = ('fresh_lora', 'peft_lora', 'frozen')


def _named_targets(model: nn.Module, targets: Sequence[str]) -> List[str]:
    from transformers.pytorch_utils import Conv1D
    names = [n for n, m in model.named_modules()
             if n.rsplit('.', 1)[-1] in targets and isinstance(m, (nn.Linear, Conv1D))]
    if not names:
        raise ValueError(f'HFLanguageModel: lora_targets {tuple(targets)} match no Linear/Conv1D in the decoder')
    return names


@MODELS.register_module()
class HFLanguageModel(BaseModule):
    """The language side of LLM-MDE (docs/llm_mde.md): a tokenizer, a frozen word-embedding table, a decoder.

    The authors' code loads two models: a frozen ``llm_model`` (``bert-base-uncased`` or GPT-2) that gives
    the tokenizer and the word-embedding table (prototypes and prompt embeddings), and a second, full
    ``bert-base-uncased`` (always BERT, also in the GPT-2 setting) that processes
    ``[prompt embeddings ; image tokens]`` via ``inputs_embeds`` without an attention mask. Here
    ``embed_model`` and ``decoder_model`` name them (hub name, local folder, or config dict for tests).

    ``qkv`` (decoder attention):
        ``'fresh_lora'`` (faithful): every q/k/v Linear is *replaced* by a freshly initialised Linear
        (PyTorch default init) carrying LoRA (``loralib``'s defaults: r = 32, alpha = 1, so scale 1/32);
        the code then sets ``requires_grad`` on every q/k/v parameter, so the fresh base weights train too
        (``train_fresh_base=True``). Everything else in the decoder is frozen.
        ``'peft_lora'`` (corrected): standard ``peft`` LoRA on the *pretrained* q/k/v, base frozen.
        ``'frozen'``: no adaptation (the paper's "Frozen LLM" ablation).
    ``use_attention_mask=False`` (faithful) lets image tokens and padded prompts attend to padding.
    The tokenizer's pad token is its EOS token when it has one (GPT-2), as in the code.
    """

    def __init__(self,
                 embed_model: Union[str, dict] = 'google-bert/bert-base-uncased',
                 decoder_model: Union[str, dict] = 'google-bert/bert-base-uncased',
                 tokenizer: Union[None, str, dict] = None,
                 qkv: str = 'fresh_lora',
                 lora_rank: int = 32,
                 lora_alpha: float = 1.0,
                 lora_dropout: float = 0.0,
                 lora_targets: Optional[Sequence[str]] = None,
                 train_fresh_base: bool = True,
                 use_attention_mask: bool = False,
                 max_length: int = 2048,
                 cache_dir: Optional[str] = None,
                 local_files_only: bool = False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if qkv not in _QKV_MODES:
            raise ValueError(f'HFLanguageModel: qkv must be one of {_QKV_MODES}, got {qkv!r}')
        self.qkv, self.use_attention_mask, self.max_length = qkv, use_attention_mask, max_length

        embed_src = transformers_model(embed_model, cache_dir, local_files_only, what='embed_model')
        table = embed_src.get_input_embeddings()
        self.word_embedding = nn.Embedding(table.num_embeddings, table.embedding_dim)
        self.word_embedding.weight.data.copy_(table.weight.data)
        self.word_embedding.requires_grad_(False)
        del embed_src, table

        self.tokenizer = transformers_tokenizer(tokenizer, embed_model, cache_dir, local_files_only)
        if self.tokenizer.eos_token:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        elif self.tokenizer.pad_token is None:
            raise ValueError('HFLanguageModel: the tokenizer has neither an EOS nor a PAD token')
        if len(self.tokenizer) > self.word_embedding.num_embeddings:
            raise ValueError(f'HFLanguageModel: tokenizer has {len(self.tokenizer)} tokens but the embedding '
                             f'table of embed_model has {self.word_embedding.num_embeddings} rows; they must '
                             'come from the same model.')

        decoder = transformers_model(decoder_model, cache_dir, local_files_only, what='decoder_model')
        decoder.requires_grad_(False)
        decoder.is_init = True  # mmengine must never call transformers' init_weights on loaded weights
        hidden = decoder.config.hidden_size
        if hidden != self.word_embedding.embedding_dim:
            raise ValueError(f'HFLanguageModel: decoder hidden size {hidden} != embedding width '
                             f'{self.word_embedding.embedding_dim} of embed_model')
        if qkv != 'frozen':
            if lora_targets is None:
                model_type = decoder.config.model_type
                if model_type not in _QKV_TARGETS:
                    raise ValueError(f'HFLanguageModel: no default q/k/v names for model_type {model_type!r}; '
                                     'set lora_targets')
                lora_targets = _QKV_TARGETS[model_type]
            names = _named_targets(decoder, lora_targets)
            if qkv == 'fresh_lora':
                for name in names:
                    parent_name, child = name.rsplit('.', 1)
                    parent = decoder.get_submodule(parent_name)
                    old = getattr(parent, child)
                    if isinstance(old, nn.Linear):
                        d_in, d_out, bias = old.in_features, old.out_features, old.bias is not None
                    else:  # transformers Conv1D: weight (in, out)
                        d_in, d_out, bias = old.weight.shape[0], old.weight.shape[1], old.bias is not None
                    setattr(parent, child, nn.Linear(d_in, d_out, bias=bias))
            from peft import LoraConfig, inject_adapter_in_model
            from transformers.pytorch_utils import Conv1D
            fan_in_fan_out = any(isinstance(decoder.get_submodule(n), Conv1D) for n in names)
            cfg = LoraConfig(r=lora_rank, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                             target_modules=names, bias='none', fan_in_fan_out=fan_in_fan_out)
            decoder = inject_adapter_in_model(cfg, decoder)
            if qkv == 'fresh_lora' and train_fresh_base:
                for name in names:
                    decoder.get_submodule(name).base_layer.requires_grad_(True)
        self.decoder = decoder

    @property
    def word_embeddings(self) -> Tensor:
        """(V, D) frozen word-embedding table of ``embed_model``."""
        return self.word_embedding.weight

    @property
    def hidden_size(self) -> int:
        return self.word_embedding.embedding_dim

    def tokenize(self, texts: List[str], device=None) -> Tuple[Tensor, Tensor]:
        """Strings -> (input_ids, attention_mask), padded to the longest (the code: padding=True, truncation)."""
        enc = self.tokenizer(list(texts), return_tensors='pt', padding=True, truncation=True,
                             max_length=self.max_length)
        device = device if device is not None else self.word_embedding.weight.device
        return enc['input_ids'].to(device), enc['attention_mask'].to(device)

    def embed(self, input_ids: Tensor) -> Tensor:
        return self.word_embedding(input_ids)

    def forward(self, inputs_embeds: Tensor, attention_mask: Optional[Tensor] = None) -> Tensor:
        """(B, L, D) embeddings -> (B, L, D) last hidden state of the decoder."""
        if not self.use_attention_mask:
            attention_mask = None
        return self.decoder(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state
