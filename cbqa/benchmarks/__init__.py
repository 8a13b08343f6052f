"""Standard closed-book QA benchmarks with the protocol of Roberts et al. (2020): the datasets and their splits
(`protocols`), preparing them as QA JSONL (`prepare`, `cbqa data prepare`), and the results row a benchmark run
writes (`row`, `cbqa benchmark`)."""
