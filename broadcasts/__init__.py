"""Risk-tip broadcasts: the legal brigade's messages to chosen officers, with acknowledgements."""
