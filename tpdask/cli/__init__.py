"""The command line (`tpdask`): a thin python-fire layer over the library and the jobs.

Owns the commands' names, options, help and exit codes; it reads nothing and writes
nothing itself: each command checks its arguments, calls one library function or job,
and prints. Open first: ``main.py`` (the list of commands, the class fire runs, exit
codes), ``args.py`` (the whole command line checked before anything runs), then one
module per group of commands: ``pipeline.py`` (collect, archive, process, analyse,
verify), ``data.py`` (export, status, import_tmi), ``site.py`` (web, users) and
``tools.py`` (bench, simulate, demo).
"""
