"""How much do a model's depth numbers move when its prompts are perturbed? (docs/prompt_robustness.md)

    python tools/analysis/prompt_robustness.py CONFIG [CHECKPOINT] --out-dir DIR [--test-set DATASET_CONFIG]
        [--families synonym typo ...] [--strengths 0.25 0.5 1] [--severities 1 3 5] [--seed 0] [--allow-untrained]

The model of CONFIG (with CHECKPOINT) is evaluated on its test set (or ``--test-set``) once as is, then under
every (family, strength) setting; each setting's metrics and their change against the unperturbed model go to
``DIR/prompt_robustness.json`` (with the protocol stamp), ``DIR/prompt_robustness.md`` and one
``DIR/<family>.png`` per family (metric against strength). The image side is fixed: the test images' trunk
features are computed once, in the unperturbed pass, and replayed for every perturbed prompt (the same
batches, in the same order), so a setting costs the text encoder, the head and the metric only. The JSON's
``cost`` records the wall time of the unperturbed evaluation and of the whole run.

Families (:data:`FAMILIES`; ``mmclipdepth/apis/prompt_perturbations.py``, ``image_corruptions.py``): on human-word
prompts (DepthCLIP, Auty's word configs) ``synonym``, ``paraphrase``, ``word_order``, ``typo``, ``random_words``,
``case_punct``; on LLM-MDE's adaptive prompts (perturbed as generated, per image) the four of them that need no
template; on learned / random token vectors (Auty) and CLIP2Depth's mirror ``gaussian_noise``, ``token_dropout``,
``bin_swap`` (not the mirror: no bins), ``nearest_word``; on the test images, for comparison and only when named,
``img_brightness``, ``img_dark``, ``img_fog``, ``img_noise``, ``img_blur``, ``img_jpeg`` at severities 1..5 (each
a full evaluation). A family that does not apply to the model's prompt kind, or is not run, is listed under
``skipped`` with the reason. Seeded: two runs with the same arguments write the same numbers.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

import numpy as np

#: name: (kind, default strengths, what the strength means). Kinds: ``words`` (human-word prompts: DepthCLIP /
#: Auty word configs, LLM-MDE's adaptive prompts), ``vectors`` (Auty's learned or random tokens, CLIP2Depth's
#: mirror), ``image`` (RoboDepth-style corruptions of the test images, for comparison).
FAMILIES = {
    'synonym': ('words', (0.25, 0.5, 1.0), 'probability that a word with a curated synonym is replaced'),
    'paraphrase': ('words', (1, 2, 3), 'the k-th template paraphrase'),
    'word_order': ('words', (0.25, 0.5, 1.0), "probability that a prompt's words are shuffled"),
    'typo': ('words', (0.05, 0.1, 0.2), 'per-letter typo rate'),
    'random_words': ('words', (0.25, 0.5, 1.0), "probability that a bin's depth words become random English words"),
    'case_punct': ('words', (1, 2, 3), '1 trailing period, 2 capitals, 3 both'),
    'gaussian_noise': ('vectors', (0.1, 0.25, 0.5, 1.0), "sigma relative to each vector's norm"),
    'token_dropout': ('vectors', (0.25, 0.5, 1.0), 'probability that a vector is zeroed'),
    'bin_swap': ('vectors', (0.25, 0.5, 1.0), 'share of bins whose depth vectors are exchanged'),
    'nearest_word': ('vectors', (0.25, 0.5, 1.0), 'step toward the nearest word embedding'),
    'img_brightness': ('image', (1, 3, 5), 'severity (RoboDepth / ImageNet-C level)'),
    'img_dark': ('image', (1, 3, 5), 'severity'),
    'img_fog': ('image', (1, 3, 5), 'severity'),
    'img_noise': ('image', (1, 3, 5), 'severity'),
    'img_blur': ('image', (1, 3, 5), 'severity'),
    'img_jpeg': ('image', (1, 3, 5), 'severity'),
}
WORD_FAMILIES = {f: v[1] for f, v in FAMILIES.items() if v[0] == 'words'}
VECTOR_FAMILIES = {f: v[1] for f, v in FAMILIES.items() if v[0] == 'vectors'}
IMAGE_FAMILIES = {f: v[1] for f, v in FAMILIES.items() if v[0] == 'image'}
#: word families that need a template and depth words (not in LLM-MDE's generated prompt)
TEMPLATE_ONLY = ('paraphrase', 'random_words')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoint', nargs='?')
    p.add_argument('--out-dir', required=True)
    p.add_argument('--test-set', help='evaluate on this dataset config (configs/_base_/datasets/zero_shot/*.py)')
    p.add_argument('--families', nargs='+', default=None, help=f'any of {list(FAMILIES)} (default: all)')
    p.add_argument('--strengths', nargs='+', type=float, default=None,
                   help='the same strengths for every prompt family (default: each family\'s own)')
    p.add_argument('--severities', nargs='+', type=int, default=None,
                   help='severities (1..5) for the image corruptions img_* (default: 1 3 5)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--allow-untrained', action='store_true')
    p.add_argument('--cfg-options', nargs='+', default=None)
    return p.parse_args(argv)


class FeatureReplay:
    """Wraps a step of the image side (the trunk, or the data preprocessor): ``record`` stores every output in
    call order, ``replay`` returns them again in that order, ``pass`` runs the step and stores nothing. A replayed
    call whose input differs in shape from the recorded one is refused (a different pass would be silently
    wrong)."""

    def __init__(self, forward, name='trunk'):
        self.forward, self.name, self.calls, self.mode, self.pos = forward, name, [], 'record', 0

    @staticmethod
    def _shape(x):
        if hasattr(x, 'shape'):
            return tuple(x.shape)
        if isinstance(x, dict):
            return FeatureReplay._shape(x.get('inputs'))
        if isinstance(x, (list, tuple)):
            return tuple(FeatureReplay._shape(v) for v in x)
        return None

    def __call__(self, x, *args, **kwargs):
        if self.mode == 'pass':
            return self.forward(x, *args, **kwargs)
        if self.mode == 'record':
            out = self.forward(x, *args, **kwargs)
            self.calls.append((self._shape(x), out))
            return out
        if self.pos >= len(self.calls):
            raise RuntimeError(f'{self.name} replay: call {self.pos} was not recorded ({len(self.calls)} were)')
        shape, out = self.calls[self.pos]
        if self._shape(x) != shape:
            raise RuntimeError(f'{self.name} replay: call {self.pos} has input {self._shape(x)}, recorded {shape}')
        self.pos += 1
        return out


def prompt_kind(model):
    """(kind, object) of the model's prompt: ``('clip_words', encoder)``, ``('tokens', encoder)`` (learned or
    random vectors), ``('mirror', encoder)``, ``('llm_prompt', prompt generator)`` or ``(None, None)``."""
    from mmclipdepth.models.text_encoders import LearnableTokenTextEncoder
    from mmclipdepth.models.text_encoders.mirror_text_encoder import MirrorTextEncoder
    gen = getattr(model, 'prompt_generator', None)
    if gen is not None and hasattr(model, 'language_model'):
        return 'llm_prompt', gen
    enc = getattr(getattr(model, 'decode_head', None), 'text_encoder', None)
    if isinstance(enc, LearnableTokenTextEncoder):
        return ('clip_words' if enc.depth_kind == 'words' else 'tokens'), enc
    if isinstance(enc, MirrorTextEncoder):
        return 'mirror', enc
    return None, None


def _text_encoder(model):
    kind, obj = prompt_kind(model)
    return obj if kind in ('clip_words', 'tokens', 'mirror') else None


def applicable(model, requested=None) -> tuple:
    """(families to run, {family: reason} for the others). ``requested`` (None: the default set) limits both;
    image corruptions run only when requested (each severity is a full evaluation)."""
    kind, obj = prompt_kind(model)
    head = type(getattr(model, 'decode_head', None)).__name__
    run, skipped = [], {}
    for fam, (fkind, _, _) in FAMILIES.items():
        if requested is not None and fam not in requested:
            continue
        if fkind == 'image':
            if requested is None:
                skipped[fam] = ('not requested: image corruptions run only when named in --families (each '
                                'severity is a full evaluation, the trunk on the corrupted images)')
            else:
                run.append(fam)
            continue
        if kind is None:
            skipped[fam] = (f'the model ({type(model).__name__}, head {head}) has no prompt this tool perturbs '
                            '(DepthCLIP / Auty words or tokens, CLIP2Depth mirror, LLM-MDE adaptive prompts)')
        elif fkind == 'words' and kind == 'llm_prompt' and fam in TEMPLATE_ONLY:
            skipped[fam] = ('LLM-MDE\'s adaptive prompt is generated per image (descriptions, statistics, a '
                            'depth class word): it has no template to paraphrase and no depth-word list to replace')
        elif fkind == 'words' and kind not in ('clip_words', 'llm_prompt'):
            skipped[fam] = (f'the prompt is {"the mirror matrix" if kind == "mirror" else obj.depth_kind + " token"} '
                            'vectors, not human words')
        elif fkind == 'vectors' and kind in ('clip_words', 'llm_prompt'):
            skipped[fam] = ('the prompts are human words (no learned or random token vectors to perturb)'
                            if kind == 'clip_words' else 'LLM-MDE\'s prompt is words generated per image; its '
                            'learned parts (reprogramming, LoRA) are not prompt vectors')
        elif fam == 'bin_swap' and kind == 'mirror':
            skipped[fam] = 'the mirror is one token sequence giving one vector: it has no depth bins to swap'
        else:
            run.append(fam)
    return run, skipped


def encode_prompts(enc, prompts, tokenizer):
    """Text features (N, C) of plain prompt strings through the encoder's CLIP text tower and normalisation.

    The prompts' common start is encoded once (``CLIPTextCore.forward_shared_prefix``, the encoder's
    ``share_prefix``), and only the positions up to the longest prompt's end token are encoded, whatever the
    encoder's ``truncate``:
    CLIP's text attention is causal, so the end-token feature does not depend on the padding after it (equal to
    the 77-position features up to float32 rounding, docs/fidelity.md); a model that encodes all 77 positions
    (``truncate=False``, as the authors' code) would otherwise pay 7x more text compute per setting."""
    import torch
    sot, eot = tokenizer.sot_token_id, tokenizer.eot_token_id
    rows = [[sot] + tokenizer.encode(p) + [eot] for p in prompts]
    if max(len(r) for r in rows) > enc.core.context_length:
        raise ValueError(f'a perturbed prompt is longer than CLIP\'s context ({enc.core.context_length}): {prompts}')
    ids = torch.zeros(len(rows), max(len(r) for r in rows), dtype=torch.long, device=enc.token_ids.device)
    for b, r in enumerate(rows):
        ids[b, :len(r)] = torch.tensor(r)
    eot_index = torch.tensor([len(r) - 1 for r in rows], device=ids.device)
    embeds = enc.core.embed_ids(ids)
    # the tokens every prompt starts with (the template's start) are encoded once, as the encoder's share_prefix
    lp = 0
    while lp < min(len(r) for r in rows) - 1 and len({r[lp] for r in rows}) == 1:
        lp += 1
    if lp > 1 and len(rows) > 1 and enc.core.can_share_prefix:
        return enc._normalise(enc.core.forward_shared_prefix(embeds[:1, :lp], embeds[:, lp:], eot_index - lp))
    return enc._normalise(enc.core(embeds, eot_index, truncate=True))


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
    truncate = getattr(enc, 'truncate', None)
    if truncate is not None:
        enc.truncate = True  # up to the end tokens only (exact under the causal mask, see encode_prompts)
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
        if truncate is not None:
            enc.truncate = truncate
    return feats, None


def perturb_words(text, family, strength, rng):
    """One human-word prompt string under a word family that needs no template (LLM-MDE's adaptive prompts)."""
    from mmclipdepth.apis import prompt_perturbations as P
    if family == 'synonym':
        return P.synonym_swap(text, strength, rng)
    if family == 'typo':
        return P.char_typos(text, strength, rng)
    if family == 'word_order':
        return P.shuffle_words(text, strength, rng)
    if family == 'case_punct':
        return P.case_and_punctuation(text, int(strength))
    raise KeyError(f'{family} needs a template and depth words')


class PerturbedPromptGenerator:
    """Wraps LLM-MDE's ``prompt_generator.forward``: every generated prompt perturbed (one seeded generator for
    the setting, consumed in batch order); the first prompts are kept for the report."""

    def __init__(self, forward, family, strength, seed):
        self.forward, self.family, self.strength = forward, family, strength
        self.rng, self.seen = np.random.default_rng(seed), []

    def __call__(self, img, coarse_depth=None):
        texts = [perturb_words(t, self.family, self.strength, self.rng) for t in self.forward(img, coarse_depth)]
        if len(self.seen) < 3:
            self.seen += texts[:3 - len(self.seen)]
        return texts


def corrupt_batches(batches, family, severity, seed):
    """The test batches with every image corrupted (``family`` = ``img_<name>``; mmseg's packed inputs are
    uint8 CHW BGR tensors: corrupted as RGB, returned in their own order and dtype)."""
    import torch
    from mmclipdepth.apis.image_corruptions import corrupt
    rng = np.random.default_rng(seed)
    out = []
    for batch in batches:
        inputs = []
        for img in batch['inputs']:
            rgb = img.permute(1, 2, 0).numpy()[..., ::-1]
            bad = corrupt(np.ascontiguousarray(rgb), family[4:], int(severity), rng)
            inputs.append(torch.from_numpy(np.ascontiguousarray(bad[..., ::-1])).permute(2, 0, 1).to(img.dtype))
        out.append(dict(batch, inputs=inputs))
    return out


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
    lines += ['', f"Cost: {cost['prompt_settings']} prompt settings in {cost['plain_s'] + cost['prompt_s']:.1f} s "
              f"with the plain evaluation, against {cost['plain_s']:.1f} s for the plain evaluation alone "
              f"({cost['prompt_ratio']:.2f}x wall, {cost['prompt_cpu_ratio']:.2f}x CPU time)"
              + (f"; {cost['image_settings']} image-corruption settings {cost['image_s']:.1f} s"
                 if cost['image_settings'] else '') + '.', '', describe_protocol(stamp), '']
    return '\n'.join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()
    import torch
    from mmengine.config import DictAction  # noqa: F401

    import mmclipdepth  # noqa: F401
    from mmclipdepth.models.utils.clip_loader import build_clip_tokenizer
    from mmclipdepth.utils import build_runner, load_runner_config
    from mmclipdepth.utils.protocol import protocol_stamp
    unknown = [f for f in args.families or [] if f not in FAMILIES]
    if unknown:
        sys.exit(f'error: unknown famil{"ies" if len(unknown) > 1 else "y"} {unknown}; '
                 f'expected any of {list(FAMILIES)}')
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
    runner = build_runner(cfg)
    runner.load_or_resume()
    model = runner.model.eval()
    families, skipped = applicable(model, args.families)
    kind, obj = prompt_kind(model)
    enc = _text_encoder(model)
    word_setup = None
    if kind == 'clip_words':
        clip = cfg.model.clip
        word_setup = (enc.template, cfg.model.decode_head.text_encoder.get('object_word', 'object'), enc.depth_words,
                      build_clip_tokenizer(clip.get('model_name', 'RN50'), clip.get('arch_cfg')))
    bad = [s for s in args.severities or () if s not in (1, 2, 3, 4, 5)]
    if bad:
        sys.exit(f'error: --severities {bad}: image-corruption severities are the integers 1..5')
    os.makedirs(args.out_dir, exist_ok=True)

    loader = runner.build_dataloader(cfg.test_dataloader, seed=args.seed)
    n_images = len(loader.dataset)
    # the image side, recorded once: the data preprocessor's output and the trunk's features (LLM-MDE: the
    # backbone only, its extract_feat also runs the prompt and the language model)
    replays = [FeatureReplay(model.data_preprocessor.forward, 'data preprocessor')]
    model.data_preprocessor.forward = replays[0]
    if kind == 'llm_prompt':
        replays.append(FeatureReplay(model.backbone.forward))
        model.backbone.forward = replays[1]
    else:
        replays.append(FeatureReplay(model.extract_feat))
        model.extract_feat = replays[1]

    def set_mode(mode):
        for r in replays:
            r.mode, r.pos = mode, 0

    def evaluate(batches):
        evaluator = runner.build_evaluator(cfg.test_evaluator)
        evaluator.dataset_meta = getattr(loader.dataset, 'metainfo', None)
        with torch.no_grad():
            for batch in batches:
                evaluator.process(data_samples=model.test_step(batch), data_batch=batch)
        return {k: float(v) for k, v in evaluator.evaluate(n_images).items()}

    t0, c0 = time.perf_counter(), time.process_time()
    batches = list(loader)
    base = evaluate(batches)  # unperturbed; records the trunk features
    plain_s, plain_cpu = time.perf_counter() - t0, time.process_time() - c0
    rows, spent, spent_cpu = [], dict(prompt=0.0, image=0.0), dict(prompt=0.0, image=0.0)
    for family in families:
        fkind = FAMILIES[family][0]
        given = args.severities if fkind == 'image' else args.strengths
        for strength in (given or FAMILIES[family][1]):
            t1, c1 = time.perf_counter(), time.process_time()
            prompts = None
            if fkind == 'image':
                set_mode('pass')  # the whole model on the corrupted images
                metrics = evaluate(corrupt_batches(batches, family, strength, args.seed))
            elif kind == 'llm_prompt':
                set_mode('replay')
                wrapped = PerturbedPromptGenerator(obj.forward, family, strength, args.seed)
                obj.forward = wrapped
                try:
                    metrics = evaluate(batches)
                finally:
                    del obj.forward  # back to the class's forward
                prompts = wrapped.seen
            else:
                feats, prompts = perturbed_text(enc, family, strength, args.seed, word_setup)
                forward = enc.forward
                enc.forward = lambda f=feats: f
                set_mode('replay')
                try:
                    metrics = evaluate(batches)
                finally:
                    enc.forward = forward
            spent['image' if fkind == 'image' else 'prompt'] += time.perf_counter() - t1
            spent_cpu['image' if fkind == 'image' else 'prompt'] += time.process_time() - c1
            rows.append(dict(family=family, kind=fkind, strength=float(strength), seed=args.seed, metrics=metrics,
                             delta={k: metrics[k] - base[k] for k in metrics}, prompts=prompts))
    n_prompt = sum(r['kind'] != 'image' for r in rows)
    cost = dict(plain_s=plain_s, prompt_s=spent['prompt'], image_s=spent['image'], prompt_settings=n_prompt,
                image_settings=len(rows) - n_prompt, prompt_ratio=(plain_s + spent['prompt']) / plain_s,
                plain_cpu_s=plain_cpu, prompt_cpu_s=spent_cpu['prompt'], image_cpu_s=spent_cpu['image'],
                prompt_cpu_ratio=(plain_cpu + spent_cpu['prompt']) / max(plain_cpu, 1e-9),
                note='plain_s: loading the test set + one unperturbed evaluation (trunk features recorded); '
                     'prompt_ratio: (plain_s + every prompt setting, trunk features replayed) / plain_s; image '
                     'settings run the whole model and are not in the ratio; *_cpu_s: process CPU time (all '
                     'threads), steadier than wall time on a shared machine')
    stamp = protocol_stamp(cfg, args.checkpoint)
    record = dict(config=args.config, checkpoint=args.checkpoint, prompt_kind=kind, images=n_images, seed=args.seed,
                  baseline=base, settings=rows, skipped=skipped, cost=cost, protocol=stamp)
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
