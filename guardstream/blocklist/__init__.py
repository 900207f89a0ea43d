"""Custom blocklists: terms matched with their Chinese variants, before the model judges."""
