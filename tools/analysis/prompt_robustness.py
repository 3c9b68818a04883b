"""How much do a model's depth numbers move when its prompts are perturbed? (docs/prompt_robustness.md)

    python tools/analysis/prompt_robustness.py CONFIG [CHECKPOINT] --out-dir DIR [--test-set DATASET_CONFIG]
        [--families synonym typo ...] [--strengths 0.25 0.5 1] [--seed 0] [--allow-untrained]

The model of CONFIG (with CHECKPOINT) is evaluated on its test set (or ``--test-set``) once as is, then under
every (family, strength) setting; each setting's metrics and their change against the unperturbed model go to
``DIR/prompt_robustness.json`` (with the protocol stamp), ``DIR/prompt_robustness.md`` and one
``DIR/<family>.png`` per family (metric against strength). The image side is fixed: the test images' trunk
features are computed once, in the unperturbed pass, and replayed for every perturbed prompt (the same
batches, in the same order), so a setting costs the text encoder, the head and the metric only. The JSON's
``cost`` records the wall time of the unperturbed evaluation and of the whole run.

Families (``mmclipdepth/apis/prompt_perturbations.py``): for human-word depth prompts (DepthCLIP, Auty's word
configs) ``synonym``, ``typo``, ``word_order``, ``random_words``, ``case_punct``, ``paraphrase``; for learned (or
fixed random) tokens ``gaussian_noise``, ``token_dropout``, ``bin_swap``, ``nearest_word``. A family that does
not apply to the model's prompt kind is listed under ``skipped`` with the reason.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

import numpy as np

WORD_FAMILIES = {
    'synonym': (0.25, 0.5, 1.0),  # probability that a word with a curated synonym is replaced
    'typo': (0.05, 0.1, 0.2),  # per-letter typo rate
    'word_order': (0.25, 0.5, 1.0),  # probability that a prompt's words are shuffled
    'random_words': (0.25, 0.5, 1.0),  # probability that a bin's depth words become random English words
    'case_punct': (1, 2, 3),  # 1 trailing period, 2 capitals, 3 both
    'paraphrase': (1, 2, 3),  # the k-th template paraphrase
}
VECTOR_FAMILIES = {
    'gaussian_noise': (0.1, 0.25, 0.5, 1.0),  # sigma relative to each vector's norm
    'token_dropout': (0.25, 0.5, 1.0),  # probability that a vector is zeroed
    'bin_swap': (0.25, 0.5, 1.0),  # share of bins whose depth vectors are exchanged
    'nearest_word': (0.25, 0.5, 1.0),  # step toward the nearest word embedding
}
FAMILIES = {**WORD_FAMILIES, **VECTOR_FAMILIES}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoint', nargs='?')
    p.add_argument('--out-dir', required=True)
    p.add_argument('--test-set', help='evaluate on this dataset config (configs/_base_/datasets/zero_shot/*.py)')
    p.add_argument('--families', nargs='+', default=None, help=f'any of {list(FAMILIES)} (default: all)')
    p.add_argument('--strengths', nargs='+', type=float, default=None,
                   help='the same strengths for every family (default: each family\'s own)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--allow-untrained', action='store_true')
    p.add_argument('--cfg-options', nargs='+', default=None)
    return p.parse_args(argv)


class FeatureReplay:
    """Wraps the model's trunk: ``record`` stores every output in call order, ``replay`` returns them again
    (refusing an input of another shape than the recorded one: a different pass would be silently wrong)."""

    def __init__(self, backbone):
        self.forward, self.calls, self.mode, self.pos = backbone.forward, [], 'record', 0

    def __call__(self, x, *args, **kwargs):
        if self.mode == 'record':
            out = self.forward(x, *args, **kwargs)
            self.calls.append((tuple(x.shape), out))
            return out
        shape, out = self.calls[self.pos]
        if tuple(x.shape) != shape:
            raise RuntimeError(f'feature replay: call {self.pos} has input {tuple(x.shape)}, recorded {shape}')
        self.pos += 1
        return out


def _text_encoder(model):
    head = getattr(model, 'decode_head', None)
    enc = getattr(head, 'text_encoder', None)
    from mmclipdepth.models.text_encoders import LearnableTokenTextEncoder
    return enc if isinstance(enc, LearnableTokenTextEncoder) else None


def applicable(model) -> tuple:
    """(families that apply, {family: reason} for the others)."""
    enc = _text_encoder(model)
    if enc is None:
        head = type(getattr(model, 'decode_head', None)).__name__
        reason = (f'the model\'s head ({head}) has no LearnableTokenTextEncoder: only DepthCLIP / Auty prompts are '
                  'perturbed by this tool (mirror matrix and LLM-MDE adaptive prompts: not implemented yet)')
        return [], {f: reason for f in FAMILIES}
    if enc.depth_kind == 'words':
        reason = 'the depth prompts are human words (no learned or random token vectors to perturb)'
        return list(WORD_FAMILIES), {f: reason for f in VECTOR_FAMILIES}
    reason = f'the depth tokens are {enc.depth_kind} vectors, not human words'
    return list(VECTOR_FAMILIES), {f: reason for f in WORD_FAMILIES}


def encode_prompts(enc, prompts, tokenizer):
    """Text features (N, C) of plain prompt strings through the encoder's CLIP text tower and normalisation."""
    import torch
    sot, eot = tokenizer.sot_token_id, tokenizer.eot_token_id
    rows = [[sot] + tokenizer.encode(p) + [eot] for p in prompts]
    length = enc.core.context_length if not enc.truncate else max(len(r) for r in rows)
    if max(len(r) for r in rows) > enc.core.context_length:
        raise ValueError(f'a perturbed prompt is longer than CLIP\'s context: {prompts}')
    ids = torch.zeros(len(rows), length, dtype=torch.long, device=enc.token_ids.device)
    for b, r in enumerate(rows):
        ids[b, :len(r)] = torch.tensor(r)
    eot_index = torch.tensor([len(r) - 1 for r in rows], device=ids.device)
    return enc._normalise(enc.core(enc.core.embed_ids(ids), eot_index, truncate=enc.truncate))


def perturbed_text(enc, family, strength, seed, word_setup):
    """(text features, description of the perturbed prompts) for one setting."""
    import torch
    from mmclipdepth.apis import prompt_perturbations as P
    rng = np.random.default_rng(seed)
    if family in WORD_FAMILIES:
        template, object_word, words, tokenizer = word_setup
        if family == 'paraphrase':
            template = P.TEMPLATE_PARAPHRASES[(int(strength) - 1) % len(P.TEMPLATE_PARAPHRASES)]
        if family == 'random_words':
            words = P.random_depth_words(words, strength, rng)
        prompts = [P.fill_template(template, object_word, w) for w in words]
        if family == 'synonym':
            prompts = [P.synonym_swap(t, strength, rng) for t in prompts]
        elif family == 'typo':
            prompts = [P.char_typos(t, strength, rng) for t in prompts]
        elif family == 'word_order':
            prompts = [P.shuffle_words(t, strength, rng) for t in prompts]
        elif family == 'case_punct':
            prompts = [P.case_and_punctuation(t, int(strength)) for t in prompts]
        return encode_prompts(enc, prompts, tokenizer), prompts
    gen = torch.Generator().manual_seed(seed)
    saved = [t.data.clone() for t in enc.learnable_tensors()]
    try:
        with torch.no_grad():
            for t in enc.learnable_tensors():
                if family == 'gaussian_noise':
                    t.data = P.gaussian_noise(t.data, strength, gen)
                elif family == 'token_dropout':
                    t.data = P.drop_tokens(t.data, strength, rng)
                elif family == 'nearest_word':
                    t.data = P.toward_nearest_word(t.data, enc.core.token_embedding.weight, strength)
            if family == 'bin_swap':
                enc.depth_vecs.data = P.swap_bins(enc.depth_vecs.data, strength, rng)
            feats = enc.encode()
    finally:
        for t, s in zip(enc.learnable_tensors(), saved):
            t.data = s
    return feats, None


def _plot(family, rows, base, out):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    keys = ('abs_rel', 'rmse', 'd1')
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.2))
    for ax, k in zip(axes, keys):
        xs = [0] + [r['strength'] for r in rows]
        ys = [base.get(k)] + [r['metrics'].get(k) for r in rows]
        ax.plot(xs, ys, 'o-')
        ax.set_xlabel(f'{family} strength')
        ax.set_ylabel(k)
        ax.grid(alpha=0.3)
    fig.suptitle(f'prompt robustness: {family} (strength 0 = unperturbed)')
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def _markdown(base, rows, skipped, cost, stamp) -> str:
    from mmclipdepth.utils.protocol import describe_protocol
    keys = ('abs_rel', 'rmse', 'd1')
    lines = ['| family | strength | ' + ' | '.join(f'{k} (Δ)' for k in keys) + ' |', '|---|---|' + '---|' * len(keys),
             '| none | 0 | ' + ' | '.join(f'{base[k]:.4f}' for k in keys) + ' |']
    for r in rows:
        lines.append(f"| {r['family']} | {r['strength']:g} | "
                     + ' | '.join(f"{r['metrics'][k]:.4f} ({r['delta'][k]:+.4f})" for k in keys) + ' |')
    lines.append('')
    for fam, why in skipped.items():
        lines.append(f'- skipped `{fam}`: {why}')
    lines += ['', f"Cost: {cost['settings']} settings in {cost['total_s']:.1f} s against {cost['plain_s']:.1f} s "
              f"for one plain evaluation ({cost['ratio']:.2f}x).", '', describe_protocol(stamp), '']
    return '\n'.join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()
    import torch
    from mmengine.config import DictAction  # noqa: F401
    from mmengine.runner import Runner

    import mmclipdepth  # noqa: F401
    from mmclipdepth.models.utils.clip_loader import build_clip_tokenizer
    from mmclipdepth.utils import load_runner_config
    from mmclipdepth.utils.protocol import protocol_stamp
    unknown = [f for f in args.families or [] if f not in FAMILIES]
    if unknown:
        sys.exit(f'error: unknown famil{"ies" if len(unknown) > 1 else "y"} {unknown}; expected any of {list(FAMILIES)}')
    if args.checkpoint and not osp.isfile(args.checkpoint):
        sys.exit(f'error: checkpoint {args.checkpoint!r} does not exist')
    opts = None
    if args.cfg_options:
        parser = argparse.ArgumentParser()
        parser.add_argument('--o', nargs='+', action=DictAction)
        opts = parser.parse_args(['--o', *args.cfg_options]).o
    try:
        cfg = load_runner_config(args.config, opts, 'none', osp.join(args.out_dir, 'runner'), args.test_set)
    except (FileNotFoundError, KeyError) as e:
        sys.exit(f'error: {e}')
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.load_from = args.checkpoint
    if args.allow_untrained:
        cfg.model.setdefault('test_cfg', {})['allow_untrained'] = True
    cfg.randomness = dict(seed=args.seed)
    runner = Runner.from_cfg(cfg)
    runner.load_or_resume()
    model = runner.model.eval()
    families, skipped = applicable(model)
    if args.families:
        skipped = {f: why for f, why in skipped.items() if f in args.families}
        families = [f for f in families if f in args.families]
    enc = _text_encoder(model)
    word_setup = None
    if enc is not None and enc.depth_kind == 'words':
        clip = cfg.model.decode_head.text_encoder.clip
        word_setup = (enc.template, cfg.model.decode_head.text_encoder.get('object_word', 'object'), enc.depth_words,
                      build_clip_tokenizer(clip.get('model_name', 'RN50'), clip.get('arch_cfg')))
    os.makedirs(args.out_dir, exist_ok=True)

    loader = runner.build_dataloader(cfg.test_dataloader, seed=args.seed)
    n_images = len(loader.dataset)
    replay = FeatureReplay(model.backbone)
    model.backbone.forward = replay

    def evaluate(batches):
        evaluator = runner.build_evaluator(cfg.test_evaluator)
        evaluator.dataset_meta = getattr(loader.dataset, 'metainfo', None)
        with torch.no_grad():
            for batch in batches:
                evaluator.process(data_samples=model.test_step(batch), data_batch=batch)
        return {k: float(v) for k, v in evaluator.evaluate(n_images).items()}

    t0 = time.perf_counter()
    batches = list(loader)
    base = evaluate(batches)  # unperturbed; records the trunk features
    plain_s = time.perf_counter() - t0
    replay.mode = 'replay'
    forward = enc.forward if enc is not None else None
    rows = []
    for family in families:
        for strength in (args.strengths or FAMILIES[family]):
            feats, prompts = perturbed_text(enc, family, strength, args.seed, word_setup)
            enc.forward = lambda f=feats: f
            replay.pos = 0
            try:
                metrics = evaluate(batches)
            finally:
                enc.forward = forward
            rows.append(dict(family=family, strength=float(strength), seed=args.seed, metrics=metrics,
                             delta={k: metrics[k] - base[k] for k in metrics}, prompts=prompts))
    total_s = time.perf_counter() - t0
    cost = dict(plain_s=plain_s, total_s=total_s, settings=len(rows), ratio=total_s / plain_s,
                note='plain_s: loading the test set + one unperturbed evaluation; total_s: the same plus every '
                     'setting (trunk features replayed)')
    stamp = protocol_stamp(cfg, args.checkpoint)
    record = dict(config=args.config, checkpoint=args.checkpoint, images=n_images, seed=args.seed, baseline=base,
                  settings=rows, skipped=skipped, cost=cost, protocol=stamp)
    with open(osp.join(args.out_dir, 'prompt_robustness.json'), 'w', encoding='utf-8') as f:
        json.dump(record, f, indent=1)
    text = _markdown(base, rows, skipped, cost, stamp)
    with open(osp.join(args.out_dir, 'prompt_robustness.md'), 'w', encoding='utf-8') as f:
        f.write(text)
    for family in families:
        _plot(family, [r for r in rows if r['family'] == family], base, osp.join(args.out_dir, f'{family}.png'))
    print(text)
    print(f'(whole tool {time.perf_counter() - t_start:.1f} s)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
