# The tables of Auty & Mikolajczyk (ICCV-W 2023), Tables 3-7, as tools/analysis/paper_table.py lays them out
# beside a sweep's results: each row names the single-variant config that reproduces it. The published numbers
# are in configs/clipdepth/metafile.yaml (the model of the same name), the one place they are typed. Columns
# are DepthEvalMetric's keys: Abs = abs_rel, SqRel = sq_rel, RMS = rmse, RMSL = rmse_log_unrooted (the
# paper's un-rooted log error), log10, δ1-3 = d1-d3.
_cols = ['abs_rel', 'rmse', 'rmse_log_unrooted', 'log10', 'd1', 'd2', 'd3']
_cols6 = ['abs_rel', 'sq_rel', 'rmse', 'rmse_log_unrooted', 'log10', 'd1', 'd2', 'd3']
paper_tables = [
    dict(name='Auty Table 3 (NYU)', caption='human-word, random and learned depth tokens, 7 linear bins',
         columns=_cols, rows=[
             ['colour-7', 'nyu_baseline_colour7'],
             ['size-7', 'nyu_baseline_size7'],
             ['depth-7', 'nyu_baseline_depth7'],
             ['random-7', 'nyu_baseline_random7'],
             ['rand-txt-7', 'nyu_baseline_randtxt7'],
             ['learned-7', 'nyu_baseline_learned7']]),
    dict(name='Auty Table 3 (KITTI)', caption='human-word, random and learned depth tokens, 7 linear bins',
         columns=_cols, rows=[
             ['colour-7', 'kitti_baseline_colour7'],
             ['size-7', 'kitti_baseline_size7'],
             ['depth-7', 'kitti_baseline_depth7'],
             ['random-7', 'kitti_baseline_random7'],
             ['rand-txt-7', 'kitti_baseline_randtxt7'],
             ['learned-7', 'kitti_baseline_learned7']]),
    dict(name='Auty Table 4 (NYU)', caption='learned context tokens with depth-7 words',
         columns=_cols, rows=[
             ['Baseline, depth-7', 'nyu_baseline_depth7'],
             ['101d, depth-7', 'nyu_101d_depth7'],
             ['102d, depth-7', 'nyu_102d_depth7'],
             ['404d, depth-7', 'nyu_404d_depth7']]),
    dict(name='Auty Table 4 (KITTI)', caption='learned context tokens with depth-7 words',
         columns=_cols, rows=[
             ['Baseline, depth-7', 'kitti_baseline_depth7'],
             ['101d, depth-7', 'kitti_101d_depth7'],
             ['102d, depth-7', 'kitti_102d_depth7'],
             ['404d, depth-7', 'kitti_404d_depth7']]),
    dict(name='Auty Table 5 (NYU)', caption='learned context and learned depth tokens together',
         columns=_cols, rows=[
             ['Baseline, learned-7', 'nyu_baseline_learned7'],
             ['404d, depth-7', 'nyu_404d_depth7'],
             ['404d, learned-7', 'nyu_404d_learned7']]),
    dict(name='Auty Table 5 (KITTI)', caption='learned context and learned depth tokens together',
         columns=_cols, rows=[
             ['Baseline, learned-7', 'kitti_baseline_learned7'],
             ['404d, depth-7', 'kitti_404d_depth7'],
             ['404d, learned-7', 'kitti_404d_learned7']]),
    dict(name='Auty Table 6 (NYU)', caption='uniform vs log-uniform bins, learned depth tokens',
         columns=_cols6, rows=[
             ['7 linear', 'nyu_baseline_learned7'],
             ['7 log', 'nyu_baseline_learned7_log'],
             ['20 linear', 'nyu_baseline_learned20'],
             ['20 log', 'nyu_baseline_learned20_log']]),
    dict(name='Auty Table 6 (KITTI)', caption='uniform vs log-uniform bins, learned depth tokens',
         columns=_cols6, rows=[
             ['7 linear', 'kitti_baseline_learned7'],
             ['7 log', 'kitti_baseline_learned7_log'],
             ['20 linear', 'kitti_baseline_learned20'],
             ['20 log', 'kitti_baseline_learned20_log']]),
    dict(name='Auty Table 7 (NYU)', caption='number of log-uniform bins, learned depth tokens',
         columns=_cols, rows=[
             ['7', 'nyu_baseline_learned7_log'],
             ['20', 'nyu_baseline_learned20_log'],
             ['256', 'nyu_baseline_learned256_log']]),
    dict(name='Auty Table 7 (KITTI)', caption='number of log-uniform bins, learned depth tokens',
         columns=_cols, rows=[
             ['7', 'kitti_baseline_learned7_log'],
             ['20', 'kitti_baseline_learned20_log'],
             ['256', 'kitti_baseline_learned256_log']]),
]
