"""The dev tooling's ``guardstream`` commands, registered as ``guardstream.commands`` entry points."""
