"""Train the tiny pairs' tokenizers, both with a ChatML template.

- ``--kind bytelevel`` (default): a GPT-2/Qwen-style byte-level BPE, 1,024 tokens → assets/tiny_tokenizer
- ``--kind metaspace``: a SentencePiece/Llama-2-style BPE (spaces as ▁, byte fallback), 768 tokens
  → assets/tiny_tokenizer_sp; the tiny cross-vocabulary pair's LLM uses it.

The results are committed, so nothing trains at run time; this script documents how they were made:

    python scripts/make_tiny_tokenizer.py --data ../shared/data/gsm8k/train.jsonl
    python scripts/make_tiny_tokenizer.py --kind metaspace --vocab-size 768
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default="../shared/data/gsm8k/train.jsonl")
    ap.add_argument("--kind", choices=("bytelevel", "metaspace"), default="bytelevel")
    ap.add_argument("--vocab-size", type=int, default=1024)
    ap.add_argument("--out")
    args = ap.parse_args()
    assets = Path(__file__).parents[1] / "src/r2route/assets"
    out_dir = args.out or str(assets / ("tiny_tokenizer" if args.kind == "bytelevel" else "tiny_tokenizer_sp"))

    texts = []
    with open(args.data, encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            texts += [rec["question"], rec["answer"]]

    if args.kind == "bytelevel":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        tok = Tokenizer(models.BPE(byte_fallback=True, unk_token=None, fuse_unk=False))
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
        tok.decoder = decoders.Sequence([
            decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(content=" ", left=1, right=0),
        ])
        alphabet = []
    specials = SPECIAL + ([f"<0x{b:02X}>" for b in range(256)] if args.kind == "metaspace" else [])
    trainer = trainers.BpeTrainer(vocab_size=args.vocab_size, special_tokens=specials, initial_alphabet=alphabet, show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    if args.kind == "metaspace":  # byte tokens are ordinary vocabulary, not special tokens
        data = json.loads(tok.to_str())
        data["added_tokens"] = [t for t in data["added_tokens"] if t["content"] in SPECIAL]
        tok = Tokenizer.from_str(json.dumps(data))

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": 2048,
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "additional_special_tokens": ["<|im_start|>", "<|endoftext|>"],
        "chat_template": CHATML,
        "clean_up_tokenization_spaces": False,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    print(f"wrote {out} (vocab {tok.get_vocab_size()})")


if __name__ == "__main__":
    main()
