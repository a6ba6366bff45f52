"""Moving notes: the shifter that carries out a plan, sample by sample."""
