"""Compress & Accelerate: the course's helper package.

One concern a module:

- ``data``      offline datasets (``load_digits``) as seeded, normalised splits and DataLoaders
- ``models``    the course's MLP and CNN families (teacher and student sizes)
- ``training``  train / evaluate / fine-tune loops with progress bars and a per-step hook
- ``measure``   parameters, bytes, sparsity, FLOPs, latency, and the results-JSON writer
- ``plots``     the few plot shapes the lessons use
- ``checks``    the visible checks learners run in their notebooks
- ``grading``   loading a submission's exercises from notebooks, and grading them
- ``release``   making the learner notebooks from the solved ones
"""

__version__ = "0.1.0"
