"""Writes `peft`'s logits for fixed prompts run as ONE mixed-adapter batch (rows of the base model,
of each adapter), the reference Tessera's output must match (max relative error <= 1e-2).

Runs on the GPU machine after train_adapters.py (or on any folders of PEFT adapters of the base):
    python3 scripts/lora/peft_parity.py models/builtin OUTDIR/press OUTDIR/fiction OUT.json
    node dist/bench/lora-parity.js OUT.json     # ours against it, from the same folder
The model runs in float32; every prompt is cut to the same token count so the batch needs no padding
(PEFT's mixed batches take one adapter name per row through `adapter_names`; "__base__" is none).
"""
import json, os, sys

import peft
import torch
from peft import PeftModel
import transformers
from packaging.version import Version
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

# float32 whatever the config's dtype: transformers 4.56 renamed `torch_dtype` to `dtype`, and 5
# loads the config's dtype (bfloat16 here) unless told
FLOAT32 = {"dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype": torch.float32}

base_dir, first, second, out_json = sys.argv[1:5]
names = [os.path.basename(os.path.normpath(p)) for p in (first, second)]
PROMPTS = [
    "The jury said it did not find any evidence",
    "She opened the door and looked into the dark",
    "The committee will report its findings to the",
]
TOKENS = 8
# the built-in folder ships tokenizer.json only (its post-processor adds <s>)
tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(base_dir, "tokenizer.json"), eos_token="</s>")
base = LlamaForCausalLM.from_pretrained(base_dir, **FLOAT32).float()
model = PeftModel.from_pretrained(base, first, adapter_name=names[0])
model.load_adapter(second, adapter_name=names[1])
model.eval()

rows = []  # every prompt under each adapter and under none, interleaved so neighbours differ
for p in PROMPTS:
    ids = tok(p)["input_ids"][:TOKENS]
    assert len(ids) == TOKENS, f"prompt '{p}' has fewer than {TOKENS} tokens"
    for a in [names[0], "__base__", names[1]]:
        rows.append((a, ids))
with torch.no_grad():
    x = torch.tensor([ids for _, ids in rows])
    logits = model(input_ids=x, adapter_names=[a for a, _ in rows]).logits.float()
json.dump({
    "base": base_dir,
    "adapters": {names[0]: first, names[1]: second},
    "peft": peft.__version__, "torch": torch.__version__,
    "rows": [{"adapter": None if a == "__base__" else a, "tokens": ids, "logits": logits[i].tolist()}
             for i, (a, ids) in enumerate(rows)],
}, open(out_json, "w"))
print(f"wrote {out_json}: {len(rows)} rows x {TOKENS} positions x {logits.shape[-1]} logits")
