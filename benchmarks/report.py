"""The benchmark report as text: one log line per measurement and the markdown tables
(``tools/analysis/benchmark.py``)."""

__all__ = ['format_line', 'format_table']


def format_line(r):
    if r.get('kind') == 'inference':
        return ', '.join(f"{k} {v['images_per_s']:.3f} img/s" for k, v in r.items()
                         if isinstance(v, dict) and 'images_per_s' in v)
    if r.get('kind') == 'interleaved':
        return ', '.join(f"{k} {v['wall_s']:.2f}s wall / {v['cpu_s']:.2f}s cpu" for k, v in r['paths'].items())
    s = f"step {r['wall_s']:.2f}s wall / {r['cpu_s']:.2f}s cpu, peak {r['peak_bytes'] / 1e9:.2f} GB"
    for name, eq in (r.get('equivalence') or {}).items():
        s += f", {name} vs reference: max rel diff {eq['max_rel_diff']:.2e}"
    return s


def format_table(report: dict) -> str:
    """Markdown tables (training step per process, interleaved step times, inference) from ``run_benchmark``."""
    lines = ['| bins | path | batch | step wall s (median) | step CPU s (median) | peak memory GiB | '
             'reference / this: time (wall, CPU) | reference / this: memory | vs reference: max rel diff |',
             '|---|---|---|---|---|---|---|---|---|']
    for row in report['rows']:
        paths = row.get('paths', {})
        ref = paths.get('reference')
        ref_ok = ref is not None and 'error' not in ref
        for name, r in paths.items():
            if 'error' in r:
                lines.append(f"| {row['bins']} | {name} | {r.get('batch', '')} | {r['error'].splitlines()[0]} "
                             '| | | | | |')
                continue
            batch = r['batch'] if not r.get('extrapolated') else \
                f"{r['batch']} (extrapolated from {r['measured_batch']})"
            cols = ['', '', '']
            if name != 'reference' and ref_ok:
                cols[0] = f"{ref['wall_s'] / r['wall_s']:.2f}x, {ref['cpu_s'] / r['cpu_s']:.2f}x"
                cols[1] = f"{ref['peak_bytes'] / r['peak_bytes']:.2f}x"
            eq = (row.get('equivalence') or {}).get(name)
            if eq is not None:
                cols[2] = f"{eq['max_rel_diff']:.1e} (batch {eq['batch']})"
            lines.append(f"| {row['bins']} | {name} | {batch} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | "
                         f"{r['peak_bytes'] / 2**30:.2f} | " + ' | '.join(cols) + ' |')
    if not any(row.get('paths') for row in report['rows']):
        lines = []
    inter = [row for row in report['rows'] if 'interleaved' in row]
    if inter:
        lines += ['' if lines else '', '| bins | path (steps interleaved in one process) | step wall s | step CPU s | '
                  'reference / this (wall, CPU) | optimised / this (wall, CPU) |', '|---|---|---|---|---|---|']
        for row in inter:
            r = row['interleaved']
            if 'error' in r:
                lines.append(f"| {row['bins']} | {r['error'].splitlines()[0]} | | | | |")
                continue
            ref, base = r['paths'].get('reference'), r['paths'].get('optimised')
            for name, t in r['paths'].items():
                rr = f"{ref['wall_s'] / t['wall_s']:.2f}x, {ref['cpu_s'] / t['cpu_s']:.2f}x" if ref else ''
                bb = f"{base['wall_s'] / t['wall_s']:.2f}x, {base['cpu_s'] / t['cpu_s']:.2f}x" if base else ''
                lines.append(f"| {row['bins']} | {name} | {t['wall_s']:.2f} | {t['cpu_s']:.2f} | {rr} | {bb} |")
    inf = [row for row in report['rows'] if 'inference' in row]
    if inf:
        lines += ['', '| bins | run | img/s | time / bare trunk (wall, CPU) | time / channels-last trunk (wall, CPU) |',
                  '|---|---|---|---|---|']
        for row in inf:
            r = row['inference']
            if 'error' in r:
                lines.append(f"| {row['bins']} | {r['error'].splitlines()[0]} | | | |")
                continue
            for k, v in r.items():
                if not isinstance(v, dict) or 'images_per_s' not in v:
                    continue
                cols = []
                for trunk in ('trunk', 'trunk_channels_last'):
                    t = r.get(trunk)
                    if t is None:
                        cols.append('')
                        continue
                    f = 2 if k.startswith('whole_flip') else 1  # flip runs the trunk on 2B images
                    cols.append(f"{v['wall_s'] / (f * t['wall_s']):.3f}, {v['cpu_s'] / (f * t['cpu_s']):.3f}"
                                + (' (vs 2x)' if f == 2 else ''))
                lines.append(f"| {row['bins']} | {k} | {v['images_per_s']:.3f} | " + ' | '.join(cols) + ' |')
    return '\n'.join(lines)

