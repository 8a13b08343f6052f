"""`cbqa index`, `cbqa retrieve` and `cbqa retrieval-eval`: one module per subcommand, each with `main(argv)`."""
