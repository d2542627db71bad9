#!/usr/bin/env python3
"""Greedy ids on a lent GPU against the shared oracles (the tests' rule: equal to llama.cpp's or the float64
reference's), through the bundled CLI with its GPU defaults (autotune on). Run by bench/gpu/run.sh ORACLE=1 from the
kit (bench/gpu/kit.sh copies the models and references into .device-kit/oracle). Prints one line per run and exits 1
on any mismatch. GEN_ARGS (the environment) adds arguments to every `emberlm generate`, e.g. '--attention wide'."""
import json
import os
import subprocess
import sys

NODE, CLI, DIR = sys.argv[1], sys.argv[2], sys.argv[3]
GEN_ARGS = os.environ.get('GEN_ARGS', '').split()
CASES = [  # model, K/V cache, references
    ('stories260K.gguf', 'f16', ['stories260K.llama-cpp.kvf16.json']),
    ('stories260K.gguf', 'f32', ['stories260K.llama-cpp.json', 'stories260K.numpy-ref.json']),
    ('stories260K-Q8_0.gguf', 'f32', ['stories260K-Q8_0.llama-cpp.json', 'stories260K-Q8_0.numpy-ref.json']),
    ('kqr-Q8_0.gguf', 'f32', ['kqr-Q8_0.llama-cpp.json', 'kqr-Q8_0.numpy-ref.json']),
    ('kqr-Q4_K_M.gguf', 'f32', ['kqr-Q4_K_M.llama-cpp.json', 'kqr-Q4_K_M.numpy-ref.json']),
    ('kqr-Q6_K.gguf', 'f32', ['kqr-Q6_K.llama-cpp.json', 'kqr-Q6_K.numpy-ref.json']),
]


def runs(path):
    """(prompt, greedy ids) of every run in a reference file, whichever of the two layouts it has."""
    d = json.load(open(path))
    for r in d.get('results', d.get('runs', [])):
        ids = r.get('generated_token_ids', r.get('generated_ids'))
        if ids is not None:
            yield r['prompt'], ids[:32]


bad = 0
for model, kv, refs in CASES:
    wanted = {}
    for ref in refs:
        for prompt, ids in runs(f'{DIR}/{ref}'):
            wanted.setdefault(prompt, []).append(ids)
    for prompt, options in wanted.items():
        out = subprocess.run([NODE, CLI, 'generate', '--model', f'{DIR}/{model}', '--prompt', prompt, '--temperature', '0',
                              '--max-tokens', '32', '--kv', kv, '--json', *GEN_ARGS], capture_output=True, text=True)
        try:
            got = json.loads(out.stdout.strip().splitlines()[-1])['ids']
        except Exception:
            got = None
        ok = got is not None and any(got == o for o in options)
        bad += not ok
        first = next((i for i in range(32) if got is None or i >= len(got) or all(o[i] != got[i] for o in options)), None)
        print(f"{'ok ' if ok else 'BAD'} {model} kv={kv} {prompt!r}" + ('' if ok else f' first difference at step {first}; {out.stderr[-300:]}'))
print(f'{bad} mismatches')
sys.exit(1 if bad else 0)
