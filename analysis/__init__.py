"""analysis: reads run folders (never a live model) and turns them into tables, figures and reports."""

from analysis.load import NotEnoughData, RunFolderError, folder_kind, load, load_run

__all__ = ["NotEnoughData", "RunFolderError", "folder_kind", "load", "load_run"]
