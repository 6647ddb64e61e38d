"""Benchmarks: ``python -m bench [--quick] [--device cpu|cuda] [--out bench/]``.

Measured in one run, on the same random-weight Gemma 3-shaped models and inputs (``bench/models.py``):

- capture time: ours (attention + ``gradients="sequence"``; attention + ``gradients="token"`` with one token's
  gradient) against a plain eager forward + backward of the model (the floor) and the reference library
  vl-saliency 1.1.6 (``bench/workloads.py``);
- peak host memory of each, one process per measurement, and the bytes each trace keeps (``bench/isolate.py``);
- one token's lazy gradient against one forward + backward, and per-token gradients one per backward pass against
  8 per batched pass (``is_grads_batched``), in a separate process per model;
- the bytes of float16 traces beside the reference's;
- ``trace.map`` + ``agg`` + ``normalize`` and ``trace.maps`` for 500 tokens, whole and reduced over layers and heads
  (the widget's precompute), on synthetic traces with a plain and a tiled layout (``bench/micro.py``);
- capture time and peak memory from 256 to 4,096 tokens.

Results go to ``results.json``, ``results.md`` and PNG plots (``bench/report.py``).
"""
