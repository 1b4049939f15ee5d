"""Training: the generic LightningModule, the DataModule, EMA and the train entry point."""
