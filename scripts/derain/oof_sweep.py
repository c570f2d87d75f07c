"""Trains the de-raining filter on out-of-fold base outputs (folds.py) and scores it as
recipe_sweep.py does; evaluation uses the committed full bases (--bases-from), as train.py's
quality table does.

  python3 scripts/derain/oof_sweep.py --fold-seconds 60 --fold-dir derain-folds      # fold bases only
  python3 scripts/derain/oof_sweep.py --fold-dir derain-folds --seconds 200 --recipes logmse-logssim-same
NAME/refiner trains the reference-free refiner; --mismatch also scores the filter given the reference
of another test scene.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rain  # noqa: E402
import recipe_sweep  # noqa: E402
from folds import LEARNED, fold_bases, out_of_fold_outputs, scene_folds  # noqa: E402
import train  # noqa: E402

import torch  # noqa: E402


def mismatched_refs(test_set, refs):
    """For each test image, the reference of a test image of another scene (the next in order)."""
    names = sorted({n for _, _, n, _ in test_set})
    scenes = sorted({rain.scene_of(n) for n in names})
    first = {s: next(n for n in names if rain.scene_of(n) == s) for s in scenes}
    return {n: refs[first[scenes[(scenes.index(rain.scene_of(n)) + 1) % len(scenes)]]] for n in names}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', default='data/derain/clean')
    ap.add_argument('--bases-from', default='models/derain')
    ap.add_argument('--cache', default=os.path.join(tempfile.gettempdir(), 'derain-sweep-cache.npz'), help="recipe_sweep.py's cache of full-base outputs")
    ap.add_argument('--fold-dir', default=os.path.join(tempfile.gettempdir(), 'derain-folds'))
    ap.add_argument('--fold-seconds', type=float, default=60)
    ap.add_argument('--seconds', type=float, default=200)
    ap.add_argument('--recipes', default='')
    ap.add_argument('--in-sample', action='store_true', help="train on the full bases' outputs (recipe_sweep's data)")
    ap.add_argument('--mix', action='store_true', help="train on the out-of-fold and the full bases' outputs together")
    ap.add_argument('--mismatch', action='store_true')
    ap.add_argument('--threads', type=int, default=2)
    args = ap.parse_args()
    dev, clock, images, refs, train_set, test_set, full_outs, test_outs = recipe_sweep.sweep_setup(args)
    folds = scene_folds(train_set)
    print(f'folds: {[sorted(f) for f in folds]}')
    if args.in_sample:
        outs = full_outs
    else:
        models = fold_bases(train_set, folds, args.fold_seconds, args.fold_dir, dev, clock)
        cache = os.path.join(args.fold_dir, 'oof-outputs.npz')
        outs = recipe_sweep.base_outputs(train_set, {}, dev, cache) if os.path.exists(cache) else None
        if outs is None:
            t = time.time()
            outs = out_of_fold_outputs(train_set, folds, models, full_outs, dev)
            np.savez(cache, n=len(train_set), **{f'{b}_{i}': o for b, v in outs.items() for i, o in enumerate(v)})
            print(f'out-of-fold outputs: {time.time() - t:.0f}s')
        for name in LEARNED:
            err = lambda o: np.mean([np.mean(x - c) for x, (_, c, _, s) in zip(o, train_set) if s == 'light'])
            ps = lambda o: np.mean([rain.psnr(x, c) for x, (_, c, _, s) in zip(o, train_set) if s == 'light'])
            print(f'{name} light, training scenes: in-sample {ps(full_outs[name]):.2f} dB mean error '
                  f'{err(full_outs[name]):+.4f}; out-of-fold {ps(outs[name]):.2f} dB mean error {err(outs[name]):+.4f}')
    ref_imgs = {n: train.to_t(images[n], dev) for n in set(refs.values())}
    for name in filter(None, args.recipes.split(',')):
        torch.manual_seed(train.SEED)
        rng = np.random.default_rng(train.SEED)
        recipe = train.RECIPES[name.split('/')[0]]
        reference = not name.endswith('/refiner')
        model = train.make_filter(recipe, reference=reference).to(dev)
        samples = train.filter_samples(train_set, outs, refs, dev)
        if args.mix and not args.in_sample:
            samples += train.filter_samples(train_set, full_outs, refs, dev)
        batches = train.filter_batches(samples, ref_imgs, rng, 96, 128, 8, reference, recipe)
        train.train_loop(name, model, batches, train.filter_loss(recipe), args.seconds, recipe['lr'], clock)
        model.fold_out_scale()
        label = f'{name} ({"in-sample" if args.in_sample else "out-of-fold + in-sample" if args.mix else "out-of-fold"})'
        recipe_sweep.print_table(label, recipe_sweep.table_of(model, test_set, test_outs, images, refs, dev))
        if args.mismatch and reference:
            wrong = mismatched_refs(test_set, refs)
            recipe_sweep.print_table(f'{label}, reference of another scene',
                                     recipe_sweep.table_of(model, test_set, test_outs, images, wrong, dev))


if __name__ == '__main__':
    main()
