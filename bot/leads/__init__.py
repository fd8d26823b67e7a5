"""The lead domain: free of transports, it talks to storage through named functions."""
