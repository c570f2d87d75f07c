"""Writes a few thousand test strings and Python `tokenizers`' ids for them (bench/tokenizer-parity.ts compares).
Usage: python3 bench/parity/tokenize.py TOKENIZER_JSON SOURCE_DIR OUT.json"""
import json, os, random, sys
from tokenizers import Tokenizer

tok = Tokenizer.from_file(sys.argv[1])
random.seed(0)
texts = []
for root, _, files in os.walk(sys.argv[2]):
    for f in sorted(files):
        if f.endswith(".ts"):
            src = open(os.path.join(root, f), encoding="utf-8").read()
            for i in range(0, min(len(src), 6000), 300):
                texts.append(src[i:i + random.randint(20, 300)])
pieces = ["héllo wörld", "日本語のテキスト", "🙂🚀 emoji ZWJ 👩‍💻", "  leading and   multiple   spaces", "\t\ttabs\nnew\r\nlines",
          "1234567890 3.14159 1e-7 0x1F", "Ünïcödé çåsè", "Привет мир", "مرحبا بالعالم", "def f(x):\n    return x**2", "a\u00a0b\u200bc", "<|begin_of_text|> not special here"]
for i in range(1500):
    k = random.randint(1, 4)
    texts.append("".join(random.choice(pieces) + (" " * random.randint(0, 3)) for _ in range(k)))
for i in range(500):
    texts.append("".join(chr(random.choice([random.randint(32, 126), random.randint(0xa0, 0x2fff), random.randint(0x4e00, 0x9fff), random.randint(0x1f300, 0x1f64f)])) for _ in range(random.randint(1, 40))))
out = [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids} for t in texts]
json.dump(out, open(sys.argv[3], "w"))
print(f"{len(out)} strings", flush=True)
