"""`make bench`: Control Tower's throughput, latency and memory next to raw references, on this machine."""
