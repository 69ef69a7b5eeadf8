"""OneSpike Study: neurons, conversion, models, data, counting, study, figures and CLI."""
