"""Running the whole pipeline: which processes make it up, and a supervisor that runs them."""
