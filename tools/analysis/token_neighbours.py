"""What do the learned prompt tokens mean? Nearest CLIP vocabulary tokens (Auty et al. §4.5, Table 8).

    python tools/analysis/token_neighbours.py CONFIG CHECKPOINT [--topk 15] [--out-dir DIR]
        [--batch-size 1024] [--vocab-limit N] [--include-ids ID ...] [--context-bin B]
        [--kinds depth context object] [--spaces embedding token] [--no-share-prefix] [--device cpu]
        [--cfg-options K=V ...]

For every learned depth token (and learned context / object token) of the model, the top-k neighbours in

- CLIP embedding space: each vocabulary token id (SOT/EOT skipped) and each other learned token is put into
  the learned token's slot of its training prompt ("This object appears to be {token}" for the baseline
  template; learned context vectors stay in place), encoded by the frozen text tower up to the prompt's
  end token (the prompt start before the slot, the same for every candidate, is encoded once through
  ``CLIPTextCore.forward_shared_prefix`` where available), L2-normalised; Euclidean distance to the learned
  prompt's feature;
- token space: the raw learned vector against the token-embedding table, Euclidean distance.

Context / object tokens are shared by all bin prompts: their slot is taken in bin ``--context-bin``'s prompt
(default: the middle bin). Writes ``DIR/token_neighbours.md`` (tables shaped like Table 8: rows = rank, a
(Token, Dist.) column pair per learned token) and ``DIR/token_neighbours.csv`` (long format). The full
vocabulary is 49,406 candidates per slot group (one group for all depth tokens of a template, one per
context/object token); ``--vocab-limit N`` restricts to ids < N for quick runs, ``--kinds depth`` skips the
context-token passes. Timing: docs/inference_and_tokens.md.
"""
import argparse
import os
import os.path as osp
import sys
import time


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description='Nearest vocabulary neighbours of learned prompt tokens')
    parser.add_argument('config', help='config file the checkpoint was trained with')
    parser.add_argument('checkpoint', help='checkpoint file (tools/train.py output)')
    parser.add_argument('--topk', type=int, default=15, help='neighbours per learned token (default 15)')
    parser.add_argument('--out-dir', default=None,
                        help='output folder (default: work_dirs/token_neighbours/<config name>)')
    parser.add_argument('--batch-size', type=int, default=1024, help='prompts per text-tower forward pass')
    parser.add_argument('--vocab-limit', type=int, default=None,
                        help='only vocabulary ids < N (quick runs); default: the whole vocabulary')
    parser.add_argument('--include-ids', type=int, nargs='+', default=(),
                        help='vocabulary ids searched in addition to --vocab-limit')
    parser.add_argument('--context-bin', type=int, default=None,
                        help="bin whose prompt hosts context/object-token queries (default: middle bin)")
    parser.add_argument('--spaces', nargs='+', choices=('embedding', 'token'), default=('embedding', 'token'))
    parser.add_argument('--kinds', nargs='+', choices=('depth', 'context', 'object'),
                        default=('context', 'object', 'depth'),
                        help='learned tokens to query (each context/object token costs one vocabulary pass)')
    parser.add_argument('--no-share-prefix', action='store_true',
                        help='encode every candidate prompt in full (default: the shared prompt start once)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    return parser.parse_args(argv)


def run(args) -> dict:
    import torch

    from mmclipdepth.apis import (find_text_encoder, init_depth_model, neighbours_to_csv,
                                  neighbours_to_markdown, token_neighbours)
    from mmclipdepth.models.utils.clip_loader import build_clip_tokenizer

    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint file {args.checkpoint!r} does not exist')
    if args.topk < 1 or args.batch_size < 1:
        raise ValueError('--topk and --batch-size must be >= 1')
    model = init_depth_model(args.config, args.checkpoint, device=args.device, cfg_options=args.cfg_options)
    encoder = find_text_encoder(model)
    clip_cfg = dict(model.cfg.model.get('decode_head', {}).get('text_encoder', {}).get('clip') or {})
    tokenizer = build_clip_tokenizer(clip_cfg.get('model_name', 'RN50'), clip_cfg.get('arch_cfg'))
    vocab_size = encoder.core.token_embedding.num_embeddings
    vocab_ids = None
    if args.vocab_limit is not None:
        vocab_ids = set(range(min(args.vocab_limit, vocab_size))) | set(args.include_ids)
    start = time.perf_counter()
    with torch.no_grad():  # scoped: main(argv) may run inside another program (grad mode left as found)
        results = token_neighbours(encoder, tokenizer, topk=args.topk, batch_size=args.batch_size,
                                   vocab_ids=vocab_ids, spaces=args.spaces, context_bin=args.context_bin,
                                   kinds=args.kinds, share_prefix=not args.no_share_prefix)
    elapsed = time.perf_counter() - start

    out_dir = args.out_dir or osp.join('work_dirs', 'token_neighbours',
                                       osp.splitext(osp.basename(args.config))[0])
    os.makedirs(out_dir, exist_ok=True)
    n_cand = (len(vocab_ids - {tokenizer.sot_token_id, tokenizer.eot_token_id})
              if vocab_ids is not None else vocab_size - 2)
    stats = results.get('embedding_stats')
    notes = [f'config `{args.config}`, checkpoint `{args.checkpoint}`',
             f'template `{encoder.template}`; {n_cand} vocabulary token ids searched'
             + ('' if args.vocab_limit is None
                else f' (--vocab-limit {args.vocab_limit}: NOT the whole vocabulary)')
             + ' plus the other learned tokens; tokens shown as CLIP BPE pieces (`</w>` = end of word)',
             f'{elapsed:.1f} s on {args.device}' + (
                 f' ({stats["prompts"]} prompts of length {stats["prompt_length"]} through the text tower in '
                 f'{stats["seconds"]:.1f} s; shared prefix encoded once: {all(stats["shared_prefix"])})'
                 if stats else '')]
    if any(label.startswith(('{ctx_', '{object')) for label in results.get('query_prompts', {})):
        ref = args.context_bin if args.context_bin is not None else encoder.token_ids.shape[0] // 2
        notes.insert(2, f'context/object tokens: their slot in the prompt of bin {ref}, the other learned '
                        'vectors in place')
    md_path = osp.join(out_dir, 'token_neighbours.md')
    csv_path = osp.join(out_dir, 'token_neighbours.csv')
    with open(md_path, 'w', encoding='utf-8') as f:
        f.write(neighbours_to_markdown(results, title='Nearest neighbours of learned tokens (Auty et al. Table 8)',
                                       notes=notes))
    neighbours_to_csv(results, csv_path)
    print(f'wrote {md_path} and {csv_path} ({elapsed:.1f} s)')
    results['paths'] = dict(markdown=md_path, csv=csv_path)
    return results


def main(argv=None):
    args = parse_args(argv)
    try:
        return run(args)
    except (FileNotFoundError, ValueError) as e:
        if argv is not None:
            raise
        sys.exit(f'error: {e}')


if __name__ == '__main__':
    main()
