"""Presentation: number formats, report-ready tables, figure texts and the methods prose,
built from results (dictionaries), never from files."""
