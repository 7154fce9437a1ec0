"""The reference tracker behind ``slt demo``: a small SiamRPN, its frame-level trainer and its SLT actor."""
