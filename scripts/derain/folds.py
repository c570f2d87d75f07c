"""Out-of-fold base outputs for training the de-raining filter.

A learned base errs differently on scenes it was not trained on (PReNet darkens them); trained on the
bases' outputs over their own training scenes, the filter never sees those errors. So each learned
base is also trained on each half of the training scenes, and the filter learns from each half's
outputs of the base that did not see that half. The prior is not learned: its outputs are used as
they are.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

import rain
import train
from models import PReNet, TinyRestormer

LEARNED = ('prenet', 'transformer')


def scene_folds(train_set):
    """Two halves of the training scenes (alternating in sorted order), as sets of scene names."""
    scenes = sorted({rain.scene_of(name) for _, _, name, _ in train_set})
    return [set(scenes[0::2]), set(scenes[1::2])]


def fold_path(directory, name, k):
    return os.path.join(directory, f'{name}-fold{k}.safetensors')


def fold_bases(train_set, folds, seconds, directory, dev, clock):
    """Each learned base for each fold: loaded from DIR/<name>-fold<k>.safetensors when present, else
    trained on that fold's scenes for `seconds` (seeded) and saved there."""
    os.makedirs(directory, exist_ok=True)
    models = {}
    for k, scenes in enumerate(folds):
        pairs = [(train.to_t(r, dev), train.to_t(c, dev)) for r, c, n, _ in train_set if rain.scene_of(n) in scenes]
        for name in LEARNED:
            path = fold_path(directory, name, k)
            if os.path.exists(path):
                sd, _ = train.read_safetensors(path)
                model = PReNet() if name == 'prenet' else TinyRestormer()
                model.load_state_dict(sd)
                print(f'{name} fold {k}: loaded from {path}')
            else:
                torch.manual_seed(train.SEED + k)
                rng = np.random.default_rng(train.SEED + k)
                model = (PReNet() if name == 'prenet' else TinyRestormer()).to(dev)
                train.train_loop(f'{name} fold {k} ({len(pairs)} images)', model,
                                 train.base_batches(pairs, rng, 64, 16),
                                 lambda pred, target, _: F.l1_loss(pred, target), seconds, 2e-3, clock)
                train.save_weights(model, path, model.metadata() if hasattr(model, 'metadata') else None)
            models[(name, k)] = model.to(dev).eval()
    return models


def out_of_fold_outputs(train_set, folds, models, full_outs, dev):
    """Per base, each training image's output from the base that did not see its scene."""
    outs = {'prior': full_outs['prior']}
    for name in LEARNED:
        outs[name] = [train.run_base(name, models[(name, 1 if rain.scene_of(n) in folds[0] else 0)], rainy, dev)
                      for rainy, _, n, _ in train_set]
    return outs
