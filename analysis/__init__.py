"""analysis: reads run folders (never a live model) and turns them into tables, figures and reports."""
