// LMWord2Vec: see README.md
