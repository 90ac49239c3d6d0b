"""The co-search: candidates, their estimates and the study store that keeps them (Pareto tools too)."""
