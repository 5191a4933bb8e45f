"""The analysis each chapter shows, tested here rather than written in its notebook: one module per
chapter (``gancore.reports.alpha_gan`` ...), each turning stored or fresh result tables into the
tables, comparisons and evidence its chapter hands to :meth:`gancore.chapter.Chapter.claim`.
Anything two chapters need lives in the library module of its idea instead (``stats``, ``plotting``).
"""
