"""Architecture backends: instruction selection, assembler, patch functions."""
