"""Load generation for demos and benchmarks: synthetic Chinese live chat and poison inputs."""
