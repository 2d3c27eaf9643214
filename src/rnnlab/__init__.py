"""rnnlab: recurrent networks experiment repository."""
