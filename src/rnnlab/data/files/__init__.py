"""Readers of a user's own sequence files: ``.ts`` (UEA/UCR archives), long ``.csv``, ``.npz``.

Each reader returns a ``SequenceFile`` (``records.py``): one ``[T_i, F]`` float array per case,
NaN where a value is missing, and the case's label as written. ``read_sequence_file`` picks
the reader by the file's suffix. A file that cannot be read raises ``DataError`` with one
line naming the file, the line or record, and what is wrong.
"""

from rnnlab.data.files.read import SUFFIXES, read_sequence_file
from rnnlab.data.files.records import SequenceFile

__all__ = ["SUFFIXES", "SequenceFile", "read_sequence_file"]
