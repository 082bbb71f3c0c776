"""One module per chapter: its ``<Chapter>Config`` dataclass and ``config_for(profile)``, the experiments it
runs and the plots only it draws. Only :mod:`course_lib.exercises` imports these modules from inside the package.
"""
