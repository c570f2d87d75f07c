"""Compares training recipes of the reference-guided filter at reduced scale on the CPU: the bases
are loaded from a folder of trained weights (their outputs cached), each recipe trains a filter for
a fixed time and prints the base × set table on the held-out test scenes, as train.py's quality
table computes it.

  python3 scripts/derain/recipe_sweep.py --bases-from models/derain --seconds 300 --recipes first,l1,gate
  python3 scripts/derain/recipe_sweep.py --bases-from models/derain --recipes committed   # the saved filter
  (NAME/refiner: the reference-free refiner trained with recipe NAME; committed-refiner: the saved one)
"""
import argparse
import os
import sys
import tempfile
import time
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rain  # noqa: E402
from folds import LEARNED  # noqa: E402
import train  # noqa: E402

import torch  # noqa: E402
from models import RefFilter  # noqa: E402


def base_outputs(items, base_models, dev, cache):
    """Each base's output on every rainy image of `items`, cached (the bases are fixed)."""
    if cache and os.path.exists(cache):
        z = np.load(cache)
        if z['n'] == len(items):
            print(f'base outputs from {cache}')
            return {b: [z[f'{b}_{i}'] for i in range(len(items))] for b in train.BASES}
    t = time.time()
    outs = {b: [train.run_base(b, base_models.get(b), r, dev) for r, *_ in items] for b in train.BASES}
    print(f'base outputs of {len(items)} images: {time.time() - t:.0f}s')
    if cache:
        np.savez(cache, n=len(items), **{f'{b}_{i}': o for b, v in outs.items() for i, o in enumerate(v)})
    return outs


@torch.no_grad()
def table_of(model, test_set, outs, images, refs, dev):
    acc = {}
    for i, (rainy, clean, name, setting) in enumerate(test_set):
        ref = train.to_t(images[refs[name]], dev)
        for base in train.BASES:
            out = outs[base][i]
            x = train.to_t(out, dev)
            got = train.to_np(model(x, ref) if model.reference else model(x))
            for v, img in (('alone', out), ('model', got)):
                acc.setdefault((base, setting, v), []).append((rain.psnr(img, clean), train.ssim_np(img, clean)))
    return {k: (float(np.mean([p for p, _ in r])), float(np.mean([q for _, q in r]))) for k, r in acc.items()}


def print_table(label, tab):
    print(f'--- {label}')
    print(f'{"base":12s} {"set":6s} {"alone":>14s} {"+model":>14s} {"gain":>14s}')
    wins = 0
    for base in train.BASES:
        for s in train.SETTINGS:
            a, m = tab[(base, s, 'alone')], tab[(base, s, 'model')]
            wins += m[0] > a[0] and m[1] > a[1]
            print(f'{base:12s} {s:6s} {a[0]:6.2f}/{a[1]:.4f} {m[0]:6.2f}/{m[1]:.4f} {m[0] - a[0]:+6.2f}/{m[1] - a[1]:+.4f}')
    print(f'{label}: improves PSNR and SSIM in {wins} of 9 cells', flush=True)


def sweep_setup(args):
    """What every sweep starts from, on the CPU: the data and scene split, and the committed learned
    bases' outputs on the training and test images (computed once, cached beside args.cache)."""
    torch.set_num_threads(args.threads)
    dev = torch.device('cpu')
    clock = train.Clock(1e9)
    images, refs, train_set, test_set = train.build_data(
        SimpleNamespace(data=args.data, smoke=False, no_skimage=False), clock)
    base_models = {b: train.load_base(b, args.bases_from, dev) for b in LEARNED}
    train_outs = base_outputs(train_set, base_models, dev, args.cache)
    test_outs = base_outputs(test_set, base_models, dev, args.cache.replace('.npz', '-test.npz'))
    return dev, clock, images, refs, train_set, test_set, train_outs, test_outs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', default='data/derain/clean')
    ap.add_argument('--bases-from', default='models/derain')
    ap.add_argument('--cache', default=os.path.join(tempfile.gettempdir(), 'derain-sweep-cache.npz'))
    ap.add_argument('--seconds', type=float, default=300)
    ap.add_argument('--recipes', default='first')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--crop', type=int, default=96)
    ap.add_argument('--ref-crop', type=int, default=128)
    ap.add_argument('--batch', type=int, default=8)
    args = ap.parse_args()
    dev, clock, images, refs, train_set, test_set, train_outs, test_outs = sweep_setup(args)
    for name in args.recipes.split(','):
        torch.manual_seed(train.SEED)
        rng = np.random.default_rng(train.SEED)
        if name in ('committed', 'committed-refiner'):
            file = 'refiner' if name.endswith('refiner') else 'filter'
            sd, meta = train.read_safetensors(os.path.join(args.bases_from, f'{file}.safetensors'))
            model = RefFilter(reference=meta['reference'] == '1')
            model.load_state_dict(sd)
            model.eval()
        else:
            # NAME/refiner trains the reference-free refiner with recipe NAME
            recipe = train.RECIPES[name.split('/')[0]]
            reference = not name.endswith('/refiner')
            model = train.make_filter(recipe, reference=reference).to(dev)
            samples = train.filter_samples(train_set, train_outs, refs, dev)
            batches = train.filter_batches(samples, {n: train.to_t(images[n], dev) for n in set(refs.values())},
                                           rng, args.crop, args.ref_crop, args.batch, reference, recipe)
            train.train_loop(name, model, batches, train.filter_loss(recipe), args.seconds, recipe['lr'], clock)
        print_table(name, table_of(model, test_set, test_outs, images, refs, dev))


if __name__ == '__main__':
    main()
