"""AArch64 backend."""
