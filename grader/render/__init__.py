"""Renderers: each turns one GradeReport into one format. They read the model, never the run."""
