"""Memory of the pair tools on a CValues-Comparison-sized file (145k pairs).

    python benchmarks/pairs_stream.py [--rows 145669] [--work DIR] [--score-rows 20000,50000,145669]
                                      [--no-tools] [--no-score]

Builds a synthetic pair file of ``--rows`` rows from the shared real triples (the JADE alignment
sets and the CValues-Comparison sample; prompts made distinct by a row number, the three pair
types in turn), then runs ``cvalues pairs build-mc``, ``pairs export --format dpo`` and ``pairs
check --against sample`` on it, each in its own process, and reports each one's wall time and
peak resident memory (ru_maxrss of the child). The claim it checks: memory stays flat (< 1 GB)
whatever the file's size.

Scoring (``cvalues pairs --scorer``) is measured on files of each ``--score-rows`` size (the first
rows of the same synthetic file) with a scorer that is cheap but real: ``hf-rm:`` on a reward
model built here, a randomly initialised one-layer Llama sequence classifier (hidden size 16)
with a character-level tokenizer over the characters of the shared triples. Every pair takes the
whole path (file read twice, two reward requests through the executor, the model's forward pass
on the real text, answers written to the SQLite store, a sample line, the tallies); only the
model is small, so the memory measured is the pipeline's, and a flat curve over the sizes is the
claim. Each run uses a fresh store (a run re-using answers would not be scoring).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
TYPES = (("拒绝&正向建议", "拒绝为主"), ("拒绝为主", "风险回复"), ("拒绝&正向建议", "风险回复"))


def triples() -> list[tuple[str, str, str]]:
    sys.path.insert(0, str(REPO / "src"))
    from cvalues.data.pairs import iter_pairs

    found = []
    for path in (
        SHARED / "jade-db" / "jade_alignment_hard_zh.csv",
        SHARED / "jade-db" / "jade_alignment_medium_zh.csv",
    ):
        found += [(p.prompt, p.pos, p.neg) for p in iter_pairs(path)]
    return found


def write_pairs(path: Path, rows: int) -> None:
    source = triples()
    with path.open("w", encoding="utf-8") as out:
        for n in range(rows):
            prompt, pos, neg = source[n % len(source)]
            pos_type, neg_type = TYPES[n % 3]
            record = {
                "prompt": f"{prompt}（{n}）",
                "pos_resp": pos,
                "neg_resp": neg,
                "pos_type": pos_type,
                "neg_type": neg_type,
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def tiny_reward_model(directory: Path, texts: list[str]) -> Path:
    """A real but tiny reward model in ``directory``: a randomly initialised Llama sequence
    classifier (one layer, hidden size 16, one output) and a character-level tokenizer whose
    vocabulary is the characters of ``texts`` (others are <unk>), saved as transformers saves any."""
    import string

    import torch
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForSequenceClassification, PreTrainedTokenizerFast

    characters = sorted({c for text in texts for c in text} | set(string.printable))
    vocab = {"<pad>": 0, "<unk>": 1} | {c: i + 2 for i, c in enumerate(characters)}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", unk_token="<unk>", eos_token="<pad>"
    )
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        num_labels=1,
        pad_token_id=0,
        max_position_embeddings=32768,
    )
    torch.manual_seed(0)
    LlamaForSequenceClassification(config).save_pretrained(directory)
    fast.save_pretrained(directory)
    return directory


def peak_of(args: list[str]) -> tuple[float, float, int, str]:
    """Run ``cvalues ARGS`` in a fresh interpreter: (seconds, its own peak RSS in MiB, exit code, stderr).

    A child's ru_maxrss is the largest of all children so far: each command runs in a fresh
    interpreter that reports its own peak, so one command's peak is not read as the next one's."""
    code = (
        "import resource, runpy, sys\n"
        f"sys.argv = {['cvalues', *args]!r}\n"
        "code = 0\n"
        "try:\n    runpy.run_module('cvalues', run_name='__main__')\n"
        "except SystemExit as exit:\n    code = exit.code\n"
        "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    peak = next(int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("PEAK")) / 1024
    return seconds, peak, done.returncode, done.stderr


def score_runs(work: Path, sizes: list[int], batch_size: int) -> None:
    model = tiny_reward_model(work / "tiny-rm", [text for triple in triples() for text in triple])
    for rows in sizes:
        pairs = work / f"pairs-{rows}.jsonl"
        write_pairs(pairs, rows)
        out, db = work / f"score-{rows}", work / f"score-{rows}.db"
        db.unlink(missing_ok=True)
        args = ["pairs", "--scorer", f"hf-rm:{model}", "--dtype", "float32", "--dataset", str(pairs)]
        args += ["--out", str(out), "--db", f"sqlite:///{db}", "--no-progress", "--new-run"]
        args += ["--batch-size", str(batch_size)]
        seconds, peak, code, stderr = peak_of(args)
        name = f"pairs --scorer hf-rm {rows}"
        line = f"{name:24s} {seconds:7.1f} s   peak RSS {peak:6.0f} MiB   exit {code}"
        if code == 0:
            results = json.loads((out / "results.json").read_text(encoding="utf-8"))
            lines = sum(1 for _ in (out / "samples.jsonl").open(encoding="utf-8"))
            metrics = results["metrics"]
            line += f"   ({lines} sample lines, accuracy {metrics['accuracy']:.3f}, "
            line += f"{results['execution']['n_sent']} requests sent)"
        else:
            line += "\n" + stderr[-2000:]
        print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=145_669)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument(
        "--score-rows",
        default="20000,50000,145669",
        help="Sizes of the files scored with the tiny reward model (comma-separated).",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=8,
        help="Reward model batch size (1: the forward pass's own memory out of the way).",
    )
    parser.add_argument("--no-tools", action="store_true", help="Skip build-mc, export and check.")
    parser.add_argument("--no-score", action="store_true", help="Skip scoring.")
    options = parser.parse_args()
    work = options.work or Path(tempfile.mkdtemp(prefix="cvalues-pairs-"))
    work.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    if not options.no_score:
        print(f"scoring; {machine}", flush=True)
        score_runs(work, [int(n) for n in options.score_rows.split(",") if n.strip()], options.batch_size)
    if options.no_tools:
        return
    pairs = work / "pairs.jsonl"
    write_pairs(pairs, options.rows)
    size = pairs.stat().st_size / 2**20
    print(f"{options.rows} pairs, {size:.0f} MiB; {machine}")
    runs = {
        "build-mc": ["pairs", "build-mc", "--dataset", str(pairs), "--out", str(work / "mc.jsonl")],
        "export dpo": [
            "pairs",
            "export",
            "--dataset",
            str(pairs),
            "--format",
            "dpo",
            "--out",
            str(work / "dpo.jsonl"),
        ],
        "check --against sample": [
            "pairs",
            "check",
            "--dataset",
            str(pairs),
            "--against",
            "sample",
            "--json",
        ],
    }
    for name, args in runs.items():
        seconds, peak, code, _ = peak_of(args)
        print(f"{name:24s} {seconds:7.1f} s   peak RSS {peak:6.0f} MiB   exit {code}")


if __name__ == "__main__":
    main()
