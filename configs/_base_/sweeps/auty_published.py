# Published numbers of Auty & Mikolajczyk (ICCV-W 2023), Tables 3-7, by the single-variant config that
# reproduces each row; tools/analysis/paper_table.py prints them beside a sweep's results. Columns: Abs =
# abs_rel, SqRel = sq_rel, RMS = rmse, RMSL = rmse_log_unrooted (the paper's un-rooted log error), log10, δ1-3.
_cols = ['abs_rel', 'rmse', 'rmse_log_unrooted', 'log10', 'd1', 'd2', 'd3']
_cols6 = ['abs_rel', 'sq_rel', 'rmse', 'rmse_log_unrooted', 'log10', 'd1', 'd2', 'd3']
paper_tables = [
    dict(name='Auty Table 3 (NYU)', caption='human-word, random and learned depth tokens, 7 linear bins',
         columns=_cols, rows=[
             ['colour-7', 'nyu_baseline_colour7', [1.381, 3.010, 0.786, 0.331, 0.131, 0.277, 0.449]],
             ['size-7', 'nyu_baseline_size7', [2.130, 4.431, 1.281, 0.446, 0.048, 0.119, 0.235]],
             ['depth-7', 'nyu_baseline_depth7', [1.014, 2.413, 0.566, 0.265, 0.227, 0.431, 0.606]],
             ['random-7', 'nyu_baseline_random7', [1.593, 3.308, 0.929, 0.372, 0.081, 0.190, 0.354]],
             ['rand-txt-7', 'nyu_baseline_randtxt7', [1.335, 2.875, 0.754, 0.324, 0.129, 0.287, 0.471]],
             ['learned-7', 'nyu_baseline_learned7', [0.319, 0.970, 0.139, 0.128, 0.465, 0.776, 0.922]]]),
    dict(name='Auty Table 3 (KITTI)', caption='human-word, random and learned depth tokens, 7 linear bins',
         columns=_cols, rows=[
             ['colour-7', 'kitti_baseline_colour7', [2.177, 23.470, 1.328, 0.446, 0.077, 0.163, 0.267]],
             ['size-7', 'kitti_baseline_size7', [3.363, 33.978, 2.067, 0.568, 0.048, 0.103, 0.171]],
             ['depth-7', 'kitti_baseline_depth7', [2.353, 25.518, 1.433, 0.454, 0.094, 0.193, 0.297]],
             ['random-7', 'kitti_baseline_random7', [1.664, 19.279, 0.994, 0.370, 0.119, 0.251, 0.400]],
             ['rand-txt-7', 'kitti_baseline_randtxt7', [2.887, 29.553, 1.789, 0.535, 0.046, 0.098, 0.161]],
             ['learned-7', 'kitti_baseline_learned7', [0.303, 6.322, 0.119, 0.112, 0.550, 0.830, 0.938]]]),
    dict(name='Auty Table 4 (NYU)', caption='learned context tokens with depth-7 words',
         columns=_cols, rows=[
             ['Baseline, depth-7', 'nyu_baseline_depth7', [1.014, 2.413, 0.566, 0.265, 0.227, 0.431, 0.606]],
             ['101d, depth-7', 'nyu_101d_depth7', [0.323, 0.975, 0.142, 0.129, 0.461, 0.772, 0.920]],
             ['102d, depth-7', 'nyu_102d_depth7', [0.323, 0.974, 0.141, 0.129, 0.462, 0.773, 0.920]],
             ['404d, depth-7', 'nyu_404d_depth7', [0.318, 0.965, 0.138, 0.127, 0.466, 0.778, 0.923]]]),
    dict(name='Auty Table 4 (KITTI)', caption='learned context tokens with depth-7 words',
         columns=_cols, rows=[
             ['Baseline, depth-7', 'kitti_baseline_depth7', [2.353, 25.518, 1.433, 0.454, 0.094, 0.193, 0.297]],
             ['101d, depth-7', 'kitti_101d_depth7', [0.331, 6.528, 0.132, 0.120, 0.511, 0.809, 0.929]],
             ['102d, depth-7', 'kitti_102d_depth7', [0.321, 6.420, 0.127, 0.117, 0.527, 0.817, 0.932]],
             ['404d, depth-7', 'kitti_404d_depth7', [0.309, 6.334, 0.122, 0.114, 0.541, 0.826, 0.936]]]),
    dict(name='Auty Table 5 (NYU)', caption='learned context and learned depth tokens together',
         columns=_cols, rows=[
             ['Baseline, learned-7', 'nyu_baseline_learned7', [0.319, 0.970, 0.139, 0.128, 0.465, 0.776, 0.922]],
             ['404d, depth-7', 'nyu_404d_depth7', [0.318, 0.965, 0.138, 0.127, 0.466, 0.778, 0.923]],
             ['404d, learned-7', 'nyu_404d_learned7', [0.317, 0.955, 0.136, 0.126, 0.474, 0.782, 0.925]]]),
    dict(name='Auty Table 5 (KITTI)', caption='learned context and learned depth tokens together',
         columns=_cols, rows=[
             ['Baseline, learned-7', 'kitti_baseline_learned7',
              [0.303, 6.322, 0.119, 0.112, 0.550, 0.830, 0.938]],
             ['404d, depth-7', 'kitti_404d_depth7', [0.309, 6.334, 0.122, 0.114, 0.541, 0.826, 0.936]],
             ['404d, learned-7', 'kitti_404d_learned7', [0.307, 6.209, 0.119, 0.113, 0.546, 0.830, 0.938]]]),
    dict(name='Auty Table 6 (NYU)', caption='uniform vs log-uniform bins, learned depth tokens',
         columns=_cols6, rows=[
             ['7 linear', 'nyu_baseline_learned7', [0.319, 0.370, 0.970, 0.139, 0.128, 0.465, 0.776, 0.922]],
             ['7 log', 'nyu_baseline_learned7_log', [0.312, 0.366, 0.991, 0.142, 0.130, 0.449, 0.767, 0.922]],
             ['20 linear', 'nyu_baseline_learned20', [0.314, 0.360, 0.949, 0.134, 0.125, 0.475, 0.785, 0.926]],
             ['20 log', 'nyu_baseline_learned20_log',
              [0.308, 0.355, 0.968, 0.136, 0.127, 0.466, 0.780, 0.926]]]),
    dict(name='Auty Table 6 (KITTI)', caption='uniform vs log-uniform bins, learned depth tokens',
         columns=_cols6, rows=[
             ['7 linear', 'kitti_baseline_learned7', [0.303, 2.157, 6.322, 0.119, 0.112, 0.550, 0.830, 0.938]],
             ['7 log', 'kitti_baseline_learned7_log', [0.265, 1.926, 6.933, 0.112, 0.108, 0.580, 0.838, 0.939]],
             ['20 linear', 'kitti_baseline_learned20', [0.292, 2.062, 6.159, 0.113, 0.108, 0.573, 0.841, 0.941]],
             ['20 log', 'kitti_baseline_learned20_log',
              [0.265, 1.837, 6.153, 0.103, 0.102, 0.606, 0.853, 0.948]]]),
    dict(name='Auty Table 7 (NYU)', caption='number of log-uniform bins, learned depth tokens',
         columns=_cols, rows=[
             ['7', 'nyu_baseline_learned7_log', [0.312, 0.991, 0.142, 0.130, 0.449, 0.767, 0.922]],
             ['20', 'nyu_baseline_learned20_log', [0.308, 0.968, 0.136, 0.127, 0.466, 0.780, 0.926]],
             ['256', 'nyu_baseline_learned256_log', [0.298, 0.933, 0.127, 0.122, 0.485, 0.796, 0.934]]]),
    dict(name='Auty Table 7 (KITTI)', caption='number of log-uniform bins, learned depth tokens',
         columns=_cols, rows=[
             ['7', 'kitti_baseline_learned7_log', [0.265, 6.933, 0.112, 0.108, 0.580, 0.838, 0.939]],
             ['20', 'kitti_baseline_learned20_log', [0.265, 6.153, 0.103, 0.102, 0.606, 0.853, 0.948]],
             ['256', 'kitti_baseline_learned256_log', [0.238, 5.756, 0.088, 0.092, 0.652, 0.877, 0.957]]]),
]
