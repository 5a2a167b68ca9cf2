"""One module per physical source. Each collector returns typed readings, never metric text."""
