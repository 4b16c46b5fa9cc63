"""The live view of `mmstream up`: what the pipeline is doing, folded from metrics and topics."""
