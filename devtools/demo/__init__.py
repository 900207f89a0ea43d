"""The end-to-end demo job behind `make run`: replay a generated chat stream through a worker."""
