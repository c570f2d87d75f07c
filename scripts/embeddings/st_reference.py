#!/usr/bin/env python3
"""
A random-weight MiniLM-L6 (all-MiniLM-L6-v2's shape: BertModel, hidden 384, 6 layers, 12 heads,
intermediate 1536, vocab 30522) in the sentence-transformers layout, and its sentence-transformers
embeddings of fixed sentences: the reference test/models/bert/st-reference.test.ts compares
Tessera's encoder against (cosine >= 0.9999).

Nothing is downloaded: the weights come from a fixed seed and the WordPiece vocabulary is built
here (BERT's special-token ids, common words, single characters and '##' pieces, '[unusedN]'
filler up to 30522), so it runs on a machine without network access.

    python3 scripts/embeddings/st_reference.py --out minilm-random --seed 0
    TESSERA_ST_REFERENCE=minilm-random npx vitest run test/models/bert/st-reference.test.ts

Needs torch, transformers, tokenizers and sentence-transformers.
"""
import argparse
import json
import os
import string

import torch
from sentence_transformers import SentenceTransformer
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece
from transformers import BertConfig, BertModel, BertTokenizerFast

VOCAB_SIZE = 30522
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on the stage.",
    "Embeddings map sentences to vectors!",
    "hello",
    "Is this the right way to the train station? I think it is, but I am not sure.",
    "The weather today is cold and rainy, so we stayed at home and read books about the sea.",
    "zzz qqq xylophone",
    "Numbers like 42 and 1999 appear too.",
]
WORDS = (
    "the a an is are was were be to of and in on at for with by from over under this that it i we you "
    "he she they man woman dog fox cat quick brown lazy jumps playing guitar stage embeddings map "
    "sentences vectors hello right way train station think but am not sure weather today cold rainy "
    "so stayed home read books about sea numbers like appear too"
).split()


def build_vocab():
    vocab = [f"[unused{i}]" for i in range(VOCAB_SIZE)]
    for i, t in {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]"}.items():
        vocab[i] = t
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    free = iter(range(1000, VOCAB_SIZE))
    for t in WORDS + chars + ["##" + c for c in string.ascii_lowercase + string.digits]:
        vocab[next(free)] = t
    return vocab


def write_tokenizer(vocab, out):
    tok = Tokenizer(WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 101), ("[SEP]", 102)]
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    fast = BertTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        do_lower_case=True,
        model_max_length=512,
    )
    fast.save_pretrained(out)


def write_model(out, seed):
    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=12,
        intermediate_size=1536,
        max_position_embeddings=512,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
        hidden_act="gelu",
    )
    model = BertModel(cfg, add_pooling_layer=True).eval()
    # BertModel's init leaves LayerNorms at (1, 0) and biases at 0; perturb them so that a wrong
    # scale, shift or bias in the encoder under test shows in the embeddings.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("LayerNorm.weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.copy_(0.05 * torch.randn_like(p))
    model.save_pretrained(out, safe_serialization=True)


def write_sentence_transformers_files(out):
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    with open(os.path.join(out, "modules.json"), "w") as f:
        json.dump(modules, f, indent=2)
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    os.makedirs(os.path.join(out, "2_Normalize"), exist_ok=True)
    pooling = {
        "word_embedding_dimension": 384,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }
    with open(os.path.join(out, "1_Pooling", "config.json"), "w") as f:
        json.dump(pooling, f, indent=2)
    with open(os.path.join(out, "sentence_bert_config.json"), "w") as f:
        json.dump({"max_seq_length": 256, "do_lower_case": False}, f, indent=2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="checkpoint folder to write (st_reference.json goes inside)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--time-cuda",
        metavar="JSON",
        help="also time sentence-transformers' encode on the GPU (fp32 and fp16, batches of 64 texts) and write it here",
    )
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    write_tokenizer(build_vocab(), args.out)
    write_model(args.out, args.seed)
    write_sentence_transformers_files(args.out)

    st = SentenceTransformer(args.out, device="cpu")
    st.float()
    token_ids = [st.tokenizer(s)["input_ids"] for s in SENTENCES]
    # float64 on the CPU: the reference should be closer to exact than the f32 encoder under test
    st.double()
    with torch.no_grad():
        emb = st.encode(SENTENCES, batch_size=4, convert_to_numpy=True, normalize_embeddings=False)
    result = {
        "seed": args.seed,
        "modules": [type(m).__name__ for m in st],
        "sentences": SENTENCES,
        "token_ids": token_ids,
        "embeddings": emb.astype("float64").tolist(),
    }
    with open(os.path.join(args.out, "st_reference.json"), "w") as f:
        json.dump(result, f)
    print(f"wrote {args.out} ({len(SENTENCES)} sentences, modules {result['modules']}, seed {args.seed})")
    if args.time_cuda:
        time_cuda(args.out, args.time_cuda)


def time_cuda(model_dir, path):
    """Texts per second of SentenceTransformer.encode on the GPU: TIMED_TEXTS texts (the reference
    sentences repeated) in batches of 64, best of five after two warm runs, for fp32 and fp16."""
    import time

    texts = (SENTENCES * (TIMED_TEXTS // len(SENTENCES) + 1))[:TIMED_TEXTS]
    cases = {}
    for dtype in ("fp32", "fp16"):
        st = SentenceTransformer(model_dir, device="cuda")
        if dtype == "fp16":
            st.half()
        with torch.no_grad():
            for _ in range(2):
                st.encode(texts, batch_size=64, convert_to_numpy=True)
            best = float("inf")
            for _ in range(5):
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                st.encode(texts, batch_size=64, convert_to_numpy=True)
                torch.cuda.synchronize()
                best = min(best, time.perf_counter() - t0)
        cases[f"texts_per_s_{dtype}"] = TIMED_TEXTS / best
        print(f"sentence-transformers {dtype} on {torch.cuda.get_device_name(0)}: {TIMED_TEXTS / best:.0f} texts/s")
    doc = {"card": torch.cuda.get_device_name(0), "runId": os.environ.get("BENCH_RUN_ID"), "cases": cases}
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)


TIMED_TEXTS = 1024


if __name__ == "__main__":
    main()
