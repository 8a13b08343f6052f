"""What a model stored, measured from the outside (Carlini et al. 2019 and 2021; docs/memorisation.md):

- `canaries`: a copy of a corpus with random secret-bearing sentences inserted a chosen number of times, and their
  manifest;
- `exposure`: each canary's exposure, log2 |R| - log2 rank of its secret among the candidate space, ranked by the
  model's log-likelihood of the secret in the masked canary sentence (exact or estimated by sampling);
- `extraction`: samples generated from a model, ranked by perplexity and perplexity / zlib entropy, checked against
  an 8-word shingle index of the corpus;
- `fill_in` and `curves`: exact match of masked salient spans, and a training callback that logs it (and
  closed-book dev EM) every N steps into the run's `logs/metrics.csv`.
"""
