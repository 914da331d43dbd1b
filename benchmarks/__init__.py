"""`make bench`: timed runs at scale, each printing figures and ratios against a baseline."""
