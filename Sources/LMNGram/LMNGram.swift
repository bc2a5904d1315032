// LMNGram: see README.md
