"""Stage-1 data: seeded synthetic (question, response) pairs across the seven harm scenarios."""
