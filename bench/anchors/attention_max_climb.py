#!/usr/bin/env python3
"""How far a causal attention row's running score max climbs above the max of its first tile.

Question: can an attention kernel fix each row's softmax reference max from the first key tile it
sees and only recompute a work item (64 query rows x the 2 query heads sharing a KV head) when some
row's score later exceeds that reference by more than T (log2 units)? Measured on the built-in
model (the only trained transformer we have), forward pass in numpy float64, weights from bf16.
Four references: the first tile (keys 0..31: 'sink'), the first tile of a chunk starting at key
256 ('chunk256'), the row's own diagonal tile ('diag': the tile holding key i, keys up to i), which is
what the tensor-core prefill's restart mode sees first (it takes the diagonal tiles first), and the
last tile of a split-KV chunk without the diagonal ('mid': keys 224..255 of the chunk 128..255, rows
from 256), which is where restart mode starts such a chunk.
Restart mode restarts an item past T = restartLog2 + restartHeadroom = 21 by default.

Usage: python3 bench/anchors/attention_max_climb.py TOKENS.json OUT.json [MODEL_DIR]
  TOKENS.json: [[ids...], ...] (from attention-max-climb-tokens.mjs), each <= 512 tokens.
"""
import json, os, struct, sys
import numpy as np

TILE, CHUNK, ITEM_ROWS, T_RESTART = 32, 256, 64, 21.0
THRESHOLDS = (8.0, 12.0, 15.0, 19.0, 21.0, 23.0)
LOG2E = 1.0 / np.log(2.0)

model_dir = sys.argv[3] if len(sys.argv) > 3 else os.path.join(os.path.dirname(__file__), '../../models/builtin')
cfg = json.load(open(os.path.join(model_dir, 'config.json')))


def load_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        blob = f.read()
    out = {}
    for name, t in header.items():
        if name == '__metadata__':
            continue
        raw = blob[t['data_offsets'][0]:t['data_offsets'][1]]
        if t['dtype'] == 'BF16':  # bf16 is the top half of an f32
            a = (np.frombuffer(raw, '<u2').astype(np.uint32) << 16).view(np.float32)
        elif t['dtype'] == 'F32':
            a = np.frombuffer(raw, '<f4')
        else:
            raise SystemExit(f'{name}: dtype {t["dtype"]} not handled')
        out[name] = a.reshape(t['shape']).astype(np.float64)
    return out


W = load_safetensors(os.path.join(model_dir, 'model.safetensors'))
H, KVH, D = cfg['num_attention_heads'], cfg['num_key_value_heads'], cfg['head_dim']
GROUP = H // KVH
EPS = cfg['rms_norm_eps']
THETA = (cfg.get('rope_parameters') or {}).get('rope_theta', cfg.get('rope_theta', 10000.0))
EMB = W['model.embed_tokens.weight']
LM_HEAD = W.get('lm_head.weight', EMB)  # tied embeddings


def rmsnorm(x, w):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + EPS) * w


def rope(x, pos):  # x: [heads, n, D]; HF convention: rotate_half over the two halves of head_dim
    inv_freq = THETA ** (-np.arange(0, D, 2) / D)
    ang = np.concatenate([pos[:, None] * inv_freq[None]] * 2, -1)
    rot = np.concatenate([-x[..., D // 2:], x[..., :D // 2]], -1)
    return x * np.cos(ang) + rot * np.sin(ang)


def forward(ids, on_scores=None):
    """Logits [n, vocab]; on_scores(layer, s) gets the causal scores [H, n, n] in log2 units (-inf above diagonal)."""
    n = len(ids)
    pos = np.arange(n, dtype=np.float64)
    causal = np.tril(np.ones((n, n), bool))
    x = EMB[np.asarray(ids)]
    for l in range(cfg['num_hidden_layers']):
        p = f'model.layers.{l}.'
        h = rmsnorm(x, W[p + 'input_layernorm.weight'])
        q = rope((h @ W[p + 'self_attn.q_proj.weight'].T).reshape(n, H, D).transpose(1, 0, 2), pos)
        k = rope((h @ W[p + 'self_attn.k_proj.weight'].T).reshape(n, KVH, D).transpose(1, 0, 2), pos)
        v = (h @ W[p + 'self_attn.v_proj.weight'].T).reshape(n, KVH, D).transpose(1, 0, 2)
        k, v = np.repeat(k, GROUP, 0), np.repeat(v, GROUP, 0)  # query head h reads KV head h // GROUP
        s = np.where(causal, q @ k.transpose(0, 2, 1) / np.sqrt(D) * LOG2E, -np.inf)
        if on_scores:
            on_scores(l, s)
        pr = np.exp2(s - s.max(-1, keepdims=True))
        a = (pr / pr.sum(-1, keepdims=True)) @ v
        x = x + a.transpose(1, 0, 2).reshape(n, H * D) @ W[p + 'self_attn.o_proj.weight'].T
        h = rmsnorm(x, W[p + 'post_attention_layernorm.weight'])
        g = h @ W[p + 'mlp.gate_proj.weight'].T
        x = x + ((g / (1 + np.exp(-g))) * (h @ W[p + 'mlp.up_proj.weight'].T)) @ W[p + 'mlp.down_proj.weight'].T
    return rmsnorm(x, W['model.norm.weight']) @ LM_HEAD.T


def check_reference():
    """Compare with models/builtin/reference.json (PyTorch eager, bf16 weights, f32 math)."""
    path = os.path.join(model_dir, 'reference.json')
    if not os.path.exists(path):
        return None
    res = []
    for r in json.load(open(path))['references']:
        logits = forward(r['ids'])[-1]
        head = np.asarray(r['lastLogitsHead'])
        ids, greedy = list(r['ids']), []
        for _ in range(len(r['greedy'])):  # no KV cache: the model is tiny
            greedy.append(int(forward(ids)[-1].argmax()))
            ids.append(greedy[-1])
        agree = next((i for i, (a, b) in enumerate(zip(greedy, r['greedy'])) if a != b), len(greedy))
        res.append({'prompt': r['prompt'], 'argmax_match': int(logits.argmax()) == r['lastLogitsArgmax'],
                    'logits_head_max_abs_diff': float(np.abs(logits[:len(head)] - head).max()),
                    'greedy_tokens_matching_prefix': agree, 'greedy_len': len(greedy)})
    return res


def climbs(s, start, diag=False):
    """Per row i >= start: max over keys start..i minus max over the reference tile (the first tile
    start..start+31, or with diag the tile holding key i, up to i). [H, n-start]"""
    s = s[:, start:, start:]
    if not diag:
        return s.max(-1) - s[:, :, :TILE].max(-1)
    i = np.arange(s.shape[1])
    own = (i[None, :] >= ((i // TILE) * TILE)[:, None]) & (i[None, :] <= i[:, None])
    return s.max(-1) - np.where(own[None], s, -np.inf).max(-1)


def main():
    seqs = json.load(open(sys.argv[1]))
    L = cfg['num_hidden_layers']
    # per layer, per mode: list of climb arrays [H, rows] (one per sequence)
    acc = {m: [[] for _ in range(L)] for m in ('sink', 'chunk256', 'diag', 'mid')}
    for ids in seqs:
        def grab(l, s):
            acc['sink'][l].append(climbs(s, 0))
            acc['diag'][l].append(climbs(s, 0, diag=True))
            if s.shape[-1] > 256:
                mid = s[:, 256:, 128:256]
                acc['mid'][l].append(mid.max(-1) - mid[:, :, 96:].max(-1))
            if s.shape[-1] > CHUNK:
                acc['chunk256'][l].append(climbs(s, CHUNK))
        forward(ids, grab)

    def stats(arrs, skip_rows=0):
        c = np.concatenate([a[:, skip_rows:].ravel() for a in arrs])  # skip_rows affects row fractions only
        # items: 64 consecutive rows (aligned to the tile grid of the region) x the GROUP heads of one KV head
        items = []
        for a in arrs:
            h, n = a.shape
            n64 = -(-n // ITEM_ROWS) * ITEM_ROWS
            a = np.pad(a, ((0, 0), (0, n64 - n)))  # padding rows climb 0: never restart
            items.append(a.reshape(KVH, GROUP, n64 // ITEM_ROWS, ITEM_ROWS).max(axis=(1, 3)).ravel())
        it = np.concatenate(items)
        return {'rows': int(c.size),
                **{f'frac_rows_gt_{t:g}': float((c > t).mean()) for t in THRESHOLDS},
                'max_climb': float(c.max()),
                'items': int(it.size),
                **{f'frac_items_restart_T{t:g}': float((it > t).mean()) for t in THRESHOLDS}}

    out = {'model': os.path.abspath(model_dir), 'sequences': len(seqs), 'seq_lens': [len(s) for s in seqs],
           'tile': TILE, 'item_rows': ITEM_ROWS, 'item_heads': GROUP, 'chunk_start': CHUNK,
           'reference_check': check_reference()}
    for mode in acc:
        if not acc[mode][0]:
            continue
        out[mode] = {'per_layer': [stats(acc[mode][l]) for l in range(L)],
                     'overall': stats([a for l in range(L) for a in acc[mode][l]])}
        # the first tile of the sink mode has climb 0 by construction; exclude to show the real rate
        if mode == 'sink':
            out[mode]['overall_rows_ge_32'] = stats([a for l in range(L) for a in acc[mode][l]], TILE)

    for r in out['reference_check'] or []:
        print(f"ref {r['prompt']!r}: argmax match {r['argmax_match']}, |dlogit| {r['logits_head_max_abs_diff']:.2e}, "
              f"greedy {r['greedy_tokens_matching_prefix']}/{r['greedy_len']}")
    cols = [f'>{t:g}' for t in THRESHOLDS]
    for mode in ('sink', 'chunk256', 'diag', 'mid'):
        if mode not in out:
            continue
        ref = {'sink': 'keys 0..31', 'chunk256': f'keys {CHUNK}..{CHUNK + TILE - 1}', 'diag': "the row's diagonal tile", 'mid': 'keys 224..255 of a chunk 128..255, rows >= 256'}[mode]
        print(f"\n[{mode}] reference = {ref}; climb in log2 units")
        print(f"{'layer':>10} {'rows':>7} " + ' '.join(f'{c:>8}' for c in cols) + f" {'max':>7} {'items':>6} {f'restart@T{T_RESTART:g}':>11}")
        rows = [(str(l), s) for l, s in enumerate(out[mode]['per_layer'])] + [('all', out[mode]['overall'])]
        if mode == 'sink':
            rows.append(('all,i>=32', out[mode]['overall_rows_ge_32']))
        for name, s in rows:
            print(f"{name:>10} {s['rows']:>7} " + ' '.join(f"{s[f'frac_rows_gt_{t:g}']:>8.4f}" for t in THRESHOLDS)
                  + f" {s['max_climb']:>7.2f} {s['items']:>6} {s[f'frac_items_restart_T{T_RESTART:g}']:>11.4f}")
    json.dump(out, open(sys.argv[2], 'w'), indent=1)


if __name__ == '__main__':
    main()
