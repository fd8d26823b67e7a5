"""De-duplication: normalise, block, score, match, merge and unmerge, scan."""
