"""Outside services leadbot talks to, one package each."""
