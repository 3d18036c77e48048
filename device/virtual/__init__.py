"""Virtual boards: real runtimes and real protocols, no hardware (test and demo peers)."""
